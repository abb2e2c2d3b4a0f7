"""`suite new-entry DIR`: an entry YAML with the sha256 filled in, then the very check `check-entry` runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from suite.cli import main
from suite.entries import PLACEHOLDERS, sha256_bytes_of

REPO = Path(__file__).resolve().parent.parent
TINY_CONFIG = str(REPO / "tests" / "tiny" / "config" / "config.yaml")  # teacher tiny-bert
FULL = ["--display-name", "Tiny, INT8 by me", "--submitter", "A. Person (@aperson)", "--licence", "MIT"]
FULL += ["--description", "Dynamic INT8 quantisation of every Linear layer."]


def model_dir(directory: Path) -> Path:
    """config.json + model.safetensors (written with safetensors.numpy: no torch)."""
    from safetensors.numpy import save_file

    directory.mkdir(parents=True)
    save_file({"classifier.weight": np.full((2, 4), 0.5, dtype=np.float32)}, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 4}))
    return directory


def new_entry(*args: str) -> int:
    return main(["new-entry", *args, "--config", TINY_CONFIG])


def test_writes_a_passing_entry_with_the_sha256(tmp_path, capsys):
    weights = model_dir(tmp_path / "entries" / "My_Model.INT8")
    out = tmp_path / "entries" / "my-model-int8.yaml"
    assert new_entry(str(weights), "--out", str(out), *FULL, "--tasks", "sst2", "stability-stress") == 0
    entry = yaml.safe_load(out.read_text())
    assert entry == {
        "id": "my-model-int8",  # from the directory's name
        "display_name": "Tiny, INT8 by me",
        "submitter": "A. Person (@aperson)",
        "licence": "MIT",
        "teacher": "tiny-bert",  # the config's teacher.id
        "model": {"local": {"path": "My_Model.INT8", "sha256": sha256_bytes_of(weights / "model.safetensors")}},
        "method_description": "Dynamic INT8 quantisation of every Linear layer.",
        "tasks": ["sst2", "stability-stress"],
    }
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"wrote {out} (model.local.path My_Model.INT8, sha256 of model.safetensors filled in)"
    assert lines[1].startswith(f"PASS {out} (my-model-int8): local safetensors My_Model.INT8 on teacher tiny-bert")
    assert lines[-1] == "1 passed, 0 failed"


def test_placeholders_fail_with_check_entrys_own_reasons(tmp_path, capsys):
    weights = model_dir(tmp_path / "entries" / "mine")
    out = tmp_path / "entries" / "renamed.yaml"
    assert new_entry(str(weights), "--id", "renamed", "--out", str(out), "--submitter", "Me (@me)") == 1
    entry = yaml.safe_load(out.read_text())
    assert entry["id"] == "renamed" and entry["submitter"] == "Me (@me)"
    assert entry["tasks"] == yaml.safe_load(Path(TINY_CONFIG).read_text())["tasks"]  # the config's tasks
    for name in ("display_name", "licence", "method_description"):
        assert entry[name] == PLACEHOLDERS[name][0]
    written = capsys.readouterr().out.splitlines()
    assert written[1] == "left as 'TODO: …' for you to write: display_name, licence, method_description (or pass " \
        "--display-name, --licence, --description)"  # fmt: skip
    verdict = written[2:]
    assert verdict[0] == f"FAIL {out} (renamed): 3 problems"
    assert verdict[1] == (
        f"  - {out}: field 'display_name': is still a placeholder ('TODO: how the site names the model (plain "
        "text)') — fix: write the display name in its place (`suite new-entry` fills it from --display-name)"
    )
    assert "field 'licence': is still a placeholder" in verdict[2] and "--licence" in verdict[2]
    assert "field 'method_description': is still a placeholder" in verdict[3]
    # the same file through check-entry: the same lines (one code path)
    assert main(["check-entry", str(out), "--config", TINY_CONFIG]) == 1
    assert capsys.readouterr().out.splitlines() == verdict


def test_refuses_to_overwrite_unless_forced(tmp_path, capsys):
    weights = model_dir(tmp_path / "entries" / "mine")
    out = tmp_path / "entries" / "mine.yaml"
    out.write_text("keep me")
    assert new_entry(str(weights), "--out", str(out), *FULL) == 2
    assert out.read_text() == "keep me"
    assert capsys.readouterr().err == (
        f"error: {out}: exists already — fix: pass --force to overwrite it, or --out another file\n"
    )
    assert new_entry(str(weights), "--out", str(out), *FULL, "--force") == 0
    assert yaml.safe_load(out.read_text())["id"] == "mine"


def test_weights_outside_the_entrys_directory_fail_the_check(tmp_path, capsys):
    weights = model_dir(tmp_path / "elsewhere")
    out = tmp_path / "entries" / "elsewhere.yaml"
    assert new_entry(str(weights), "--out", str(out), *FULL) == 1
    assert yaml.safe_load(out.read_text())["model"]["local"]["path"] == "../elsewhere"
    assert "field 'model.local.path': '../elsewhere' leads outside the entry's directory" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (
            lambda d: d.mkdir(parents=True),
            [],
            "has no config.json: an entry's model is config.json + model.safetensors",
        ),
        (lambda d: model_dir(d), ["--id", "../../evil"], "field '--id': '../../evil' is not an entry id"),
        (lambda d: None, [], "mine: not found — fix: give the directory holding config.json"),
        (lambda d: d.parent.mkdir() or d.write_text("x"), [], "mine: is not a directory"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, setup, args, message):
    setup(tmp_path / "entries" / "mine")
    out = tmp_path / "entries" / "out.yaml"
    assert new_entry(str(tmp_path / "entries" / "mine"), "--out", str(out), *FULL, *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err and "— fix: " in err
    assert not out.exists() and not (tmp_path / "evil.yaml").exists()
