"""GGUF students run by llama.cpp (its Python bindings): the format practitioners ship language models to CPUs in.

Method `gguf_quantize`: the parent (a torch FP32 causal LM of the llama architecture) is written as an F32 GGUF file
(tensors under llama.cpp's names, the attention's query/key rows reordered to llama.cpp's rotary layout, the
tokenizer's vocabulary and merges) and quantised by llama.cpp's own quantiser (`llama_model_quantize`) to the
requested type (Q8_0, Q4_K_M, ...). Format `gguf-llamacpp`: `model.gguf`, the parent's transformers `config.json`
(shapes for the plan and the site) and the tokenizer; loaded as a `GgufCausalLM`, which lm-evaluation-harness scores
through `llama_cpp_lm` (tokenised by the artefact's own tokenizer, exactly as the torch variants are) and the
per-token timers run through the transformers forward convention.

llama-cpp-python has no prebuilt wheel on PyPI for this CPU: it compiles from source (5-15 min on 2 cores). It is
the optional extra `.[gguf]`; without it the plan lists a gguf variant as skipped, with this reason, and builds the
others.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import math
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.compress.base import METHODS, Method
from suite.families import LLM
from suite.families.llm import CausalLM, gguf_fields, package_file
from suite.formats import CPU_ONLY_FORMATS, FORMAT_FP32, FORMAT_GGUF, FORMATS, ArtefactFormat
from suite.trackers.profile import OpProfile, decode_steps_to_profile

GGUF_FILE = "model.gguf"
REQUIREMENT = "llama_cpp"  # the module llama-cpp-python installs
# llama.cpp's file types (enum llama_ftype) this method offers; all are CPU formats
TYPES = {"F16": 1, "Q4_0": 2, "Q8_0": 7, "Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18}
# KV cache length of the serving context the timers use: llama.cpp allocates it up front (a torch model's cache grows
# as it decodes), so it is sized to the per-token workload (longest prompt + new tokens), not the model's 8k limit
TIMING_CONTEXT = 2048
ARCHITECTURES = ("LlamaForCausalLM",)  # the layouts the writer knows (SmolLM2 is one)


def missing_extra() -> str | None:
    """Why gguf variants cannot be built in this environment, or None when they can."""
    if importlib.util.find_spec(REQUIREMENT) is None:
        return (
            "needs llama-cpp-python, the optional extra: pip install -e '.[gguf]' (it compiles llama.cpp from "
            "source, 5-15 min on 2 cores)"
        )
    return None


def import_llama_cpp() -> Any:
    reason = missing_extra()
    if reason:
        raise ModuleNotFoundError(f"a GGUF variant {reason}")
    import llama_cpp

    return llama_cpp


@dataclass(frozen=True)
class GgufParams:
    type: str = "Q8_0"
    """llama.cpp quantisation type of the weights: Q8_0, Q4_K_M, Q5_K_M, Q6_K, Q4_0 or F16 (norms stay F32)."""

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"type: '{self.type}' is not offered (use one of {sorted(TYPES)})")


@dataclass
class GgufBuilt:
    """What `gguf_quantize` builds: the quantised file (in a temporary directory) and the config to store beside."""

    gguf: Path
    config: Any
    workdir: Any = field(repr=False)


# --- writing: a transformers llama model as an F32 GGUF -----------------------------------------------------------


def rotary_rows_to_interleaved(weight: Any, heads: int) -> Any:
    """A query/key projection's rows reordered from transformers' rotary layout (each head's first half of
    dimensions pairs with its second half) to llama.cpp's (pairs are adjacent rows): per head, row i of the first
    half goes to 2i and row i of the second half to 2i + 1.

    >>> import numpy as np
    >>> rotary_rows_to_interleaved(np.arange(8).reshape(8, 1), heads=2).ravel().tolist()
    [0, 2, 1, 3, 4, 6, 5, 7]
    """
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _tokenizer_fields(tokenizer: Any, vocab_size: int, pre: str) -> dict[str, tuple[Any, Any, Any]]:
    """tokenizer.ggml.* of a byte-level BPE tokenizer (llama.cpp's `gpt2` model): {key: (value, type, sub type)}."""
    from gguf import GGUFValueType as T

    data = json.loads(tokenizer.backend_tokenizer.to_str())
    model = data["model"]
    if model.get("type") != "BPE":
        raise ValueError(f"the GGUF writer knows byte-level BPE tokenizers, this one is {model.get('type')}")
    by_id = {i: t for t, i in model["vocab"].items()}
    special = {a["id"]: a for a in data.get("added_tokens", [])}
    for i, a in special.items():
        by_id[i] = a["content"]
    tokens, types = [], []
    for i in range(vocab_size):
        tokens.append(by_id.get(i, f"[PAD{i}]"))
        types.append(5 if i not in by_id else 3 if special.get(i, {}).get("special") else 4 if i in special else 1)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    fields: dict[str, tuple[Any, Any, Any]] = {
        "tokenizer.ggml.model": ("gpt2", T.STRING, None),
        "tokenizer.ggml.pre": (pre, T.STRING, None),
        "tokenizer.ggml.tokens": (tokens, T.ARRAY, T.STRING),
        "tokenizer.ggml.token_type": (types, T.ARRAY, T.INT32),
        "tokenizer.ggml.merges": (merges, T.ARRAY, T.STRING),
        "tokenizer.ggml.add_bos_token": (False, T.BOOL, None),
    }
    for name, attr in (("bos", "bos_token_id"), ("eos", "eos_token_id"), ("unknown", "unk_token_id")):
        if getattr(tokenizer, attr, None) is not None:
            fields[f"tokenizer.ggml.{name}_token_id"] = (int(getattr(tokenizer, attr)), T.UINT32, None)
    if tokenizer.pad_token_id is not None:
        fields["tokenizer.ggml.padding_token_id"] = (int(tokenizer.pad_token_id), T.UINT32, None)
    return fields


def write_f32_gguf(module: Any, tokenizer: Any, path: Path, name: str, pre_tokenizer: str = "default") -> None:
    """The module's weights as an F32 GGUF of llama.cpp's `llama` architecture, with the tokenizer's vocabulary."""
    import gguf
    import numpy as np

    config = module.config
    if type(module).__name__ not in ARCHITECTURES:
        raise ValueError(f"the GGUF writer knows {list(ARCHITECTURES)}, not {type(module).__name__}")
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    if getattr(config, "rope_scaling", None) and (config.rope_scaling or {}).get("rope_type", "default") != "default":
        raise ValueError(f"rope scaling {config.rope_scaling} is not written by the GGUF writer")
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_block_count(int(config.num_hidden_layers))
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(int(heads))
    writer.add_head_count_kv(int(kv_heads))
    writer.add_rope_dimension_count(int(head_dim))
    writer.add_rope_freq_base(float(_rope_theta(config)))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(int(config.vocab_size))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    for key, (value, vtype, sub) in _tokenizer_fields(tokenizer, int(config.vocab_size), pre_tokenizer).items():
        writer.add_key_value(key, value, vtype, sub)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, int(config.num_hidden_layers))
    tied = bool(getattr(config, "tie_word_embeddings", False))
    for key, tensor in module.state_dict().items():
        if key == "lm_head.weight" and tied:
            continue  # llama.cpp uses token_embd as the output matrix when output.weight is absent
        target = names.get_name(key, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise ValueError(f"no llama.cpp tensor name for {key}")
        array = tensor.detach().to("cpu").float().numpy()
        if key.endswith("self_attn.q_proj.weight"):
            array = rotary_rows_to_interleaved(array, heads)
        elif key.endswith("self_attn.k_proj.weight"):
            array = rotary_rows_to_interleaved(array, kv_heads)
        writer.add_tensor(target, np.ascontiguousarray(array, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _rope_theta(config: Any) -> float:
    theta = getattr(config, "rope_theta", None)
    if theta is None:  # transformers >= 5 keeps it in rope_parameters
        theta = (getattr(config, "rope_parameters", None) or {}).get("rope_theta")
    if theta is None:
        raise ValueError("the model config has no rope_theta")
    return float(theta)


def quantize(source: Path, target: Path, qtype: str, threads: int) -> None:
    """llama.cpp's quantiser: `source` (F32 GGUF) -> `target` in `qtype`."""
    llama_cpp = import_llama_cpp()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = TYPES[qtype]
    params.nthread = threads
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    if status != 0:
        raise RuntimeError(f"llama_model_quantize to {qtype} returned {status}")


@METHODS.register
class GgufQuantize(Method):
    """The parent as a llama.cpp GGUF file, quantised by llama.cpp (Q8_0, Q4_K_M, ...), run by llama-cpp-python
    (optional extra `.[gguf]`; without it the variant is listed as skipped)."""

    NAME = "gguf_quantize"
    INPUT_FORMATS = frozenset({FORMAT_FP32})
    OUTPUT_FORMAT = FORMAT_GGUF
    Params = GgufParams
    FAMILIES = frozenset({LLM})

    @classmethod
    def unavailable(cls) -> str | None:
        return missing_extra()

    def apply(self, parent: Any, params: GgufParams, ctx: Any) -> GgufBuilt:
        pre, pre_source = _pre_tokenizer(ctx.cfg)
        workdir = tempfile.TemporaryDirectory(prefix="suite-gguf-")
        f32 = Path(workdir.name) / "f32.gguf"
        write_f32_gguf(parent.module, parent.tokenizer, f32, ctx.variant_id, pre)
        out = Path(workdir.name) / GGUF_FILE
        quantize(f32, out, params.type, ctx.cfg.threads)
        llama_cpp = import_llama_cpp()
        ctx.info.update(
            {
                "gguf_type": params.type,
                "llama_cpp_python": llama_cpp.__version__,
                "pre_tokenizer": f"{pre} ({pre_source})",
                "tensor_types": tensor_types(out),
            }
        )
        return GgufBuilt(gguf=out, config=parent.module.config, workdir=workdir)


def _pre_tokenizer(cfg: Any) -> tuple[str, str]:
    """llama.cpp's pre-tokenizer name: the teacher's own GGUF records it; otherwise llama.cpp's default (the suite
    tokenises with the artefact's transformers tokenizer, so its scores do not depend on it)."""
    source = cfg.teacher.source
    if source.kind == "package" and (source.file or "").endswith(".gguf"):
        value = gguf_fields(package_file(source, cfg.label)).get("tokenizer.ggml.pre")
        if value:
            return str(value), "from the teacher's GGUF"
    return "default", "the teacher has no GGUF to read it from"


def tensor_types(path: Path) -> dict[str, int]:
    """How many tensors of each GGUF type the file holds (e.g. {'Q8_0': 210, 'F32': 61})."""
    from gguf import GGUFReader

    return dict(sorted(Counter(t.tensor_type.name for t in GGUFReader(str(path)).tensors).items()))


# --- the format ---------------------------------------------------------------------------------------------------


def _save_gguf(built: GgufBuilt, directory: Path) -> None:
    import shutil

    try:
        shutil.copyfile(built.gguf, directory / GGUF_FILE)
        built.config.architectures = ["LlamaForCausalLM"]
        built.config.save_pretrained(str(directory))
    finally:
        built.workdir.cleanup()


def _load_gguf(directory: Path, tokenizer: Any) -> GgufCausalLM:
    from transformers import AutoConfig

    import_llama_cpp()  # a clear error without the extra
    config = AutoConfig.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)
    return GgufCausalLM(module=None, tokenizer=tokenizer, format=FORMAT_GGUF, path=directory / GGUF_FILE, config=config)


@FORMATS.register
class GgufFormat(ArtefactFormat):
    """A llama.cpp GGUF file (model.gguf) with the transformers config and tokenizer, run by llama-cpp-python."""

    NAME = FORMAT_GGUF
    save = staticmethod(_save_gguf)
    load = staticmethod(_load_gguf)


# --- running: llama.cpp behind the family's interface ---------------------------------------------------------------


@dataclass
class GgufCausalLM(CausalLM):
    """A GGUF causal LM run by llama.cpp, behind the llm family's interface.

    `callable` follows the transformers forward convention the per-token timers use (one llama.cpp context, its KV
    cache reset at every prefill, logits of the last position only, as a server computes); `lm_eval_model` is an
    lm-evaluation-harness model over a context that keeps every position's logits. Both use the job's torch thread
    count as llama.cpp's threads.
    """

    path: Path | None = None
    config: Any = None
    _contexts: dict[bool, Any] = field(default_factory=dict, repr=False)

    def context(self, logits_all: bool) -> Any:
        """The scoring context (every position's logits, lm-eval's full context length) or the serving one (last
        position only, TIMING_CONTEXT tokens of KV cache, what the timers and the memory probe run)."""
        if logits_all not in self._contexts:
            import torch

            llama_cpp = import_llama_cpp()
            threads = torch.get_num_threads()
            length = max_length(self.config, self.tokenizer)
            self._contexts[logits_all] = llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=length if logits_all else min(length, TIMING_CONTEXT),
                n_batch=512,
                n_threads=threads,
                n_threads_batch=threads,
                logits_all=logits_all,
                seed=0,
                verbose=False,
            )
        return self._contexts[logits_all]

    def to_device(self, device: str) -> GgufCausalLM:
        if device != "cpu":
            raise ValueError(f"format '{self.format}' cannot run on {device}: {CPU_ONLY_FORMATS[self.format]}")
        return self

    @property
    def callable(self) -> Any:
        return LlamaCppForward(self.context(logits_all=False))

    def architecture(self) -> Any:
        return self.config  # the parent's transformers config, stored beside the GGUF file

    def weight_stats(self) -> dict[str, float]:
        """Tensor bytes and element counts as stored in the GGUF file (quantised blocks at their real size)."""
        from gguf import GGUFReader

        tensors = GGUFReader(str(self.path)).tensors
        count = float(sum(int(t.n_elements) for t in tensors))
        return {
            "param_mb": sum(int(t.n_bytes) for t in tensors) / float(1 << 20),
            "param_count": count,
            "nonzero_param_count": count,  # quantised blocks are not inspected for zeros
            "sparsity": math.nan,
        }

    def synchronize(self) -> Any:
        return None

    def inference(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def lm_eval_model(self, batch_size: int) -> Any:
        return llama_cpp_lm(self.context(logits_all=True), self.tokenizer, max_length(self.config, self.tokenizer))

    def decode_op_profile(self, prompt: Sequence[int], new_tokens: int, warmup_steps: int) -> OpProfile:
        """Where a decoded token's time goes in llama.cpp (suite.trackers.profile's decode profile for this format)."""
        return llamacpp_decode_profile(self.context(logits_all=False), prompt, new_tokens, warmup_steps)

    def close(self) -> None:
        for ctx in self._contexts.values():
            ctx.close()
        self._contexts.clear()


def max_length(config: Any, tokenizer: Any) -> int:
    """The context length lm-evaluation-harness's HF model would use for the same config and tokenizer."""
    from lm_eval.models.utils import resolve_max_length

    return int(resolve_max_length(config, tokenizer))


@dataclass
class _LogitsOut:
    logits: Any
    past_key_values: Any


class LlamaCppForward:
    """A llama.cpp context called like a transformers causal LM: `(input_ids=…, past_key_values=…)` -> `.logits`
    (1, 1, vocabulary; the last position) and `.past_key_values` (the context itself: its KV cache). A call without
    a cache starts a new sequence."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.vocab = int(context.n_vocab())

    def forward(
        self, input_ids: Any, past_key_values: Any = None, use_cache: bool = True, logits_to_keep: int = 1
    ) -> Any:
        import numpy as np
        import torch

        llama_cpp = import_llama_cpp()
        if past_key_values is None:
            self.context.reset()
        self.context.eval([int(t) for t in input_ids[0].tolist()])
        # a view of llama.cpp's own buffer: the last position's logits (the only ones computed without logits_all)
        row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.context.ctx, -1), shape=(self.vocab,))
        return _LogitsOut(logits=torch.from_numpy(row).view(1, 1, -1), past_key_values=self.context)

    __call__ = forward


# --- where the time goes: llama.cpp's graph nodes, timed through its eval callback ---------------------------------

# ggml operations that compute nothing (a new view of a tensor's memory): not asked for on their own, so their
# (nil) time joins the next node's
GGML_NO_OPS = frozenset({"NONE", "VIEW", "RESHAPE", "PERMUTE", "TRANSPOSE"})


class _NodeTimer:
    """A ggml scheduler eval callback (`cb_eval` of a llama.cpp context) that times each graph node: asked whether
    it wants to see a node, it says yes (for every node that computes), so the scheduler computes the graph node by
    node and calls back after each; a node's time runs from the first question since the last answer to the call
    back. Sums the time by ggml operation (`ggml_op_desc`: MUL_MAT, ROPE, SOFT_MAX, ...) while `on`."""

    def __init__(self, llama_cpp: Any) -> None:
        import ctypes

        from llama_cpp import _ggml

        self.op_desc = _ggml.libggml.ggml_op_desc
        self.op_desc.restype, self.op_desc.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
        self.on = False
        self.start: int | None = None
        self.ns: Counter[str] = Counter()
        self.nodes = 0
        self.callback = llama_cpp.ggml_backend_sched_eval_callback(self)  # kept alive as long as the timer

    def __call__(self, tensor: Any, ask: bool, _user_data: Any) -> bool:
        import time

        if not self.on:
            return False
        now = time.perf_counter_ns()
        op = self.op_desc(tensor).decode()
        if ask:
            if self.start is None:
                self.start = now
            return op not in GGML_NO_OPS
        self.ns[op] += now - (self.start if self.start is not None else now)
        self.nodes += 1
        self.start = None
        return True


def llamacpp_decode_profile(llama: Any, prompt: Sequence[int], new_tokens: int, warmup_steps: int) -> OpProfile:
    """One greedy decode of `new_tokens` after `prompt` on a profiled twin of `llama` (a llama_cpp.Llama: a second
    context on the same loaded model, with its context settings and an eval callback): the prefill untimed, the
    first `warmup_steps` decode steps untimed, then each decode step's graph nodes timed by operation. An unprofiled
    decode on the twin runs first; the profiled one must give the same tokens (profiling changes no result)."""
    import time

    import numpy as np

    llama_cpp = import_llama_cpp()
    steps = decode_steps_to_profile(new_tokens, warmup_steps)
    timer = _NodeTimer(llama_cpp)
    params = type(llama.context_params).from_buffer_copy(llama.context_params)
    params.cb_eval, params.cb_eval_user_data = timer.callback, None
    ctx = llama_cpp.llama_init_from_model(llama.model, params)
    if not ctx:
        raise RuntimeError("llama.cpp could not create the profiled context (llama_init_from_model returned NULL)")
    vocab = int(llama.n_vocab())

    def forward(tokens: Sequence[int]) -> int:
        ids = (llama_cpp.llama_token * len(tokens))(*tokens)
        status = llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(ids, len(tokens)))
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status} in the profiled decode")
        return int(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(vocab,)).argmax())

    def decode(profiled: bool) -> tuple[list[int], list[int]]:
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        tokens, wall_ns = [forward(prompt)], []
        for step in range(new_tokens - 1):
            timer.on = profiled and step >= warmup_steps
            start = time.perf_counter_ns()
            tokens.append(forward(tokens[-1:]))
            if timer.on:
                wall_ns.append(time.perf_counter_ns() - start)
            timer.on = False
        return tokens, wall_ns

    try:
        plain, _ = decode(profiled=False)
        tokens, wall_ns = decode(profiled=True)
    finally:
        timer.on = False
        llama_cpp.llama_free(ctx)
    if tokens != plain:
        raise RuntimeError(
            "the profiled decode gave other tokens than the unprofiled one: its times are not the model's"
        )
    if not timer.ns or len(wall_ns) != steps:
        raise ValueError(f"the eval callback timed {timer.nodes} graph nodes over {len(wall_ns)} of {steps} steps")
    self_us = {op: ns / 1e3 for op, ns in timer.ns.items()}
    wall_us = sum(wall_ns) / 1e3
    return OpProfile(
        self_us=self_us,
        queries=steps,
        wall_ms_per_query=wall_us / 1e3 / steps,
        outside_us=max(0.0, wall_us - sum(self_us.values())),
        profiler=(
            f"llama.cpp's graph eval callback (llama-cpp-python {llama_cpp.__version__}), ggml operations, "
            f"{timer.nodes / steps:.0f} computed graph nodes per token"
        ),
        time_kind=(
            "self time per graph node (ggml nodes do not nest; the scheduler computes the nodes one by one and calls "
            "back after each, so a node's time includes its thread-pool dispatch)"
        ),
    )


# --- lm-evaluation-harness over llama.cpp ----------------------------------------------------------------------------


def llama_cpp_lm(context: Any, tokenizer: Any, length: int) -> Any:
    """lm-evaluation-harness's model interface over a llama.cpp context (`_llama_cpp_lm_class`, built on first use so
    that importing this module needs no lm_eval)."""
    return _llama_cpp_lm_class()(context, tokenizer, length)


@functools.cache
def _llama_cpp_lm_class() -> type:
    import numpy as np
    from lm_eval import utils
    from lm_eval.api.model import TemplateLM
    from lm_eval.models.utils import has_bos_prefix

    class LlamaCppLM(TemplateLM):  # type: ignore[misc]
        """lm-evaluation-harness's model interface over a llama.cpp context with every position's logits: the same
        tokenisation, prefix token, context length and rolling windows as its HF model, one sequence at a time."""

        def __init__(self, context: Any, tokenizer: Any, length: int) -> None:
            super().__init__()
            self.context, self.tokenizer, self.max_length = context, tokenizer, length

        @property
        def eot_token_id(self) -> int:
            return int(self.tokenizer.eos_token_id)

        @property
        def prefix_token_id(self) -> int:
            bos = self.tokenizer.bos_token_id
            return int(bos if bos is not None else self.tokenizer.eos_token_id)

        def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
            options = {} if add_special_tokens is None else {"add_special_tokens": add_special_tokens}
            if add_special_tokens is None and has_bos_prefix(string, self.tokenizer.decode(self.prefix_token_id)):
                options["add_special_tokens"] = False
            return list(self.tokenizer.encode(string, **options))

        def _logprobs(self, tokens: list[int]) -> Any:
            """log-softmax over the vocabulary at every position of `tokens` (a fresh sequence)."""
            self.context.reset()
            self.context.eval(tokens)
            logits = np.asarray(self.context.scores[: len(tokens)], dtype=np.float64)
            logits -= logits.max(axis=1, keepdims=True)
            return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))

        def _loglikelihood_tokens(self, requests: list[Any], disable_tqdm: bool = False, **kwargs: Any) -> list[Any]:
            out = []
            for request, context_enc, continuation_enc in requests:
                window = (context_enc + continuation_enc)[-(self.max_length + 1) :][:-1]
                logprobs = self._logprobs(window)[-len(continuation_enc) :]
                picked = logprobs[np.arange(len(continuation_enc)), continuation_enc]
                greedy = bool((logprobs.argmax(axis=1) == np.asarray(continuation_enc)).all())
                answer = (float(picked.sum()), greedy)
                out.append(answer)
                if request is not None:
                    self.cache_hook.add_partial("loglikelihood", request, answer)
            return out

        def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
            out = []
            for request in requests:
                (string,) = request.args
                windows = map(
                    utils.make_disjoint_window,
                    utils.get_rolling_token_windows(
                        token_list=self.tok_encode(string),
                        prefix_token=self.prefix_token_id,
                        max_seq_len=self.max_length,
                        context_len=1,
                    ),
                )
                total = sum(ll for ll, _ in self._loglikelihood_tokens([(None, *w) for w in windows]))
                out.append(total)
                self.cache_hook.add_partial("loglikelihood_rolling", (string,), total)
            return out

        def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
            out = []
            for request in requests:
                context, gen_kwargs = request.args
                text = self._greedy(context, dict(gen_kwargs))
                out.append(text)
                self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
            return out

        def _greedy(self, context: str, gen_kwargs: dict[str, Any]) -> str:
            """Greedy continuation until a stop string (cut before it), EOS or max_gen_toks, as lm-eval's HF model."""
            until = gen_kwargs.pop("until", None) or []
            until = [until] if isinstance(until, str) else list(until)
            eos = self.tokenizer.decode(self.eot_token_id)
            until = [*until, eos] if eos not in until else until
            limit = int(gen_kwargs.pop("max_gen_toks", 256))
            if gen_kwargs.get("do_sample") or float(gen_kwargs.get("temperature", 0.0) or 0.0) > 0:
                raise ValueError(f"the llama.cpp model decodes greedily; gen_kwargs ask for sampling: {gen_kwargs}")
            prompt = self.tok_encode(context)[-(self.max_length - limit) :]
            self.context.reset()
            self.context.eval(prompt)
            generated: list[int] = []
            for _ in range(limit):
                token = int(np.argmax(self.context.scores[self.context.n_tokens - 1]))
                generated.append(token)
                text = self.tokenizer.decode(generated, skip_special_tokens=False)
                if token == self.eot_token_id or any(stop in text for stop in until):
                    break
                self.context.eval([token])
            text = self.tokenizer.decode(generated, skip_special_tokens=False)
            for stop in until:
                if stop:
                    text = text.split(stop)[0]
            return text

    return LlamaCppLM
