"""Task files and data files the data-format and contrast tests write: a temporary repository root (tasks/ with the
real tasks/schema.yaml) and a temporary data mirror, each data file with its real sha256."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import yaml

from suite.config import load_task_dict, parse_task
from suite.specs import TaskSpec

REPO = Path(__file__).resolve().parent.parent


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_mirror_file(mirror: Path, relative: str, content: bytes | str) -> dict[str, str]:
    """A data file in the mirror; returns its `files:` entry ({path, sha256})."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    path = mirror / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"path": relative, "sha256": sha256(data)}


def write_task(root: Path, definition: dict[str, Any]) -> Path:
    """tasks/<name>/<name>.yaml under `root` (with the repository's tasks/schema.yaml beside it)."""
    tasks = root / "tasks"
    tasks.mkdir(parents=True, exist_ok=True)
    if not (tasks / "schema.yaml").is_file():
        shutil.copy(REPO / "tasks" / "schema.yaml", tasks / "schema.yaml")
    name = definition["name"]
    (tasks / name).mkdir(exist_ok=True)
    path = tasks / name / f"{name}.yaml"
    path.write_text(yaml.safe_dump(definition, sort_keys=False, allow_unicode=True))
    return path


def load_task(root: Path, name: str) -> TaskSpec:
    """The task as the workflow loads it: validated against the schema, includes resolved, parsed."""
    data, includes = load_task_dict(root, name, "test", "tasks")
    return parse_task(data, f"tasks/{name}/{name}.yaml", includes)


def classification_task(name: str, dataset: dict[str, Any], split: str = "dev", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "version": "1.0",
        "kind": "classification",
        "split": split,
        "metrics": ["accuracy"],
        "dataset": {"name": name, **dataset},
        **extra,
    }


# A GLUE-style sentence-pair set (RTE's dev.tsv shape: index, sentence1, sentence2, string label), generated: no
# pair data set is in the mirror.
PAIR_LABELS = {
    "0": {"name": "entailment", "values": ["entailment"]},
    "1": {"name": "not_entailment", "values": ["not_entailment"]},
}
SUBJECTS = ["the cat", "a dog", "my neighbour", "the old man", "a child", "the teacher", "our team", "the bird"]
VERBS = ["sleeps", "runs", "sings", "reads", "swims", "cooks", "paints", "waits"]


def pair_rows(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(sentence1, sentence2, label): the hypothesis restates the premise (entailment) or negates it with another verb
    (not_entailment), so a model fine-tuned on the pairs can learn the task."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        subject, verb = rng.choice(SUBJECTS), rng.choice(VERBS)
        if i % 2 == 0:
            rows.append((f"{subject} {verb} in the morning .", f"{subject} {verb} .", "entailment"))
        else:
            other = rng.choice([v for v in VERBS if v != verb])
            rows.append((f"{subject} {verb} in the morning .", f"{subject} never {other} .", "not_entailment"))
    return rows


def rte_tsv(rows: list[tuple[str, str, str]]) -> str:
    """GLUE RTE's dev.tsv layout: a header `index sentence1 sentence2 label`, tab-separated, no quoting."""
    lines = ["index\tsentence1\tsentence2\tlabel"]
    lines += [f"{i}\t{a}\t{b}\t{label}" for i, (a, b, label) in enumerate(rows)]
    return "\n".join(lines) + "\n"


def tsv_quoted(rows: list[tuple[str, str]], header: tuple[str, str] = ("Sentiment", "Text")) -> str:
    """The allenai/contrast-sets IMDb shape: `Sentiment<TAB>Text`, the text double-quoted (a quote inside doubled)."""
    out = ["\t".join(header)]
    for label, text in rows:
        out.append(f'{label}\t"{text.replace(chr(34), chr(34) * 2)}"')
    return "\n".join(out) + "\n"
