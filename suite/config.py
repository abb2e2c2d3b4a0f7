"""Load, validate and resolve the benchmark config and its task files into a SuiteConfig (no torch import)."""

from __future__ import annotations

import copy
import importlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from suite.errors import SuiteInputError
from suite.provenance import sha256_json
from suite.registry import UnknownNameError
from suite.specs import (
    TEACHER,
    DataFile,
    DatasetSpec,
    EnergySpec,
    EvaluateSpec,
    FinetuneSpec,
    GeneratorSpec,
    LatencySpec,
    ModelSource,
    SuiteConfig,
    TaskSpec,
    TeacherSpec,
    ThroughputSpec,
    VariantSpec,
)

MIRROR_ENV = "SUITE_DATA_MIRROR"
REPO_ROOT = Path(__file__).resolve().parent.parent


def _path_str(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _validator_with_defaults(schema: dict[str, Any]) -> type:
    """A Draft 2020-12 validator that also fills in each property's `default` (as Snakemake's validate does)."""
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": set_defaults})


def validate(instance: dict[str, Any], schema_file: Path, file_label: str) -> dict[str, Any]:
    """Validate against a YAML JSON Schema, filling defaults; the first error names the file and the field."""
    schema = yaml.safe_load(schema_file.read_text())
    instance = copy.deepcopy(instance)
    validator = _validator_with_defaults(schema)(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.absolute_path), list(e.absolute_path)))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        field = _path_str(error.absolute_path)
        description = error.schema.get("description") if isinstance(error.schema, dict) else None
        raise SuiteInputError(
            file_label,
            field,
            error.message,
            description
            or f"see {schema_file.relative_to(REPO_ROOT) if schema_file.is_relative_to(REPO_ROOT) else schema_file}",
        )
    return instance


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteInputError(str(path), None, "file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SuiteInputError(str(path), None, f"malformed YAML{where}", "fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise SuiteInputError(str(path), None, "expected a mapping at the top level")
    return data


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
    parse_task(data, label)  # kind, metrics, generator and dataset checks, before any data is read
    return data, includes


def parse_task(data: dict[str, Any], path: str, includes: Iterable[str] = ()) -> TaskSpec:
    from suite.metrics import METRICS
    from suite.tasks import GENERATORS, TASK_KINDS

    if data["kind"] not in TASK_KINDS:
        raise SuiteInputError(path, "kind", str(UnknownNameError("task kind", data["kind"], TASK_KINDS.names())))
    kind = TASK_KINDS.get(data["kind"])
    for i, metric in enumerate(data["metrics"]):
        if metric not in METRICS:
            raise SuiteInputError(path, f"metrics[{i}]", str(UnknownNameError("metric", metric, METRICS.names())))
    ds = data.get("dataset")
    if kind.NEEDS_DATASET and not ds:
        raise SuiteInputError(path, "dataset", f"a '{data['kind']}' task needs a dataset (or `include:` of one)")
    if kind.NEEDS_GENERATOR and not data.get("generator"):
        raise SuiteInputError(path, "generator", f"a '{data['kind']}' task needs a generator section")
    if not kind.NEEDS_GENERATOR and data.get("generator"):
        raise SuiteInputError(path, "generator", f"a '{data['kind']}' task is not generated; remove the section")
    generator = None
    if data.get("generator"):
        gen = data["generator"]
        if gen["name"] not in GENERATORS:
            raise SuiteInputError(
                path, "generator.name", str(UnknownNameError("generator", gen["name"], GENERATORS.names()))
            )
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
        if data["split"] not in ds["files"] and not (ds.get("hub") or {}).get("id"):
            raise SuiteInputError(path, "split", f"split '{data['split']}' has no file under dataset.files")
        if ds["format"] == "json" and not ds.get("json_key"):
            raise SuiteInputError(path, "dataset.json_key", "format 'json' needs the key of the record list")
        if ds.get("columns") and ds["format"] != "tsv":
            raise SuiteInputError(path, "dataset.columns", "only a tsv file can be header-less")
        hub = ds.get("hub") or {}
        dataset = DatasetSpec(
            name=ds["name"],
            format=ds["format"],
            text_field=ds["text_field"],
            label_field=ds["label_field"],
            labels={int(k): v for k, v in ds["labels"].items()},
            files={split: DataFile(f["path"], f["sha256"]) for split, f in ds["files"].items()},
            hub_id=hub.get("id"),
            hub_revision=hub.get("revision"),
            hub_config=hub.get("config"),
            json_key=ds.get("json_key"),
            columns=tuple(ds["columns"]) if ds.get("columns") else None,
        )
    elif not data.get("labels"):
        raise SuiteInputError(path, "labels", "a task without a dataset needs its label set, e.g. {0: negative}")
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
        labels=dataset.labels if dataset else {int(k): v for k, v in data["labels"].items()},
    )


# --- config ------------------------------------------------------------------------------------------------


def _source(data: dict[str, Any]) -> ModelSource:
    return ModelSource(
        kind=data["kind"],
        package=data.get("package"),
        sha256=data.get("sha256"),
        id=data.get("id"),
        revision=data.get("revision"),
        path=data.get("path"),
        architecture=data.get("architecture"),
        model_config=dict(data.get("model_config") or {}),
        tokenizer=_source(data["tokenizer"]) if data.get("tokenizer") else None,
    )


ARCH_KEYS = ("num_hidden_layers", "num_attention_heads", "hidden_size", "intermediate_size")


def teacher_arch(source: ModelSource) -> dict[str, int] | None:
    """The teacher's shape from its model config, for checks at workflow load; None for a Hub teacher (offline)."""
    if source.kind == "random_init":
        from transformers import BertConfig

        config = BertConfig(**source.model_config).to_dict()
    elif source.kind in ("package", "local"):
        if source.kind == "package":
            try:
                module = importlib.import_module(source.package or "")
            except ImportError:
                return None  # reported with its fix when the teacher is loaded
            directory = Path(module.get_model_path() if hasattr(module, "get_model_path") else module.MODEL_DIR)
        else:
            directory = Path(source.path or "")
        config_file = directory / "config.json"
        if not config_file.is_file():
            return None
        config = json.loads(config_file.read_text())
    else:
        return None
    return {k: int(config[k]) for k in ARCH_KEYS if k in config}


def _check_variants(
    variants: list[dict[str, Any]], label: str, arch: dict[str, int] | None = None
) -> tuple[VariantSpec, ...]:
    from suite.compress import METHODS

    ids = [v["id"] for v in variants]
    specs = []
    for i, v in enumerate(variants):
        where = f"variants[{i}]"
        if v["id"] == TEACHER:
            raise SuiteInputError(label, f"{where}.id", "'teacher' is reserved for the teacher", "rename the variant")
        if ids.count(v["id"]) > 1:
            raise SuiteInputError(
                label, f"{where}.id", f"duplicate variant id '{v['id']}'", "give each variant a unique id"
            )
        try:
            method = METHODS.get(v["method"])
        except UnknownNameError as exc:
            raise SuiteInputError(
                label, f"{where}.method", f"variant '{v['id']}': {exc}", "`suite methods` lists the methods"
            ) from None
        try:
            method.parse_params(v.get("params") or {})
        except ValueError as exc:
            field, _, problem = str(exc).partition(": ")
            raise SuiteInputError(label, f"{where}.params.{field}", f"variant '{v['id']}': {problem}") from None
        if v["parent"] != TEACHER and v["parent"] not in ids:
            raise SuiteInputError(
                label,
                f"{where}.parent",
                f"variant '{v['id']}': parent '{v['parent']}' is neither 'teacher' nor a variant",
                "name an existing variant as parent",
            )
        specs.append(
            VariantSpec(id=v["id"], parent=v["parent"], method=v["method"], params=dict(v.get("params") or {}))
        )
    by_id = {s.id: s for s in specs}
    for i, spec in enumerate(specs):
        seen = [spec.id]
        parent = spec.parent
        while parent != TEACHER:
            if parent in seen:
                cycle = " -> ".join([*seen, parent])
                raise SuiteInputError(
                    label, f"variants[{i}].parent", f"variant '{spec.id}': lineage has a cycle ({cycle})"
                )
            seen.append(parent)
            parent = by_id[parent].parent
    for i, spec in enumerate(specs):
        method = METHODS.get(spec.method)
        parent_format = output_format(spec.parent, by_id)
        if parent_format not in method.INPUT_FORMATS:
            raise SuiteInputError(
                label,
                f"variants[{i}].method",
                f"variant '{spec.id}': method '{spec.method}' cannot start from a '{parent_format}' parent "
                f"('{spec.parent}'); it accepts {sorted(method.INPUT_FORMATS)}",
                "reorder the chain",
            )
    archs: dict[str, dict[str, int] | None] = {TEACHER: arch}

    def arch_of(variant_id: str) -> dict[str, int] | None:
        if variant_id not in archs:
            spec = by_id[variant_id]
            method = METHODS.get(spec.method)()
            archs[variant_id] = method.derive_arch(arch_of(spec.parent), method.parse_params(spec.params))
        return archs[variant_id]

    for i, spec in enumerate(specs):
        method = METHODS.get(spec.method)()
        try:
            method.check(method.parse_params(spec.params), arch_of(spec.parent))
        except ValueError as exc:
            field, _, problem = str(exc).partition(": ")
            raise SuiteInputError(
                label, f"variants[{i}].params.{field}", f"variant '{spec.id}': {problem}", "see `suite methods`"
            ) from None
    return tuple(specs)


def output_format(variant_id: str, by_id: dict[str, VariantSpec]) -> str:
    from suite.compress import METHODS
    from suite.formats import FORMAT_FP32

    if variant_id == TEACHER:
        return FORMAT_FP32
    return METHODS.get(by_id[variant_id].method).OUTPUT_FORMAT


def resolve_mirror(raw_mirror: str | None, root: Path) -> str | None:
    mirror = os.environ.get(MIRROR_ENV) or raw_mirror
    if not mirror:
        return None
    path = Path(mirror)
    return str((path if path.is_absolute() else root / path).resolve())


def load(config: dict[str, Any], root: Path = REPO_ROOT, label: str = "config/config.yaml") -> SuiteConfig:
    """Validate a config mapping (as Snakemake loaded it) and read its tasks; raise SuiteInputError on bad input."""
    validated = validate(config, root / "config" / "schema.yaml", label)
    tasks = {}
    for i, name in enumerate(validated["tasks"]):
        tasks[name] = load_task_dict(root, name, label, f"tasks[{i}]")
    finetune = validated["teacher"].get("finetune")
    if finetune and finetune["task"] not in tasks:
        tasks[finetune["task"]] = load_task_dict(root, finetune["task"], label, "teacher.finetune.task")
    resolved = {
        "config": validated,
        "tasks": {
            name: {"file": str(task_file(root, name).relative_to(root)), "definition": d, "includes": inc}
            for name, (d, inc) in tasks.items()
        },
        "data_mirror": resolve_mirror(validated["data"]["mirror"], root),
        # the cache lives with the results, in the working directory
        "data_cache": str(Path(validated["data"]["cache_dir"]).resolve()),
        "label": label,
    }
    from suite.entries import collect

    # community entries (leaderboard/entries/*.yaml): accepted ones become variants, rejected ones keep their reasons
    resolved["entries"] = collect(validated, root, label)
    cfg = from_resolved(resolved)
    _check_device(cfg, label)
    return cfg


def _check_device(cfg: SuiteConfig, label: str) -> None:
    """device: cuda needs a visible GPU, and no variant whose kernels exist on CPU only."""
    if cfg.device == "cpu":
        return
    from suite.formats import CPU_ONLY_FORMATS

    by_id = {v.id: v for v in cfg.variants}
    for i, spec in enumerate(cfg.variants):
        fmt = output_format(spec.id, by_id)
        if fmt in CPU_ONLY_FORMATS:
            raise SuiteInputError(
                label,
                f"variants[{i}].method",
                f"variant '{spec.id}' ({spec.method}) cannot run on {cfg.device}: {CPU_ONLY_FORMATS[fmt]}",
                "set device: cpu, or remove the variant from this run",
            )
    import torch

    if not torch.cuda.is_available():
        raise SuiteInputError(label, "device", "is cuda but torch sees no CUDA device", "set device: cpu")


def from_resolved(resolved: dict[str, Any]) -> SuiteConfig:
    cfg = resolved["config"]
    label = resolved.get("label", "config")
    task_specs = {
        name: parse_task(t["definition"], t["file"], t.get("includes", ())) for name, t in resolved["tasks"].items()
    }
    finetune = cfg["teacher"].get("finetune")
    train_dataset = task_specs[finetune["task"]].dataset if finetune else None
    if finetune and (train_dataset is None or finetune.get("split", "train") not in train_dataset.files):
        raise SuiteInputError(
            label, "teacher.finetune.split", f"task '{finetune['task']}' has no '{finetune.get('split')}' file"
        )
    from suite.entries import entry_variants as _entry_variants

    entry_variants = _entry_variants(resolved)
    teacher = TeacherSpec(
        id=cfg["teacher"]["id"],
        source=_source(cfg["teacher"]["source"]),
        finetune=FinetuneSpec(**finetune) if finetune else None,
    )
    return SuiteConfig(
        seed=cfg["seed"],
        threads=cfg["threads"],
        data_mirror=resolved["data_mirror"],
        data_cache=resolved["data_cache"],
        teacher=teacher,
        variants=_check_variants([*cfg["variants"], *entry_variants], label, teacher_arch(teacher.source)),
        tasks=tuple(task_specs[name] for name in cfg["tasks"]),
        evaluate=EvaluateSpec(**cfg["evaluate"]),
        latency=LatencySpec(**cfg["latency"]),
        throughput=ThroughputSpec(**{**cfg["throughput"], "batch_sizes": tuple(cfg["throughput"]["batch_sizes"])}),
        energy=EnergySpec(**cfg["energy"]),
        device=cfg.get("device", "cpu"),
        config_hash=sha256_json(
            {"config": cfg, "tasks": resolved["tasks"], **({"entries": entry_variants} if entry_variants else {})}
        ),
        raw=resolved,
    )


def finetune_task(cfg: SuiteConfig) -> TaskSpec | None:
    if cfg.teacher.finetune is None:
        return None
    return parse_task(
        cfg.raw["tasks"][cfg.teacher.finetune.task]["definition"], cfg.raw["tasks"][cfg.teacher.finetune.task]["file"]
    )


def write_resolved(cfg: SuiteConfig, path: Path) -> None:
    """Write the resolved config for the jobs; rewritten only when its content changes."""
    from suite.results import atomic_write

    text = json.dumps(cfg.raw, indent=2, sort_keys=True, allow_nan=False) + "\n"
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_resolved(path: str | Path) -> SuiteConfig:
    return from_resolved(json.loads(Path(path).read_text()))


def load_file(path: str | Path, root: Path = REPO_ROOT) -> SuiteConfig:
    return load(read_yaml(Path(path)), root, str(path))
