"""Fault injection: what a changed artefact does at load, and that the same recipe gives the same bytes."""

import re

import pytest


def test_an_intact_artefact_loads(artefact):
    from suite.artefacts import load_artefact

    model, record = load_artefact(artefact)
    assert record["id"] == "teacher" and model.format == "torch-fp32"


def test_a_flipped_byte_in_the_weights_is_refused_naming_the_file_and_both_hashes(artefact):
    from suite.artefacts import ArtefactIntegrityError, load_artefact, read_record
    from suite.provenance import sha256_file

    weights = artefact / "model.safetensors"
    recorded = read_record(artefact)["weights"]["model.safetensors"]
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF  # inside the last tensor's data: still a readable safetensors file
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtefactIntegrityError) as info:
        load_artefact(artefact)
    message = str(info.value)
    assert "variant 'teacher'" in message and "file model.safetensors" in message
    assert sha256_file(weights) in message and recorded in message and "rebuild it" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: (d / "config.json").unlink(), "file config.json is missing"),
        (lambda d: (d / "extra.bin").write_bytes(b"x"), "file extra.bin was not part of the built artefact"),
    ],
)
def test_a_missing_or_added_file_is_refused(artefact, change, expected):
    from suite.artefacts import ArtefactIntegrityError, load_artefact

    change(artefact)
    with pytest.raises(ArtefactIntegrityError, match=expected):
        load_artefact(artefact)


def test_edited_file_hashes_in_variant_json_do_not_pass_for_the_artefact_hash(artefact):
    import json

    from suite.artefacts import ArtefactIntegrityError, load_artefact

    record = json.loads((artefact / "variant.json").read_text())
    record["weights"]["model.safetensors"] = "0" * 64
    (artefact / "variant.json").write_text(json.dumps(record))
    with pytest.raises(ArtefactIntegrityError, match="do not give its artefact_sha256"):
        load_artefact(artefact)


def test_an_edited_recipe_in_variant_json_does_not_pass_for_the_artefact_hash(artefact):
    import json

    from suite.artefacts import ArtefactIntegrityError, load_artefact

    record = json.loads((artefact / "variant.json").read_text())
    record["recipe"]["seed"] = 12345
    (artefact / "variant.json").write_text(json.dumps(record))
    with pytest.raises(ArtefactIntegrityError, match="weight and recipe hashes do not give its artefact_sha256"):
        load_artefact(artefact)


def test_the_artefact_identity_is_its_weights_and_recipe_and_lists_the_other_files_apart(artefact, tmp_path):
    """A config.json written by another transformers version (its `transformers_version`) leaves the identity as
    it is; the file is still checked at every load against its own recorded hash."""
    import json
    import shutil

    from suite.artefacts import artefact_files, artefact_identity, read_record
    from suite.provenance import sha256_json

    record = read_record(artefact)
    assert set(record["weights"]) == {"model.safetensors"}
    assert {"config.json", "tokenizer.json"} <= set(record["other_files"]) and "files" not in record
    assert record["artefact_sha256"] == sha256_json(
        {"weights": record["weights"], "recipe_hash": sha256_json(record["recipe"])}
    )
    other = tmp_path / "other-install"
    shutil.copytree(artefact, other)
    config = json.loads((other / "config.json").read_text())
    config["transformers_version"] = "0.0.0-another-install"
    (other / "config.json").write_text(json.dumps(config))
    files = artefact_files(other)
    assert files["config.json"] != record["other_files"]["config.json"]
    assert artefact_identity(files, record["recipe_hash"])[2] == record["artefact_sha256"]


def test_a_measure_job_on_a_changed_artefact_records_failed_rows_with_the_reason(artefact, tiny_config, repo):
    from suite.measure import measure_variant
    from suite.plan import load

    (artefact / "model.safetensors").write_bytes(b"\0" * 16)
    rows = measure_variant(load(tiny_config, repo), "teacher", artefact, ["a sentence"], {})
    assert rows and all(r.status == "failed" for r in rows)
    assert all("ArtefactIntegrityError" in r.error and "model.safetensors" in r.error for r in rows)


def test_the_same_torchao_recipe_built_twice_gives_the_same_artefact_sha256(tiny_teacher, tmp_path):
    from suite.artefacts import load_artefact, save_artefact
    from suite.compress import METHODS

    method = METHODS.get("torchao_int8_dynamic")
    hashes = []
    for i in range(2):
        parent, _ = load_artefact(tiny_teacher)
        built = method().apply(parent, method.parse_params({}), None)
        record = save_artefact(built, parent.tokenizer, method.OUTPUT_FORMAT, tmp_path / f"b{i}", {"id": "q"})
        hashes.append(record["artefact_sha256"])
    assert hashes[0] == hashes[1]
    first, second = (tmp_path / name / "model.safetensors" for name in ("b0", "b1"))
    assert first.read_bytes() == second.read_bytes()


BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


def test_an_alias_bomb_config_is_refused_at_once_naming_the_file(tmp_path):
    import time

    from suite.errors import SuiteInputError
    from suite.yamlio import read_yaml

    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    start = time.perf_counter()
    with pytest.raises(SuiteInputError) as info:
        read_yaml(path)
    assert time.perf_counter() - start < 1.0
    assert str(path) in str(info.value) and re.search(r"expands to \d{9,} nodes", str(info.value))


def test_an_alias_bomb_entry_is_one_rejected_entry_with_the_reason(tmp_path):
    from suite.entries import EntryContext, check_entry

    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB + "id: bomb\n")
    ctx = EntryContext("t", ("sst2",), frozenset(), lambda method, params: [], 100.0, tmp_path)
    result = check_entry(path, ctx)
    assert not result.passed and len(result.problems) == 1
    expected = r"the file expands to \d{9,} nodes through its aliases \(limit 200000\)"
    assert re.fullmatch(expected, result.problems[0].problem)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: " + "[" * 100 + "]" * 100, "nests deeper than 64 levels"),
        ("a: '" + "x" * (1 << 20) + "'", "is larger than 1048576 bytes"),
    ],
)
def test_deep_or_huge_yaml_is_refused(tmp_path, text, problem):
    from suite.errors import SuiteInputError
    from suite.yamlio import read_yaml

    path = tmp_path / "f.yaml"
    path.write_text(text)
    with pytest.raises(SuiteInputError, match=problem):
        read_yaml(path)


@pytest.mark.parametrize("where", ["../outside.tsv", "/etc/hostname", "link.tsv"])
def test_a_task_file_path_outside_the_data_mirror_is_refused_before_it_is_read(tmp_path, where):
    from suite.data import mirror_file
    from suite.errors import SuiteInputError
    from suite.specs import DataFile, DatasetSpec

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    outside = tmp_path / "outside.tsv"
    outside.write_text("secret first line\tx\n")
    (mirror / "link.tsv").symlink_to(outside)  # a symlink inside the mirror that leads out of it
    files = {"dev": DataFile(path=where, sha256="0" * 64)}
    spec = DatasetSpec(name="d", format="tsv", text_field="t", label_field="l", labels={0: "n"}, files=files)
    with pytest.raises(SuiteInputError) as info:
        mirror_file(spec, "dev", str(mirror), "tasks/evil/task.yaml")
    message = str(info.value)
    assert message.startswith("tasks/evil/task.yaml: field 'dataset.files.dev.path'")
    assert "leads outside the data mirror" in message and "secret" not in message
