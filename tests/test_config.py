"""Bad config and task input: one clear error naming the file, the field and the fix, raised at load time."""

import copy
from pathlib import Path

import pytest
import yaml

from suite.errors import SuiteInputError
from suite.plan import check_data, load, load_file


def error_of(config: dict, root: Path) -> SuiteInputError:
    with pytest.raises(SuiteInputError) as info:
        check_data(load(copy.deepcopy(config), root, "my.yaml"))
    return info.value


def test_default_config_is_valid(repo: Path, mirror: Path, monkeypatch):
    monkeypatch.setenv("SUITE_DATA_MIRROR", str(mirror))
    cfg = load_file(repo / "config" / "classifier.yaml", repo)
    # the config's variants, then the accepted community entries (leaderboard/entries/*.yaml)
    assert cfg.variant_ids[:3] == ["teacher", "int8-dynamic", "sparse-24"]
    assert cfg.variant_ids[-1] == "example-l1-pruned-40"
    assert len(cfg.variants) >= 13  # at least 12 students besides the teacher, plus the example entry
    assert cfg.raw["entries"]["rejected"] == []
    assert cfg.lineage("distil-4l-ort-int8") == ["teacher", "distil-4l", "distil-4l-ort-int8"]
    assert cfg.lineage("ort-int8") == ["teacher", "onnx-fp32", "ort-int8"]
    assert cfg.variant("torchao-int8-compiled").params["compile"] is True
    assert cfg.variant("bf16").params == {"dtype": "bfloat16"}
    assert cfg.task("sst2").version == "1.1"
    assert {"uci-imdb", "advglue-sst2", "sst2-perturb", "eec-fairness"} <= {t.name for t in cfg.tasks}
    assert cfg.latency.min_runs >= 50 and cfg.latency.min_seconds >= 2.0


def test_defaults_are_filled(tiny_config: dict, repo: Path):
    del tiny_config["evaluate"]
    cfg = load(tiny_config, repo)
    assert cfg.evaluate.bootstrap_resamples == 1000 and cfg.evaluate.confidence == 0.95


def test_malformed_yaml(tmp_path: Path, repo: Path):
    bad = tmp_path / "config.yaml"
    bad.write_text("teacher: [unclosed\n")
    with pytest.raises(SuiteInputError, match=r"config.yaml: malformed YAML at line 2"):
        load_file(bad, repo)


def test_wrong_type_names_the_field(tiny_config: dict, repo: Path):
    tiny_config["latency"]["min_runs"] = "many"
    err = error_of(tiny_config, repo)
    assert err.file == "my.yaml" and err.field == "latency.min_runs"
    assert "'many' is not of type 'integer'" in str(err)


def test_unknown_key(tiny_config: dict, repo: Path):
    tiny_config["variants"][0]["paramz"] = {}
    err = error_of(tiny_config, repo)
    assert err.field == "variants[0]" and "paramz" in str(err)


def test_unknown_method_suggests(tiny_config: dict, repo: Path):
    tiny_config["variants"][1]["method"] = "l1_unstructred"
    err = error_of(tiny_config, repo)
    assert err.field == "variants[1].method"
    assert "did you mean 'l1_unstructured'" in str(err)


def test_unknown_task(tiny_config: dict, repo: Path):
    tiny_config["tasks"] = ["sst3"]
    err = error_of(tiny_config, repo)
    assert err.field == "tasks[0]" and "did you mean 'sst2'" in str(err)


def test_missing_parent(tiny_config: dict, repo: Path):
    tiny_config["variants"][3]["parent"] = "pruned-70"
    err = error_of(tiny_config, repo)
    assert err.field == "variants[3].parent" and "'pruned-70'" in str(err)


def test_a_timing_reference_that_is_not_a_variant_names_the_field_and_the_choices(tiny_config: dict, repo: Path):
    tiny_config["latency"] = {"reference": "int8-dynamc"}
    err = error_of(tiny_config, repo)
    assert err.field == "latency.reference" and "'int8-dynamc' is neither 'teacher' nor a variant" in str(err)
    assert "int8-dynamic" in err.fix
    tiny_config["latency"] = {"reference": "int8-dynamic"}  # any variant of the run may be the baseline
    assert load(tiny_config, repo).latency.reference == "int8-dynamic"


def test_cycle(tiny_config: dict, repo: Path):
    tiny_config["variants"] = [
        {"id": "a", "parent": "b", "method": "l1_unstructured", "params": {"amount": 0.1}},
        {"id": "b", "parent": "a", "method": "l1_unstructured", "params": {"amount": 0.1}},
    ]
    err = error_of(tiny_config, repo)
    assert "cycle (a -> b -> a)" in str(err)


@pytest.mark.parametrize("amount", [1.5, 0, -0.2, True])
def test_amount_out_of_range(tiny_config: dict, repo: Path, amount):
    tiny_config["variants"][1]["params"]["amount"] = amount
    err = error_of(tiny_config, repo)
    assert err.field == "variants[1].params.amount" and "out of range" in str(err)


def test_chain_from_an_int8_parent_is_refused(tiny_config: dict, repo: Path):
    tiny_config["variants"].append(
        {"id": "x", "parent": "int8-dynamic", "method": "l1_unstructured", "params": {"amount": 0.2}}
    )
    err = error_of(tiny_config, repo)
    assert "cannot start from a 'torch-dynamic-int8' parent" in str(err)


def test_reserved_and_duplicate_ids(tiny_config: dict, repo: Path):
    tiny_config["variants"].append(dict(tiny_config["variants"][0]))
    assert "duplicate variant id 'int8-dynamic'" in str(error_of(tiny_config, repo))


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


def tiny_task_config(tiny_config: dict, root: Path, name: str) -> dict:
    tiny_config["tasks"] = [name]
    tiny_config["teacher"]["finetune"] = None
    tiny_config["data"]["mirror"] = str(root / "mirror")
    return tiny_config


def test_label_outside_the_label_set(tiny_config: dict, sandbox: Path):
    write_task(sandbox, "toy", 'sentence\tlabel\ngood "film"\t1\nbad film\t2\n')
    err = error_of(tiny_task_config(tiny_config, sandbox, "toy"), sandbox)
    assert err.field == "label (row 2)" and "label 2 is outside the label set [0, 1]" in str(err)
    assert str(err).startswith(str(sandbox / "mirror" / "toy" / "dev.tsv"))


def test_wrong_sha256(tiny_config: dict, sandbox: Path):
    write_task(sandbox, "toy", "sentence\tlabel\ngood\t1\n", sha256="0" * 64)
    err = error_of(tiny_task_config(tiny_config, sandbox, "toy"), sandbox)
    assert "sha256 mismatch" in str(err) and err.field == "dataset.files.validation.sha256 in tasks/toy/toy.yaml"
    assert "restore the original file" in str(err)


def test_missing_data_file(tiny_config: dict, sandbox: Path):
    write_task(sandbox, "toy", "sentence\tlabel\ngood\t1\n")
    (sandbox / "mirror" / "toy" / "dev.tsv").unlink()
    err = error_of(tiny_task_config(tiny_config, sandbox, "toy"), sandbox)
    assert "missing from the data mirror" in str(err) and "SUITE_DATA_MIRROR" in str(err)


def test_no_mirror_and_no_pinned_revision(tiny_config: dict, repo: Path, monkeypatch):
    tiny_config["data"]["mirror"] = None
    err = error_of(tiny_config, repo)
    assert err.field == "dataset.hub.revision" and err.file == "tasks/sst2/sst2.yaml"


def test_missing_text_field(tiny_config: dict, sandbox: Path):
    write_task(sandbox, "toy", "text\tlabel\ngood\t1\n")
    err = error_of(tiny_task_config(tiny_config, sandbox, "toy"), sandbox)
    assert err.field == "dataset.text_field" and "'sentence' is not a column" in str(err)


def test_unknown_metric_in_task(tiny_config: dict, sandbox: Path):
    path = write_task(sandbox, "toy", "sentence\tlabel\ngood\t1\n")
    task = yaml.safe_load(path.read_text())
    task["metrics"] = ["acuracy"]
    path.write_text(yaml.safe_dump(task))
    err = error_of(tiny_task_config(tiny_config, sandbox, "toy"), sandbox)
    assert err.field == "metrics[0]" and "did you mean 'accuracy'" in str(err)


def test_empty_dataset(tiny_config: dict, sandbox: Path):
    write_task(sandbox, "toy", "sentence\tlabel\n")
    err = error_of(tiny_task_config(tiny_config, sandbox, "toy"), sandbox)
    assert "split 'validation' has no rows" in str(err)


def test_missing_label_field(tiny_config: dict, sandbox: Path):
    write_task(sandbox, "toy", "sentence\tstars\ngood\t1\n")
    err = error_of(tiny_task_config(tiny_config, sandbox, "toy"), sandbox)
    assert err.file == "tasks/toy/toy.yaml" and err.field == "dataset.label_field"


def test_unknown_kind_suggests(tiny_config: dict, sandbox: Path):
    path = write_task(sandbox, "toy", "sentence\tlabel\ngood\t1\n")
    task = yaml.safe_load(path.read_text())
    task["kind"] = "clasification"
    path.write_text(yaml.safe_dump(task))
    err = error_of(tiny_task_config(tiny_config, sandbox, "toy"), sandbox)
    assert err.file == "tasks/toy/toy.yaml" and err.field == "kind"
    assert "did you mean 'classification'" in str(err)


def test_template_with_an_unknown_slot(tiny_config: dict, sandbox: Path):
    tests_file = sandbox / "tasks" / "checklist-sentiment" / "tests.yaml"
    spec = yaml.safe_load(tests_file.read_text())
    spec["tests"][1]["templates"][0] = "The {nuon} was {neg_adj}."
    tests_file.write_text(yaml.safe_dump(spec))
    tiny_config["tasks"] = ["checklist-sentiment"]
    err = error_of(tiny_config, sandbox)
    assert err.file == "tasks/checklist-sentiment/tests.yaml" and err.field == "tests[1].templates[0]"
    assert "unknown slot 'nuon'; did you mean 'noun'?" in str(err)


def test_eec_template_with_an_unknown_slot(tiny_config: dict, sandbox: Path):
    templates = sandbox / "tasks" / "eec-fairness" / "templates.yaml"
    templates.write_text(templates.read_text().replace("{person} has two children.", "{persn} has two children."))
    tiny_config["tasks"] = ["eec-fairness"]
    err = error_of(tiny_config, sandbox)
    assert err.file == "tasks/eec-fairness/templates.yaml" and err.field == "templates[10]"
    assert "did you mean 'person'" in str(err)


def test_unknown_perturbation_and_generator(tiny_config: dict, sandbox: Path):
    path = sandbox / "tasks" / "sst2-perturb" / "sst2-perturb.yaml"
    task = yaml.safe_load(path.read_text())
    task["generator"]["params"]["perturbations"]["tpyo"] = [0.1]
    path.write_text(yaml.safe_dump(task))
    tiny_config["tasks"] = ["sst2-perturb"]
    err = error_of(tiny_config, sandbox)
    assert err.field == "generator.params.perturbations.tpyo" and "did you mean 'typo'" in str(err)
    task["generator"]["name"] = "perturbb"
    path.write_text(yaml.safe_dump(task))
    err = error_of(tiny_config, sandbox)
    assert err.file == "tasks/sst2-perturb/sst2-perturb.yaml" and err.field == "generator.name"


def test_include_cycle_and_unknown_include(tiny_config: dict, sandbox: Path):
    for a, b in (("ta", "tb"), ("tb", "ta")):
        (sandbox / "tasks" / a).mkdir()
        (sandbox / "tasks" / a / f"{a}.yaml").write_text(f"include: {b}\nname: {a}\nversion: '1.0'\n")
    tiny_config["tasks"] = ["ta"]
    err = error_of(tiny_config, sandbox)
    assert err.field == "include" and "include cycle (tasks/ta/ta.yaml -> tasks/tb/tb.yaml -> tasks/ta/ta.yaml)" in str(
        err
    )
    (sandbox / "tasks" / "ta" / "ta.yaml").write_text("include: sst3\nname: ta\nversion: '1.0'\n")
    assert "did you mean 'sst2'" in str(error_of(tiny_config, sandbox))


def test_generated_task_data_sha256_is_of_the_instances(tiny_config: dict, repo: Path):
    from suite.provenance import sha256_json
    from suite.tasks import load_task_data

    tiny_config["tasks"] = ["stability-stress"]
    cfg = load(tiny_config, repo)
    data = load_task_data(cfg.task("stability-stress"), cfg.data_mirror, cfg.data_cache)
    instances = [
        {"text": t, "label": -1, "slice": s, "ref": -1, "meta": {}}
        for t, s in zip(data.texts, data.slices, strict=True)
    ]
    assert data.data_sha256 == sha256_json(instances)


def test_cast_params(tiny_config: dict, repo: Path):
    tiny_config["variants"].append({"id": "fp8", "parent": "teacher", "method": "cast", "params": {"dtype": "float8"}})
    err = error_of(tiny_config, repo)
    assert err.field == f"variants[{len(tiny_config['variants']) - 1}].params.dtype" and "float16" in str(err)


def test_cuda_device_refuses_cpu_only_int8(tiny_config: dict, repo: Path):
    tiny_config["device"] = "cuda"
    err = error_of(tiny_config, repo)
    assert err.field == "variants[0].method"
    assert "int8-dynamic" in str(err) and "CPU only" in str(err) and "device: cpu" in str(err)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_cuda_device_without_a_gpu_loads_and_its_jobs_refuse_to_run(tiny_config: dict, repo: Path):
    """The plan is made on a host that may have no GPU (a cluster's login node); each job checks on its own host."""
    import torch

    from suite.pipeline import _torch_setup
    from suite.plan import load

    if torch.cuda.is_available():
        pytest.skip("this host has a CUDA device")
    tiny_config["device"] = "cuda"
    tiny_config["variants"] = [v for v in tiny_config["variants"] if v["method"] != "dynamic_quant"]
    cfg = load(tiny_config, repo)
    assert cfg.device == "cuda"
    with pytest.raises(RuntimeError, match=r"device is cuda, but torch .* sees no CUDA device .* or set device: cpu"):
        _torch_setup(1, cfg.device)
