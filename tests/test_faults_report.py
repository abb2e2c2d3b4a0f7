"""Foreign files and hostile names in `suite compare` and `suite render`: safe Markdown, well-formed SVG, one-line
errors, and variants that vanish from NEW."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from suite import figures
from suite.cli import main
from suite.compare import compare, md_code, to_markdown
from suite.rank import CLASSIFIER_METRICS, build_groups, pareto, read_records
from suite.results import to_table
from suite.site import render_site
from suite.site.formatting import Cell
from suite.text import visible
from tests.test_compare import acc, results, system
from tests.test_render import SCHEMA, _leaderboard, _provenance, _system_rows, _task_rows

# NUL is not a character in XML 1.0; U+202E (right-to-left override) would show "exe.png" as "gnp.exe".
HOSTILE = "evil\x00\u202egnp.exe"
SHOWN = "evil\\u0000\\u202egnp.exe"
# A variant name that closes a one-backtick code span and then brings a link, an image and raw HTML.
BACKTICK = "x` [link](https://evil.example) ![img](https://evil.example/a.png) <img src=x onerror=alert(1)> `y"
FIX = "fix: give a results Parquet that `suite gather` or `suite combine` wrote (e.g. results/leaderboard.parquet)"


def _hostile_site(tmp_path: Path) -> Path:
    rows = _task_rows(HOSTILE, 90.0, (88.0, 92.0)) + _system_rows(HOSTILE, 5.0, 40.0)
    lineage = {"teacher": "minilm", "parent": "teacher", "method": "dynamic_quant"}
    parquet = _leaderboard(tmp_path, [to_table(rows, lineage, _provenance())])
    render_site(parquet, tmp_path / "site", SCHEMA)
    return parquet


def test_svg_figures_stay_well_formed_and_show_control_and_bidi_characters(tmp_path: Path) -> None:
    parquet = _hostile_site(tmp_path)
    svgs = sorted((tmp_path / "site" / "figures").glob("*.svg"))
    names = ["accuracy-latency-sst2-v1.0-ffffffffffffffff.svg", "overview-ffffffffffffffff.svg"]
    assert [p.name for p in svgs] == names
    for path in svgs:
        texts = "".join(ET.parse(path).getroot().itertext())  # raises ParseError on a NUL
        assert SHOWN in texts and "\x00" not in texts and "\u202e" not in texts, path.name
    # A display name (an axis label, a panel title) goes through the same helper as a variant name.
    group = next(g for g in build_groups(read_records(parquet)) if g.task == "sst2")
    front = pareto(group, resamples=20)
    metrics = dataclasses.replace(CLASSIFIER_METRICS, quality_label="acc\x00\u202euracy")
    for figure in (
        figures.overview(group, front, "overview.svg", metrics),
        figures.accuracy_latency(group, front, "scatter.svg", quality_label="acc\x00\u202euracy (%)"),
    ):
        texts = "".join(ET.fromstring(figure.svg).itertext())
        assert "acc\\u0000\\u202euracy" in texts and "\x00" not in figure.svg and "\u202e" not in figure.svg
        assert "\x00" not in figure.alt and "\u202e" not in figure.alt
    assert visible("a\tb\nc\u2028d\ufeffe\U000e0041") == "a\\u0009b\\u000ac\\u2028d\\ufeffe\\U000e0041"
    assert visible("naïve 8× · −75 %") == "naïve 8× · −75 %"


def test_every_site_page_shows_control_and_bidi_characters_written_out(tmp_path: Path) -> None:
    _hostile_site(tmp_path)
    pages = sorted((tmp_path / "site").rglob("*.html"))
    assert pages
    for page in pages:
        html = page.read_text("utf-8")
        assert "\x00" not in html and "\u202e" not in html, page.name
    assert SHOWN in (tmp_path / "site" / "index.html").read_text("utf-8")


def test_site_cells_show_control_and_bidi_characters() -> None:
    cell = Cell(HOSTILE, "boom\n\u202e<b>")
    # Newline is HTML whitespace in a tooltip and stays; NUL and the override are shown, markup escaped.
    assert cell.html == f'<td title="boom\n\\u202e&lt;b&gt;">{SHOWN}</td>'


def test_compare_report_names_are_inert_code_spans(tmp_path: Path) -> None:
    old = results(tmp_path / "old.parquet", [acc(BACKTICK, 90.0), acc("a|b", 90.0), acc(HOSTILE, 90.0)])
    new = results(tmp_path / "new.parquet", [acc(BACKTICK, 89.0), acc("a|b", 89.0), acc(HOSTILE, 89.0)])
    report = to_markdown(compare(old, new))
    # The fence (two backticks) is longer than any run inside, so the whole name is one code span.
    assert (
        "| ``x` [link](https://evil.example) ![img](https://evil.example/a.png) <img src=x onerror=alert(1)> `y`` "
        "| `sst2` | `accuracy` | 90 | 89 | -1 pts (-1.1 %) | ±0.5 |  |"
    ) in report
    assert "| `a\\|b` | `sst2` | `accuracy` |" in report  # GFM's escaped pipe inside a table cell
    assert f"| `{SHOWN}` | `sst2` | `accuracy` |" in report and "\x00" not in report and "\u202e" not in report
    assert md_code("`edge`", in_table=False) == "`` `edge` ``" and md_code("a``b") == "```a``b```"


def test_compare_report_renders_no_link_image_or_html(tmp_path: Path) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    old = results(tmp_path / "old.parquet", [acc(BACKTICK, 90.0), acc("a|b", 90.0)])
    new = results(tmp_path / "new.parquet", [acc(BACKTICK, 89.0), acc("a|b", 89.0)])
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(to_markdown(compare(old, new)))
    assert "<a " not in html and "<img" not in html
    assert (
        "<td><code>x` [link](https://evil.example) ![img](https://evil.example/a.png) "
        "&lt;img src=x onerror=alert(1)&gt; `y</code></td>"
    ) in html
    assert "<td><code>a|b</code></td>" in html


def test_variants_missing_from_new_fail_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    old = results(tmp_path / "old.parquet", [acc("a", 90.0), acc("gone", 90.0), system("gone", "size_mb", 1.0)])
    new = results(tmp_path / "new.parquet", [acc("a", 90.0)])
    assert main(["compare", str(old), str(new)]) == 1
    report = capsys.readouterr().out
    assert (
        "**No regression** beyond the thresholds. 1 rows matched on (variant, task, metric, hardware); 0 new, "
        "2 missing. **1 variant of OLD missing from NEW**, a regression (see Missing variants).\n"
    ) in report
    assert (
        "### Missing variants (1)\n\nIn OLD, with no row in NEW: `gone`. A dropped variant is a regression; pass "
        "`--allow-missing` when dropping it is intended.\n"
    ) in report
    assert main(["compare", str(old), str(new), "--allow-missing"]) == 0
    report = capsys.readouterr().out
    assert "### Missing variants" not in report and "of OLD missing from NEW" not in report
    assert "- 1 variant of OLD not in NEW, allowed by `--allow-missing`: `gone`\n" in report
    # A row missing for a variant NEW still has is listed, as before, and fails nothing.
    new = results(tmp_path / "new2.parquet", [acc("a", 90.0), acc("gone", 90.0)])
    assert main(["compare", str(old), str(new)]) == 0
    assert "### Missing rows (1)" in capsys.readouterr().out


def _not_results(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """A file that is not a results Parquet and the problem the error names."""
    path = tmp_path / f"{kind}.parquet"
    if kind == "text":
        path.write_text("variant,metric,value\nteacher,accuracy,91\n")
        return path, "not a results Parquet: not a Parquet file ("
    if kind == "other-columns":
        pq.write_table(pa.table({"x": [1], "variant": ["a"]}), path)
        return path, (
            "not a results Parquet: 28 of the 36 columns of results schema v8 are missing "
            "(teacher, parent, method, task, task_version, …) — " + FIX
        )
    if kind == "directory":
        path.mkdir()
        return path, "is a directory, not a results Parquet — " + FIX
    return path, "file not found — " + FIX  # missing


@pytest.mark.parametrize("kind", ["text", "other-columns", "missing", "directory"])
@pytest.mark.parametrize("command", ["compare", "render"])
def test_a_file_that_is_not_results_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, command: str, kind: str
) -> None:
    bad, problem = _not_results(tmp_path, kind)
    if command == "compare":
        good = results(tmp_path / "good.parquet", [acc("a", 90.0)])
        argv = ["compare", str(good), str(bad)]
    else:
        argv = ["render", "--input", str(bad), "--output", str(tmp_path / "site"), "--schema", str(SCHEMA)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith(f"error: {bad}: {problem}")
    assert captured.err.endswith(FIX + "\n")
