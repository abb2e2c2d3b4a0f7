"""The contrast task kind (issue 15): groups read from two row-paired files (the IMDb contrast-set shape, written here)
or by a group id, contrast consistency, accuracy on originals vs edits, flip agreement with the teacher, CIs that
resample groups, truncated_share, and one clear error for each bad field."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from suite.data import TaskData
from suite.errors import SuiteInputError
from suite.metrics import bootstrap
from suite.specs import EvaluateSpec
from suite.tasks import TASK_KINDS, load_task_data
from suite.tasks.base import bootstrap_mean
from suite.tasks.contrast import CONTRAST, ORIGINAL, consistency, flip_agreement, groups_of
from tests.task_files import load_task, tsv_quoted, write_mirror_file, write_task

SPEC = EvaluateSpec(threads=None, batch_size=4, max_length=6, bootstrap_resamples=300, confidence=0.95)
LABELS = {"0": {"name": "negative", "values": ["Negative"]}, "1": {"name": "positive", "values": ["Positive"]}}

# Full reviews of the allenai/contrast-sets IMDb shape: tabs, quotes and newlines inside the quoted text.
ORIGINALS = [
    ("Positive", 'A "charming"\tfilm.\nI laughed twice, then "again".'),
    ("Negative", "Dull, slow and far too long."),
    ("Positive", "Great acting; the plot holds up."),
    ("Negative", 'The ending? "Awful".'),
]
EDITS = [
    ("Negative", 'A "tiresome"\tfilm.\nI sighed twice, then "again".'),
    ("Positive", "Sharp, quick and never too long."),
    ("Negative", "Wooden acting; the plot falls apart."),
    ("Positive", 'The ending? "Perfect".'),
]


def contrast_task(name: str = "imdb", **contrast) -> dict:
    return {
        "name": name,
        "version": "1.0",
        "kind": "contrast",
        "split": "dev_original",
        "metrics": ["accuracy", "macro_f1"],
        "dataset": {
            "name": name,
            "format": "tsv",
            "quoting": "minimal",
            "text_field": "Text",
            "label_field": "Sentiment",
            "labels": LABELS,
        },
        "contrast": contrast or {"contrast_split": "dev_contrast"},
    }


@pytest.fixture
def where(tmp_path: Path) -> tuple[Path, Path, str]:
    return tmp_path / "root", tmp_path / "mirror", str(tmp_path / "cache")


def write_pair_files(mirror: Path, originals=ORIGINALS, edits=EDITS) -> dict:
    return {
        "dev_original": write_mirror_file(mirror, "imdb/dev_original.tsv", tsv_quoted(originals)),
        "dev_contrast": write_mirror_file(mirror, "imdb/dev_contrast.tsv", tsv_quoted(edits)),
    }


def load(where, definition: dict, files: dict) -> TaskData:
    root, mirror, cache = where
    definition = copy.deepcopy(definition)
    definition["dataset"]["files"] = files
    write_task(root, definition)
    return load_task_data(load_task(root, definition["name"]), str(mirror), cache)


# --- data ----------------------------------------------------------------------------------------------------------


def test_two_row_paired_files_of_the_imdb_shape(where):
    data = load(where, contrast_task(), write_pair_files(where[1]))
    assert data.texts == [text for pair in zip(ORIGINALS, EDITS, strict=True) for _, text in pair]
    assert data.texts[0] == 'A "charming"\tfilm.\nI laughed twice, then "again".'  # tab, quotes, newline kept
    assert data.labels.tolist() == [1, 0, 0, 1, 1, 0, 0, 1]  # Positive -> 1, Negative -> 0
    assert data.slices == [ORIGINAL, CONTRAST] * 4
    assert data.refs.tolist() == [-1, 0, -1, 2, -1, 4, -1, 6]
    assert [m["group"] for m in data.meta] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert data.source == "mirror:imdb/dev_original.tsv + mirror:imdb/dev_contrast.tsv (row i with row i)"
    assert len(data.data_sha256) == 64


def test_the_example_imdb_contrast_task_loads_on_files_of_its_shape(where, repo):
    """tasks/examples/imdb-contrast.yaml, digests filled in, on generated files of allenai/contrast-sets' shape."""
    root, mirror, cache = where
    definition = yaml.safe_load((repo / "tasks" / "examples" / "imdb-contrast.yaml").read_text())
    files = definition["dataset"]["files"]
    assert {f["sha256"] for f in files.values()} == {"FILL_IN"}  # no made-up digest in the example
    definition["dataset"]["files"] = {
        split: write_mirror_file(mirror, entry["path"], tsv_quoted(ORIGINALS if "original" in split else EDITS))
        for split, entry in files.items()
    }
    write_task(root, definition)
    data = load_task_data(load_task(root, "imdb-contrast"), str(mirror), cache)
    assert len(data.texts) == 8 and data.slices == [ORIGINAL, CONTRAST] * 4


def test_groups_by_an_id_column(where):
    content = (
        "pair,role,text,label\n"
        "a,edit,it was bad,neg\n"
        "a,orig,it was good,pos\n"
        "b,orig,fine,pos\n"
        "b,edit,not fine,neg\n"
        "b,edit,hardly fine,neg\n"
    )
    files = {"test": write_mirror_file(where[1], "g/test.csv", content)}
    definition = {
        "name": "grouped",
        "version": "1.0",
        "kind": "contrast",
        "split": "test",
        "metrics": ["accuracy"],
        "dataset": {
            "name": "g",
            "format": "csv",
            "text_field": "text",
            "label_field": "label",
            "labels": {"0": {"name": "negative", "values": ["neg"]}, "1": {"name": "positive", "values": ["pos"]}},
        },
        "contrast": {"group_field": "pair", "role_field": "role", "original_value": "orig"},
    }
    data = load(where, definition, files)
    assert data.texts == ["it was good", "it was bad", "fine", "not fine", "hardly fine"]  # the original first
    assert data.slices == [ORIGINAL, CONTRAST, ORIGINAL, CONTRAST, CONTRAST]
    assert data.refs.tolist() == [-1, 0, -1, 2, 2] and data.labels.tolist() == [1, 0, 1, 0, 0]
    definition["name"] = "first-row"  # without role_field, a group's first row is its original
    definition["contrast"] = {"group_field": "pair"}
    first = load(where, definition, files)
    assert first.texts == ["it was bad", "it was good", "fine", "not fine", "hardly fine"]


# --- metrics by hand -------------------------------------------------------------------------------------------------

# Four groups (original, edit), labels flipping inside each group. The variant: g0 both right; g1 both wrong but
# flipping like the teacher; g2 both right; g3 original right, edit wrong (no flip). The teacher: all right.
GOLD = [1, 0, 1, 0, 0, 1, 1, 0]
VARIANT = [1, 0, 0, 1, 0, 1, 1, 1]
TEACHER = GOLD


def predictions(preds: list[int], variant: str, tokens: list[int] | None = None):
    from suite.specs import TaskSpec
    from suite.tasks.base import predictions_table

    task = TaskSpec("c", "1.0", "contrast", "", None, "dev", ("accuracy", "macro_f1"), "tasks/c/c.yaml")
    slices = [ORIGINAL, CONTRAST] * 4
    refs = np.array([-1, 0, -1, 2, -1, 4, -1, 6])
    tokens = tokens or [4] * 8
    meta = [{"group": i // 2, "tokens": t, "truncated": t > SPEC.max_length} for i, t in enumerate(tokens)]
    data = TaskData([f"text {i}" for i in range(8)], np.array(GOLD), "0" * 64, "test", slices, refs, meta)
    logits = np.eye(2)[preds] * 4.0
    return task, predictions_table(variant, task, data, logits)


def test_contrast_metrics_by_hand():
    task, table = predictions(VARIANT, "v", tokens=[4, 9, 4, 4, 7, 4, 4, 4])
    rows = {r.metric: r for r in TASK_KINDS.get("contrast")().score(table, "v", task, SPEC, seed=5)}
    assert rows["contrast_consistency"].value == 50.0 and rows["contrast_consistency"].n == 4  # g0, g2 of 4
    assert rows["accuracy"].value == 62.5  # 5 of 8 instances
    assert rows["accuracy@original"].value == 75.0 and rows["accuracy@original"].n == 4  # g1's original is wrong
    assert rows["accuracy@contrast"].value == 50.0  # g1's and g3's edits are wrong
    assert rows["truncated_share"].value == 25.0 and rows["truncated_share"].higher_is_better is None  # 9, 7 > 6
    assert rows["nonfinite_rate"].value == 0.0
    assert {"macro_f1", "macro_f1@original", "macro_f1@contrast"} <= rows.keys()
    # the CIs resample groups: the same draws of the 4 groups, computed at group level by hand
    per_group = np.array([True, False, True, False], dtype=float)
    low, high = bootstrap_mean(per_group, resamples=300, confidence=0.95, seed=5)
    assert (rows["contrast_consistency"].ci_low, rows["contrast_consistency"].ci_high) == (100 * low, 100 * high)
    group_accuracy = np.array([1.0, 0.0, 1.0, 0.5])  # equal-sized groups: accuracy = mean of the groups' accuracies
    low, high = bootstrap(lambda g: float(group_accuracy[g].mean()), 4, resamples=300, confidence=0.95, seed=5)
    assert rows["accuracy"].ci_low == pytest.approx(100 * low) and rows["accuracy"].ci_high == pytest.approx(100 * high)
    assert rows["accuracy"].ci_low < 62.5 < rows["accuracy"].ci_high


def test_teacher_relative_figures_by_hand():
    task, teacher = predictions(TEACHER, "teacher")
    _, student = predictions(VARIANT, "v")
    rows = {r.metric: r for r in TASK_KINDS.get("contrast")().extra_teacher_relative(teacher, student, task, SPEC, 5)}
    assert rows["contrast_consistency_drop_pts"].value == 50.0  # teacher 100 % − variant 50 %
    assert rows["contrast_consistency_drop_pts"].ci_low <= 50.0 <= rows["contrast_consistency_drop_pts"].ci_high
    assert rows["flip_agreement"].value == 75.0  # g0, g1, g2 flip like the teacher; g3 does not flip
    assert rows["flip_agreement"].variant == "v" and rows["flip_agreement"].n == 4
    same = {
        r.metric: r.value for r in TASK_KINDS.get("contrast")().extra_teacher_relative(teacher, teacher, task, SPEC, 5)
    }
    assert same == {"contrast_consistency_drop_pts": 0.0, "flip_agreement": 100.0}


def test_group_helpers():
    group = groups_of([{"group": g} for g in (7, 7, 3, 3, 3)])
    assert group.tolist() == [0, 0, 1, 1, 1]
    assert consistency(np.array([1, 1, 1, 0, 1], dtype=bool), group).tolist() == [True, False]
    refs = np.array([-1, 0, -1, 2, 2])
    # group 1 has two edits: the variant flips on the first (as the teacher does) but not on the second
    teacher, variant = np.array([0, 1, 0, 1, 1]), np.array([0, 1, 0, 1, 0])
    assert flip_agreement(teacher, variant, group, refs).tolist() == [True, False]


def test_predict_records_tokens_and_truncation_with_the_real_tokenizer():
    from suite.models import load_tokenizer
    from tests.tiny_models import PACKAGE

    class Lookup:
        """A model that answers from a table (its tokenizer is the packaged MiniLM one)."""

        tokenizer = load_tokenizer(PACKAGE)

        def predict_logits(self, texts, batch_size, max_length, progress=False):
            return np.array([[0.0, 1.0] if "good" in t else [1.0, 0.0] for t in texts])

    # [CLS] good film [SEP] = 4 tokens; [CLS] a good film , really good [SEP] = 8 > max_length 6
    texts = ["good film", "bad film", "a good film , really good", "a bad film , really bad"]
    meta = [{"group": 0}, {"group": 0}, {"group": 1}, {"group": 1}]
    data = TaskData(
        texts, np.array([1, 0, 1, 0]), "0" * 64, "t", [ORIGINAL, CONTRAST] * 2, np.array([-1, 0, -1, 2]), meta
    )
    task, _ = predictions(GOLD, "teacher")
    kind = TASK_KINDS.get("contrast")()
    table = kind.predict(Lookup(), "v", task, data, SPEC)
    import json

    metas = [json.loads(m) for m in table["meta"].to_pylist()]
    assert [m["tokens"] for m in metas] == [4, 4, 8, 8] and [m["truncated"] for m in metas] == [
        False,
        False,
        True,
        True,
    ]
    rows = {r.metric: r.value for r in kind.score(table, "v", task, SPEC, seed=0)}
    assert rows["truncated_share"] == 50.0 and rows["contrast_consistency"] == 100.0


# --- errors ------------------------------------------------------------------------------------------------------


def error_of(where, definition: dict, files: dict) -> SuiteInputError:
    with pytest.raises(SuiteInputError) as info:
        load(where, definition, files)
    return info.value


def test_files_of_unequal_length(where):
    err = error_of(where, contrast_task(), write_pair_files(where[1], edits=EDITS[:3]))
    assert err.file == "tasks/imdb/imdb.yaml" and err.field == "contrast.contrast_split"
    assert "split 'dev_original' has 4 rows and 'dev_contrast' 3" in err.problem and "equal length" in err.fix


def test_an_unknown_label_value_in_a_contrast_file(where):
    err = error_of(where, contrast_task(), write_pair_files(where[1], edits=[*EDITS[:3], ("positive", "x")]))
    assert err.file == str(where[1] / "imdb" / "dev_contrast.tsv") and err.field == "Sentiment (row 4)"
    assert "label value 'positive' is not one of the values" in err.problem


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"contrast": None}, "contrast", "says how its instances form groups"),
        ({"contrast": {"contrast_split": "dev_edits"}}, "contrast.contrast_split", "split 'dev_edits' has no file"),
        ({"contrast": {"contrast_split": "dev_original"}}, "contrast.contrast_split", "is the task's own split"),
        ({"contrast": {"contrast_split": "dev_contrast", "group_field": "g"}}, "contrast", "not both"),
        ({"contrast": {"group_field": "g", "role_field": "r"}}, "contrast.role_field", "go together"),
        ({"dataset.max_instances": 2, "dataset.seed": 0}, "dataset.max_instances", "cut a contrast task's groups"),
        ({"dataset.filter": {"field": "Sentiment", "equals": "Positive"}}, "dataset.filter", "pair the wrong ones"),
        ({"contrast": {"group_field": "pair"}}, "contrast.group_field", "'pair' is not a column"),
    ],
)
def test_bad_contrast_fields(where, change, field, problem):
    definition = contrast_task()
    for key, value in change.items():
        section, _, sub = key.partition(".")
        if sub:
            definition[section][sub] = value
        elif value is None:
            definition.pop(key)
        else:
            definition[key] = value
    err = error_of(where, definition, write_pair_files(where[1]))
    assert err.file == "tasks/imdb/imdb.yaml" and err.field == field and problem in err.problem and err.fix


def test_a_group_of_one_and_a_group_with_two_originals(where):
    content = "pair,role,text,label\na,orig,x,pos\na,edit,y,neg\nb,orig,z,pos\n"
    files = {"test": write_mirror_file(where[1], "g/test.csv", content)}
    definition = {
        "name": "g",
        "version": "1.0",
        "kind": "contrast",
        "split": "test",
        "metrics": ["accuracy"],
        "dataset": {
            "name": "g",
            "format": "csv",
            "text_field": "text",
            "label_field": "label",
            "labels": {"0": {"name": "n", "values": ["neg"]}, "1": {"name": "p", "values": ["pos"]}},
        },
        "contrast": {"group_field": "pair"},
    }
    err = error_of(where, definition, files)
    assert err.field == "contrast.group_field" and "group 'b' has one row" in err.problem
    files = {"test": write_mirror_file(where[1], "g/test2.csv", "pair,role,text,label\na,orig,x,pos\na,orig,y,neg\n")}
    definition.update(name="g2", contrast={"group_field": "pair", "role_field": "role", "original_value": "orig"})
    err = error_of(where, definition, files)
    assert err.field == "contrast.original_value" and "group 'a' has 2 rows whose role is 'orig'" in err.problem
