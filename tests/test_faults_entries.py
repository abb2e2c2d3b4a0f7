"""Faults in community entries: a hostile safetensors header, a config.json that cannot build, a checker that breaks.

Each is that entry's problem (naming the file, the field and the fix); none stops the others or the workflow load.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import pytest

import suite.entries
from suite.entries import EntryContext, check_entry, collect, safetensors_header, sha256_bytes_of
from tests.test_entries import entry, write

WHERE = "my-entry.yaml: field 'model.local.path': "
FIX = " — fix: save it with safetensors (save_pretrained, or safetensors.torch.save_file)"
CONFIG = {"model_type": "bert", "hidden_size": 4}


@pytest.fixture
def ctx(tmp_path: Path) -> EntryContext:
    """The run an entry is checked against: teacher tiny-bert, task sst2, a 10 KiB limit on weights."""
    return EntryContext("tiny-bert", ("sst2",), frozenset(), lambda method, params: [], 0.01, tmp_path)


def safetensors_bytes(header: dict, data: bytes) -> bytes:
    """A safetensors file written by hand: 8-byte little-endian header length, the JSON header, the tensor bytes."""
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data


def local_entry(directory: Path, header: dict, data: bytes, config: dict | None = None, entry_id: str = "my-entry"):
    """An entry file in `directory` whose weights (directory/<id>-weights) hold `header` + `data` and `config`."""
    weights = directory / f"{entry_id}-weights"
    weights.mkdir(parents=True)
    (weights / "model.safetensors").write_bytes(safetensors_bytes(header, data))
    (weights / "config.json").write_text(json.dumps(CONFIG if config is None else config))
    digest = sha256_bytes_of(weights / "model.safetensors")
    model = {"local": {"path": weights.name, "sha256": digest}}
    return write(directory, entry(id=entry_id, model=model))


def only_message(result) -> str:
    assert not result.passed and result.variant is None
    assert len(result.problems) == 1, result.reasons()
    assert result.problems[0].field == "model.local.path"
    return result.problems[0].message(result.file)


def f32(shape: list, begin: int = 0) -> dict:
    return {"dtype": "F32", "shape": shape, "data_offsets": [begin, begin + 4 * math.prod(shape)]}


# --- the safetensors header, field by field ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tensor", "problem"),
    [
        (
            {"dtype": "F32", "shape": [2], "data_offsets": ["0", "8"]},
            "tensor 'w': data_offsets ['0', '8'] is not [begin, end], two non-negative integers with begin <= end",
        ),
        (
            {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]},
            "tensor 'w': data_offsets [8, 0] is not [begin, end], two non-negative integers with begin <= end",
        ),
        (
            {"dtype": "F32", "shape": [2], "data_offsets": [0, 4, 8]},
            "tensor 'w': data_offsets [0, 4, 8] is not [begin, end], two non-negative integers with begin <= end",
        ),
        (
            {"dtype": ["F32"], "shape": [2], "data_offsets": [0, 8]},
            "tensor 'w': dtype ['F32'] is not one of BF16, BOOL, C64, F16, F32, F4, F64, F6_E2M3, F6_E3M2, "
            "F8_E4M3, F8_E4M3FNUZ, F8_E5M2, F8_E5M2FNUZ, F8_E8M0, I16, I32, I64, I8, U16, U32, U64, U8",
        ),
        (
            {"dtype": {"F32": 1}, "shape": [2], "data_offsets": [0, 8]},
            "tensor 'w': dtype {'F32': 1} is not one of BF16, BOOL, C64, F16, F32, F4, F64, F6_E2M3, F6_E3M2, "
            "F8_E4M3, F8_E4M3FNUZ, F8_E5M2, F8_E5M2FNUZ, F8_E8M0, I16, I32, I64, I8, U16, U32, U64, U8",
        ),
        (
            {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]},
            "tensor 'w': shape [-2] is not a list of at most 16 non-negative integers",
        ),
        (
            {"dtype": "F32", "shape": [True, 2], "data_offsets": [0, 8]},
            "tensor 'w': shape [True, 2] is not a list of at most 16 non-negative integers",
        ),
        (
            {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]},
            "tensor 'w': shape [2.0] is not a list of at most 16 non-negative integers",
        ),
        (
            {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]},
            "tensor 'w': shape '2' is not a list of at most 16 non-negative integers",
        ),
        (
            {"dtype": "F32", "shape": [1] * 17, "data_offsets": [0, 4]},
            f"tensor 'w': shape {[1] * 17} is not a list of at most 16 non-negative integers",
        ),
        (
            {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]},
            "tensor 'w': shape [3] of F32 needs 12 bytes, but data_offsets [0, 8] hold 8 bytes",
        ),
        (
            {"dtype": "F4", "shape": [3], "data_offsets": [0, 8]},
            "tensor 'w': shape [3] of F4 needs 12 bits (not whole bytes), but data_offsets [0, 8] hold 8 bytes",
        ),
        (
            {"dtype": "F32", "shape": [2]},
            "tensor 'w' lacks data_offsets: not a safetensors file",
        ),
        (["F32", [2], [0, 8]], "tensor 'w' is ['F32', [2], [0, 8]], not an object of dtype, shape and data_offsets"),
    ],
    ids=[
        "offsets-strings",
        "offsets-reversed",
        "offsets-three",
        "dtype-list",
        "dtype-dict",
        "shape-negative",
        "shape-bool",
        "shape-float",
        "shape-string",
        "shape-rank-17",
        "offsets-vs-dtype-shape",
        "sub-byte-not-whole-bytes",
        "no-offsets",
        "tensor-not-object",
    ],
)
def test_a_bad_header_field_is_one_problem_naming_tensor_and_field(
    tmp_path: Path, ctx: EntryContext, tensor: object, problem: str
):
    path = local_entry(tmp_path, {"w": tensor}, b"\0" * 8)
    assert only_message(check_entry(path, ctx)) == f"{WHERE}model.safetensors: {problem}{FIX}"


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (
            {"a": f32([2]), "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
            "tensor 'b': data_offsets [4, 12] overlap tensor 'a''s, which end at byte 8",
        ),
        (
            {"a": f32([2]), "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}},
            "tensor 'b': data_offsets [12, 16] leave bytes 8 to 12 after tensor 'a' unused",
        ),
        (
            {"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}},
            "tensor 'a': data_offsets [8, 16] leave bytes 0 to 8 at the start of the data unused",
        ),
        ({"a": f32([2])}, "tensor data ends at byte 8, but the file holds 16: truncated or padded"),
        (
            {"a": f32([2]), "__metadata__": {"format": 1}},
            "__metadata__ {'format': 1} is not a mapping of strings to strings",
        ),
        (
            {"a": f32([2]), "__metadata__": ["pt"]},
            "__metadata__ ['pt'] is not a mapping of strings to strings",
        ),
    ],
    ids=["overlapping", "gap", "not-from-zero", "padded", "metadata-int-value", "metadata-list"],
)
def test_tensor_byte_ranges_tile_the_data_exactly(tmp_path: Path, ctx: EntryContext, header: dict, problem: str):
    path = local_entry(tmp_path, header, b"\0" * 16)
    assert only_message(check_entry(path, ctx)) == f"{WHERE}model.safetensors: {problem}{FIX}"


def test_tensors_in_any_order_back_to_back_pass(tmp_path: Path):
    header = {"b": f32([2], begin=8), "__metadata__": {"format": "pt"}, "a": f32([2]), "empty": f32([0, 3], 16)}
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors_bytes(header, b"\0" * 16))
    assert safetensors_header(path) == header


@pytest.mark.parametrize(
    ("shape", "problem"),
    [
        ([2**40, 2**40], "shape [1099511627776, 1099511627776] has more than 2**63 - 1 elements"),
        ([2**40, 2**40, 0], "shape [1099511627776, 1099511627776, 0] has more than 2**63 - 1 elements"),
        ([2**30, 2**30], "shape [1073741824, 1073741824] of F32 needs 4611686018427387904 bytes, but data_offsets "
         "[0, 4] hold 4 bytes"),
    ],
    ids=["overflows-int64", "zero-sized-but-overflows", "larger-than-the-file"],
)  # fmt: skip
def test_a_huge_shape_is_refused_fast(tmp_path: Path, ctx: EntryContext, shape: list, problem: str):
    path = local_entry(tmp_path, {"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, 4]}}, b"\0" * 4)
    start = time.perf_counter()
    message = only_message(check_entry(path, ctx))
    assert time.perf_counter() - start < 1.0
    assert message == f"{WHERE}model.safetensors: tensor 'w': {problem}{FIX}"


def test_a_header_nested_too_deep_for_json_is_not_a_safetensors_file(tmp_path: Path, ctx: EntryContext):
    path = tmp_path / "entries" / "weights" / "model.safetensors"
    path.parent.mkdir(parents=True)
    raw = b"[" * 100_000 + b"]" * 100_000
    path.write_bytes(len(raw).to_bytes(8, "little") + raw)
    with pytest.raises(ValueError, match=r"^its header is not JSON: not a safetensors file$"):
        safetensors_header(path)


# --- config.json against transformers, the weights and the teacher's tokenizer ---------------------------------


EMBEDDING = "bert.embeddings.word_embeddings.weight"


def embedding_entry(tmp_path: Path, rows: int, columns: int, config: dict) -> Path:
    header = {EMBEDDING: {"dtype": "F16", "shape": [rows, columns], "data_offsets": [0, 2 * rows * columns]}}
    return local_entry(tmp_path, header, b"\0" * (2 * rows * columns), config)


def test_unknown_model_type(tmp_path: Path, ctx: EntryContext):
    path = embedding_entry(tmp_path, 10, 4, {"model_type": "bertt", "vocab_size": 10, "hidden_size": 4})
    assert only_message(check_entry(path, ctx)) == (
        f"{WHERE}config.json has model_type 'bertt', which is not an architecture transformers ships; did you mean "
        "'bert'? — fix: use an architecture that transformers ships and save the model with save_pretrained"
    )


@pytest.mark.parametrize(
    ("model_type", "what"),
    [(None, "has no 'model_type'"), (["bert"], "has model_type ['bert'], not a name")],
    ids=["missing", "list"],
)
def test_model_type_missing_or_not_a_name(tmp_path: Path, ctx: EntryContext, model_type: object, what: str):
    config = {"hidden_size": 4} if model_type is None else {"model_type": model_type, "hidden_size": 4}
    path = local_entry(tmp_path, {"w": f32([2])}, b"\0" * 8, config)
    assert only_message(check_entry(path, ctx)) == (
        f'{WHERE}config.json {what}: transformers cannot tell which architecture to build — fix: set "model_type" '
        'to the architecture\'s name (e.g. "bert"), as save_pretrained writes it'
    )


def test_vocab_size_smaller_than_the_teachers(tmp_path: Path, ctx: EntryContext):
    ctx = dataclasses.replace(ctx, teacher_vocab_size=12)
    path = embedding_entry(tmp_path, 10, 4, {"model_type": "bert", "vocab_size": 10, "hidden_size": 4})
    assert only_message(check_entry(path, ctx)) == (
        f"{WHERE}config.json has vocab_size 10, smaller than the teacher tokenizer's 12 tokens; entries use the "
        "teacher's tokenizer — fix: start from the teacher's vocabulary (model.resize_token_embeddings(len(tokenizer)) "
        "and save again)"
    )


@pytest.mark.parametrize("vocab_size", ["10", True, 0])
def test_vocab_size_not_a_positive_integer(tmp_path: Path, ctx: EntryContext, vocab_size: object):
    path = embedding_entry(tmp_path, 10, 4, {"model_type": "bert", "vocab_size": vocab_size, "hidden_size": 4})
    assert only_message(check_entry(path, ctx)) == (
        f"{WHERE}config.json has vocab_size {vocab_size!r}, not a positive integer — fix: set vocab_size of the model"
    )


@pytest.mark.parametrize(
    ("config", "declared"),
    [
        ({"vocab_size": 12, "hidden_size": 4}, "12 rows (vocab_size)"),
        ({"vocab_size": 10, "hidden_size": 8}, "8 columns (hidden_size)"),
        ({"vocab_size": 12, "hidden_size": 8}, "12 rows (vocab_size) and 8 columns (hidden_size)"),
        ({"vocab_size": 10, "hidden_size": 4, "embedding_size": 2}, "2 columns (embedding_size)"),
    ],
    ids=["rows", "columns", "both", "embedding-size"],
)
def test_embedding_shape_contradicting_the_config(tmp_path: Path, ctx: EntryContext, config: dict, declared: str):
    path = embedding_entry(tmp_path, 10, 4, {"model_type": "bert", **config})
    assert only_message(check_entry(path, ctx)) == (
        f"{WHERE}model.safetensors's word embeddings '{EMBEDDING}' have shape [10, 4], but config.json declares "
        f"{declared} — fix: submit the config.json saved with these weights (save_pretrained writes both)"
    )


@pytest.mark.parametrize(
    "config",
    [
        {"model_type": "bert", "vocab_size": 12, "hidden_size": 4},  # a teacher vocabulary of 12 tokens, padded
        {"model_type": "albert", "vocab_size": 10, "hidden_size": 16, "embedding_size": 4},  # narrower embeddings
        {"model_type": "bert", "hidden_size": 4},  # undeclared vocab_size: transformers' default, checked at build
        {"model_type": "bert", "vocab_size": 12, "hidden_size": 8, "quantization_config": {"bits": 4}},  # packed
    ],
    ids=["consistent", "embedding-size", "undeclared", "quantised"],
)
def test_configs_without_a_clear_contradiction_pass(tmp_path: Path, ctx: EntryContext, config: dict):
    ctx = dataclasses.replace(ctx, teacher_vocab_size=10)
    rows = config.get("vocab_size", 10)
    path = embedding_entry(tmp_path, rows, 4, config)
    result = check_entry(path, ctx)
    assert result.passed, result.reasons()


def test_the_teachers_vocabulary_is_read_from_its_tokenizer_json():
    from suite.config import source_spec
    from suite.families.classifier import ClassifierFamily
    from suite.yamlio import read_yaml
    from tests.test_entries import TINY_CONFIG

    source = source_spec(read_yaml(TINY_CONFIG)["teacher"]["source"])  # random_init with MiniLM's tokenizer
    assert ClassifierFamily().teacher_vocab_size(source) == 30522


# --- a checker that breaks is one entry's problem ---------------------------------------------------------------


def test_an_unexpected_exception_is_that_entrys_problem_and_the_others_are_accepted(
    tmp_path: Path, ctx: EntryContext, monkeypatch: pytest.MonkeyPatch
):
    directory = tmp_path / "entries"
    local_entry(directory, {"w": f32([2])}, b"\0" * 8, entry_id="broken")
    local_entry(directory, {"w": f32([2])}, b"\0" * 8, entry_id="fine")
    checker = suite.entries.model_config_problems

    def breaks_on_one(config, header, teacher_vocab_size):
        if header is not None and "broken" in json.dumps(config):
            raise TypeError("'<' not supported between instances of 'str' and 'int'")
        return checker(config, header, teacher_vocab_size)

    (directory / "broken-weights" / "config.json").write_text(json.dumps({**CONFIG, "name_or_path": "broken"}))
    monkeypatch.setattr(suite.entries, "model_config_problems", breaks_on_one)
    block = collect({"entries": {"dir": "entries"}}, tmp_path, "config.yaml", ctx)  # what the workflow load calls
    assert [a["id"] for a in block["accepted"]] == ["fine"]
    [rejected] = block["rejected"]
    assert rejected["id"] == "broken"
    assert [p["message"] for p in rejected["problems"]] == [
        "entries/broken.yaml: could not be checked: TypeError: '<' not supported between instances of 'str' and "
        "'int' — fix: check the entry's fields and files against leaderboard/entry.schema.yaml; if they look right, "
        "report this message to the suite's maintainers"
    ]


def test_a_path_no_check_foresaw_is_the_entrys_problem(tmp_path: Path, ctx: EntryContext):
    path = write(tmp_path, entry(model={"local": {"path": "weights\0x", "sha256": "0" * 64}}))
    result = check_entry(path, ctx)
    assert not result.passed and result.variant is None
    assert result.reasons() == [
        "my-entry.yaml: could not be checked: ValueError: embedded null byte — fix: check the entry's fields and files "
        "against leaderboard/entry.schema.yaml; if they look right, report this message to the suite's maintainers"
    ]


def test_links_to_nowhere_or_in_a_loop_are_reported_not_skipped(tmp_path: Path, ctx: EntryContext):
    directory = tmp_path / "entries"
    local_entry(directory, {"w": f32([2])}, b"\0" * 8, entry_id="fine")
    (directory / "gone.yaml").symlink_to("missing.yaml")
    (directory / "loop-a.yaml").symlink_to("loop-b.yaml")
    (directory / "loop-b.yaml").symlink_to("loop-a.yaml")
    block = collect({"entries": {"dir": "entries"}}, tmp_path, "config.yaml", ctx)
    assert [a["id"] for a in block["accepted"]] == ["fine"]
    assert [p["message"] for r in block["rejected"] for p in r["problems"]] == [
        "entries/gone.yaml: file not found — fix: give the path of an entry YAML file",
        "entries/loop-a.yaml: cannot be read (Too many levels of symbolic links) — fix: make it a regular, readable "
        "file",
        "entries/loop-b.yaml: cannot be read (Too many levels of symbolic links) — fix: make it a regular, readable "
        "file",
    ]
