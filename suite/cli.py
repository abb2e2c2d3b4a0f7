"""The `suite` command: one verb per workflow step, plus checks and listings for people."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from suite.errors import SuiteInputError, exception_line


def _config(args: argparse.Namespace):
    """The typed config: a job reads the resolved config the plan wrote; a person's command plans the YAML anew."""
    if args.resolved:
        from suite.config import planned_config_hash, read_resolved

        cfg = read_resolved(args.resolved)
        expected = planned_config_hash(cfg.family)
        if expected and cfg.config_hash != expected:
            raise SuiteInputError(
                args.resolved,
                "config_hash",
                f"is {cfg.config_hash}, but this job was planned with config {expected}: another load of the workflow "
                "rewrote the file after this run started",
                "run snakemake again (one run per results directory at a time)",
            )
        return cfg
    from suite.plan import load_file

    return load_file(args.config)


def _add_config(p: argparse.ArgumentParser, default: str = "config/classifier.yaml") -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--config", default=default, help="config file of one track (default: %(default)s)")
    group.add_argument("--resolved", help="resolved config JSON written by the workflow (used by the rules)")


def cmd_check_config(args: argparse.Namespace) -> int:
    if args.resolved:
        tracks = {"": _config(args)}
    else:
        from suite.plan import load_tracks
        from suite.yamlio import read_yaml

        tracks = load_tracks(read_yaml(Path(args.config)), label=args.config)
    for cfg in tracks.values():
        print(
            f"OK: {cfg.label} ({cfg.family}): teacher '{cfg.teacher.id}', {len(cfg.variants)} variants, "
            f"tasks {[t.name for t in cfg.tasks]}"
        )
        for skip in cfg.raw.get("skipped") or []:
            print(f"  not built here: variant '{skip['id']}' ({skip['method']}): {skip['reason']}")
        print(f"config hash {cfg.config_hash}")
    return 0


def cmd_combine(args: argparse.Namespace) -> int:
    from suite.pipeline import combine

    combine([Path(p) for p in args.input], Path(args.output))
    return 0


def cmd_resolve_config(args: argparse.Namespace) -> int:
    from suite.config import write_resolved

    write_resolved(_config(args), Path(args.output))
    return 0


def cmd_build_teacher(args: argparse.Namespace) -> int:
    from suite.pipeline import build_teacher

    record = build_teacher(_config(args), Path(args.output))
    print(f"teacher artefact {record['artefact_sha256']} -> {args.output}")
    return 0


def cmd_teacher_logits(args: argparse.Namespace) -> int:
    from suite.pipeline import compute_teacher_logits

    compute_teacher_logits(_config(args), Path(args.teacher), Path(args.output))
    print(f"teacher logits -> {args.output}")
    return 0


def cmd_build_variant(args: argparse.Namespace) -> int:
    from suite.pipeline import build_variant

    logits = Path(args.teacher_logits) if args.teacher_logits else None
    record = build_variant(_config(args), args.variant, Path(args.parent), Path(args.output), logits)
    print(f"variant {args.variant} artefact {record['artefact_sha256']} -> {args.output}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from suite.pipeline import evaluate

    evaluate(_config(args), args.variant, Path(args.model), Path(args.predictions), Path(args.metrics))
    return 0


def cmd_measure(args: argparse.Namespace) -> int:
    from suite.pipeline import measure

    reference = Path(args.reference) if args.reference else None
    measure(_config(args), args.variant, Path(args.model), Path(args.peak), Path(args.output), reference)
    return 0


def cmd_record_failure(args: argparse.Namespace) -> int:
    from suite.pipeline import failure_reason, record_failure

    reason = failure_reason(Path(args.log), args.exit_status)
    record_failure(
        _config(args),
        args.stage,
        args.variant,
        reason,
        output=Path(args.output) if args.output else None,
        metrics=Path(args.metrics) if args.metrics else None,
        predictions=Path(args.predictions) if args.predictions else None,
        model=Path(args.model) if args.model else None,
    )
    return 0


def cmd_run_status(args: argparse.Namespace) -> int:
    from suite.summary import run_status

    text, failed = run_status(Path(args.input), [Path(r) for r in args.resolved or []])
    print(text)
    return 1 if failed else 0


def cmd_probe_peak(args: argparse.Namespace) -> int:
    from suite.pipeline import probe_peak

    probe_peak(_config(args), Path(args.output))
    return 0


def cmd_gather(args: argparse.Namespace) -> int:
    from suite.pipeline import gather

    gather(_config(args), [Path(p) for p in args.metrics], [Path(p) for p in args.predictions], Path(args.output))
    return 0


DISPLAY_SCHEMA_FILE = "leaderboard/schema.yaml"  # the classifier's display schema, the default of render and recommend


def cmd_render(args: argparse.Namespace) -> int:
    from suite.site import render_site

    index = render_site(
        Path(args.input),
        Path(args.output),
        [Path(s) for s in args.schema or [DISPLAY_SCHEMA_FILE]],
        resolved=[Path(r) for r in args.resolved] if args.resolved else None,
        release=args.release,
    )
    print(f"site -> {index}")
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    import json

    from suite.rank import build_groups, family_metrics, find_group, mean_rows, parse_tolerance, read_records, recommend

    task, schema = args.task, None
    if task is None:  # the leaderboard's main task, so the CLI and the site answer the same question
        from suite.site import load_schema

        schema = load_schema(Path(args.schema))
        task = schema.main_task
    family = args.family or (schema.family if schema else "classifier")
    # One family's rows only: both families have a teacher, and their variants are never ranked together.
    records = [r for r in read_records(args.input) if (r["family"] or "classifier") == family]
    if schema is not None and schema.mean_of:  # the llm's mean accuracy, derived as the site derives it
        records += mean_rows(records, schema.mean_of, schema.main_task, schema.main_metric)
    group = find_group(build_groups(records), task, args.task_version, args.hardware, args.input)
    rec = recommend(
        group,
        args.priority,
        parse_tolerance(args.tolerance),
        args.max_p99_ms,
        args.max_peak_mb,
        family_metrics(family),
    )
    print(json.dumps(rec.to_json(), indent=2, ensure_ascii=False) if args.json else rec.to_text())
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    """The Markdown table of one task, the display schema's main task unless --task names another."""
    from suite.summary import markdown_table

    task, how = args.task, "given by --task"
    if task is None:  # the leaderboard's main task, as `recommend` and the site take it
        from suite.site import load_schema

        task, how = load_schema(Path(args.schema)).main_task, f"the main task of {args.schema}; --task picks another"
    table = markdown_table(Path(args.input), task)  # an unknown task: one error line with "did you mean"
    print(f"Task `{task}` ({how}), from {args.input}:\n")
    print(table)
    return 0


def cmd_quick(args: argparse.Namespace) -> int:
    """One model against the built teacher, in one process: a table, or with --json every figure and row."""
    import json

    from suite.plan import load_file
    from suite.quick import print_summary, run_quick

    summary = run_quick(
        load_file(args.config),
        args.model,
        tasks=args.tasks,
        results=Path(args.results),
        sha256=args.sha256,
        device=args.device,
    )
    print(json.dumps(summary, indent=2, allow_nan=False) if args.json else print_summary(summary))
    return 0


def _track_config(path: str | Path, label: str | None = None) -> dict:
    """One track's config file, validated against config/schema.yaml (defaults filled), not planned."""
    from suite.yamlio import REPO_ROOT, read_yaml, validate

    return validate(read_yaml(Path(path)), REPO_ROOT / "config" / "schema.yaml", label or str(path))


def cmd_check_entry(args: argparse.Namespace) -> int:
    """PASS or FAIL per entry with every reason; exit 1 when any entry fails. Nothing of an entry is executed."""
    return check_entry_files([Path(f) for f in args.files], _track_config(args.config))


def check_entry_files(files: list[Path], validated: dict) -> int:
    """What `check-entry` prints and its exit status (also the last step of `new-entry`)."""
    from suite.entries import check_entries, entries_dir, entry_files
    from suite.plan import entry_context
    from suite.yamlio import REPO_ROOT

    directory = entries_dir(validated, REPO_ROOT)
    others = entry_files(directory) if directory is not None and directory.is_dir() else []
    results, _ = check_entries(files, entry_context(validated, REPO_ROOT), others)
    for result in results:
        verdict = "PASS" if result.passed else "FAIL"
        print(f"{verdict} {result.file} ({result.id or 'no id'}): {result.summary()}")
        for reason in result.reasons():
            print(f"  - {reason}")
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_new_entry(args: argparse.Namespace) -> int:
    """Write a community entry for a local model directory, then check it exactly as `check-entry` does."""
    from suite.entries import (
        ID_PATTERN,
        PLACEHOLDER_MARK,
        PLACEHOLDERS,
        entries_dir,
        entry_id_from,
        entry_yaml,
        new_entry,
    )
    from suite.results import atomic_write
    from suite.yamlio import REPO_ROOT

    directory = Path(args.directory)
    if not directory.is_dir():
        problem = "is not a directory" if directory.exists() else "not found"
        raise SuiteInputError(
            args.directory, None, problem, "give the directory holding config.json and model.safetensors"
        )
    entry_id = args.id or entry_id_from(directory.resolve().name)
    if not ID_PATTERN.match(entry_id) or len(entry_id) > 64:
        raise SuiteInputError(
            None if args.id else args.directory,
            "--id",
            f"{entry_id!r} is not an entry id: lower-case letters, digits and '-', at most 64, starting with a letter "
            "or digit",
            "pass --id, e.g. --id my-model-int8",
        )
    validated = _track_config(args.config)
    if args.out:
        out = Path(args.out)
    else:
        directory_of_entries = entries_dir(validated, REPO_ROOT)
        if directory_of_entries is None:
            raise SuiteInputError(args.config, "entries.dir", "is null: there is no entries directory", "pass --out")
        out = directory_of_entries / f"{entry_id}.yaml"
    if out.exists() and not args.force:
        raise SuiteInputError(str(out), None, "exists already", "pass --force to overwrite it, or --out another file")
    text = {
        "display_name": args.display_name,
        "submitter": args.submitter,
        "licence": args.licence,
        "method_description": args.description,
    }
    entry = new_entry(
        directory,
        out,
        entry_id=entry_id,
        teacher=validated["teacher"]["id"],
        tasks=args.tasks or validated["tasks"],
        text=text,
    )
    atomic_write(out, lambda tmp: Path(tmp).write_text(entry_yaml(entry), encoding="utf-8"))
    print(f"wrote {out} (model.local.path {entry['model']['local']['path']}, sha256 of model.safetensors filled in)")
    todo = [name for name, value in text.items() if not value]
    if todo:
        options = ", ".join(PLACEHOLDERS[name][1] for name in todo)
        print(f"left as '{PLACEHOLDER_MARK} …' for you to write: {', '.join(todo)} (or pass {options})")
    return check_entry_files([out], validated)


def cmd_compare(args: argparse.Namespace) -> int:
    """Markdown report of what moved beyond the thresholds; exit 1 on a regression or a variant of OLD missing from NEW
    (unless --allow-missing), 2 on bad input."""
    from suite.compare import DEFAULT_THRESHOLDS, compare, load_thresholds, to_markdown, with_overrides

    base = load_thresholds(Path(args.thresholds)) if args.thresholds else DEFAULT_THRESHOLDS
    thresholds = with_overrides(base, args.accuracy_pts, args.latency_pct, args.size_pct, args.default_pct)
    result = compare(
        Path(args.old), Path(args.new), thresholds, use_ci=not args.ignore_ci, allow_missing=args.allow_missing
    )
    report = to_markdown(result)
    if args.output:
        from suite.results import atomic_write

        atomic_write(Path(args.output), lambda tmp: Path(tmp).write_text(report, encoding="utf-8"))
    print(report, end="")
    return result.exit_code


def cmd_methods(args: argparse.Namespace) -> int:
    import dataclasses

    from suite.compress import METHODS

    for name in METHODS:
        method = METHODS.get(name)
        fields = ", ".join(f.name for f in dataclasses.fields(method.Params))
        print(
            f"{name}: {(method.__doc__ or '').strip().splitlines()[0] if method.__doc__ else ''} params({fields}); "
            f"{sorted(method.INPUT_FORMATS)} -> {method.OUTPUT_FORMAT}; families {sorted(method.FAMILIES)}"
        )
    return 0


def cmd_families(args: argparse.Namespace) -> int:
    from suite.compress import METHODS
    from suite.families import FAMILIES
    from suite.tasks import TASK_KINDS

    for name in FAMILIES:
        family = FAMILIES.get(name)
        kinds = [k for k in TASK_KINDS if name in TASK_KINDS.get(k).FAMILIES]
        methods = [m for m in METHODS if name in METHODS.get(m).FAMILIES]
        print(f"{name}: {family.DESCRIPTION}")
        print(f"  full-precision format: {family.FULL_PRECISION_FORMAT}")
        print(f"  task kinds: {', '.join(kinds)}")
        print(f"  methods: {', '.join(methods)}")
        print(f"  measurements: {', '.join(family.MEASUREMENTS)}")
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    """Every task of tasks/ (name, version, kind, instances, data files) and the tracks of the config that run it.
    Instances are counted by loading the data (no model); a file the data mirror lacks is named, not fetched."""
    from suite.config import load_task_dict, parse_task, resolve_mirror, task_file
    from suite.data import mirror_path
    from suite.plan import TRACKS_KEY
    from suite.registry import UnknownNameError
    from suite.tasks import load_task_data
    from suite.yamlio import REPO_ROOT, read_yaml

    raw = read_yaml(Path(args.config))
    if TRACKS_KEY in raw:  # a file of tracks (config/config.yaml), each file relative to the repository
        files = raw[TRACKS_KEY]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise SuiteInputError(args.config, TRACKS_KEY, f"expected a list of config files, got {files!r}", "fix it")
        configs = [_track_config(Path(f) if Path(f).is_absolute() else REPO_ROOT / f, f) for f in files]
    else:
        configs = [_track_config(args.config)]
    tracks = {validated["family"]: validated for validated in configs}
    names = sorted(p.name for p in (REPO_ROOT / "tasks").iterdir() if task_file(REPO_ROOT, p.name).is_file())
    names += sorted({t for v in tracks.values() for t in v["tasks"]} - set(names))  # listed but missing: an error
    rows, problems, mirrors = [], [], []
    for name in names:
        listed = [family for family, v in tracks.items() if name in v["tasks"]]
        track = tracks[listed[0]] if listed else next(iter(tracks.values()))
        mirror = resolve_mirror(track["data"]["mirror"], REPO_ROOT)
        if (mirror or "none") not in mirrors:
            mirrors.append(mirror or "none")
        row = {"task": name, "version": "", "kind": "", "tracks": ", ".join(listed) or "-"}
        try:
            definition, includes = load_task_dict(REPO_ROOT, name, args.config, "tasks")
            task = parse_task(definition, str(task_file(REPO_ROOT, name).relative_to(REPO_ROOT)), includes)
            row.update(version=task.version, kind=task.kind)
            wanted = _task_mirror_files(task)
            missing = [f for f in wanted if not mirror or not mirror_path(mirror, f, task.path, "files").is_file()]
            row["data"] = _files_text(wanted, missing, task)
            if missing:
                row["instances"] = (
                    "not counted: no data mirror" if not mirror else "not counted: file not in the mirror"
                )
            else:
                cache = str(Path(track["data"]["cache_dir"]).resolve())
                row["instances"] = f"{len(load_task_data(task, mirror, cache).texts):,}"
        except (SuiteInputError, UnknownNameError) as exc:  # a bad task file, or an unknown kind or generator
            row.setdefault("data", "")
            row["instances"] = "invalid (below)"
            problems.append(str(exc) if isinstance(exc, SuiteInputError) else f"{task_file(REPO_ROOT, name)}: {exc}")
        rows.append(row)
    columns = ("task", "version", "kind", "instances", "data", "tracks")
    widths = {c: max(len(c), *(len(r.get(c, "")) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(row.get(c, "").ljust(widths[c]) for c in columns).rstrip())
    print(f"data mirror: {', '.join(mirrors)} (data.mirror of {args.config}'s tracks; SUITE_DATA_MIRROR overrides)")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 2 if problems else 0


def _task_mirror_files(task) -> list[str]:
    """The data-mirror files a task reads (mirror-relative): its split's dataset file and its `data_files`."""
    files = [f.path for f in task.data_files.values()]
    if task.dataset is not None and task.split in task.dataset.files:
        files.insert(0, task.dataset.files[task.split].path)
    return files


def _files_text(files: list[str], missing: list[str], task) -> str:
    """The data column of `suite tasks`: mirror files (MISSING marked), a Hub-only dataset, generator files."""
    parts = [f"{f} (MISSING)" if f in missing else f for f in files]
    if len(parts) > 3:
        where = Path(files[0]).parent.as_posix()
        parts = [f"{len(files)} files in {where}/" + (f", {len(missing)} MISSING" if missing else "")]
    if task.dataset is not None and task.split not in task.dataset.files:
        parts.append(f"hub:{task.dataset.hub_id}@{task.dataset.hub_revision or 'unpinned'}")
    if task.generator is not None:
        own = [f for role, f in task.generator.files.items() if role != "lm_eval"]
        parts.append(f"generated ({task.generator.name}{': ' + ', '.join(own) if own else ''})")
    return "; ".join(parts) or "-"


def cmd_layers(args: argparse.Namespace) -> int:
    """The package's floors, bottom up, and every import that runs up a floor or closes a circle (exit 1 if any)."""
    from suite.layers import LAYERS, check

    for number, floor in enumerate(LAYERS):
        print(f"{number:2d}  {'  '.join(floor)}")
    problems = check()
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}")
    return 1 if problems else 0


def _version() -> str:
    from suite import __version__
    from suite.results import SCHEMA_VERSION

    return f"suite {__version__} (compressed-model-suite; results schema v{SCHEMA_VERSION})"


def _verb(sub: argparse._SubParsersAction, name: str, text: str) -> argparse.ArgumentParser:
    """A verb whose one-line help in `suite --help` is also the description of `suite <verb> --help`."""
    return sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")


RESULTS_HELP = "the results Parquet to read (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="suite", description=__doc__)
    parser.add_argument("--version", action="version", version=_version(), help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="VERB", title="verbs")

    # --- the workflow's steps (the rules call these) -----------------------------------------------------------
    p = _verb(sub, "check-config", "validate the config (every track it lists) and its tasks; print a summary")
    _add_config(p, "config/config.yaml")
    p.set_defaults(func=cmd_check_config)

    p = _verb(sub, "combine", "concatenate the tracks' results into one results Parquet")
    p.add_argument("--input", nargs="+", required=True, help="each track's results/<family>/leaderboard.parquet")
    p.add_argument("--output", required=True, help="the combined results Parquet to write")
    p.set_defaults(func=cmd_combine)

    p = _verb(sub, "resolve-config", "write the validated config with its task definitions as JSON")
    _add_config(p)
    p.add_argument("--output", required=True, help="the resolved config JSON to write")
    p.set_defaults(func=cmd_resolve_config)

    p = _verb(sub, "build-teacher", "load (and fine-tune) the teacher; write its artefact directory")
    _add_config(p)
    p.add_argument("--output", required=True, help="the teacher's artefact directory to write")
    p.set_defaults(func=cmd_build_teacher)

    p = _verb(sub, "teacher-logits", "the teacher's logits over its training sample (for distillation)")
    _add_config(p)
    p.add_argument("--teacher", required=True, help="the teacher's artefact directory")
    p.add_argument("--output", required=True, help="the logits Parquet to write")
    p.set_defaults(func=cmd_teacher_logits)

    p = _verb(sub, "build-variant", "apply a variant's method to its parent artefact")
    _add_config(p)
    p.add_argument("--variant", required=True, help="the variant id (config variants[].id or an entry id)")
    p.add_argument("--parent", required=True, help="the parent's artefact directory")
    p.add_argument("--teacher-logits", help="the teacher_logits artefact (methods that distil from the teacher)")
    p.add_argument("--output", required=True, help="the variant's artefact directory to write")
    p.set_defaults(func=cmd_build_variant)

    p = _verb(
        sub, "evaluate", "every task of one variant: per-instance predictions and metric rows with confidence intervals"
    )
    _add_config(p)
    p.add_argument("--variant", required=True, help="the variant id (teacher, a config variant or an entry id)")
    p.add_argument("--model", required=True, help="the variant's artefact directory")
    p.add_argument("--predictions", required=True, help="output: the predictions of all the variant's tasks")
    p.add_argument("--metrics", required=True, help="output: the metric rows of all the variant's tasks")
    p.set_defaults(func=cmd_evaluate)

    p = _verb(
        sub, "measure", "latency and throughput (paired with the reference), memory, FLOPs, operator profile, energy "
        "and size of one variant",
    )  # fmt: skip
    _add_config(p)
    p.add_argument("--variant", required=True, help="the variant id (teacher, a config variant or an entry id)")
    p.add_argument("--model", required=True, help="the variant's artefact directory")
    p.add_argument(
        "--reference",
        help="the timing reference's artefact directory (latency.reference; the variant's own for A/A): timed in the "
        "same process, in interleaved rounds; without it the variant is timed alone and its speedups fail",
    )
    p.add_argument("--peak", required=True, help="the machine's peak FLOP/s JSON (suite probe-peak)")
    p.add_argument("--output", required=True, help="the measurement rows (Parquet) to write")
    p.set_defaults(func=cmd_measure)

    p = _verb(sub, "probe-peak", "measure the machine's FP32 matmul peak once per hardware fingerprint")
    _add_config(p)
    p.add_argument("--output", required=True, help="the peak FLOP/s JSON to write")
    p.set_defaults(func=cmd_probe_peak)

    p = _verb(
        sub,
        "record-failure",
        "after a job's command failed: write its outputs as the record of the failure (the rules call this)",
    )
    p.add_argument(
        "stage",
        choices=("build", "teacher-logits", "evaluate", "measure", "probe-peak"),
        help="the kind of job that failed",
    )
    _add_config(p)
    p.add_argument("--variant", help="the variant whose job failed")
    p.add_argument("--log", required=True, help="the failed command's log: its last `error:` line is the reason")
    p.add_argument("--exit-status", type=int, required=True, help="the failed command's exit status")
    p.add_argument("--model", help="the artefact the failed job read (evaluate, measure)")
    p.add_argument("--output", help="output of build, measure, teacher-logits, probe-peak")
    p.add_argument("--metrics", help="output of evaluate: the metric rows")
    p.add_argument("--predictions", help="output of evaluate: the predictions")
    p.set_defaults(func=cmd_record_failure)

    p = _verb(sub, "gather", "all result rows plus teacher-relative figures into one Parquet")
    _add_config(p)
    p.add_argument("--metrics", nargs="+", required=True, help="the evaluate and measure jobs' metric Parquets")
    p.add_argument("--predictions", nargs="*", default=[], help="the evaluate jobs' predictions Parquets")
    p.add_argument("--output", required=True, help="the track's results Parquet to write")
    p.set_defaults(func=cmd_gather)

    p = _verb(sub, "render", "render the static leaderboard site from the Parquet results")
    p.add_argument("--input", default="results/leaderboard.parquet", help=RESULTS_HELP)
    p.add_argument("--output", default="results/site", help="the site's directory (default: %(default)s)")
    p.add_argument(
        "--schema",
        action="extend",
        nargs="+",
        help=f"display schemas (default {DISPLAY_SCHEMA_FILE}), one per model family (each names its `family:`), for "
        "results holding several families: the first family's section is the site's root, each other one is in "
        "OUTPUT/<family>/",
    )
    p.add_argument(
        "--resolved",
        action="extend",
        nargs="+",
        help="resolved config JSONs (results/<family>/config.resolved.json): SLA targets, recipes and task "
        "definitions, one per family (its config.family says which); without it the scorecard has no targets and "
        "the page says so",
    )
    p.add_argument(
        "--release", help="write a self-contained site to OUTPUT/releases/RELEASE and update OUTPUT/releases/index.html"
    )
    p.set_defaults(func=cmd_render)

    p = _verb(sub, "run-status", "what failed in a run (variants, numbers, rejected entries); exit 1 if anything did")
    p.add_argument("--input", default="results/leaderboard.parquet", help=RESULTS_HELP)
    p.add_argument("--resolved", nargs="*", help="the tracks' resolved configs (for rejected entries)")
    p.set_defaults(func=cmd_run_status)

    # --- for people: results ------------------------------------------------------------------------------------
    from suite.rank import PRIORITIES

    p = _verb(
        sub, "recommend", "which variant to ship: priority, accuracy tolerance and deadlines (reads the Parquet only)"
    )
    p.add_argument("--input", default="results/leaderboard.parquet", help=RESULTS_HELP)
    p.add_argument(
        "--priority", choices=PRIORITIES, default="balanced", help="what to optimise within the tolerance (%(default)s)"
    )
    p.add_argument(
        "--tolerance", default="1", help="max accuracy drop: points (1, 0.5pts) or %% of the teacher's accuracy (2%%)"
    )
    p.add_argument("--max-p99-ms", type=float, default=None, help="deadline: p99 latency at most this many ms")
    p.add_argument("--max-peak-mb", type=float, default=None, help="deadline: peak memory at most this many MiB")
    p.add_argument("--task", default=None, help="task (default: main_metric.task of --schema)")
    p.add_argument("--schema", default=DISPLAY_SCHEMA_FILE, help="display schema (e.g. leaderboard/llm.schema.yaml)")
    p.add_argument(
        "--family",
        default=None,
        help="model family of the rows ranked (default: the --schema's family, else classifier)",
    )
    p.add_argument("--task-version", default=None, help="task version (default: the newest in the results)")
    p.add_argument("--hardware", default=None, help="hardware fingerprint (needed when several machines measured)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_recommend)

    p = _verb(sub, "table", "print a Markdown table of one task of a results Parquet, one row per variant")
    p.add_argument("--input", default="results/leaderboard.parquet", help=RESULTS_HELP)
    p.add_argument(
        "--task", default=None, help="the task whose metrics are shown (default: main_metric.task of --schema)"
    )
    p.add_argument(
        "--schema", default=DISPLAY_SCHEMA_FILE, help="display schema whose main task is the default (%(default)s)"
    )
    p.set_defaults(func=cmd_table)

    p = _verb(sub, "compare", "regression gate: Markdown report of metrics that moved between two results Parquets")
    p.add_argument("old", metavar="OLD", help="the baseline results Parquet")
    p.add_argument("new", metavar="NEW", help="the results Parquet to check")
    p.add_argument("--thresholds", help="YAML: thresholds: [{metric: <pattern>, abs: <x> | rel_pct: <x>}, …]")
    p.add_argument("--accuracy-pts", type=float, help="largest accepted accuracy/macro-F1 move in points (0.5)")
    p.add_argument("--latency-pct", type=float, help="largest accepted latency move in %% of the old value (10)")
    p.add_argument("--size-pct", type=float, help="largest accepted size move in %% of the old value (1)")
    p.add_argument("--default-pct", type=float, help="largest accepted move of any other metric, %% (5)")
    p.add_argument(
        "--ignore-ci", action="store_true", help="count moves within overlapping confidence intervals as well"
    )
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="a variant of OLD with no row in NEW is a note, not a regression (it was dropped on purpose)",
    )
    p.add_argument("--output", help="also write the Markdown report to this file")
    p.set_defaults(func=cmd_compare)

    p = _verb(
        sub,
        "quick",
        "benchmark one model against the built teacher in one process, without Snakemake: accuracy with CIs and "
        "fidelity per task, paired latency and size",
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="a directory with config.json + model.safetensors, a Hub id pinned as owner/name@<40-hex commit> "
        "(with --sha256), or the name of a variant built under --results",
    )
    p.add_argument("--tasks", nargs="+", metavar="TASK", help="the tasks to run (default: the config's main task)")
    p.add_argument("--config", default="config/classifier.yaml", help="the track's config (%(default)s)")
    p.add_argument(
        "--results", default="results", help="the results directory whose built teacher is compared (%(default)s)"
    )
    p.add_argument("--sha256", help="sha256 of the model's model.safetensors (needed for a Hub id, checked if given)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="run both models here (default: the config's device)")
    p.add_argument("--json", action="store_true", help="print every figure and row as JSON instead of tables")
    p.set_defaults(func=cmd_quick)

    # --- for people: entries -----------------------------------------------------------------------------------
    p = _verb(
        sub, "check-entry", "check community entry files (leaderboard/entries/<id>.yaml): PASS or FAIL with reasons"
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="entry YAML files")
    p.add_argument(
        "--config",
        default="config/classifier.yaml",
        help="the config of the track the entries join: teacher, tasks, variants (%(default)s)",
    )
    p.set_defaults(func=cmd_check_entry)

    p = _verb(
        sub,
        "new-entry",
        "write a community entry for a local model directory (sha256 filled in), then check it as check-entry does",
    )
    p.add_argument("directory", metavar="DIR", help="the model directory: config.json + model.safetensors")
    p.add_argument("--id", help="the entry id and file name (default: made from DIR's name)")
    p.add_argument("--display-name", help="how the site names the model (default: a TODO placeholder)")
    p.add_argument("--submitter", help="your name and a GitHub handle or e-mail (default: a TODO placeholder)")
    p.add_argument("--licence", help="SPDX id of the weights' licence, e.g. Apache-2.0 (default: a TODO placeholder)")
    p.add_argument(
        "--description", help="method_description: how you compressed the teacher (default: a TODO placeholder)"
    )
    p.add_argument("--tasks", nargs="+", metavar="TASK", help="the tasks to run it on (default: the config's tasks)")
    p.add_argument("--out", help="the entry file to write (default: <the config's entries.dir>/<id>.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite the entry file if it exists")
    p.add_argument(
        "--config",
        default="config/classifier.yaml",
        help="the config of the track the entry joins: its teacher and tasks (%(default)s)",
    )
    p.set_defaults(func=cmd_new_entry)

    # --- for people: what the suite has ------------------------------------------------------------------------
    p = _verb(sub, "tasks", "list the tasks: version, kind, instances, data files and the tracks that run each")
    p.add_argument(
        "--config", default="config/config.yaml", help="the config whose tracks' tasks and data mirror (%(default)s)"
    )
    p.set_defaults(func=cmd_tasks)

    p = _verb(sub, "methods", "list the registered compression methods")
    p.set_defaults(func=cmd_methods)

    p = _verb(sub, "families", "list the model families with their task kinds, methods and measurements")
    p.set_defaults(func=cmd_families)

    p = _verb(sub, "layers", "check the package's import floors: no circle, no import from below to above")
    p.set_defaults(func=cmd_layers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SuiteInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the traceback for whoever debugs it, then one line the workflow records as the reason
        import traceback

        traceback.print_exc()
        print(f"error: {exception_line(exc, empty='no message')}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
