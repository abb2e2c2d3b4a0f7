"""Sentence pairs and a contrast set through Snakemake end to end (issue 15), on data this test writes: a GLUE
RTE-shaped pair set (the teacher is fine-tuned on its train split, a student distils from it, an ONNX chain
calibrates on it, the measurements time it) and an IMDb contrast-set-shaped TSV (quoted text with tabs, quotes and
newlines, string labels) as a task of the contrast kind; the site shows contrast_consistency per variant.

The workflow runs from a copy of the repository's Snakefile, rules, config, tasks and leaderboard (the suite reads
task files from the Snakefile's directory), with the two tasks written into that copy; the main task of its display
schema is the pair task (the repository's is SST-2, not in this run)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.task_files import PAIR_LABELS, pair_rows, rte_tsv, tsv_quoted, write_mirror_file
from tests.test_workflow import REPO

pytestmark = pytest.mark.workflow  # runs a whole Snakemake DAG

VARIANTS = {"teacher", "int8-dynamic", "distil-1l", "onnx-fp32", "ort-static-int8"}
GROUPS = 24


def reviews(n: int, seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """n reviews and their edits with the opposite sentiment, 10 to 60 words, some with a tab, quotes or a newline.
    A positive review says "never" ("I never got bored"), the word the pair teacher learns means its class 1
    (not_entailment, here positive), so the teacher's predictions follow the edits."""
    rng = random.Random(seed)
    words = ["the", "film", "plot", "acting", "score", "camera", "story", "cast", "scene", "music"]
    originals, edits = [], []
    for i in range(n):
        body = " ".join(rng.choice(words) for _ in range(rng.randint(8, 58)))
        extra = ['\t"really"', "\nSecond paragraph.", ' a "so-called" twist', ""][i % 4]
        bored, never = f"{body}{extra}. I got bored .", f"{body}{extra}. I never got bored ."
        good, bad = ("Positive", never), ("Negative", bored)
        originals.append(good if i % 2 == 0 else bad)
        edits.append(bad if i % 2 == 0 else good)
    return originals, edits


def task_files(mirror: Path) -> dict[str, dict]:
    """The two task definitions, their data written into the mirror."""
    pair_files = {
        "train": write_mirror_file(mirror, "pairs/train.tsv", rte_tsv(pair_rows(1000, seed=1))),
        "validation": write_mirror_file(mirror, "pairs/dev.tsv", rte_tsv(pair_rows(60, seed=2))),
    }
    originals, edits = reviews(GROUPS, seed=3)
    contrast_files = {
        "dev_original": write_mirror_file(mirror, "imdb-contrast/dev_original.tsv", tsv_quoted(originals)),
        "dev_contrast": write_mirror_file(mirror, "imdb-contrast/dev_contrast.tsv", tsv_quoted(edits)),
    }
    return {
        "pairs": {
            "name": "pairs",
            "version": "1.0",
            "kind": "classification",
            "split": "validation",
            "metrics": ["accuracy", "macro_f1"],
            "dataset": {
                "name": "pairs",
                "format": "tsv",
                "text_fields": ["sentence1", "sentence2"],
                "label_field": "label",
                "labels": PAIR_LABELS,
                "files": pair_files,
            },
        },
        "reviews-contrast": {
            "name": "reviews-contrast",
            "version": "1.0",
            "kind": "contrast",
            "split": "dev_original",
            "metrics": ["accuracy"],
            "dataset": {
                "name": "reviews-contrast",
                "format": "tsv",
                "quoting": "minimal",
                "text_field": "Text",
                "label_field": "Sentiment",
                "labels": {
                    "0": {"name": "negative", "values": ["Negative"]},
                    "1": {"name": "positive", "values": ["Positive"]},
                },
                "files": contrast_files,
            },
            "contrast": {"contrast_split": "dev_contrast"},
        },
    }


@pytest.fixture(scope="module")
def pairs_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    for name in ("Snakefile",):
        shutil.copy(REPO / name, root / name)
    for name in ("rules", "config", "tasks", "leaderboard", "envs", "report"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name)
    mirror = root / "mirror"
    for name, definition in task_files(mirror).items():
        (root / "tasks" / name).mkdir()
        (root / "tasks" / name / f"{name}.yaml").write_text(yaml.safe_dump(definition, sort_keys=False))
    schema = root / "leaderboard" / "schema.yaml"
    schema.write_text(schema.read_text().replace("main_metric:\n  task: sst2", "main_metric:\n  task: pairs"))
    config = yaml.safe_load((REPO / "tests" / "tiny" / "config" / "config.yaml").read_text())
    config["data"]["mirror"] = str(mirror)
    finetune = {"task": "pairs", "split": "train", "max_train_samples": 1000, "max_length": 48, "epochs": 5}
    config["teacher"]["finetune"].update(finetune, learning_rate=1.0e-3)  # the pairs teacher learns at 1e-3
    config["variants"] = [
        {"id": "int8-dynamic", "parent": "teacher", "method": "dynamic_quant"},
        {
            "id": "distil-1l",
            "parent": "teacher",
            "method": "distil_layers",
            "params": {"layers": 1, "max_train_samples": 200},
        },
        {"id": "onnx-fp32", "parent": "teacher", "method": "onnx_export"},
        {
            "id": "ort-static-int8",
            "parent": "onnx-fp32",
            "method": "ort_static_int8",
            "params": {"calibration_size": 16},
        },
    ]
    config["distillation"] = {"max_train_samples": 200, "batch_size": 64, "max_length": 48}
    config["tasks"] = ["pairs", "reviews-contrast"]
    config["evaluate"]["max_length"] = 48
    config["energy"] = {"enabled": False}
    config["throughput"]["batch_sizes"] = [1]
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "--directory", str(root), "--cores", "2"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def test_pairs_and_contrast_rows_for_every_variant(pairs_run: Path):
    table = pq.read_table(pairs_run / "results" / "leaderboard.parquet").to_pandas()
    assert set(table.variant) == VARIANTS and (table.status == "ok").all()
    value = {(r.variant, r.task, r.metric): r for r in table.itertuples()}
    for variant in VARIANTS:
        pairs = value[(variant, "pairs", "accuracy")]
        assert pairs.n == 60 and pairs.ci_low <= pairs.value <= pairs.ci_high
        consistency = value[(variant, "reviews-contrast", "contrast_consistency")]
        assert consistency.n == GROUPS and consistency.unit == "%" and 0 <= consistency.value <= 100
        for metric in ("accuracy@original", "accuracy@contrast", "truncated_share", "flip_agreement"):
            assert (variant, "reviews-contrast", metric) in value, (variant, metric)
        drop = value[(variant, "reviews-contrast", "contrast_consistency_drop_pts")].value
        teacher = value[("teacher", "reviews-contrast", "contrast_consistency")].value
        assert drop == pytest.approx(teacher - consistency.value)
        assert value[(variant, "reviews-contrast", "accuracy_drop_pts@contrast")].unit == "points"
        assert value[(variant, "system", "latency_p50_ms")].value > 0  # timed on sentence pairs (the first task)
    assert value[("teacher", "reviews-contrast", "flip_agreement")].value == 100.0
    # the teacher learnt the pair task (100 % in our run) and its predictions follow the edits, not a constant
    assert value[("teacher", "pairs", "accuracy")].value > 90
    assert 25 < value[("teacher", "reviews-contrast", "contrast_consistency")].value < 100
    # the reviews run to 60 words and some exceed 48 tokens: the run says how many
    assert 0 < value[("teacher", "reviews-contrast", "truncated_share")].value < 100


def test_the_teacher_was_fine_tuned_on_pairs(pairs_run: Path):
    from suite.data import load_split
    from suite.plan import load_file

    record = json.loads((pairs_run / "results" / "classifier" / "models" / "teacher" / "variant.json").read_text())
    cfg = load_file(pairs_run / "config" / "config.yaml", pairs_run)
    train = load_split(cfg.task("pairs"), "train", cfg.data_mirror, str(pairs_run / "results" / "cache" / "datasets"))
    assert isinstance(train.texts[0], tuple) and record["recipe"]["finetune_data_sha256"] == train.data_sha256
    assert record["build"]["training"]["examples"] == 1000


def test_the_site_shows_contrast_consistency_per_variant(pairs_run: Path):
    site = pairs_run / "results" / "site"
    pages = [p for p in site.rglob("*.html") if "reviews-contrast" in p.name]
    assert pages, sorted(p.name for p in site.rglob("*.html"))
    html = pages[0].read_text()
    assert "Contrast consistency" in html and "Flip agreement" in html and "Truncated inputs" in html
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    for variant in VARIANTS:
        assert f">{variant}<" in body
