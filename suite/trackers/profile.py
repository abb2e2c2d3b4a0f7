"""Where the time goes: each operator's share of a variant's operator self time over one profiled pass of queries.

One pass of pre-tokenised queries (after untimed warm-up queries) runs under the backend's own profiler: PyTorch's
(`torch.profiler`, `key_averages()`) for a model whose forward runs torch modules, ONNX Runtime's (a second session
on the same graph with the same settings and profiling on) for an ONNX Runtime model. A causal LM's pass is one
greedy decode (`decode_profile_rows`): its decode steps, one token each, are what torch.profiler records, since they
are what a served LM spends its time on per token (the prefill runs untraced); a format with its own runtime
profiles its decode itself (`decode_op_profile`: a GGUF student times llama.cpp's graph nodes, per ggml operation).
Each operator's time is its self time, summed over the pass: the time in the operator minus the time in operators it
called, so nested operators (`aten::linear` -> `aten::addmm`) are counted once. The shares are of the sum of those
self times; the top operators are kept by name (as the profiler gives them) and the rest are summed as `other`, so
the shares add up to 100 %.

Caveats, also written into every row's `measurement`:
- Self time is not wall time. Time inside a query but outside every operator (Python between torch operators, the
  framework's glue, ONNX Runtime's executor) is in no share; the measurement gives it, and the wall time per query.
- The profiler costs time on every operator call it records, so small, frequent operators (views, reshapes, shape
  arithmetic) take a larger share than they do unprofiled; a profiled pass is slower than the latency rows say.
- On CUDA, torch operators are charged with the device time of the kernels they launched; ONNX Runtime's node times
  on the CUDA provider are host-side (launch) times, since its kernels run asynchronously.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.results import Row

WARMUP_QUERIES = 3
OTHER = "other"  # the share of every operator not among the top k
METRIC_PREFIX = "op_time_share@"
TORCH_WRAPPERS = ("ProfilerStep", "[memory]")  # rows the torch profiler adds itself: steps and memory events
# Profiler names that carry a compile's cache key or counters (stable_op): the time in an Inductor graph's own generated
# kernels (what it calls out to, e.g. aten::mm, is charged to that operator), and in a Dynamo-compiled frame.
STABLE_OP_NAMES = (
    (re.compile(r"## Call CompiledFxGraph \w+ ##"), "inductor::compiled_graph"),
    (re.compile(r"Torch-Compiled Region: \d+/\d+"), "dynamo::compiled_region"),
)
# What OnnxClassifier sets on its SessionOptions (and the other plain settings), copied onto the profiled session.
ORT_OPTION_FIELDS = (
    "intra_op_num_threads",
    "inter_op_num_threads",
    "execution_mode",
    "execution_order",
    "graph_optimization_level",
    "enable_cpu_mem_arena",
    "enable_mem_pattern",
    "enable_mem_reuse",
    "use_deterministic_compute",
    "use_per_session_threads",
)


@dataclass(frozen=True)
class OpProfile:
    """Operator self time of one profiled pass, in µs summed over its queries, and what measured it."""

    self_us: Mapping[str, float]  # by operator name as the profiler gives it
    queries: int
    wall_ms_per_query: float  # per profiled query, profiler overhead included
    outside_us: float | None  # host time inside the queries but in no operator (Python, glue, executor); None on CUDA
    profiler: str
    time_kind: str  # what "self time" is for this profiler

    @property
    def total_ms_per_query(self) -> float:
        return sum(self.self_us.values()) / 1e3 / self.queries


def metric_name(op: str) -> str:
    """The metric of an operator's share: its name after '@', characters outside [A-Za-z0-9_:.-] made '_'.

    >>> metric_name("aten::addmm"), metric_name("void gemm<float>(int)")
    ('op_time_share@aten::addmm', 'op_time_share@void_gemm_float__int_')
    """
    return METRIC_PREFIX + re.sub(r"[^A-Za-z0-9_:.\-]", "_", op)


def op_shares(self_us: Mapping[str, float], top_k: int) -> list[tuple[str, float]]:
    """(operator, % of all self time) for the `top_k` operators by self time (ties by name), then (`other`, % of the
    rest); the shares add up to 100. An `other` of 0 is kept, so every variant has the same metrics.

    >>> op_shares({"a": 50, "b": 30, "c": 15, "d": 5}, top_k=2)
    [('a', 50.0), ('b', 30.0), ('other', 20.0)]
    """
    if top_k < 1:
        raise ValueError(f"top_k: {top_k} is not a positive number of operators")
    if any(value < 0 for value in self_us.values()):
        raise ValueError(f"negative operator self time in {dict(self_us)}")
    total = sum(self_us.values())
    if total <= 0:
        raise ValueError("the profiler recorded no operator time: nothing ran under it")
    ranked = sorted(self_us.items(), key=lambda item: (-item[1], item[0]))
    top = [(name, 100.0 * value / total) for name, value in ranked[:top_k]]
    rest = sum(value for _, value in ranked[top_k:])
    return [*top, (OTHER, 100.0 * rest / total)]


def stable_op(name: str) -> str:
    """The operator's name without what changes from one compile to the next: torch.profiler names a call of an
    Inductor-compiled graph after the graph's cache key and a Dynamo region after its frame and recompile counters, so
    the same model's metric would change name with every run. Any other name is returned as it is.

    >>> stable_op("## Call CompiledFxGraph fh4ijyftfhgzzwdnxszd7ww2a3 ##"), stable_op("Torch-Compiled Region: 0/2")
    ('inductor::compiled_graph', 'dynamo::compiled_region')
    >>> stable_op("aten::mm")
    'aten::mm'
    """
    for pattern, stable in STABLE_OP_NAMES:
        if pattern.fullmatch(name):
            return stable
    return name


def merge_names(self_us: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Self time by metric name: operators whose names differ only in characters a metric cannot hold, or only in
    a compiled graph's cache key (`stable_op`), are summed.

    >>> merge_names([("a b", 1.0), ("a_b", 2.0), ("c", 3.0)])
    {'a_b': 3.0, 'c': 3.0}
    >>> merge_names([("## Call CompiledFxGraph abc ##", 4.0), ("## Call CompiledFxGraph def ##", 1.0)])
    {'inductor::compiled_graph': 5.0}
    """
    merged: dict[str, float] = {}
    for name, value in self_us:
        key = metric_name(stable_op(name)).removeprefix(METRIC_PREFIX)
        merged[key] = merged.get(key, 0.0) + float(value)
    return merged


# Names torch.profiler's own parsing leaves out of its events (torch.autograd.profiler_util._filter_name)
TORCH_UTILITY_EVENTS = frozenset(
    {
        "[memory]",
        "[OutOfMemory]",
        "profiler::_record_function_enter",
        "profiler::_record_function_enter_new",
        "profiler::_record_function_exit",
        "aten::is_leaf",
        "aten::output_nr",
        "aten::_version",
    }
)


def torch_cpu_key_times(prof: Any) -> tuple[dict[str, float], float, float, int]:
    """`torch_key_times(prof.key_averages(), device=False)` computed from the profiler's raw events: on CPU, each
    event's self time is its duration less its children's (the events on its thread inside its interval), exactly as
    torch's own tree does it (`EventList._populate_cpu_children`), but without building a FunctionEvent per event,
    which took 22 s for the 380 000 events of one 60-step decode of a 135M LM (this took 2 s)."""
    from itertools import groupby

    from torch.autograd import DeviceType

    events = [
        (e.start_thread_id(), e.start_ns(), e.end_ns(), e.name())
        for e in prof.profiler.kineto_results.events()
        if e.device_type() == DeviceType.CPU
        and not e.is_async()
        and e.start_thread_id() == e.end_thread_id()
        and not e.is_hidden_event()
        and e.name() not in TORCH_UTILITY_EVENTS
    ]
    events.sort(key=lambda e: (e[0], e[1], -e[2]))
    total_ns: dict[str, int] = {}
    child_ns: dict[str, int] = {}
    steps = 0
    for _thread, thread_events in groupby(events, key=lambda e: e[0]):
        stack: list[tuple[int, int, str]] = []  # (start, end, name) of the open parents, innermost last
        for _, start, end, name in thread_events:
            while stack and (start >= stack[-1][1] or end > stack[-1][1]):
                stack.pop()
            if stack:
                parent = stack[-1][2]
                child_ns[parent] = child_ns.get(parent, 0) + (end - start)
            stack.append((start, end, name))
            total_ns[name] = total_ns.get(name, 0) + (end - start)
            steps += name.startswith(TORCH_WRAPPERS[0])
    ops: dict[str, float] = {}
    outside = steps_us = 0.0
    for name, total in total_ns.items():
        self_us = (total - child_ns.get(name, 0)) / 1e3
        if name.startswith(TORCH_WRAPPERS[0]):
            outside += self_us
            steps_us += total / 1e3
        elif self_us > 0:
            ops[name] = self_us
    return ops, outside, steps_us, steps


def torch_key_times(averages: Iterable[Any], device: bool) -> tuple[dict[str, float], float, float, int]:
    """From `profile.key_averages()`: self time (µs) by operator, the steps' self time (µs, in no operator), the
    steps' total time (µs) and the number of steps. `device`: self CUDA time of the kernels each operator launched,
    read from the operators (host-side rows), never from the kernels' own rows, which would count it twice."""
    from torch.autograd import DeviceType

    ops: dict[str, float] = {}
    outside = steps_us = 0.0
    steps = 0
    for event in averages:
        if event.key.startswith(TORCH_WRAPPERS[0]):
            outside += event.self_cpu_time_total
            steps_us += event.cpu_time_total
            steps += event.count
            continue
        if event.key == TORCH_WRAPPERS[1] or event.device_type != DeviceType.CPU:
            continue
        value = event.self_device_time_total if device else event.self_cpu_time_total
        if value > 0:
            ops[event.key] = ops.get(event.key, 0.0) + float(value)
    return ops, outside, steps_us, steps


def torch_op_profile(model: Any, warmup: Sequence[Any], queries: Sequence[Any]) -> OpProfile:
    """One pass of `model.forward` under torch.profiler: the warm-up queries as the schedule's warm-up steps (traced
    and dropped), then one step per query."""
    from torch.profiler import ProfilerActivity, profile, schedule

    cuda = str(getattr(model, "device", "cpu")).startswith("cuda")
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    sync = model.synchronize() if hasattr(model, "synchronize") else None
    plan = schedule(wait=0, warmup=len(warmup), active=len(queries), repeat=1)
    with model.inference(), profile(activities=activities, schedule=plan) as prof:
        for query in [*warmup, *queries]:
            model.forward(query)
            if sync is not None:
                sync()
            prof.step()
    ops, outside, steps_us, steps = _torch_times(prof, cuda)
    if steps != len(queries):
        raise ValueError(f"torch.profiler recorded {steps} steps for {len(queries)} profiled queries")
    kind = "self CUDA time of the kernels each operator launched" if cuda else "self CPU time"
    return OpProfile(
        self_us=ops,
        queries=len(queries),
        wall_ms_per_query=steps_us / 1e3 / steps,
        outside_us=None if cuda else outside,
        profiler=f"torch.profiler ({' + '.join(a.name for a in activities)} activity), key_averages()",
        time_kind=kind,
    )


def ort_trace_profile(events: Sequence[Mapping[str, Any]], skip_runs: int = 0) -> tuple[dict[str, float], list[float]]:
    """From an ONNX Runtime profile trace (the JSON list of events): node kernel time (µs) by op type (`args.op_name`
    of the `Node` events named `*_kernel_time`), and each run's duration (µs, its `model_run` event), both without
    the first `skip_runs` runs (the warm-up). Runs are sequential, so a node belongs to the last run that began
    before it.

    >>> events = [
    ...     {"cat": "Session", "name": "model_run", "ts": 0, "dur": 10},
    ...     {"cat": "Node", "name": "mm_kernel_time", "ts": 1, "dur": 8, "args": {"op_name": "MatMul"}},
    ...     {"cat": "Session", "name": "model_run", "ts": 20, "dur": 10},
    ...     {"cat": "Node", "name": "mm_kernel_time", "ts": 21, "dur": 6, "args": {"op_name": "MatMul"}},
    ...     {"cat": "Node", "name": "add_fence_before", "ts": 27, "dur": 1, "args": {"op_name": "Add"}},
    ...     {"cat": "Node", "name": "add_kernel_time", "ts": 28, "dur": 2, "args": {"op_name": "Add"}},
    ... ]
    >>> ort_trace_profile(events, skip_runs=1)
    ({'MatMul': 6.0, 'Add': 2.0}, [10.0])
    """
    runs = sorted(
        (float(e["ts"]), float(e["dur"])) for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"
    )
    if len(runs) <= skip_runs:
        raise ValueError(f"the ONNX Runtime trace has {len(runs)} runs, none after the {skip_runs} warm-up runs")
    first = runs[skip_runs][0]
    ops: dict[str, float] = {}
    for event in events:
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        if float(event["ts"]) < first:
            continue
        op = event.get("args", {}).get("op_name")
        if not op:
            raise ValueError(f"ONNX Runtime trace event {event.get('name')!r} has no args.op_name")
        ops[op] = ops.get(op, 0.0) + float(event["dur"])
    return ops, [dur for _, dur in runs[skip_runs:]]


def ort_op_profile(model: Any, warmup: Sequence[Any], queries: Sequence[Any]) -> OpProfile:
    """One pass of `model.forward` on a profiled twin of its session: the same graph file, SessionOptions settings and
    providers, with profiling on into a temporary directory. `forward` runs `model.session`, so the twin stands in
    for it during the pass (then the model's own session is put back) and the inputs are fed exactly as timed."""
    import onnxruntime as ort

    session = model.session
    model_path = getattr(model, "model_path", None)
    if model_path is None:
        raise ValueError(f"{type(model).__name__} has an ONNX Runtime session but no model_path to profile it from")
    source = session.get_session_options()
    options = ort.SessionOptions()
    for name in ORT_OPTION_FIELDS:
        setattr(options, name, getattr(source, name))
    provider_options = session.get_provider_options()
    providers = [(name, provider_options.get(name, {})) for name in session.get_providers()]
    with tempfile.TemporaryDirectory(prefix="suite-ort-profile-") as tmp:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort_profile")
        twin = ort.InferenceSession(str(model_path), options, providers=providers)
        model.session = twin
        try:
            with model.inference():
                for query in [*warmup, *queries]:
                    model.forward(query)
        finally:
            model.session = session
            trace = Path(twin.end_profiling())
        events = json.loads(trace.read_text(encoding="utf-8"))
    ops, runs_us = ort_trace_profile(events, skip_runs=len(warmup))
    if len(runs_us) != len(queries):
        raise ValueError(
            f"{model_path}: the profiled session ran {len(runs_us) + len(warmup)} times for "
            f"{len(warmup) + len(queries)} queries: {type(model).__name__}.forward does not run `session` once a query"
        )
    cuda = [name for name, _ in providers if name != "CPUExecutionProvider"]
    kind = "node kernel time" + (f" (host-side on {', '.join(cuda)}: kernels run asynchronously)" if cuda else "")
    return OpProfile(
        self_us=ops,
        queries=len(queries),
        wall_ms_per_query=sum(runs_us) / 1e3 / len(runs_us),
        outside_us=max(0.0, sum(runs_us) - sum(ops.values())),
        profiler=f"ONNX Runtime {ort.__version__} profiler ({', '.join(n for n, _ in providers)}), Node events",
        time_kind=kind,
    )


def op_profile(model: Any, queries: Sequence[Any], max_queries: int = 50) -> OpProfile:
    """The backend's profiler over `WARMUP_QUERIES` warm-up queries and the first `max_queries` of `queries`."""
    if not queries:
        raise ValueError("no queries to profile")
    if max_queries < 1:
        raise ValueError(f"max_queries: {max_queries} is not a positive number of queries")
    warmup = [queries[i % len(queries)] for i in range(WARMUP_QUERIES)]
    profiled = list(queries[:max_queries])
    module, session = getattr(model, "module", None), getattr(model, "session", None)
    if module is not None:
        import torch

        if isinstance(module, torch.nn.Module):
            return torch_op_profile(model, warmup, profiled)
    if session is not None and type(session).__module__.startswith("onnxruntime"):
        return ort_op_profile(model, warmup, profiled)
    raise ValueError(
        f"no operator profiler for {type(model).__name__} (format '{getattr(model, 'format', '?')}'): operators are "
        "profiled for models whose forward runs a torch module (`module`) or an ONNX Runtime session (`session`)"
    )


def _batch(model: Any, queries: Sequence[Any]) -> str:
    rows = sorted({int(model.rows(q)) for q in queries}) if hasattr(model, "rows") else []
    if not rows:
        return "queries"
    return f"batch-{rows[0]} queries" if len(rows) == 1 else f"queries of batch {rows[0]}-{rows[-1]}"


def decode_steps_to_profile(new_tokens: int, warmup_steps: int) -> int:
    """The decode steps a profiled greedy decode of `new_tokens` records: all but the first token (the prefill's) and
    the warm-up steps; none left is refused with the fix."""
    steps = new_tokens - 1 - warmup_steps
    if steps < 1:
        raise ValueError(
            f"decode.new_tokens {new_tokens} leaves no decode step to profile after the first token and "
            f"{warmup_steps} warm-up steps: raise decode.new_tokens to at least {warmup_steps + 2}"
        )
    return steps


def _torch_times(prof: Any, cuda: bool) -> tuple[dict[str, float], float, float, int]:
    """torch_key_times of a finished torch.profiler run: from the raw events on CPU, from key_averages on CUDA."""
    return torch_key_times(prof.key_averages(), device=True) if cuda else torch_cpu_key_times(prof)


def torch_decode_profile(model: Any, prompt: Sequence[int], new_tokens: int, warmup_steps: int) -> OpProfile:
    """One greedy decode of `new_tokens` after `prompt` through `model.callable` (a suite.families.llm.CausalLM whose
    module is a torch module) under torch.profiler: the prefill untraced (the schedule's wait step), the first
    `warmup_steps` decode steps traced and dropped, then one profiler step per decoded token. An untraced decode runs
    first, so a compiled variant is compiled before it is profiled."""
    import torch
    from torch.profiler import ProfilerActivity, profile, schedule

    from suite.trackers.decode import decode_step, first_token, forward_convention, greedy_decode, prompt_tensor

    if not isinstance(getattr(model, "module", None), torch.nn.Module):
        raise ValueError(
            f"no operator profiler for {type(model).__name__} (format '{getattr(model, 'format', '?')}'): decode "
            "steps are profiled for causal LMs that run a torch module"
        )
    steps = decode_steps_to_profile(new_tokens, warmup_steps)
    run, device = model.callable, str(model.device)
    convention = forward_convention(run)
    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    sync = model.synchronize()
    plan = schedule(wait=1, warmup=warmup_steps, active=steps, repeat=1)
    with model.inference():
        greedy_decode(run, prompt, warmup_steps + 2, device=device, convention=convention, sync=sync)
        with profile(activities=activities, schedule=plan) as prof:
            _, token, cache = first_token(run, prompt_tensor(prompt, device), convention)
            prof.step()
            for _ in range(warmup_steps + steps):
                _, token, cache = decode_step(run, token, cache, convention)
                if sync is not None:
                    sync()
                prof.step()
    ops, outside, steps_us, recorded = _torch_times(prof, cuda)
    if recorded != steps:
        raise ValueError(f"torch.profiler recorded {recorded} steps for {steps} profiled decode steps")
    kind = "self CUDA time of the kernels each operator launched" if cuda else "self CPU time"
    return OpProfile(
        self_us=ops,
        queries=steps,
        wall_ms_per_query=steps_us / 1e3 / recorded,
        outside_us=None if cuda else outside,
        profiler=f"torch.profiler ({' + '.join(a.name for a in activities)} activity), key_averages()",
        time_kind=kind,
    )


def _rows(variant: str, result: OpProfile, pass_: str, unit: str, top_k: int) -> list[Row]:
    """The shares and the profiled time per `unit` (query, token) of one profiled pass, which `pass_` describes."""
    shares = op_shares(merge_names(result.self_us.items()), top_k)
    per = f"per {unit}"
    outside = (
        ""
        if result.outside_us is None
        else f"{result.outside_us / 1e3 / result.queries:.3f} ms {per} ran in no operator and "
    )
    how = (
        f"{result.profiler}: {pass_}; shares of operator {result.time_kind} ({result.total_ms_per_query:.3f} ms {per} "
        f"over {len(result.self_us)} operators; self time excludes nested operators), top {top_k} by self time, the "
        f"rest as '{OTHER}'; {outside}{result.wall_ms_per_query:.3f} ms {per} wall, profiled; profiler overhead "
        "inflates small, frequent operators"
    )
    rows = [Row(variant, metric_name(op), share, "%", None, n=result.queries, measurement=how) for op, share in shares]
    total = result.total_ms_per_query
    rows.append(Row(variant, f"profiled_ms_per_{unit}", total, "ms", False, n=result.queries, measurement=how))
    return rows


def profile_rows(variant: str, model: Any, queries: list[Any], *, top_k: int = 8, max_queries: int = 50) -> list[Row]:
    """`op_time_share@<op>` (%) of the `top_k` operators by self time and `op_time_share@other`, adding up to 100, and
    `profiled_ms_per_query` (operator self time per query), from one profiled pass over at most `max_queries` of the
    pre-tokenised `queries` of `model` (a suite.models.Classifier: torch or ONNX Runtime) after 3 warm-up queries."""
    result = op_profile(model, queries, max_queries)
    pass_ = (
        f"one pass of {result.queries} {_batch(model, queries[:max_queries])} after {WARMUP_QUERIES} warm-up queries"
    )
    return _rows(variant, result, pass_, "query", top_k)


def decode_profile_rows(
    variant: str, model: Any, prompt: Sequence[int], new_tokens: int, *, top_k: int = 8
) -> list[Row]:
    """A causal LM's `op_time_share@<op>` rows (as profile_rows) and `profiled_ms_per_token` (operator self time per
    decoded token), from the decode steps of one greedy decode of `new_tokens` after `prompt`, with 3 warm-up steps:
    the model's own `decode_op_profile` where its format has one (a llama.cpp GGUF student), else
    torch_decode_profile."""
    own = getattr(model, "decode_op_profile", None)  # a format with its own runtime's profiler (GGUF: llama.cpp's)
    result = (own or functools.partial(torch_decode_profile, model))(prompt, new_tokens, WARMUP_QUERIES)
    pass_ = (
        f"one greedy decode of {new_tokens} tokens after a {len(prompt)}-token prompt, the prefill untraced and "
        f"{WARMUP_QUERIES} warm-up decode steps dropped: {result.queries} decode steps of one token each at batch 1"
    )
    return _rows(variant, result, pass_, "token", top_k)
