"""The plan: the parsed config checked against the registries, the model family, the entries, the device and the data.

This is the only floor that knows all of them. `load` turns a config mapping into a checked `SuiteConfig` (what the
Snakefile and `suite check-config` call); jobs read the resolved config it wrote and trust it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from suite import entries
from suite.compress import METHODS
from suite.config import from_resolved, resolve, source_spec
from suite.data import load_split
from suite.entries import EntryContext, EntryProblem
from suite.errors import SuiteInputError
from suite.families import FAMILIES, ModelFamily
from suite.formats import CPU_ONLY_FORMATS
from suite.metrics import METRICS
from suite.provenance import file_stamp, load_cache
from suite.registry import UnknownNameError
from suite.specs import TEACHER, SuiteConfig, TaskSpec, VariantSpec
from suite.tasks import GENERATORS, TASK_KINDS, load_task_data
from suite.yamlio import REPO_ROOT, read_yaml


def load(config: dict[str, Any], root: Path = REPO_ROOT, label: str = "config/config.yaml") -> SuiteConfig:
    """Validate a config mapping (as Snakemake loaded it), check it against everything, and return it typed."""
    resolved = resolve(config, root, label)
    validated = resolved["config"]
    family = model_family(validated["family"], label)
    for task in resolved["tasks"].values():
        check_task(task["definition"], task["file"], family)
    arch = family.teacher_arch(source_spec(validated["teacher"]["source"]))  # read once: entries and variants
    # community entries (leaderboard/entries/*.yaml): accepted ones become variants, rejected ones keep their reasons
    resolved["entries"] = entries.collect(validated, root, label, entry_context(validated, root, family, arch))
    cfg = from_resolved(resolved)
    check_variants(cfg.variants, label, arch, family)
    skipped = unavailable_variants(cfg.variants)
    if skipped:  # listed with the reason (console, resolved config, site); the DAG builds the others
        resolved["skipped"] = skipped
        gone = {s["id"] for s in skipped}
        resolved["config"]["variants"] = [v for v in validated["variants"] if v["id"] not in gone]
        cfg = from_resolved(resolved)
    check_device(cfg, family)
    check_reference(cfg, [s["id"] for s in skipped])
    return cfg


def check_reference(cfg: SuiteConfig, skipped: list[str]) -> None:
    """The timing reference (`latency.reference`) is the teacher or a variant this run builds."""
    reference = cfg.latency.reference
    if reference in cfg.variant_ids:
        return
    why = "is skipped on this install" if reference in skipped else "is neither 'teacher' nor a variant of this config"
    raise SuiteInputError(
        cfg.label, "latency.reference", f"'{reference}' {why}",
        f"name the teacher or one of the variants ({', '.join(cfg.variant_ids)})",
    )  # fmt: skip


def unavailable_variants(variants: tuple[VariantSpec, ...]) -> list[dict[str, str]]:
    """The variants this environment cannot build, in config order: their method is unavailable (an optional extra
    is missing), or an ancestor's is. [{id, method, reason}]."""
    by_id = {v.id: v for v in variants}
    reasons: dict[str, str] = {}

    def reason(variant_id: str) -> str | None:
        if variant_id == TEACHER:
            return None
        if variant_id not in reasons:
            spec = by_id[variant_id]
            own = METHODS.get(spec.method).unavailable()
            parent = reason(spec.parent)
            reasons[variant_id] = own or (f"its parent '{spec.parent}' is not built: {parent}" if parent else "")
        return reasons[variant_id] or None

    return [{"id": v.id, "method": v.method, "reason": why} for v in variants if (why := reason(v.id)) is not None]


def load_file(path: str | Path, root: Path = REPO_ROOT) -> SuiteConfig:
    return load(read_yaml(Path(path)), root, str(path))


TRACKS_KEY = "tracks"


def load_tracks(
    config: dict[str, Any], root: Path = REPO_ROOT, label: str = "config/config.yaml"
) -> dict[str, SuiteConfig]:
    """The run's tracks, by family: a config that lists `tracks` (config files, one model family each) or is itself one.

    Each track is built into results/<family>/; two tracks of one family would share that directory, so they are
    refused. A track file is checked exactly as a single config is (`load`), errors naming that file.
    """
    if TRACKS_KEY not in config:
        cfg = load(config, root, label)
        return {cfg.family: cfg}
    files = config[TRACKS_KEY]
    others = sorted(set(config) - {TRACKS_KEY})
    if others:
        raise SuiteInputError(
            label,
            others[0],
            f"a config that lists tracks holds nothing else (found {others})",
            "put the setting in the track's own config file",
        )
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and f for f in files):
        raise SuiteInputError(
            label, TRACKS_KEY, f"expected a non-empty list of config files, got {files!r}", "e.g. [config/llm.yaml]"
        )
    tracks: dict[str, SuiteConfig] = {}
    for i, name in enumerate(files):
        path = Path(name) if Path(name).is_absolute() else root / name
        if not path.is_file():
            raise SuiteInputError(label, f"{TRACKS_KEY}[{i}]", f"config file {name} not found", "fix the path")
        cfg = load(read_yaml(path), root, name)
        if cfg.family in tracks:
            raise SuiteInputError(
                label,
                f"{TRACKS_KEY}[{i}]",
                f"a second '{cfg.family}' track ({name}); each family is built into results/{cfg.family}/",
                "list one config file per model family",
            )
        tracks[cfg.family] = cfg
    return tracks


def model_family(name: str, label: str) -> ModelFamily:
    try:
        return FAMILIES.get(name)()
    except UnknownNameError as exc:
        raise SuiteInputError(label, "family", str(exc), "`suite families` lists the model families") from None


# --- tasks --------------------------------------------------------------------------------------------------------


def check_task(data: Mapping[str, Any], path: str, family: ModelFamily) -> None:
    """A task definition's kind, metrics and generator against their registries and the run's model family."""
    if data["kind"] not in TASK_KINDS:
        raise SuiteInputError(path, "kind", str(UnknownNameError("task kind", data["kind"], TASK_KINDS.names())))
    kind = TASK_KINDS.get(data["kind"])
    if family.NAME not in kind.FAMILIES:
        raise SuiteInputError(
            path,
            "kind",
            f"a '{data['kind']}' task scores {sorted(kind.FAMILIES)} models, not the run's '{family.NAME}' family",
            "choose tasks of the run's family",
        )
    # a kind that scores with its own metrics (lm_eval: lm-eval's, named in its task YAML) checks them itself
    own_check = getattr(kind, "check_definition", None)
    for i, metric in enumerate(data["metrics"]):
        # an `evaluate:` module was checked with its metric_info when the task file was read (suite.config)
        if own_check is None and metric not in METRICS and metric not in (data.get("metric_info") or {}):
            raise SuiteInputError(path, f"metrics[{i}]", str(UnknownNameError("metric", metric, METRICS.names())))
    if kind.NEEDS_DATASET and not data.get("dataset"):
        raise SuiteInputError(path, "dataset", f"a '{data['kind']}' task needs a dataset (or `include:` of one)")
    if kind.NEEDS_GENERATOR and not data.get("generator"):
        raise SuiteInputError(path, "generator", f"a '{data['kind']}' task needs a generator section")
    if not kind.NEEDS_GENERATOR and data.get("generator"):
        raise SuiteInputError(path, "generator", f"a '{data['kind']}' task is not generated; remove the section")
    generator = data.get("generator")
    if generator and generator["name"] not in GENERATORS:
        raise SuiteInputError(
            path, "generator.name", str(UnknownNameError("generator", generator["name"], GENERATORS.names()))
        )
    if own_check is not None:
        own_check(data, path)


def check_data(cfg: SuiteConfig) -> None:
    """Load or generate every task's data (sha256, fields, labels, templates), so bad input fails at workflow load.

    A task checked before, with the same definition and data files of the same path, size and mtime, is not read
    again (provenance.load_cache): every job still verifies the sha256 of what it reads."""
    for task in cfg.tasks:
        _checked(cfg, task, "all", lambda task=task: load_task_data(task, cfg.data_mirror, cfg.data_cache))
    if cfg.train_task is not None and cfg.teacher.finetune is not None:
        split = cfg.teacher.finetune.split
        _checked(cfg, cfg.train_task, split, lambda: load_split(cfg.train_task, split, cfg.data_mirror, cfg.data_cache))


def _checked(cfg: SuiteConfig, task: TaskSpec, split: str, check: Callable[[], Any]) -> None:
    files = [*(task.dataset.files.values() if task.dataset else ()), *task.data_files.values()]
    key = {
        "task": cfg.raw["tasks"][task.name]["definition"] if task.name in cfg.raw["tasks"] else task.name,
        "split": split,
        "mirror": cfg.data_mirror,
        "files": [file_stamp(Path(cfg.data_mirror) / f.path) for f in files] if cfg.data_mirror else [],
    }

    def passed() -> bool:
        check()  # raises SuiteInputError on bad data: nothing is remembered then
        return True

    load_cache("task-data-checked", key, passed)


# --- entries ------------------------------------------------------------------------------------------------------


def recipe_check(family: ModelFamily, arch: dict[str, int] | None) -> entries.RecipeCheck:
    """The check of an entry's built-in recipe: a known method of the family that starts from the teacher, with
    parameters that fit the teacher's architecture `arch`."""

    def check_recipe(method_name: str, params: Mapping[str, Any]) -> list[EntryProblem]:
        known = [m for m in METHODS.names() if m != entries.IMPORT_METHOD]
        if method_name not in known:
            return [
                EntryProblem(
                    "model.recipe.method",
                    str(UnknownNameError("method", method_name, known)),
                    "`suite methods` lists the built-in methods; submit weights under model.local or model.hub instead",
                )
            ]
        method = METHODS.get(method_name)
        if family.FULL_PRECISION_FORMAT not in method.INPUT_FORMATS or family.NAME not in method.FAMILIES:
            return [
                EntryProblem(
                    "model.recipe.method",
                    f"method '{method_name}' cannot start from the teacher (it accepts {sorted(method.INPUT_FORMATS)})",
                    "choose a method that applies to an FP32 model",
                )
            ]
        try:
            method().check(method.parse_params(dict(params)), arch)
        except ValueError as exc:
            name, _, problem = str(exc).partition(": ")
            return [
                EntryProblem(f"model.recipe.params.{name}", problem or str(exc), "`suite methods` lists the parameters")
            ]
        return []

    return check_recipe


def entry_context(
    validated: Mapping[str, Any],
    root: Path = REPO_ROOT,
    family: ModelFamily | None = None,
    arch: dict[str, int] | None = None,
) -> EntryContext:
    """What community entries are checked against, from a config validated against config/schema.yaml (defaults
    filled). `family` and the teacher's `arch` are read from it unless the caller already has them."""
    source = source_spec(validated["teacher"]["source"])
    if family is None:
        family = model_family(validated["family"], "config")
        arch = family.teacher_arch(source)
    return EntryContext(
        teacher_id=validated["teacher"]["id"],
        tasks=tuple(validated["tasks"]),
        variant_ids=frozenset(v["id"] for v in validated.get("variants") or []),
        check_recipe=recipe_check(family, arch),
        max_weights_mb=float(validated["entries"]["max_weights_mb"]),
        root=root,
        teacher_vocab_size=family.teacher_vocab_size(source),
    )


# --- variants -----------------------------------------------------------------------------------------------------


def check_variants(
    variants: tuple[VariantSpec, ...], label: str, arch: dict[str, int] | None, family: ModelFamily
) -> None:
    """Ids, methods, parameters, lineage and formats of every variant (the config's and the entries'), at load."""
    ids = [v.id for v in variants]
    for i, v in enumerate(variants):
        where = f"variants[{i}]"
        if v.id == TEACHER:
            raise SuiteInputError(label, f"{where}.id", "'teacher' is reserved for the teacher", "rename the variant")
        if ids.count(v.id) > 1:
            raise SuiteInputError(
                label, f"{where}.id", f"duplicate variant id '{v.id}'", "give each variant a unique id"
            )
        try:
            method = METHODS.get(v.method)
        except UnknownNameError as exc:
            raise SuiteInputError(
                label, f"{where}.method", f"variant '{v.id}': {exc}", "`suite methods` lists the methods"
            ) from None
        if family.NAME not in method.FAMILIES:
            raise SuiteInputError(
                label,
                f"{where}.method",
                f"variant '{v.id}': method '{v.method}' applies to {sorted(method.FAMILIES)} models, "
                f"not the run's '{family.NAME}' family",
                "`suite methods` lists the methods of each family",
            )
        try:
            method.parse_params(v.params)
        except ValueError as exc:
            field, _, problem = str(exc).partition(": ")
            raise SuiteInputError(label, f"{where}.params.{field}", f"variant '{v.id}': {problem}") from None
        if v.parent != TEACHER and v.parent not in ids:
            raise SuiteInputError(
                label,
                f"{where}.parent",
                f"variant '{v.id}': parent '{v.parent}' is neither 'teacher' nor a variant",
                "name an existing variant as parent",
            )
    by_id = {s.id: s for s in variants}
    for i, spec in enumerate(variants):
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
    for i, spec in enumerate(variants):
        method = METHODS.get(spec.method)
        parent_format = output_format(spec.parent, by_id, family)
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

    for i, spec in enumerate(variants):
        method = METHODS.get(spec.method)()
        try:
            method.check(method.parse_params(spec.params), arch_of(spec.parent))
        except ValueError as exc:
            field, _, problem = str(exc).partition(": ")
            raise SuiteInputError(
                label, f"variants[{i}].params.{field}", f"variant '{spec.id}': {problem}", "see `suite methods`"
            ) from None


def output_format(variant_id: str, by_id: Mapping[str, VariantSpec], family: ModelFamily) -> str:
    """The artefact format a variant is saved in: the family's full-precision format for the teacher."""
    if variant_id == TEACHER:
        return family.FULL_PRECISION_FORMAT
    return METHODS.get(by_id[variant_id].method).OUTPUT_FORMAT


def check_device(cfg: SuiteConfig, family: ModelFamily) -> None:
    """device: cuda allows no variant whose kernels exist on CPU only. Whether a GPU is there is checked by each job
    on the host that runs it (pipeline._torch_setup), not here: the workflow loads on a login node without one."""
    if cfg.device == "cpu":
        return
    by_id = {v.id: v for v in cfg.variants}
    for i, spec in enumerate(cfg.variants):
        fmt = output_format(spec.id, by_id, family)
        if fmt in CPU_ONLY_FORMATS:
            raise SuiteInputError(
                cfg.label,
                f"variants[{i}].method",
                f"variant '{spec.id}' ({spec.method}) cannot run on {cfg.device}: {CPU_ONLY_FORMATS[fmt]}",
                "set device: cpu, or remove the variant from this run",
            )
