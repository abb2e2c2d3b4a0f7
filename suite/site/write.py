"""Writing the site: render_site, the Jinja environment, the files of a render, and releases."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pyarrow.csv as pa_csv

from suite import entries, figures
from suite.errors import SuiteInputError
from suite.rank import self_reported_parquet
from suite.results import atomic_write, read_results
from suite.site.data import (
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
from suite.site.schema import load_schema

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
    schema_path: Path,
    templates_dir: Path | None = None,
    static_dir: Path | None = None,
    resolved: Path | None = None,
    release: str | None = None,
    resamples: int = 1000,
) -> Path:
    """Render the site from the results Parquet into out_dir (or out_dir/releases/NAME); returns its index.html.

    Pages: index.html (leaderboard, Pareto front, recommendations, scorecard summary, figures), recommendations.html,
    scorecard.html, variants/<variant>.html, tasks/<task>-v<version>.html, figures/*.svg, downloads/ (the Parquet
    and a CSV). Every page inlines its stylesheet and script: the site needs no server and no network. `resolved` is
    the workflow's resolved config JSON: SLA targets, recipes and task definitions come from it when given.
    """
    schema_path = Path(schema_path)
    source = Path(leaderboard_parquet)
    templates_dir = Path(templates_dir) if templates_dir else schema_path.parent / "templates"
    static_dir = Path(static_dir) if static_dir else schema_path.parent / "static"
    schema = load_schema(schema_path)
    for name in ("style.css", "site.js"):
        if not (static_dir / name).is_file():
            raise SuiteInputError(str(static_dir), None, f"has no {name}, which every page inlines", "restore it")
    if release is not None and not RELEASE_NAME.match(release):
        raise SuiteInputError(
            None, "--release", f"{release!r} is not a release name", "use letters, digits, '.', '_' and '-' only"
        )
    resolved_config, sla = read_resolved_config(resolved) if resolved else (None, None)
    seed = int((resolved_config or {}).get("config", {}).get("seed", 42))
    table = read_results([source])
    data = _collect(read_records(table), schema, source, sla, resolved_config, resamples, seed)

    recs = main_recommendations(data)
    cards = main_scorecards(data)
    overview_figures = [
        figures.overview(g, data.pareto_of(g), f"overview-{slug(g.hardware, set())}.svg") for g in data.main_groups()
    ]
    taken: set[str] = set()
    scatter = {
        (g.task, g.task_version, g.hardware): figures.accuracy_latency(
            g, data.pareto_of(g), f"accuracy-latency-{slug(f'{g.task}-v{g.task_version}-{g.hardware}', taken)}.svg"
        )
        for g in data.groups
    }

    env = _environment(templates_dir)
    common = {
        "site_title": schema.title,
        "stylesheet": _inline(static_dir / "style.css", "style"),
        "script": _inline(static_dir / "site.js", "script"),
        "source": source.name,
        "release": release,
        "labels": schema.labels,
    }
    site_dir = Path(out_dir) / "releases" / release if release else Path(out_dir)
    files: dict[str, bytes] = {}

    def page(path: str, template: str, context: dict[str, Any]) -> None:
        root = "../" * path.count("/")
        html = env.get_template(template).render({**common, **context, "root": root})
        files[path] = html.encode("utf-8")

    index = _index_context(data, recs, cards, overview_figures, scatter, release)
    index["has_releases"] = (Path(out_dir) / "releases" / "index.html").is_file() or release is not None
    page("index.html", "index.html.j2", index)
    page("recommendations.html", "recommendations.html.j2", _recommendations_page(data, recs))
    page("scorecard.html", "scorecard.html.j2", _scorecard_page(data, cards))
    card_of = _cards_by_variant(cards)
    for variant in data.variants:
        page(data.variant_pages[variant], "variant.html.j2", _variant_context(data, variant, recs, card_of))
    for (task, version), path in data.task_pages.items():
        page(path, "task.html.j2", _task_context(data, task, version, scatter))
    for figure in [*overview_figures, *scatter.values()]:
        files[f"figures/{figure.name}"] = figure.svg.encode("utf-8")
    files["downloads/" + source.name] = source.read_bytes()
    csv_buffer = io.BytesIO()
    pa_csv.write_csv(table, csv_buffer)
    files["downloads/" + source.with_suffix(".csv").name] = csv_buffer.getvalue()
    units = {name: fmt.unit for name, fmt in schema.metrics.items()}
    self_reported = self_reported_parquet(entries.accepted(data.resolved), data.index, data.task_versions, units)
    if self_reported is not None:
        files[f"downloads/{SELF_REPORTED_FILE}"] = self_reported
    if release:
        manifest = {
            "release": release,
            "source": source.name,
            "source_sha256": hashlib.sha256(files["downloads/" + source.name]).hexdigest(),
            "variants": len(data.variants),
            "tasks": [_where(t, v) for t, v in data.task_versions],
            "rendered_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        files["release.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()

    for path, content in files.items():
        atomic_write(site_dir / path, lambda tmp, content=content: Path(tmp).write_bytes(content))
    # Pages of variants or tasks that are gone would otherwise linger and be linked from nowhere.
    for directory in MANAGED:
        for stale in (site_dir / directory).glob("*"):
            if stale.is_file() and f"{directory}/{stale.name}" not in files:
                stale.unlink()
    if release:
        _write_release_index(Path(out_dir) / "releases", env, common)
    return site_dir / "index.html"


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
    context = {**common, "release": None, "root": "../", "title": f"Releases · {common['site_title']}"}
    html = env.get_template("releases.html.j2").render({**context, "releases": releases})
    atomic_write(releases_dir / "index.html", lambda tmp: Path(tmp).write_text(html, encoding="utf-8"))
