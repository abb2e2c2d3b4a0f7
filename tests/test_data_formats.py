"""Data formats as data (issue 15): csv/tsv/jsonl/json/parquet read through 🤗 datasets with their options, label
values mapped to classes, sentence pairs encoded as pairs, filter, seeded subset, data_sha256 over the instances
used, and one clear error for each bad field. Every data file is written here, into a temporary mirror."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from suite.errors import SuiteInputError
from suite.provenance import sha256_json
from suite.tasks import load_task_data
from tests.task_files import (
    PAIR_LABELS,
    classification_task,
    load_task,
    pair_rows,
    rte_tsv,
    write_mirror_file,
    write_task,
)

SENTIMENT = {
    "0": {"name": "negative", "values": ["Negative", "neg"]},
    "1": {"name": "positive", "values": ["Positive"]},
}


@pytest.fixture
def where(tmp_path: Path) -> tuple[Path, Path, str]:
    """(repository root, data mirror, datasets cache) under the test's temporary directory."""
    return tmp_path / "root", tmp_path / "mirror", str(tmp_path / "cache")


def load(where, name: str, dataset: dict, content: str | bytes, path: str = "d/dev.txt", **extra):
    root, mirror, cache = where
    files = {"dev": write_mirror_file(mirror, path, content)}
    write_task(root, classification_task(name, {**dataset, "files": files}, **extra))
    return load_task_data(load_task(root, name), str(mirror), cache)


def error_of(where, name: str, dataset: dict, content: str | bytes = "text,label\na,0\n", **extra) -> SuiteInputError:
    with pytest.raises(SuiteInputError) as info:
        load(where, name, dataset, content, **extra)
    return info.value


def instances_sha256(texts: list, labels: list[int]) -> str:
    """data_sha256 of a task of the new shape, computed here by hand: the instances in canonical JSON."""
    return sha256_json(
        [
            {"text": list(t) if isinstance(t, tuple) else t, "label": y, "slice": None, "ref": -1, "meta": {}}
            for t, y in zip(texts, labels, strict=True)
        ]
    )


# --- formats ---------------------------------------------------------------------------------------------------


def test_csv_with_quoted_fields_and_string_labels(where):
    content = (
        "id,review,sentiment\n"
        '1,"Great, really great.",Positive\n'
        '2,"He said ""meh""\nand left.",neg\n'  # a doubled quote and a newline inside the quotes
        "3,null,Negative\n"  # no NA parsing: "null" is text
    )
    dataset = {"format": "csv", "text_field": "review", "label_field": "sentiment", "labels": SENTIMENT}
    data = load(where, "reviews", dataset, content)
    assert data.texts == ["Great, really great.", 'He said "meh"\nand left.', "null"]
    assert data.labels.tolist() == [1, 0, 0]  # Positive -> 1; neg and Negative -> 0 (both listed for class 0)
    assert data.data_sha256 == instances_sha256(data.texts, [1, 0, 0])
    assert data.source == "mirror:d/dev.txt"


def test_tsv_quoting_none_keeps_quotes_and_minimal_reads_them(where):
    content = 'text\tlabel\n"a ""quoted""\ttab"\t1\nsay "hi" twice\t0\n'
    base = {"format": "tsv", "text_field": "text", "label_field": "label", "labels": {"0": "n", "1": "p"}}
    quoted = load(where, "quoted", {**base, "quoting": "minimal"}, content, path="q/dev.tsv")
    assert quoted.texts == ['a "quoted"\ttab', 'say "hi" twice'] and quoted.labels.tolist() == [1, 0]
    # today's tsv (no quoting): quotes are text, so a tab inside them splits the line into three fields
    err = error_of(where, "plain", base, 'text\tlabel\n"a ""quoted"" film"\t1\n"a\tb"\t1\n')
    assert err.field == "dataset.files.dev in tasks/plain/plain.yaml" and "cannot be read as tsv" in err.problem
    assert "Expected 2 fields in line 3, saw 3" in err.problem
    assert err.fix == "check dataset.format and its reader options (delimiter, quoting, encoding)"
    plain = load(where, "plain2", base, 'text\tlabel\n"a ""quoted"" film"\t1\n', path="q/plain.tsv")
    assert plain.texts == ['"a ""quoted"" film"']


def test_tsv_of_the_original_shape_keeps_the_file_sha256(where):
    content = 'sentence\tlabel\ngood "film\t1\n'
    dataset = {"format": "tsv", "text_field": "sentence", "label_field": "label", "labels": {"0": "n", "1": "p"}}
    data = load(where, "legacy", dataset, content)
    assert data.texts == ['good "film'] and data.labels.tolist() == [1]
    assert data.data_sha256 == write_mirror_file(where[1], "x", content)["sha256"]  # the file's, as before


def test_header_less_csv_with_columns_and_a_delimiter(where):
    dataset = {
        "format": "csv",
        "columns": ["stars", "text"],
        "delimiter": ";",
        "text_field": "text",
        "label_field": "stars",
        "labels": {"0": {"name": "low", "values": [1, 2]}, "1": {"name": "high", "values": [4, 5]}},
    }
    data = load(where, "stars", dataset, "5;loved it, really\n1;awful\n2;meh\n")
    assert data.texts == ["loved it, really", "awful", "meh"] and data.labels.tolist() == [1, 0, 0]


def test_jsonl_sentence_pairs(where):
    records = [
        {"premise": "A man sleeps.", "hypothesis": "Someone rests.", "gold": "entailment"},
        {"premise": "A dog runs.", "hypothesis": "A cat sleeps.", "gold": "not_entailment"},
    ]
    content = "".join(json.dumps(r) + "\n" for r in records)
    dataset = {
        "format": "jsonl",
        "text_fields": ["premise", "hypothesis"],
        "label_field": "gold",
        "labels": PAIR_LABELS,
    }
    data = load(where, "nli", dataset, content, path="nli/dev.jsonl")
    assert data.texts == [("A man sleeps.", "Someone rests."), ("A dog runs.", "A cat sleeps.")]
    assert data.labels.tolist() == [0, 1]
    assert data.data_sha256 == instances_sha256(data.texts, [0, 1])


def test_json_array_and_json_key(where):
    records = [{"t": "yes", "y": 1}, {"t": "no", "y": 0}]
    dataset = {"text_field": "t", "label_field": "y", "labels": {"0": "n", "1": "p"}}
    array = load(where, "arr", {**dataset, "format": "json"}, json.dumps(records), path="a/dev.json")
    keyed = load(
        where, "keyed", {**dataset, "format": "json", "json_key": "rows"}, json.dumps({"rows": records}), "k/dev.json"
    )
    assert array.texts == keyed.texts == ["yes", "no"] and array.labels.tolist() == keyed.labels.tolist() == [1, 0]
    assert array.data_sha256 == instances_sha256(["yes", "no"], [1, 0])  # a new shape: the instances' sha256
    assert keyed.data_sha256 == write_mirror_file(where[1], "x", json.dumps({"rows": records}))["sha256"]


def test_parquet(where, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["fine", "bad"], "label": ["Positive", "Negative"]}), tmp_path / "x.parquet")
    dataset = {"format": "parquet", "text_field": "text", "label_field": "label", "labels": SENTIMENT}
    data = load(where, "pq", dataset, (tmp_path / "x.parquet").read_bytes(), path="p/dev.parquet")
    assert data.texts == ["fine", "bad"] and data.labels.tolist() == [1, 0]


def test_encoding(where):
    content = "text,label\ncafé crème,1\n".encode("latin-1")
    dataset = {"format": "csv", "text_field": "text", "label_field": "label", "labels": {"0": "n", "1": "p"}}
    data = load(where, "latin", {**dataset, "encoding": "latin-1"}, content, path="l/dev.csv")
    assert data.texts == ["café crème"]
    err = error_of(where, "utf8", dataset, content)  # read as UTF-8, the default
    assert "cannot be read as csv" in err.problem and "utf8" in err.problem.lower().replace("-", "")
    assert "encoding" in err.fix


# --- labels, filter, subset --------------------------------------------------------------------------------------


def test_label_values_map_strings_and_ints_to_classes(where):
    # three classes; the file mixes spellings; class 2 is given by an integer value
    labels = {
        "0": {"name": "negative", "values": ["neg", "Negative"]},
        "1": {"name": "neutral", "values": ["neutral"]},
        "2": {"name": "positive", "values": [5]},
    }
    content = "text,y\na,neg\nb,5\nc,neutral\nd,Negative\ne,5\n"
    data = load(where, "three", {"format": "csv", "text_field": "text", "label_field": "y", "labels": labels}, content)
    assert data.labels.tolist() == [0, 2, 1, 0, 2]  # by hand: neg→0, 5→2, neutral→1, Negative→0, 5→2
    assert load_task(where[0], "three").labels == {0: "negative", 1: "neutral", 2: "positive"}


def test_filter_equals_and_in(where):
    content = "text,label,genre\na,1,news\nb,0,blog\nc,1,news\nd,0,forum\n"
    base = {"format": "csv", "text_field": "text", "label_field": "label", "labels": {"0": "n", "1": "p"}}
    news = load(where, "news", {**base, "filter": {"field": "genre", "equals": "news"}}, content, path="f/a.csv")
    assert news.texts == ["a", "c"] and news.labels.tolist() == [1, 1]
    assert news.source == "mirror:f/a.csv (2 of 4 rows: genre in ['news'])"
    two = load(where, "two", {**base, "filter": {"field": "genre", "in": ["blog", "forum"]}}, content, path="f/b.csv")
    assert two.texts == ["b", "d"] and two.data_sha256 == instances_sha256(["b", "d"], [0, 0])


def test_max_instances_is_a_seeded_subset_in_file_order(where):
    rows = [f"sentence {i}" for i in range(20)]
    content = "text,label\n" + "".join(f"{t},{i % 2}\n" for i, t in enumerate(rows))
    base = {"format": "csv", "text_field": "text", "label_field": "label", "labels": {"0": "n", "1": "p"}}
    first = load(where, "s1", {**base, "max_instances": 5, "seed": 3}, content, path="m/a.csv")
    again = load(where, "s2", {**base, "max_instances": 5, "seed": 3}, content, path="m/b.csv")
    other = load(where, "s3", {**base, "max_instances": 5, "seed": 4}, content, path="m/c.csv")
    expected = sorted(np.random.default_rng(3).permutation(20)[:5].tolist())
    assert first.texts == again.texts == [rows[i] for i in expected]
    assert first.labels.tolist() == [i % 2 for i in expected]
    assert first.data_sha256 == again.data_sha256 != other.data_sha256 and other.texts != first.texts
    everything = load(where, "s4", {**base, "max_instances": 50, "seed": 3}, content, path="m/d.csv")
    assert everything.texts == rows  # fewer rows than max_instances: all of them


# --- sentence pairs through the model ------------------------------------------------------------------------------


def test_pairs_are_encoded_as_pairs_by_the_classifier(artefact):
    from suite.artefacts import load_artefact

    model, _ = load_artefact(artefact)
    pairs = [("a man sleeps in the morning .", "a man sleeps ."), ("the cat runs .", "a dog swims in the lake .")]
    encoding = model.encode(pairs, max_length=32)
    direct = model.tokenizer(
        [a for a, _ in pairs], [b for _, b in pairs], padding=True, truncation=True, max_length=32, return_tensors="pt"
    )
    assert encoding["input_ids"].tolist() == direct["input_ids"].tolist()
    # segment 0 for [CLS] premise [SEP], segment 1 for hypothesis [SEP]: 9 + 5 tokens in the first pair
    assert encoding["token_type_ids"][0].tolist()[:14] == [0] * 9 + [1] * 5
    sep = model.tokenizer.sep_token_id
    assert encoding["input_ids"][0].tolist().count(sep) == 2
    import torch

    with torch.inference_mode():
        expected = model.module(**direct).logits.numpy()
    np.testing.assert_allclose(model.predict_logits(pairs, 1, 32), expected, rtol=1e-5, atol=1e-6)


def test_pairs_train_and_distil(artefact):
    from suite.artefacts import load_artefact
    from suite.distill import DistilSpec, distil
    from suite.specs import FinetuneSpec
    from suite.train import finetune

    model, _ = load_artefact(artefact)
    rows = pair_rows(8)
    texts = [(a, b) for a, b, _ in rows]
    labels = np.array([0 if y == "entailment" else 1 for _, _, y in rows])
    from suite.data import TaskData

    spec = FinetuneSpec("t", "train", 1.0, None, 4, 1e-3, 0.0, 0.0, 32, False)
    log = finetune(model.module, model.tokenizer, TaskData(texts, labels, "0" * 64, "test"), spec, 0)
    assert log["examples"] == 8 and log["steps"] == 2
    teacher_logits = model.predict_logits(texts, 4, 32)
    trained = distil(model.module, model.tokenizer, texts, labels, teacher_logits, DistilSpec(batch_size=4), 0, 32)
    assert trained["examples"] == 8 and trained["steps"] == 2


def test_rte_shaped_pairs_with_string_labels(where):
    rows = pair_rows(6)
    dataset = {
        "format": "tsv",
        "text_fields": ["sentence1", "sentence2"],
        "label_field": "label",
        "labels": PAIR_LABELS,
    }
    data = load(where, "rte", dataset, rte_tsv(rows))
    assert data.texts == [(a, b) for a, b, _ in rows]
    assert data.labels.tolist() == [0, 1, 0, 1, 0, 1]  # pair_rows: even rows entail


def test_the_example_glue_pair_task_loads_on_data_of_its_shape(where, repo):
    """tasks/examples/rte.yaml, with the digest filled in, reads a generated file of GLUE RTE's dev.tsv shape."""
    root, mirror, cache = where
    rows = pair_rows(10)
    definition = yaml.safe_load((repo / "tasks" / "examples" / "rte.yaml").read_text())
    entry = write_mirror_file(mirror, definition["dataset"]["files"]["validation"]["path"], rte_tsv(rows))
    definition["dataset"]["files"] = {"validation": entry}
    write_task(root, definition)
    data = load_task_data(load_task(root, "rte"), str(mirror), cache)
    assert data.texts == [(a, b) for a, b, _ in rows] and data.labels.tolist() == [0, 1] * 5


# --- errors: one per bad field, naming the file, the field and the fix ----------------------------------------------

BASE = {"format": "csv", "text_field": "text", "label_field": "label", "labels": {"0": "n", "1": "p"}}


def test_unknown_label_value_names_the_value_the_row_and_the_file(where):
    dataset = {**BASE, "labels": SENTIMENT}
    err = error_of(where, "bad", dataset, "text,label\ngood,Positive\nfine,Positive\nugh,NEG\n")
    assert err.file == str(where[1] / "d" / "dev.txt") and err.field == "label (row 3)"
    assert "label value 'NEG' is not one of the values dataset.labels of tasks/bad/bad.yaml lists" in err.problem
    assert err.fix == "add it to the values of its class in dataset.labels, or fix the data file"


@pytest.mark.parametrize(
    ("change", "field", "problem", "fix"),
    [
        ({"text_fields": ["a", "b"]}, "dataset.text_field", "not both", "text_fields: [premise, hypothesis]"),
        ({"text_field": None}, "dataset.text_field", "not neither", "e.g. text_field: sentence"),
        ({"max_instances": 10}, "dataset.seed", "it needs seed", "give both"),
        ({"seed": 1}, "dataset.max_instances", "it needs seed", "give both"),
        ({"json_key": "rows"}, "dataset.json_key", "applies to format json", "remove json_key"),
        ({"format": "jsonl", "quoting": "minimal"}, "dataset.quoting", "not to format 'jsonl'", "remove quoting"),
        ({"format": "parquet", "encoding": "latin-1"}, "dataset.encoding", "not to format 'parquet'", "remove"),
        ({"labels": {"0": "n", "2": "p"}}, "dataset.labels", "class ids [0, 2] are not 0..1", "number the classes"),
        (
            {"labels": {"0": {"name": "n", "values": ["x"]}, "1": {"name": "p", "values": ["x"]}}},
            "dataset.labels.1.values",
            "value 'x' already means class 0 ('n')",
            "list each value under one class",
        ),
        ({"filter": {"field": "g"}}, "dataset.filter", "does not have enough properties", "{field: genre, equals"),
        ({"format": "hub", "hub": {"id": "x/y"}}, "dataset.hub.revision", "pinned revision", "40-hex commit"),
        ({"files": None}, "dataset.files", "reads mirror files", "add files"),
    ],
)
def test_bad_task_fields(where, change, field, problem, fix):
    root = where[0]
    dataset = {**BASE, "files": {"dev": {"path": "d/dev.txt", "sha256": "0" * 64}}}
    for key, value in change.items():
        if value is None:
            dataset.pop(key)
        else:
            dataset[key] = value
    write_task(root, classification_task("bad", copy.deepcopy(dataset)))
    with pytest.raises(SuiteInputError) as info:
        load_task(root, "bad")
    err = info.value
    assert err.file == "tasks/bad/bad.yaml" and err.field == field, str(err)
    assert problem in str(err)
    if fix is not None:
        assert fix in (err.fix or "")


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"text_fields": ["text", "hypo"], "text_field": None}, "dataset.text_fields", "'hypo' is not a column"),
        ({"filter": {"field": "genre", "equals": "x"}}, "dataset.filter.field", "'genre' is not a column"),
        ({"filter": {"field": "label", "in": ["7"]}}, "dataset.filter", "no row of"),
    ],
)
def test_bad_fields_found_in_the_data(where, change, field, problem):
    dataset = dict(BASE)
    for key, value in change.items():
        if value is None:
            dataset.pop(key)
        else:
            dataset[key] = value
    err = error_of(where, "bad", dataset)
    assert err.file == "tasks/bad/bad.yaml" and err.field == field and problem in err.problem and err.fix


def test_a_contrast_section_on_a_classification_task_is_refused(where):
    err = error_of(where, "bad", BASE, contrast={"group_field": "g"})
    assert err.file == "tasks/bad/bad.yaml" and err.field == "contrast"
    assert err.fix == "use kind: contrast, or remove the contrast section"


def test_a_generator_over_sentence_pairs_is_refused(where):
    root, mirror, cache = where
    files = {"dev": write_mirror_file(mirror, "p/dev.tsv", rte_tsv(pair_rows(4)))}
    dataset = {"name": "p", "format": "tsv", "text_fields": ["sentence1", "sentence2"], "label_field": "label"}
    write_task(
        root,
        {
            "name": "pp",
            "version": "1.0",
            "kind": "perturbation",
            "split": "dev",
            "metrics": ["accuracy"],
            "dataset": {**dataset, "labels": PAIR_LABELS, "files": files},
            "generator": {"name": "perturb", "seed": 0, "params": {"perturbations": {"casing": [0.5]}}},
        },
    )
    with pytest.raises(SuiteInputError) as info:
        load_task_data(load_task(root, "pp"), str(mirror), cache)
    assert info.value.field == "dataset.text_fields" and "not sentence pairs" in str(info.value)


def test_bad_label_value_stops_the_workflow_load(tiny_config: dict, sandbox: Path, tmp_path: Path):
    """Through suite.plan (what the Snakefile calls): the load fails before any job, naming file, row and value."""
    from suite.plan import check_data, load

    mirror = tmp_path / "mirror2"
    files = {"dev": write_mirror_file(mirror, "toy/dev.csv", "text,label\ngood,Positive\nbad,Negatve\n")}
    write_task(sandbox, classification_task("toy", {**BASE, "labels": SENTIMENT, "files": files}))
    tiny_config.update(tasks=["toy"], data={**tiny_config["data"], "mirror": str(mirror)})
    tiny_config["teacher"]["finetune"] = None
    with pytest.raises(SuiteInputError) as info:
        check_data(load(tiny_config, sandbox, "my.yaml"))
    assert str(info.value).startswith(f"{mirror / 'toy' / 'dev.csv'}: field 'label (row 2)': label value 'Negatve'")
