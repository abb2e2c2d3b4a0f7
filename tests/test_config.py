"""Bad config and task input: one clear error naming the file, the field and the fix, raised at load time."""

import copy
from pathlib import Path

import pytest
import yaml

from suite.config import load, load_file
from suite.data import check_data
from suite.errors import SuiteInputError


@pytest.fixture
def base(repo: Path, mirror: Path, monkeypatch) -> dict:
    monkeypatch.delenv("SUITE_DATA_MIRROR", raising=False)
    config = yaml.safe_load((repo / "tests" / "tiny" / "config" / "config.yaml").read_text())
    config["data"]["mirror"] = str(mirror)
    return config


def error_of(config: dict, root: Path) -> SuiteInputError:
    with pytest.raises(SuiteInputError) as info:
        check_data(load(copy.deepcopy(config), root, "my.yaml"))
    return info.value


def test_default_config_is_valid(repo: Path, mirror: Path, monkeypatch):
    monkeypatch.setenv("SUITE_DATA_MIRROR", str(mirror))
    cfg = load_file(repo / "config" / "config.yaml", repo)
    assert cfg.variant_ids == ["teacher", "int8-dynamic", "pruned-30", "pruned-50", "pruned-30-int8"]
    assert cfg.lineage("pruned-30-int8") == ["teacher", "pruned-30", "pruned-30-int8"]
    assert cfg.task("sst2").version == "1.0"
    assert cfg.latency.min_runs >= 50 and cfg.latency.min_seconds >= 2.0


def test_defaults_are_filled(base: dict, repo: Path):
    del base["evaluate"]
    cfg = load(base, repo)
    assert cfg.evaluate.bootstrap_resamples == 1000 and cfg.evaluate.confidence == 0.95


def test_malformed_yaml(tmp_path: Path, repo: Path):
    bad = tmp_path / "config.yaml"
    bad.write_text("teacher: [unclosed\n")
    with pytest.raises(SuiteInputError, match=r"config.yaml: malformed YAML at line 2"):
        load_file(bad, repo)


def test_wrong_type_names_the_field(base: dict, repo: Path):
    base["latency"]["min_runs"] = "many"
    err = error_of(base, repo)
    assert err.file == "my.yaml" and err.field == "latency.min_runs"
    assert "'many' is not of type 'integer'" in str(err)


def test_unknown_key(base: dict, repo: Path):
    base["variants"][0]["paramz"] = {}
    err = error_of(base, repo)
    assert err.field == "variants[0]" and "paramz" in str(err)


def test_unknown_method_suggests(base: dict, repo: Path):
    base["variants"][1]["method"] = "l1_unstructred"
    err = error_of(base, repo)
    assert err.field == "variants[1].method"
    assert "did you mean 'l1_unstructured'" in str(err)


def test_unknown_task(base: dict, repo: Path):
    base["tasks"] = ["sst3"]
    err = error_of(base, repo)
    assert err.field == "tasks[0]" and "did you mean 'sst2'" in str(err)


def test_missing_parent(base: dict, repo: Path):
    base["variants"][3]["parent"] = "pruned-70"
    err = error_of(base, repo)
    assert err.field == "variants[3].parent" and "'pruned-70'" in str(err)


def test_cycle(base: dict, repo: Path):
    base["variants"] = [
        {"id": "a", "parent": "b", "method": "l1_unstructured", "params": {"amount": 0.1}},
        {"id": "b", "parent": "a", "method": "l1_unstructured", "params": {"amount": 0.1}},
    ]
    err = error_of(base, repo)
    assert "cycle (a -> b -> a)" in str(err)


@pytest.mark.parametrize("amount", [1.5, 0, -0.2, True])
def test_amount_out_of_range(base: dict, repo: Path, amount):
    base["variants"][1]["params"]["amount"] = amount
    err = error_of(base, repo)
    assert err.field == "variants[1].params.amount" and "out of range" in str(err)


def test_chain_from_an_int8_parent_is_refused(base: dict, repo: Path):
    base["variants"].append(
        {"id": "x", "parent": "int8-dynamic", "method": "l1_unstructured", "params": {"amount": 0.2}}
    )
    err = error_of(base, repo)
    assert "cannot start from a 'torch-dynamic-int8' parent" in str(err)


def test_reserved_and_duplicate_ids(base: dict, repo: Path):
    base["variants"].append(dict(base["variants"][0]))
    assert "duplicate variant id 'int8-dynamic'" in str(error_of(base, repo))


# --- data ----------------------------------------------------------------------------------------------------


def write_task(root: Path, name: str, rows: str, *, sha256: str | None = None) -> Path:
    import hashlib

    data_dir = root / "mirror" / name
    data_dir.mkdir(parents=True)
    (data_dir / "dev.tsv").write_text(rows)
    digest = sha256 or hashlib.sha256(rows.encode()).hexdigest()
    task_dir = root / "tasks" / name
    task_dir.mkdir(parents=True)
    task = {
        "name": name,
        "version": "1.0",
        "kind": "classification",
        "split": "validation",
        "metrics": ["accuracy"],
        "dataset": {
            "name": name,
            "format": "tsv",
            "text_field": "sentence",
            "label_field": "label",
            "labels": {"0": "negative", "1": "positive"},
            "files": {"validation": {"path": f"{name}/dev.tsv", "sha256": digest}},
        },
    }
    (task_dir / f"{name}.yaml").write_text(yaml.safe_dump(task))
    return task_dir / f"{name}.yaml"


def tiny_task_config(base: dict, root: Path, name: str) -> dict:
    base["tasks"] = [name]
    base["teacher"]["finetune"] = None
    base["data"]["mirror"] = str(root / "mirror")
    return base


def test_label_outside_the_label_set(base: dict, sandbox: Path):
    write_task(sandbox, "toy", 'sentence\tlabel\ngood "film"\t1\nbad film\t2\n')
    err = error_of(tiny_task_config(base, sandbox, "toy"), sandbox)
    assert err.field == "label (row 2)" and "label 2 is outside the label set [0, 1]" in str(err)
    assert str(err).startswith(str(sandbox / "mirror" / "toy" / "dev.tsv"))


def test_wrong_sha256(base: dict, sandbox: Path):
    write_task(sandbox, "toy", "sentence\tlabel\ngood\t1\n", sha256="0" * 64)
    err = error_of(tiny_task_config(base, sandbox, "toy"), sandbox)
    assert "sha256 mismatch" in str(err) and err.field == "dataset.files.validation.sha256 in tasks/toy/toy.yaml"
    assert "restore the original file" in str(err)


def test_missing_data_file(base: dict, sandbox: Path):
    write_task(sandbox, "toy", "sentence\tlabel\ngood\t1\n")
    (sandbox / "mirror" / "toy" / "dev.tsv").unlink()
    err = error_of(tiny_task_config(base, sandbox, "toy"), sandbox)
    assert "missing from the data mirror" in str(err) and "SUITE_DATA_MIRROR" in str(err)


def test_no_mirror_and_no_pinned_revision(base: dict, repo: Path, monkeypatch):
    base["data"]["mirror"] = None
    err = error_of(base, repo)
    assert err.field == "dataset.hub.revision" and err.file == "tasks/sst2/sst2.yaml"


def test_missing_text_field(base: dict, sandbox: Path):
    write_task(sandbox, "toy", "text\tlabel\ngood\t1\n")
    err = error_of(tiny_task_config(base, sandbox, "toy"), sandbox)
    assert err.field == "dataset.text_field" and "'sentence' is not a column" in str(err)


def test_unknown_metric_in_task(base: dict, sandbox: Path):
    path = write_task(sandbox, "toy", "sentence\tlabel\ngood\t1\n")
    task = yaml.safe_load(path.read_text())
    task["metrics"] = ["acuracy"]
    path.write_text(yaml.safe_dump(task))
    err = error_of(tiny_task_config(base, sandbox, "toy"), sandbox)
    assert err.field == "metrics[0]" and "did you mean 'accuracy'" in str(err)
