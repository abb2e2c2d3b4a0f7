"""The llm track's data: mirror files (read and sha256-checked by `load_task_data`) -> seeded subsets of lm-eval docs.

Each generator here gets the task and its raw mirror files (`base`: one text per `data_files` role, in the task's
order, with `meta[i]["role"]`) and returns one `Instance` per lm-eval doc: `text` is the natural text (question and
solutions, the sentences of a pair, a document), `label` the gold choice (NO_LABEL for perplexity and generation),
`slice` the BLiMP paradigm, and `meta` the doc exactly as lm-eval reads it from the prepared JSONL.

Parameters (`generator.params`): `size` (instances; BLiMP: pairs per paradigm; WikiText: documents) and, for WikiText,
`max_words` (only documents of at most that many words are drawn, which bounds the CPU cost). The subset is drawn
with `numpy.random.default_rng(generator.seed)` without replacement and kept in file order.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from suite.data import NO_LABEL, Instance, TaskData
from suite.errors import SuiteInputError
from suite.specs import TaskSpec
from suite.tasks.base import GENERATORS

# WikiText articles start at a top-level title line ` = Title = `; section headings are `= = … = =`.
WIKITEXT_TITLE = re.compile(r" = [^=](?:.*[^=])? = ")


def raw_files(task: TaskSpec, base: TaskData | None) -> dict[str, str]:
    """role -> the content of that verified mirror file."""
    if base is None or not base.meta:
        raise SuiteInputError(task.path, "data_files", f"task '{task.name}' declares no mirror files to read")
    return {m["role"]: text for m, text in zip(base.meta, base.texts, strict=True)}


def _param(task: TaskSpec, name: str, default: Any = None) -> Any:
    assert task.generator is not None
    value = task.generator.params.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SuiteInputError(task.path, f"generator.params.{name}", f"expected a positive integer, got {value!r}")
    return value


def seeded_subset(task: TaskSpec, available: int, size: int, rng: np.random.Generator, what: str) -> list[int]:
    """`size` distinct indices of `available`, in ascending (file) order."""
    if size > available:
        raise SuiteInputError(
            task.path,
            "generator.params.size",
            f"asks for {size} {what}, but only {available} are available",
            f"use a size of at most {available}",
        )
    return sorted(int(i) for i in rng.choice(available, size=size, replace=False))


def _jsonl(task: TaskSpec, role: str, text: str) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise SuiteInputError(task.path, f"data_files.{role}", f"not JSON lines ({exc})") from None


def _role(files: dict[str, str], task: TaskSpec, role: str) -> str:
    if role not in files:
        raise SuiteInputError(task.path, f"data_files.{role}", f"task '{task.name}' needs a '{role}' mirror file")
    return files[role]


@GENERATORS.named("piqa")
def piqa(task: TaskSpec, base: TaskData | None) -> list[Instance]:
    """PIQA validation: questions (`valid.jsonl`) joined line by line with their labels (`valid-labels.lst`)."""
    assert task.generator is not None
    files = raw_files(task, base)
    rows = _jsonl(task, "questions", _role(files, task, "questions"))
    labels = _role(files, task, "labels").split()
    if len(labels) != len(rows):
        raise SuiteInputError(task.path, "data_files.labels", f"{len(labels)} labels for {len(rows)} questions")
    rng = np.random.default_rng(task.generator.seed)
    out = []
    for i in seeded_subset(task, len(rows), _param(task, "size"), rng, "questions"):
        doc = {"goal": rows[i]["goal"], "sol1": rows[i]["sol1"], "sol2": rows[i]["sol2"], "label": int(labels[i])}
        out.append(Instance(f"{doc['goal']}\n{doc['sol1']}\n{doc['sol2']}", label=doc["label"], meta=doc))
    return out


@GENERATORS.named("blimp")
def blimp(task: TaskSpec, base: TaskData | None) -> list[Instance]:
    """BLiMP: `size` pairs from every paradigm file (one role per paradigm), paradigms in the task's order; the
    grammatical sentence is choice 0."""
    assert task.generator is not None
    files = raw_files(task, base)
    size = _param(task, "size")
    rng = np.random.default_rng(task.generator.seed)
    out = []
    for paradigm, text in files.items():
        rows = _jsonl(task, paradigm, text)
        for i in seeded_subset(task, len(rows), size, rng, f"pairs of paradigm {paradigm}"):
            row = rows[i]
            doc = {k: row[k] for k in ("sentence_good", "sentence_bad", "UID", "pairID")}
            out.append(Instance(f"{row['sentence_good']}\n{row['sentence_bad']}", 0, slice=row["UID"], meta=doc))
    return out


def wikitext_documents(text: str) -> list[str]:
    """The articles of a tokenised WikiText file, split at top-level title lines, each stripped of surrounding
    whitespace (lines before the first title are dropped).

    >>> wikitext_documents(" \\n = A = \\n \\n a b \\n = = S = = \\n c \\n = B = \\n d \\n")
    ['= A = \\n \\n a b \\n = = S = = \\n c', '= B = \\n d']
    """
    docs: list[list[str]] = []
    for line in text.splitlines(keepends=True):
        if WIKITEXT_TITLE.fullmatch(line.rstrip("\n")):
            docs.append([line])
        elif docs:
            docs[-1].append(line)
    return ["".join(lines).strip() for lines in docs]


@GENERATORS.named("wikitext")
def wikitext(task: TaskSpec, base: TaskData | None) -> list[Instance]:
    """Tokenised WikiText-2 test articles (`page`, as lm-eval's document-level wikitext calls the field)."""
    assert task.generator is not None
    docs = wikitext_documents(_role(raw_files(task, base), task, "test"))
    max_words = _param(task, "max_words", 10**9)
    eligible = [d for d in docs if len(d.split()) <= max_words]
    rng = np.random.default_rng(task.generator.seed)
    picked = seeded_subset(task, len(eligible), _param(task, "size"), rng, f"documents of at most {max_words} words")
    return [Instance(eligible[i], meta={"page": eligible[i]}) for i in picked]


@GENERATORS.named("sst2_zeroshot")
def sst2_zeroshot(task: TaskSpec, base: TaskData | None) -> list[Instance]:
    """SST-2 dev sentences (GLUE TSV with a header, no quoting), stripped of the trailing space GLUE leaves."""
    assert task.generator is not None
    lines = _role(raw_files(task, base), task, "validation").splitlines()
    if not lines or lines[0].split("\t") != ["sentence", "label"]:
        raise SuiteInputError(task.path, "data_files.validation", "expected a GLUE TSV with header sentence\\tlabel")
    rows = [line.split("\t") for line in lines[1:] if line]
    rng = np.random.default_rng(task.generator.seed)
    out = []
    for i in seeded_subset(task, len(rows), _param(task, "size"), rng, "sentences"):
        doc = {"sentence": rows[i][0].strip(), "label": int(rows[i][1])}
        out.append(Instance(doc["sentence"], label=doc["label"], meta=doc))
    return out


@GENERATORS.named("gsm8k")
def gsm8k(task: TaskSpec, base: TaskData | None) -> list[Instance]:
    """GSM8K test questions with their worked answers (the final answer follows `#### `)."""
    assert task.generator is not None
    rows = _jsonl(task, "test", _role(raw_files(task, base), task, "test"))
    rng = np.random.default_rng(task.generator.seed)
    out = []
    for i in seeded_subset(task, len(rows), _param(task, "size"), rng, "questions"):
        doc = {"question": rows[i]["question"], "answer": rows[i]["answer"]}
        out.append(Instance(doc["question"], label=NO_LABEL, meta=doc))
    return out
