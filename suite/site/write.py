"""Writing the site: render_site, the Jinja environment, the files of a render, and releases."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from suite import entries, figures
from suite.errors import SuiteInputError
from suite.rank import SlaTargets, self_reported_parquet
from suite.results import atomic_write, read_results
from suite.site.data import (
    SiteData,
    _collect,
    main_recommendations,
    main_scorecards,
    read_records,
    read_resolved_config,
    slug,
)
from suite.site.formatting import EM_DASH, NOT_MEASURED, _where
from suite.site.pages import (
    _cards_by_variant,
    _index_context,
    _recommendations_page,
    _scorecard_page,
    _task_context,
    _variant_context,
)
from suite.site.schema import LeaderboardSchema, load_schema
from suite.text import visible

RELEASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MANAGED = ("variants", "tasks", "figures", "downloads")  # directories render owns and prunes of stale files
SELF_REPORTED_FILE = "self_reported.parquet"  # community entries' own numbers (`verified` false), a site download


class _Environment(jinja2.Environment):
    """Jinja, with `row.name` on a context dict looking up the key first.

    Jinja tries the attribute first, and a dict has none, so every `row.name` raised and caught an AttributeError:
    2.5× slower, and the 1 000-variant site makes half a million lookups. A key now shadows a dict method of the
    same name (`d.items` is the key "items" when there is one); the templates call no dict methods.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def _environment(templates_dir: Path) -> jinja2.Environment:
    env = _Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=True,  # variant names and error texts come from results files: never trusted as markup
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # and every string shown has its invisible or reordering characters (NUL, U+202E, ...) written out visibly;
        # markup the suite made itself (Markup) and the template's own text are left alone
        finalize=lambda value: visible(value, keep="\t\n\r") if type(value) is str else value,
    )
    return env


def _inline(path: Path, tag: str) -> str:
    text = path.read_text("utf-8")
    # Inlined unescaped (it is our own file), so it must not be able to close its <style>/<script> element.
    if "</" in text:
        raise SuiteInputError(str(path), None, "contains '</'", f"remove it: the file is inlined in a <{tag}>")
    return text


@contextlib.contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """Pause Python's cycle collector: a render keeps 100 000 rows and their objects alive while it allocates
    millions of short-lived ones, and each full collection walks them all (about 1 s of a 7 s render of 1 000
    variants). A render leaves a few hundred objects in cycles, collected once it is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@_cycle_collection_paused()
def render_site(
    leaderboard_parquet: Path,
    out_dir: Path,
    schema_path: Path | Sequence[Path],
    templates_dir: Path | None = None,
    static_dir: Path | None = None,
    resolved: Path | Sequence[Path] | None = None,
    release: str | None = None,
    resamples: int = 1000,
) -> Path:
    """Render the site from the results Parquet into out_dir (or out_dir/releases/NAME); returns its index.html.

    One section per model family, each described by its own display schema (`schema_path`: one path, or one per
    family, each naming its `family`): the first family's section is the site's root, every other one lives in
    <family>/; a family's variants are never ranked against another's. Pages of a section: index.html
    (leaderboard, Pareto front, recommendations, scorecard summary, figures), recommendations.html, scorecard.html,
    variants/<variant>.html, tasks/<task>-v<version>.html, figures/*.svg; downloads/ (the Parquet and a CSV) is
    shared. Every page inlines its stylesheet and script: the site needs no server and no network. `resolved`: the
    workflow's resolved config JSON of each family (its config.family says which): SLA targets, recipes and task
    definitions come from it when given.
    """
    schema_paths = [Path(schema_path)] if isinstance(schema_path, str | Path) else [Path(p) for p in schema_path]
    if not schema_paths:
        raise SuiteInputError(None, "--schema", "names no display schema", "pass leaderboard/schema.yaml")
    source = Path(leaderboard_parquet)
    templates_dir = Path(templates_dir) if templates_dir else schema_paths[0].parent / "templates"
    static_dir = Path(static_dir) if static_dir else schema_paths[0].parent / "static"
    schemas = _family_schemas(schema_paths)
    for name in ("style.css", "site.js"):
        if not (static_dir / name).is_file():
            raise SuiteInputError(str(static_dir), None, f"has no {name}, which every page inlines", "restore it")
    if release is not None and not RELEASE_NAME.match(release):
        raise SuiteInputError(
            None, "--release", f"{release!r} is not a release name", "use letters, digits, '.', '_' and '-' only"
        )
    configs = _family_configs(resolved, schemas)
    table = read_results([source])
    by_family = _records_by_family(read_records(table), schemas, source)

    env = _environment(templates_dir)
    stylesheet = _inline(static_dir / "style.css", "style")
    script = _inline(static_dir / "site.js", "script")
    site_dir = Path(out_dir) / "releases" / release if release else Path(out_dir)
    has_releases = (Path(out_dir) / "releases" / "index.html").is_file() or release is not None
    # (family, its name in the navigation, its directory): the first family's section is the site's root.
    nav = [
        (family, schema.section, "" if i == 0 else f"{family}/") for i, (family, schema) in enumerate(schemas.items())
    ]
    prefixes = {family: prefix for family, _, prefix in nav}
    files: dict[str, bytes] = {}
    sections = []
    for family, schema in schemas.items():
        resolved_config, sla = configs.get(family, (None, None))
        seed = int((resolved_config or {}).get("config", {}).get("seed", 42))
        data = _collect(by_family.get(family, []), schema, source, sla, resolved_config, resamples, seed)
        sections.append(data)
        _render_section(
            data,
            nav,
            env,
            {"stylesheet": stylesheet, "script": script, "source": source.name, "release": release},
            has_releases,
            release,
            files,
        )
    files["downloads/" + source.name] = source.read_bytes()
    csv_buffer = io.BytesIO()
    pa_csv.write_csv(table, csv_buffer)
    files["downloads/" + source.with_suffix(".csv").name] = csv_buffer.getvalue()
    reported = []
    for data in sections:
        units = {name: fmt.unit for name, fmt in data.schema.metrics.items()}
        one = self_reported_parquet(entries.accepted(data.resolved), data.index, data.task_versions, units)
        if one is not None:
            reported.append(pq.read_table(io.BytesIO(one)))
    if reported:
        buffer = io.BytesIO()
        pq.write_table(pa.concat_tables(reported), buffer)
        files[f"downloads/{SELF_REPORTED_FILE}"] = buffer.getvalue()
    if release:
        manifest = {
            "release": release,
            "source": source.name,
            "source_sha256": hashlib.sha256(files["downloads/" + source.name]).hexdigest(),
            "variants": sum(len(data.variants) for data in sections),
            "tasks": [_where(t, v) for data in sections for t, v in data.task_versions],
            "rendered_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        files["release.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()

    for path, content in files.items():
        atomic_write(site_dir / path, lambda tmp, content=content: Path(tmp).write_bytes(content))
    # Pages of variants or tasks that are gone would otherwise linger and be linked from nowhere.
    for prefix in prefixes.values():
        for directory in MANAGED:
            for stale in (site_dir / prefix / directory).glob("*"):
                if stale.is_file() and f"{prefix}{directory}/{stale.name}" not in files:
                    stale.unlink()
    if release:
        first = next(iter(schemas.values()))
        common = {
            "stylesheet": stylesheet,
            "script": script,
            "source": source.name,
            "release": release,
            "site_title": first.title,
            "labels": first.labels,
            "sections": [],
        }
        _write_release_index(Path(out_dir) / "releases", env, common)
    return site_dir / "index.html"


def _family_schemas(paths: Sequence[Path]) -> dict[str, LeaderboardSchema]:
    """The display schemas by family, in the order given; two for one family are refused."""
    schemas: dict[str, LeaderboardSchema] = {}
    for path in paths:
        schema = load_schema(path)
        if schema.family in schemas:
            raise SuiteInputError(
                str(path),
                "family",
                f"is {schema.family!r}, as in {schemas[schema.family].path}",
                "pass one display schema per model family",
            )
        schemas[schema.family] = schema
    return schemas


def _family_configs(
    resolved: Path | Sequence[Path] | None, schemas: Mapping[str, LeaderboardSchema]
) -> dict[str, tuple[dict[str, Any], SlaTargets]]:
    """Each family's resolved config and SLA targets, by the family its config names (classifier when none)."""
    if resolved is None:
        return {}
    paths = [Path(resolved)] if isinstance(resolved, str | Path) else [Path(p) for p in resolved]
    configs: dict[str, tuple[dict[str, Any], SlaTargets]] = {}
    for path in paths:
        config, sla = read_resolved_config(path)
        family = str(config["config"].get("family") or "classifier")
        if family in configs:
            raise SuiteInputError(
                str(path), "config.family", f"is {family!r}, as in another --resolved", "pass one per model family"
            )
        if family not in schemas:
            raise SuiteInputError(
                str(path),
                "config.family",
                f"is {family!r}, but no display schema describes that family ({sorted(schemas)})",
                f"pass --schema with a display schema whose `family:` is {family}",
            )
        configs[family] = (config, sla)
    return configs


def _records_by_family(
    records: list[dict[str, Any]], schemas: Mapping[str, LeaderboardSchema], source: Path
) -> dict[str, list[dict[str, Any]]]:
    """The rows of each family (a null family: classifier, as every row before results schema v4)."""
    by_family: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_family.setdefault(record.get("family") or "classifier", []).append(record)
    missing = sorted(set(by_family) - set(schemas))
    if missing:
        raise SuiteInputError(
            str(source),
            "family",
            f"has rows of {missing} but no display schema describes that family (given: {sorted(schemas)})",
            "pass one --schema per family, e.g. --schema leaderboard/schema.yaml --schema leaderboard/llm.schema.yaml",
        )
    return by_family


def _render_section(
    data: SiteData,
    nav: Sequence[tuple[str, str, str]],
    env: jinja2.Environment,
    shared: Mapping[str, Any],
    has_releases: bool,
    release: str | None,
    files: dict[str, bytes],
) -> None:
    """One family's pages and figures into `files`, under its prefix ('' for the first family, else <family>/)."""
    schema = data.schema
    prefix = next(p for family, _, p in nav if family == schema.family)
    recs = main_recommendations(data)
    cards = main_scorecards(data)
    fm = data.rank_metrics
    overview_figures = [
        figures.overview(
            g, data.pareto_of(g), f"overview-{slug(g.hardware, set())}.svg", fm, data.hardware_label(g.hardware)
        )
        for g in data.main_groups()
        if schema.family == "classifier" or figures.has_overview(g, fm)
    ]
    taken: set[str] = set()
    scatter = {}
    for g in data.groups:
        quality = fm.quality if schema.family == "classifier" else data.ranking_metric(g.task, g.task_version)
        if schema.family != "classifier" and not (quality and data.maximize(quality)):
            continue  # a quality where lower is better (perplexity) has no accuracy-style scatter
        fmt = schema.metrics.get(quality)
        label = None if schema.family == "classifier" else (fmt.header if fmt else quality)
        name = f"accuracy-latency-{slug(f'{g.task}-v{g.task_version}-{g.hardware}', taken)}.svg"
        scatter[(g.task, g.task_version, g.hardware)] = figures.accuracy_latency(
            g, data.pareto_of(g), name, fm, quality, label, data.hardware_label(g.hardware)
        )
    common = {
        **shared,
        "site_title": schema.title,
        "labels": schema.labels,
        "teacher_label": schema.teacher_label,
    }

    def page(path: str, template: str, context: dict[str, Any]) -> None:
        full = prefix + path
        root = "../" * full.count("/")
        home = "../" * path.count("/")
        sections = [
            {"label": label, "href": f"{root}{p}index.html", "current": family == schema.family}
            for family, label, p in nav
        ]
        html = env.get_template(template).render(
            {**common, **context, "root": root, "home": home, "sections": sections if len(sections) > 1 else []}
        )
        files[full] = html.encode("utf-8")

    index = _index_context(data, recs, cards, overview_figures, scatter, release)
    index["has_releases"] = has_releases
    page("index.html", "index.html.j2", index)
    page("recommendations.html", "recommendations.html.j2", _recommendations_page(data, recs))
    page("scorecard.html", "scorecard.html.j2", _scorecard_page(data, cards))
    card_of = _cards_by_variant(cards)
    for variant in data.variants:
        page(data.variant_pages[variant], "variant.html.j2", _variant_context(data, variant, recs, card_of))
    for (task, version), path in data.task_pages.items():
        page(path, "task.html.j2", _task_context(data, task, version, scatter))
    for figure in [*overview_figures, *scatter.values()]:
        files[f"{prefix}figures/{figure.name}"] = figure.svg.encode("utf-8")


def _write_release_index(releases_dir: Path, env: jinja2.Environment, common: dict[str, Any]) -> None:
    releases = []
    for manifest_path in sorted(releases_dir.glob("*/release.json")):
        try:
            manifest = json.loads(manifest_path.read_text("utf-8"))
        except (OSError, json.JSONDecodeError):
            manifest = {"release": manifest_path.parent.name, "broken": True}
        releases.append(
            {
                "name": manifest_path.parent.name,
                "href": f"{manifest_path.parent.name}/index.html",
                "rendered": manifest.get("rendered_utc", NOT_MEASURED),
                "variants": manifest.get("variants", EM_DASH),
                "tasks": ", ".join(manifest.get("tasks", [])),
                "sha256": manifest.get("source_sha256", NOT_MEASURED),
            }
        )
    releases.sort(key=lambda r: r["rendered"], reverse=True)
    # The nav's links lead to the main site, one level up.
    context = {**common, "release": None, "root": "../", "home": "../", "title": f"Releases · {common['site_title']}"}
    html = env.get_template("releases.html.j2").render({**context, "releases": releases})
    atomic_write(releases_dir / "index.html", lambda tmp: Path(tmp).write_text(html, encoding="utf-8"))
