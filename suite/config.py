"""Read the benchmark config and its task files into typed specs (YAML -> SuiteConfig); no registry, no torch.

`resolve` validates the YAML against the schemas (which own every default) and gathers the task definitions into the
resolved config that every job reads; `from_resolved` turns that into a typed `SuiteConfig`. Checks that need the
registries, entries, device or data live one floor up, in `suite.plan`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from suite.entries import accepted, entry_variants
from suite.errors import SuiteInputError
from suite.provenance import sha256_json
from suite.registry import UnknownNameError
from suite.results import atomic_write
from suite.specs import (
    EVALUATE_METRIC_PREFIX,
    ContrastSpec,
    DataFile,
    DatasetSpec,
    DecodeSpec,
    DistillationSpec,
    EnergySpec,
    EvaluateSpec,
    FinetuneSpec,
    GeneratorSpec,
    LatencySpec,
    LoadGuardSpec,
    MetricInfoSpec,
    ModelSource,
    RowFilter,
    SuiteConfig,
    TaskSpec,
    TeacherSpec,
    ThroughputSpec,
    VariantSpec,
    value_key,
)
from suite.yamlio import REPO_ROOT, read_yaml, validate

MIRROR_ENV = "SUITE_DATA_MIRROR"


# --- tasks -------------------------------------------------------------------------------------------------


def task_file(root: Path, name: str) -> Path:
    return root / "tasks" / name / f"{name}.yaml"


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`; nested mappings merge key by key, everything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# What a derived task never inherits: its identity and its own changelog-tracked version.
NOT_INHERITED = ("name", "version", "description")


def _with_includes(root: Path, path: Path, chain: tuple[Path, ...] = ()) -> tuple[dict[str, Any], list[str]]:
    """The task mapping with `include:` resolved (lm-evaluation-harness style), and the files it derives from."""
    data = read_yaml(path)
    include = data.pop("include", None)
    if include is None:
        return data, []
    label = _rel(path, root)
    if not isinstance(include, str) or not include:
        raise SuiteInputError(label, "include", f"expected a task name or a .yaml path, got {include!r}")
    target = (path.parent / include).resolve() if include.endswith((".yaml", ".yml")) else task_file(root, include)
    if not target.is_file():
        known = sorted(p.name for p in (root / "tasks").iterdir() if task_file(root, p.name).is_file())
        raise SuiteInputError(label, "include", str(UnknownNameError("task", include, known)), "name a task file")
    if target in (*chain, path.resolve()):
        cycle = " -> ".join(_rel(p, root) for p in (*chain, path.resolve(), target))
        raise SuiteInputError(label, "include", f"include cycle ({cycle})")
    base, includes = _with_includes(root, target, (*chain, path.resolve()))
    for key in NOT_INHERITED:
        base.pop(key, None)
    return _merge(base, data), [_rel(target, root), *includes]


def _read_generator_files(data: dict[str, Any], path: Path, label: str) -> None:
    """Embed each generator data file's content, so a job (and Snakemake's rerun check) sees the templates."""
    generator = data.get("generator")
    if not generator:
        return
    contents = {}
    for role, rel in generator.get("files", {}).items():
        file = (path.parent / rel).resolve()
        if not file.is_file():
            raise SuiteInputError(
                label, f"generator.files.{role}", f"data file {rel} not found beside the task", "add it or fix the path"
            )
        contents[role] = read_yaml(file)
    generator["data"] = contents


def load_task_dict(root: Path, name: str, config_label: str, field: str) -> tuple[dict[str, Any], list[str]]:
    """A task file validated against tasks/schema.yaml, with includes resolved and generator files embedded."""
    path = task_file(root, name)
    if not path.is_file():
        known = sorted(p.name for p in (root / "tasks").iterdir() if task_file(root, p.name).is_file())
        raise SuiteInputError(
            config_label,
            field,
            str(UnknownNameError("task", name, known)),
            f"add {path.relative_to(root)} or fix the name",
        )
    label = _rel(path, root)
    merged, includes = _with_includes(root, path)
    data = validate(merged, root / "tasks" / "schema.yaml", label)
    if data["name"] != name:
        raise SuiteInputError(label, "name", f"'{data['name']}' differs from the directory name '{name}'")
    _read_generator_files(data, path, label)
    _check_metric_modules(data, path, root, label)
    parse_task(data, label)  # dataset and split checks, before any data is read
    return data, includes


def parse_task(data: dict[str, Any], path: str, includes: Iterable[str] = ()) -> TaskSpec:
    """A task mapping (validated against tasks/schema.yaml) as a TaskSpec; kinds, metrics and generators are
    checked against their registries by `suite.plan.check_task`."""
    ds = data.get("dataset")
    generator = None
    if data.get("generator"):
        gen = data["generator"]
        generator = GeneratorSpec(
            name=gen["name"],
            seed=gen["seed"],
            params=dict(gen.get("params") or {}),
            files=dict(gen.get("files") or {}),
            data=dict(gen.get("data") or {}),
        )
    dataset = None
    if ds:
        if not data.get("split"):
            raise SuiteInputError(path, "split", "a task with a dataset needs the split to evaluate")
        dataset = dataset_spec(ds, path)
        if data["split"] not in dataset.files and not dataset.hub_id:
            raise SuiteInputError(path, "split", f"split '{data['split']}' has no file under dataset.files")
    elif not data.get("labels") and not data.get("data_files"):
        raise SuiteInputError(path, "labels", "a task without a dataset needs its label set, e.g. {0: negative}")
    data_files = {role: DataFile(f["path"], f["sha256"]) for role, f in (data.get("data_files") or {}).items()}
    if data_files and not generator:
        raise SuiteInputError(path, "data_files", "mirror files are read by a generator; add a generator section")
    return TaskSpec(
        name=data["name"],
        version=data["version"],
        kind=data["kind"],
        description=data.get("description", ""),
        dataset=dataset,
        split=data.get("split") if ds else None,
        metrics=tuple(data["metrics"]),
        path=path,
        generator=generator,
        includes=tuple(includes),
        labels=dataset.labels if dataset else {int(k): v for k, v in (data.get("labels") or {}).items()},
        data_files=data_files,
        contrast=_contrast_spec(data, dataset, path),
        metric_info={
            name: MetricInfoSpec(
                name=info.get("name") or name,
                script=info["script"],
                source=info["source"],
                sha256=info["sha256"],
                key=info["key"],
                unit=info["unit"],
                higher_is_better=info["direction"] == "higher",
                scale=float(info["scale"]),
            )
            for name, info in (data.get("metric_info") or {}).items()
        },
    )


def _check_metric_modules(data: dict[str, Any], path: Path, root: Path, label: str) -> None:
    """Each `evaluate:<path>` metric: a local 🤗 evaluate module inside the task's directory (a script, or a directory
    holding <its name>.py) with its `metric_info`. The script's text is embedded in that info with its sha256 (as a
    generator's files are): a changed module re-runs the task, and a job needs no tasks/ directory."""
    infos = data.get("metric_info") or {}
    names = list(data["metrics"])
    for name in infos:
        if name not in names:
            raise SuiteInputError(label, f"metric_info.{name}", "describes no metric of `metrics`", "remove it")
    task_dir = path.parent.resolve()
    for i, name in enumerate(names):
        if not name.startswith(EVALUATE_METRIC_PREFIX):
            continue
        where, local = f"metrics[{i}]", name[len(EVALUATE_METRIC_PREFIX) :]
        fix = "give the path of a local evaluate module relative to the task's directory, e.g. evaluate:metrics/my_f1"
        if not local or "://" in local or Path(local).is_absolute():
            raise SuiteInputError(label, where, f"'{name}' is not a local path inside the task's directory", fix)
        target = (task_dir / local).resolve()
        if not target.is_relative_to(task_dir):
            raise SuiteInputError(
                label, where, f"'{local}' leads outside the task's directory ({task_dir}; it resolves to {target})", fix
            )
        script = target if target.is_file() else target / f"{target.name}.py"
        if script.suffix != ".py" or not script.is_file():
            raise SuiteInputError(
                label,
                where,
                f"no evaluate module at {_rel(target, root)}: expected a .py script, or a directory holding "
                f"{target.name}.py (the module's own name)",
                fix,
            )
        if name not in infos:
            raise SuiteInputError(
                label,
                "metric_info",
                f"metric '{name}' has no metric_info: its result key, unit and direction",
                f"add metric_info: {{'{name}': {{key: <key of compute()'s result>, unit: '%', direction: higher, "
                "scale: 100}}",
            )
        try:
            source = script.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SuiteInputError(_rel(script, root), where, f"cannot be read as UTF-8 text ({exc})", fix) from None
        infos[name]["script"] = _rel(script, root)
        infos[name]["source"] = source
        infos[name]["sha256"] = hashlib.sha256(source.encode("utf-8")).hexdigest()
    row_names = [(infos.get(n) or {}).get("name") or n for n in names]
    repeated = sorted({n for n in row_names if row_names.count(n) > 1})
    if repeated:
        raise SuiteInputError(label, "metric_info", f"two metrics are named {repeated}", "give each its own `name`")


TABULAR_FORMATS = ("csv", "tsv")  # the formats with a delimiter, quoting and an optional header line
TEXT_FORMATS = ("csv", "tsv", "jsonl", "json")  # the formats read as text (an encoding applies)


def dataset_spec(ds: dict[str, Any], path: str) -> DatasetSpec:
    """A `dataset:` mapping (validated against tasks/schema.yaml) as a DatasetSpec, with every combination the schema
    cannot express checked here, each error naming the task file, the field and the fix."""
    fmt = ds["format"]
    hub = ds.get("hub") or {}
    where = "dataset"
    if fmt == "hub":
        if not hub.get("id"):
            raise SuiteInputError(path, f"{where}.hub.id", "format 'hub' reads a Hub dataset", "add hub: {id: …}")
        if not hub.get("revision"):
            raise SuiteInputError(
                path, f"{where}.hub.revision", "format 'hub' needs a pinned revision", "pin it to a 40-hex commit"
            )
    elif not ds.get("files"):
        raise SuiteInputError(
            path, f"{where}.files", f"format '{fmt}' reads mirror files", "add files: {<split>: {path, sha256}}"
        )
    for key, formats, what in (
        ("json_key", ("json",), "format json"),
        ("columns", TABULAR_FORMATS, "csv or tsv"),
        ("delimiter", TABULAR_FORMATS, "csv or tsv"),
        ("quoting", TABULAR_FORMATS, "csv or tsv"),
        ("encoding", TEXT_FORMATS, "csv, tsv, jsonl or json"),
    ):
        if key in ds and fmt not in formats:
            raise SuiteInputError(
                path, f"{where}.{key}", f"'{key}' applies to {what}, not to format '{fmt}'", f"remove {key}"
            )
    if ("text_field" in ds) == ("text_fields" in ds):
        raise SuiteInputError(
            path,
            f"{where}.text_field",
            "give either text_field (one text) or text_fields (a sentence pair), not "
            + ("both" if "text_field" in ds else "neither"),
            "e.g. text_field: sentence, or text_fields: [premise, hypothesis]",
        )
    text_field, text_pair_field = (ds["text_field"], None) if "text_field" in ds else tuple(ds["text_fields"])
    if text_field == text_pair_field:
        raise SuiteInputError(path, f"{where}.text_fields", f"both texts are '{text_field}'", "name two columns")
    labels, label_values = _labels(ds["labels"], path)
    row_filter = None
    if "filter" in ds:
        spec = ds["filter"]
        if ("equals" in spec) == ("in" in spec):
            raise SuiteInputError(
                path, f"{where}.filter", "give one of equals or in", "e.g. {field: genre, equals: news}"
            )
        values = [spec["equals"]] if "equals" in spec else spec["in"]
        row_filter = RowFilter(spec["field"], tuple(value_key(v) for v in values))
    if ("max_instances" in ds) != ("seed" in ds):
        missing = "seed" if "max_instances" in ds else "max_instances"
        raise SuiteInputError(
            path,
            f"{where}.{missing}",
            "max_instances draws a seeded subset: it needs seed, and seed is only its seed",
            "give both (e.g. max_instances: 500, seed: 0) or neither",
        )
    return DatasetSpec(
        name=ds["name"],
        format=fmt,
        text_field=text_field,
        label_field=ds["label_field"],
        labels=labels,
        files={split: DataFile(f["path"], f["sha256"]) for split, f in (ds.get("files") or {}).items()},
        hub_id=hub.get("id"),
        hub_revision=hub.get("revision"),
        hub_config=hub.get("config"),
        json_key=ds.get("json_key"),
        columns=tuple(ds["columns"]) if ds.get("columns") else None,
        text_pair_field=text_pair_field,
        label_values=label_values,
        quoting=ds.get("quoting"),
        delimiter=ds.get("delimiter"),
        encoding=ds.get("encoding"),
        filter=row_filter,
        max_instances=ds.get("max_instances"),
        seed=ds.get("seed"),
    )


def _labels(labels: dict[str, Any], path: str) -> tuple[dict[int, str], dict[str, int] | None]:
    """Class id -> name, and (when any class lists `values`) the value in the file, as text, -> class id."""
    names: dict[int, str] = {}
    values: dict[str, int] = {}
    mapped = any(isinstance(v, dict) and "values" in v for v in labels.values())
    ids = sorted(int(k) for k in labels)
    if ids != list(range(len(ids))):
        raise SuiteInputError(
            path, "dataset.labels", f"class ids {ids} are not 0..{len(ids) - 1}", "number the classes from 0"
        )
    for key, item in labels.items():
        class_id = int(key)
        names[class_id] = item if isinstance(item, str) else item["name"]
        listed = item.get("values", [class_id]) if isinstance(item, dict) else [class_id]
        for value in listed:
            text = value_key(value)
            if text in values and values[text] != class_id:
                raise SuiteInputError(
                    path,
                    f"dataset.labels.{key}.values",
                    f"value {value!r} already means class {values[text]} ('{names.get(values[text], '?')}')",
                    "list each value under one class",
                )
            values[text] = class_id
    return dict(sorted(names.items())), (values if mapped else None)


def _contrast_spec(data: dict[str, Any], dataset: DatasetSpec | None, path: str) -> ContrastSpec | None:
    """The `contrast:` section (the contrast kind's grouping), checked against the dataset; None without one."""
    section = data.get("contrast")
    if section is None:
        return None
    if dataset is None:
        raise SuiteInputError(path, "contrast", "a contrast task reads a dataset", "add a dataset section")
    if ("contrast_split" in section) == ("group_field" in section):
        raise SuiteInputError(
            path,
            "contrast",
            "give either contrast_split (row i of two files) or group_field (a group id column), not "
            + ("both" if "contrast_split" in section else "neither"),
            "e.g. contrast: {contrast_split: dev_contrast}",
        )
    split = section.get("contrast_split")
    if split is not None and split not in dataset.files:
        raise SuiteInputError(
            path,
            "contrast.contrast_split",
            f"split '{split}' has no file under dataset.files (splits: {sorted(dataset.files)})",
            "add the contrast file under dataset.files or fix the name",
        )
    if split is not None and split == data.get("split"):
        raise SuiteInputError(
            path, "contrast.contrast_split", "is the task's own split", "name the edited file's split"
        )
    if ("role_field" in section) != ("original_value" in section):
        raise SuiteInputError(
            path, "contrast.role_field", "role_field and original_value go together", "give both or neither"
        )
    if split is not None and "role_field" in section:
        raise SuiteInputError(
            path, "contrast.role_field", "applies to group_field, not to contrast_split", "remove role_field"
        )
    original = section.get("original_value")
    return ContrastSpec(
        contrast_split=split,
        group_field=section.get("group_field"),
        role_field=section.get("role_field"),
        original_value=None if original is None else value_key(original),
    )


# --- config ------------------------------------------------------------------------------------------------


def source_spec(data: dict[str, Any]) -> ModelSource:
    """A model source mapping (config/schema.yaml's $defs/source) as a ModelSource."""
    return ModelSource(
        kind=data["kind"],
        package=data.get("package"),
        sha256=data.get("sha256"),
        id=data.get("id"),
        revision=data.get("revision"),
        path=data.get("path"),
        file=data.get("file"),
        architecture=data.get("architecture"),
        model_config=dict(data.get("model_config") or {}),
        tokenizer=source_spec(data["tokenizer"]) if data.get("tokenizer") else None,
    )


def resolve_mirror(raw_mirror: str | None, root: Path) -> str | None:
    mirror = os.environ.get(MIRROR_ENV) or raw_mirror
    if not mirror:
        return None
    path = Path(mirror)
    return str((path if path.is_absolute() else root / path).resolve())


def resolve(config: dict[str, Any], root: Path = REPO_ROOT, label: str = "config/config.yaml") -> dict[str, Any]:
    """Validate a config mapping (as Snakemake loaded it) and gather its task files into the resolved config.

    Community entries are not collected here (they are checked against the registries): `suite.plan` fills
    `entries`.
    """
    validated = validate(config, root / "config" / "schema.yaml", label)
    tasks = {}
    for i, name in enumerate(validated["tasks"]):
        tasks[name] = load_task_dict(root, name, label, f"tasks[{i}]")
    finetune = validated["teacher"].get("finetune")
    if finetune and finetune["task"] not in tasks:
        tasks[finetune["task"]] = load_task_dict(root, finetune["task"], label, "teacher.finetune.task")
    if finetune:
        train_dataset = tasks[finetune["task"]][0].get("dataset")
        hub_split = train_dataset is not None and train_dataset["format"] == "hub"  # any split of the pinned dataset
        if train_dataset is None or not (hub_split or finetune["split"] in train_dataset.get("files", {})):
            raise SuiteInputError(
                label, "teacher.finetune.split", f"task '{finetune['task']}' has no '{finetune['split']}' file"
            )
    return {
        "config": validated,
        "tasks": {
            name: {"file": str(task_file(root, name).relative_to(root)), "definition": d, "includes": inc}
            for name, (d, inc) in tasks.items()
        },
        "data_mirror": resolve_mirror(validated["data"]["mirror"], root),
        # the cache lives with the results, in the working directory
        "data_cache": str(Path(validated["data"]["cache_dir"]).resolve()),
        "label": label,
        "entries": {"dir": None, "accepted": [], "rejected": []},
    }


def from_resolved(resolved: dict[str, Any]) -> SuiteConfig:
    """The typed config of a resolved config; nothing is re-validated (the plan checked it when it was written)."""
    cfg = resolved["config"]
    task_specs = {
        name: parse_task(t["definition"], t["file"], t.get("includes", ())) for name, t in resolved["tasks"].items()
    }
    finetune = cfg["teacher"].get("finetune")
    entries = entry_variants(resolved)
    tasks = tuple(task_specs[name] for name in cfg["tasks"])
    teacher = TeacherSpec(
        id=cfg["teacher"]["id"],
        source=source_spec(cfg["teacher"]["source"]),
        finetune=FinetuneSpec(**finetune) if finetune else None,
    )
    return SuiteConfig(
        seed=cfg["seed"],
        threads=cfg["threads"],
        data_mirror=resolved["data_mirror"],
        data_cache=resolved["data_cache"],
        teacher=teacher,
        variants=tuple(
            VariantSpec(id=v["id"], parent=v["parent"], method=v["method"], params=dict(v.get("params") or {}))
            for v in [*cfg["variants"], *entries]
        ),
        tasks=tasks,
        evaluate=EvaluateSpec(**cfg["evaluate"]),
        latency=LatencySpec(**cfg["latency"]),
        throughput=ThroughputSpec(**{**cfg["throughput"], "batch_sizes": tuple(cfg["throughput"]["batch_sizes"])}),
        load_guard=LoadGuardSpec(**cfg["load_guard"]),
        energy=EnergySpec(**cfg["energy"]),
        distillation=DistillationSpec(**cfg["distillation"]),
        decode=DecodeSpec(**{**cfg["decode"], "prompt_lengths": tuple(cfg["decode"]["prompt_lengths"])}),
        device=cfg["device"],
        family=cfg["family"],
        label=resolved["label"],
        train_task=task_specs[finetune["task"]] if finetune else None,
        reference_task=next((t for t in tasks if t.dataset is not None or t.data_files), None),
        entry_tasks={item["id"]: tuple(item["entry"]["tasks"]) for item in accepted(resolved)},
        config_hash=sha256_json(
            {"config": cfg, "tasks": resolved["tasks"], **({"entries": entries} if entries else {})}
        ),
        raw=resolved,
    )


def write_resolved(cfg: SuiteConfig, path: Path) -> None:
    """Write the resolved config for the jobs; rewritten only when its content changes."""
    text = json.dumps(cfg.raw, indent=2, sort_keys=True, allow_nan=False) + "\n"
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


# The environment variable through which the workflow tells its jobs the config hash of each track it planned them
# with ("classifier=<sha>,llm=<sha>"); a job whose resolved config says otherwise refuses to run (suite.cli).
PLANNED_CONFIG_HASHES = "SUITE_PLANNED_CONFIG_HASHES"


def planned_config_hash(family: str) -> str | None:
    """The config hash the workflow planned this job's track with, when a workflow started the job."""
    import os

    planned = os.environ.get(PLANNED_CONFIG_HASHES, "")
    return dict(item.split("=", 1) for item in planned.split(",") if "=" in item).get(family)


def read_resolved(path: str | Path) -> SuiteConfig:
    return from_resolved(json.loads(Path(path).read_text()))
