"""Variant artefacts: a directory of safetensors weights, tokenizer and variant.json (lineage, recipe, hashes)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from suite.compress.dynamic_quant import quantize_dynamic_linear, seed_int8_warnings_contained
from suite.compress.structured_prune import apply_layout_if_pruned, write_layout_if_pruned
from suite.formats import FORMAT_DYNAMIC_INT8, FORMAT_FP32, FORMAT_HALF, LOADERS, SAVERS
from suite.models import WEIGHTS_FILE, Classifier, TorchClassifier
from suite.provenance import sha256_file, sha256_json

VARIANT_JSON = "variant.json"
QUANT_JSON = "quantization.json"


def _torch(fmt: str, module: Any, tokenizer: Any) -> TorchClassifier:
    return TorchClassifier(module=module.eval(), tokenizer=tokenizer, format=fmt)


@SAVERS.register(FORMAT_FP32)
def _save_fp32(module: Any, directory: Path) -> None:
    module.save_pretrained(str(directory), safe_serialization=True)


@LOADERS.register(FORMAT_FP32)
def _load_fp32(directory: Path, tokenizer: Any) -> Classifier:
    from transformers import AutoModelForSequenceClassification

    module = AutoModelForSequenceClassification.from_pretrained(
        str(directory), local_files_only=True, use_safetensors=True, trust_remote_code=False
    )
    return _torch(FORMAT_FP32, module, tokenizer)


@SAVERS.register(FORMAT_HALF)
def _save_half(module: Any, directory: Path) -> None:
    """float16/bfloat16 safetensors as they are (half the FP32 size); config.json records the dtype."""
    module.save_pretrained(str(directory), safe_serialization=True)


@LOADERS.register(FORMAT_HALF)
def _load_half(directory: Path, tokenizer: Any) -> Classifier:
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForSequenceClassification

    # the dtype is read from the weights themselves, so a config without `dtype` cannot silently upcast to FP32
    with safe_open(str(directory / WEIGHTS_FILE), framework="pt") as weights:
        dtypes = {weights.get_slice(k).get_dtype() for k in weights.keys()}  # noqa: SIM118  (safe_open is no dict)
    floating = sorted(d for d in dtypes if d in ("F16", "BF16"))
    if len(floating) != 1:
        raise ValueError(f"{directory / WEIGHTS_FILE}: expected float16 or bfloat16 weights, found {sorted(dtypes)}")
    dtype = torch.float16 if floating[0] == "F16" else torch.bfloat16
    module = AutoModelForSequenceClassification.from_pretrained(
        str(directory), local_files_only=True, use_safetensors=True, trust_remote_code=False, dtype=dtype
    )
    return _torch(FORMAT_HALF, module, tokenizer)


def _dynamic_linears(module: Any) -> dict[str, Any]:
    import torch

    return {name: m for name, m in module.named_modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)}


@SAVERS.register(FORMAT_DYNAMIC_INT8)
def _save_dynamic_int8(module: Any, directory: Path) -> None:
    """INT8 weights as int8 tensors + per-tensor scale/zero-point in safetensors (no pickle), the rest as is."""
    import torch
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    linears = _dynamic_linears(module)
    for name, linear in linears.items():
        weight, bias = linear._packed_params._weight_bias()
        if weight.qscheme() not in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            raise ValueError(f"{name}: only per-tensor quantised weights can be saved, got {weight.qscheme()}")
        tensors[f"{name}.weight_int8"] = weight.int_repr().contiguous()
        tensors[f"{name}.weight_scale"] = torch.tensor([weight.q_scale()], dtype=torch.float64)
        tensors[f"{name}.weight_zero_point"] = torch.tensor([weight.q_zero_point()], dtype=torch.int64)
        if bias is not None:
            tensors[f"{name}.bias"] = bias.detach().contiguous()
    for key, value in module.state_dict().items():
        owner = key.rsplit(".", 1)[0]
        if owner in linears or owner.endswith("._packed_params"):
            continue  # saved above; the module's output scale/zero_point are unused by dynamic quantisation
        tensors[key] = value.detach().contiguous()
    module.config.save_pretrained(str(directory))
    write_layout_if_pruned(module, directory)
    save_file(tensors, str(directory / WEIGHTS_FILE), metadata={"format": FORMAT_DYNAMIC_INT8})
    (directory / QUANT_JSON).write_text(
        json.dumps({"scheme": "torch.ao dynamic, per-tensor", "dtype": "qint8", "modules": sorted(linears)}, indent=2)
    )


@LOADERS.register(FORMAT_DYNAMIC_INT8)
def _load_dynamic_int8(directory: Path, tokenizer: Any) -> Classifier:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)
    tensors = load_file(str(directory / WEIGHTS_FILE))
    quantised = json.loads((directory / QUANT_JSON).read_text())["modules"]
    # Load the float tensors into the float model first: quantised Linear modules cannot take a partial state dict.
    module = apply_layout_if_pruned(AutoModelForSequenceClassification.from_config(config), directory).eval()
    packed = {
        f"{name}.{suffix}" for name in quantised for suffix in ("weight_int8", "weight_scale", "weight_zero_point")
    }
    floats = {k: v for k, v in tensors.items() if k not in packed}
    missing, unexpected = module.load_state_dict(floats, strict=False)
    expected_missing = {f"{name}.weight" for name in quantised} | {f"{name}.bias" for name in quantised}
    missing = [k for k in missing if k not in expected_missing]
    if missing or unexpected:
        raise ValueError(f"{directory / WEIGHTS_FILE}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    module = quantize_dynamic_linear(module)
    linears = _dynamic_linears(module)
    if sorted(linears) != sorted(quantised):
        raise ValueError(f"{directory / QUANT_JSON}: quantised modules differ from the rebuilt model's")
    with seed_int8_warnings_contained():
        for name, linear in linears.items():
            weight = torch._make_per_tensor_quantized_tensor(
                tensors[f"{name}.weight_int8"],
                float(tensors[f"{name}.weight_scale"][0]),
                int(tensors[f"{name}.weight_zero_point"][0]),
            )
            linear.set_weight_bias(weight, tensors.get(f"{name}.bias"))
    return _torch(FORMAT_DYNAMIC_INT8, module, tokenizer)


def artefact_files(directory: Path) -> dict[str, str]:
    """sha256 of every file of the artefact except variant.json."""
    return {
        str(p.relative_to(directory)): sha256_file(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != VARIANT_JSON
    }


def save_artefact(built: Any, tokenizer: Any, fmt: str, out_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Write weights, tokenizer and variant.json into a temp dir, then move it to out_dir (atomic for Snakemake)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        SAVERS.get(fmt)(built, tmp)
        tokenizer.save_pretrained(str(tmp))
        files = artefact_files(tmp)
        record = {
            **record,
            "format": fmt,
            "recipe_hash": sha256_json(record.get("recipe", {})),
            "files": files,
            "artefact_sha256": sha256_json(files),
        }
        (tmp / VARIANT_JSON).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


def read_record(directory: str | Path) -> dict[str, Any]:
    return json.loads((Path(directory) / VARIANT_JSON).read_text())


def load_artefact(directory: str | Path, device: str = "cpu") -> tuple[Classifier, dict[str, Any]]:
    """Load any variant artefact behind the Classifier interface on `device`, with its variant.json record."""
    from transformers import AutoTokenizer

    import suite.compress  # noqa: F401  (registers the formats that methods implement)

    directory = Path(directory)
    record = read_record(directory)
    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)
    return LOADERS.get(record["format"])(directory, tokenizer).to_device(device), record
