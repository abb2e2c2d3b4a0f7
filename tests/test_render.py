"""Tests of the leaderboard site: rows, formatting, escaping, failures, versions and no network references."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from suite.errors import SuiteInputError
from suite.results import Row, to_table, write_table
from suite.site import format_number, render_site

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "leaderboard" / "schema.yaml"
SCRIPT_NAME = "<script>alert(1)</script>"
LATENCY_ERROR = "RuntimeError: quantized engine <fbgemm> unavailable"
HARDWARE = "Test CPU @ 3.0GHz, 2 of 16 logical cores, AVX2 AVX512F AVX512-BF16"


def _provenance(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "suite_version": "0.1.0",
        "git_commit": "0123456789abcdef0123456789abcdef01234567",
        "config_hash": "c" * 64,
        "artefact_sha256": "a" * 64,
        "data_sha256": "d" * 64,
        "seed": 42,
        "library_versions": json.dumps({"python": "3.11.9", "torch": "2.13.0", "pyarrow": "16.1.0"}),
        "cpu_model": "Test CPU @ 3.0GHz",
        "cpu_cores": 16,
        "threads": 2,
        "gpu": "none",
        "hardware_fingerprint": "f" * 16,
        "hardware_description": HARDWARE,
        "timestamp": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    base.update(overrides)
    return base


def _task_rows(variant: str, accuracy: float, ci: tuple[float, float], version: str = "1.0") -> list[Row]:
    common = {"task": "sst2", "task_version": version, "n": 872}
    return [
        Row(variant, "accuracy", accuracy, "%", True, ci_low=ci[0], ci_high=ci[1], measurement="validation", **common),
        Row(variant, "macro_f1", accuracy - 0.5, "%", True, ci_low=ci[0] - 1, ci_high=ci[1] - 1, **common),
    ]


def _system_rows(variant: str, p50: float, size: float) -> list[Row]:
    return [
        Row(variant, "latency_mean_ms", p50 + 0.2, "ms", False, n=500),
        Row(variant, "latency_std_ms", 0.4, "ms", False, n=500),
        Row(variant, "latency_p50_ms", p50, "ms", False, n=500),
        Row(variant, "latency_p90_ms", p50 + 1, "ms", False, n=500),
        Row(variant, "latency_p99_ms", p50 + 2, "ms", False, n=500),
        Row(variant, "size_mb", size, "MiB", False),
        Row(variant, "param_mb", size, "MiB", False),
        Row(variant, "sparsity", 0.0, "%", None),
        Row(variant, "param_count", 22713216.0, "count", False),
    ]


def _leaderboard(tmp_path: Path, extra: list[pa.Table] | None = None) -> Path:
    teacher = _task_rows("teacher", 91.0555, (89.1, 92.9)) + _system_rows("teacher", 10.0, 86.7)
    teacher.append(Row("teacher", "accuracy_drop_pts", 0.0, "points", False, task="sst2", task_version="1.0"))
    quant = _task_rows("dq-int8", 90.5, (88.5, 92.4)) + _system_rows("dq-int8", 4.0, 22.1)
    quant += [
        Row(
            "dq-int8",
            "accuracy_drop_pts",
            0.5555,
            "points",
            False,
            task="sst2",
            task_version="1.0",
            ci_low=-0.2,
            ci_high=1.3,
        ),
        Row("dq-int8", "speedup_p50", 2.5, "x", True),
        Row("dq-int8", "size_reduction_pct", 74.51, "%", True),
    ]
    # The hostile name and the broken variant: NaN accuracy, inf macro-F1 and a failed latency measurement.
    broken = [
        Row(
            SCRIPT_NAME,
            "accuracy",
            math.nan,
            "%",
            True,
            task="sst2",
            task_version="1.0",
            ci_low=math.nan,
            ci_high=math.nan,
        ),
        Row(SCRIPT_NAME, "macro_f1", math.inf, "%", True, task="sst2", task_version="1.0"),
        Row(SCRIPT_NAME, "latency_p50_ms", math.nan, "ms", False, status="failed", error=LATENCY_ERROR),
        Row(SCRIPT_NAME, "size_mb", 43.0, "MiB", False),
    ]
    tables = [
        to_table(teacher, {"teacher": "minilm", "parent": None, "method": "teacher"}, _provenance()),
        to_table(
            quant,
            {"teacher": "minilm", "parent": "teacher", "method": "dynamic_quant"},
            _provenance(artefact_sha256="b" * 64, timestamp=datetime(2025, 1, 2, 4, 0, 0, tzinfo=UTC)),
        ),
        to_table(broken, {"teacher": "minilm", "parent": "dq-int8", "method": "prune_unstructured"}, _provenance()),
        *(extra or []),
    ]
    path = tmp_path / "results" / "leaderboard.parquet"
    write_table(pa.concat_tables(tables), path)
    return path


class _Table(HTMLParser):
    """Collects the body rows of one table (the leaderboard by default) as lists of (text, attributes) cells."""

    def __init__(self, table_id: str = "leaderboard") -> None:
        super().__init__()
        self._table_id = table_id
        self._in_table = False
        self.rows: list[list[tuple[str, dict[str, str | None]]]] = []
        self.headers: list[str] = []
        self.group_headers: list[str] = []
        self._in_body = False
        self._cell: tuple[list[str], dict[str, str | None]] | None = None
        self._header_rows = 0
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._in_table = dict(attrs).get("id") == self._table_id
        if not self._in_table:
            return
        if tag == "tbody":
            self._in_body = True
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "tr" and self._in_head:
            self._header_rows += 1
        elif tag in ("td", "th"):
            self._cell = ([], dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        if not self._in_table:
            return
        if tag == "tbody":
            self._in_body = False
        elif tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell[0]).strip()
            if self._in_body:
                self.rows[-1].append((text, self._cell[1]))
            elif self._in_head:
                (self.group_headers if self._header_rows == 1 else self.headers).append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[0].append(data)


def _render(tmp_path: Path, parquet: Path) -> tuple[str, _Table]:
    page = render_site(parquet, tmp_path / "site", SCHEMA)
    html = page.read_text(encoding="utf-8")
    parsed = _Table()
    parsed.feed(html)
    return html, parsed


def _cell(parsed: _Table, variant: str, header: str, occurrence: int = 0) -> tuple[str, dict[str, str | None]]:
    row = next(r for r in parsed.rows if r[0][0] == variant)
    index = [i for i, h in enumerate(parsed.headers) if h == header][occurrence]
    return row[index]


def test_one_row_per_variant_teacher_first_then_by_accuracy(tmp_path: Path) -> None:
    _, parsed = _render(tmp_path, _leaderboard(tmp_path))
    # NaN accuracy cannot be ranked, so that variant comes last but is still shown.
    assert [row[0][0] for row in parsed.rows] == ["teacher", "dq-int8", SCRIPT_NAME]
    assert all(len(row) == len(parsed.headers) for row in parsed.rows)


def test_variant_name_is_escaped(tmp_path: Path) -> None:
    html, _ = _render(tmp_path, _leaderboard(tmp_path))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert SCRIPT_NAME not in html


def test_values_are_formatted_with_units_and_ci(tmp_path: Path) -> None:
    html, parsed = _render(tmp_path, _leaderboard(tmp_path))
    assert _cell(parsed, "teacher", "Accuracy (%)")[0] == "91.06 [89.10, 92.90]"
    assert _cell(parsed, "teacher", "Accuracy (%)")[1]["data-value"] == "91.0555"
    assert _cell(parsed, "dq-int8", "Accuracy drop (pts)")[0] == "0.56 [-0.20, 1.30]"
    assert _cell(parsed, "teacher", "Accuracy drop (pts)")[0] == "0.00"
    assert _cell(parsed, "dq-int8", "Latency mean ± std (ms)")[0] == "4.20 ± 0.40"
    assert _cell(parsed, "dq-int8", "Latency p99 (ms)")[0] == "6.00"
    assert _cell(parsed, "dq-int8", "Speedup p50 (×)")[0] == "2.50×"  # results before paired timing: no CI
    assert _cell(parsed, "dq-int8", "Size reduction (%)")[0] == "74.5"
    assert _cell(parsed, "dq-int8", "Size on disk (MiB)")[0] == "22.10"
    assert "SST-2 v1.0 · Quality" in parsed.group_headers
    # The index stays light (no measurement tooltips); the variant's page carries the method and n of each number.
    assert "title" not in _cell(parsed, "teacher", "Accuracy (%)")[1]
    teacher_page = (tmp_path / "site" / "variants" / "teacher.html").read_text("utf-8")
    assert "<td>validation</td>" in teacher_page
    assert '<td class="num">872</td>' in teacher_page
    assert "22,713,216" not in html  # param_count is described but deliberately not a column …
    # … and the page says so, by its display name (its name in the results on hover)
    assert 'measurements (1):\n<span title="param_count">Parameters</span>.' in html


def test_failed_nan_inf_and_missing_cells(tmp_path: Path) -> None:
    html, parsed = _render(tmp_path, _leaderboard(tmp_path))
    failed = _cell(parsed, SCRIPT_NAME, "Latency p50 (ms)")
    assert failed[0] == "failed"
    assert failed[1]["title"] == LATENCY_ERROR
    assert "RuntimeError: quantized engine &lt;fbgemm&gt; unavailable" in html  # also listed under the table
    nan = _cell(parsed, SCRIPT_NAME, "Accuracy (%)")
    assert nan[0] == "NaN [NaN, NaN]"
    assert "data-value" not in nan[1]  # NaN sorts with the unmeasured
    inf = _cell(parsed, SCRIPT_NAME, "Macro-F1 (%)")
    assert (inf[0], inf[1]["data-value"]) == ("inf", "Infinity")
    missing = _cell(parsed, SCRIPT_NAME, "Latency p90 (ms)")
    assert (missing[0], missing[1]["title"]) == ("—", "not measured")
    assert _cell(parsed, "teacher", "Speedup p50 (×)")[1]["title"] == "not measured"


def test_no_external_resources_and_valid_skeleton(tmp_path: Path) -> None:
    html, parsed = _render(tmp_path, _leaderboard(tmp_path))
    assert "http://" not in html
    assert "https://" not in html
    assert "//cdn" not in html
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in html
    assert '<meta charset="utf-8">' in html
    assert "<caption" in html
    assert len(parsed.rows) == 3
    css = (ROOT / "leaderboard" / "static" / "style.css").read_text("utf-8")
    assert css.strip() in html  # inlined: every page stands alone
    assert "<link" not in html
    site = tmp_path / "site"
    files = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    slugged = next(f for f in files if f.startswith("variants/script-"))
    assert files == [
        "downloads/leaderboard.csv",
        "downloads/leaderboard.parquet",
        "figures/accuracy-latency-sst2-v1.0-ffffffffffffffff.svg",
        "figures/overview-ffffffffffffffff.svg",
        "index.html",
        "recommendations.html",
        "scorecard.html",
        "tasks/sst2-v1.0.html",
        "variants/dq-int8.html",
        slugged,
        "variants/teacher.html",
    ]  # atomic writes leave no temp files behind
    for path in site.rglob("*"):
        if path.suffix in (".html", ".svg"):
            text = path.read_text("utf-8")
            # Only the SVG namespace URI may look like an address; nothing is fetched from a network.
            assert "https://" not in text and "<link" not in text and "//cdn" not in text, path
            assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', ""), path
            assert SCRIPT_NAME not in text, path


def test_provenance_block(tmp_path: Path) -> None:
    html, _ = _render(tmp_path, _leaderboard(tmp_path))
    for text in ("0.1.0", "0123456789abcdef0123456789abcdef01234567", "c" * 64, "Test CPU @ 3.0GHz", "16"):
        assert text in html
    assert "<dt>torch</dt>\n<dd>2.13.0</dd>" in html
    assert "2025-01-02T03:04:05+00:00 to 2025-01-02T04:00:00+00:00" in html
    assert 'class="differs"' not in html
    assert 'class="warning"' not in html


def test_provenance_that_differs_between_rows_is_flagged(tmp_path: Path) -> None:
    other_machine = to_table(
        [Row("dq-int8", "param_mb", 22.0, "MiB", False, task="system", task_version="2")],
        {"teacher": "minilm", "parent": "teacher", "method": "dynamic_quant"},
        _provenance(cpu_model="Other CPU", library_versions=json.dumps({"torch": "2.13.1"})),
    )
    html, parsed = _render(tmp_path, _leaderboard(tmp_path, [other_machine]))
    assert '<dd><strong class="differs">differs:</strong> Test CPU @ 3.0GHz, Other CPU</dd>' in html
    assert '<dd><strong class="differs">differs:</strong> 2.13.0, 2.13.1</dd>' in html
    assert 'class="warning"' in html
    # A system row of another task_version is its own column group, never merged with the unversioned one.
    assert "v2 · Size" in parsed.group_headers
    assert _cell(parsed, "dq-int8", "Parameters in memory (MiB)", 1)[0] == "22.00"
    assert _cell(parsed, "dq-int8", "Parameters in memory (MiB)", 0)[0] == "22.10"


def test_task_versions_are_separate_column_groups(tmp_path: Path) -> None:
    newer = to_table(
        _task_rows("teacher", 88.0, (87.0, 89.0), version="1.1") + _task_rows("dq-int8", 95.0, (94.0, 96.0), "1.1"),
        {"teacher": "minilm", "parent": None, "method": "teacher"},
        _provenance(),
    )
    # dq-int8's lineage differs from its other rows only if the parent is wrong; keep it consistent.
    newer = newer.set_column(
        newer.schema.get_field_index("parent"), "parent", pa.array([None] * 2 + ["teacher"] * 2, pa.string())
    )
    newer = newer.set_column(
        newer.schema.get_field_index("method"), "method", pa.array(["teacher"] * 2 + ["dynamic_quant"] * 2)
    )
    _, parsed = _render(tmp_path, _leaderboard(tmp_path, [newer]))
    assert "SST-2 v1.0 · Quality" in parsed.group_headers
    assert "SST-2 v1.1 · Quality" in parsed.group_headers
    assert _cell(parsed, "teacher", "Accuracy (%)", 0)[0] == "91.06 [89.10, 92.90]"
    assert _cell(parsed, "teacher", "Accuracy (%)", 1)[0] == "88.00 [87.00, 89.00]"
    assert _cell(parsed, SCRIPT_NAME, "Accuracy (%)", 1)[0] == "—"
    # The newest version ranks: dq-int8 (95.00 on v1.1) stays above the variant with no v1.1 result.
    assert [row[0][0] for row in parsed.rows] == ["teacher", "dq-int8", SCRIPT_NAME]


def test_unknown_metric_gets_a_raw_column(tmp_path: Path) -> None:
    extra = to_table(
        [Row("dq-int8", "energy_j", 1.25, "J", False)],
        {"teacher": "minilm", "parent": "teacher", "method": "dynamic_quant"},
        _provenance(),
    )
    html, parsed = _render(tmp_path, _leaderboard(tmp_path, [extra]))
    assert _cell(parsed, "dq-int8", "energy_j (J)")[0] == "1.2500"
    assert "metrics are not described in leaderboard/schema.yaml" in html


def test_hardware_is_shown_in_words_with_the_fingerprint_on_hover(tmp_path: Path) -> None:
    html, parsed = _render(tmp_path, _leaderboard(tmp_path))
    for variant in ("teacher", "dq-int8", SCRIPT_NAME):
        text, attributes = _cell(parsed, variant, "Hardware")
        assert text == HARDWARE
        assert attributes["title"] == "hardware fingerprint ffffffffffffffff"
    assert f'<option value="ffffffffffffffff" title="hardware fingerprint ffffffffffffffff">{HARDWARE}</option>' in html
    on_machine = f'<span class="hardware" title="hardware fingerprint ffffffffffffffff">{HARDWARE}</span>'
    assert f"<h3>SST-2 v1.0 on {on_machine}</h3>" in html  # the Pareto front's heading
    assert f"SST-2 v1.0 on {on_machine}. Candidates are" in html  # the recommendation's
    assert f"Overview of sst2 v1.0 on {HARDWARE}: four panels" in html  # the figure's text alternative
    assert f'<h2 id="group-1">SST-2 v1.0 on {on_machine}</h2>' in (tmp_path / "site" / "scorecard.html").read_text()
    assert f"<dt>Hardware</dt>\n<dd>{HARDWARE}</dd>" in html  # provenance
    assert "ffffffffffffffff</td>" not in html  # no cell shows the hash itself


def test_hardware_of_rows_before_schema_v6_is_built_from_their_columns(tmp_path: Path) -> None:
    """Rows without `hardware_description` (results schema v5 and older) are described from cpu_model, cpu_cores,
    threads and gpu, saying the ISA extensions were not recorded; a described row of the machine wins over that."""
    old = _leaderboard(tmp_path)
    table = pq.read_table(old)
    index = table.schema.get_field_index("hardware_description")
    write_table(table.set_column(index, "hardware_description", pa.nulls(table.num_rows, pa.string())), old)
    _, parsed = _render(tmp_path, old)
    built = "Test CPU @ 3.0GHz, 2 of 16 logical cores, ISA extensions not recorded"
    assert _cell(parsed, "dq-int8", "Hardware")[0] == built
    newer = to_table(
        [Row("dq-int8", "param_mb", 22.0, "MiB", False, task="system", task_version="2")],
        {"teacher": "minilm", "parent": "teacher", "method": "dynamic_quant"},
        _provenance(),
    )
    mixed = tmp_path / "mixed.parquet"
    write_table(pa.concat_tables([pq.read_table(old), newer]), mixed)
    _, parsed = _render(tmp_path / "mixed", mixed)
    assert _cell(parsed, "teacher", "Hardware")[0] == HARDWARE


def test_slice_and_batch_size_metrics_are_described_by_pattern(tmp_path: Path) -> None:
    """leaderboard/schema.yaml's metric_patterns: `<metric>@<slice>` takes its metric's display, a batch size its
    own; none of them is left under its raw name."""
    lineage = {"teacher": "minilm", "parent": "teacher", "method": "dynamic_quant"}
    perturb = {"task": "sst2-perturb", "task_version": "1.0"}
    extra = to_table(
        [
            Row("dq-int8", "accuracy", 85.0, "%", True, ci_low=83.0, ci_high=87.0, **perturb),
            Row("dq-int8", "accuracy@typo_s2", 80.0, "%", True, ci_low=78.0, ci_high=82.0, **perturb),
            Row("dq-int8", "flip_rate_change_pts@worst_slice", 1.5, "points", False, **perturb),
            Row("dq-int8", "positive_rate@gender=female", 51.25, "%", None, **perturb),
            Row("dq-int8", "throughput_bs64_sps", 1234.56, "samples/s", True),
        ],
        lineage,
        _provenance(),
    )
    html, _ = _render(tmp_path, _leaderboard(tmp_path, [extra]))
    assert "not described in" not in html
    task = (tmp_path / "site" / "tasks" / "sst2-perturb-v1.0.html").read_text("utf-8")
    slice_description = (
        "accuracy@typo_s2: Share of correct predictions, with its bootstrap confidence interval. Here on the slice "
        "typo_s2 of the task only."
    )
    assert (
        f'<th scope="col" class="num" title="{slice_description}"><button type="button">Accuracy · typo_s2 (%)' in task
    )
    table = _Table(table_id="")
    table.feed(task.replace('<table class="sortable compact">', '<table id="" class="sortable compact">', 1))
    row = next(r for r in table.rows if r[1][0] == "dq-int8")
    cells = dict(zip(table.group_headers, [text for text, _ in row], strict=True))  # its one header row
    assert cells["Accuracy · typo_s2 (%)"] == "80.00 [78.00, 82.00]"
    assert cells["Flip rate change · worst_slice (pts)"] == "1.50"
    assert cells["Positive rate · gender=female (%)"] == "51.25"
    variant = (tmp_path / "site" / "variants" / "dq-int8.html").read_text("utf-8")
    assert '<th scope="row" title="throughput_bs64_sps">Throughput, batch 64</th>' in variant
    assert "1234.6" in variant


def test_a_pattern_metric_in_another_unit_names_the_pattern(tmp_path: Path) -> None:
    extra = to_table(
        [Row("dq-int8", "accuracy@typo_s2", 0.8, "ratio", True, task="sst2", task_version="1.0")],
        {"teacher": "minilm", "parent": "teacher", "method": "dynamic_quant"},
        _provenance(),
    )
    with pytest.raises(
        SuiteInputError,
        match=r"field 'metrics\.accuracy\.unit \(via metric_patterns\[0\]\)': is '%' but .*@typo_s2 in 'ratio'",
    ):
        _render(tmp_path, _leaderboard(tmp_path, [extra]))


def test_the_overview_opens_the_page_before_the_table(tmp_path: Path) -> None:
    html, _ = _render(tmp_path, _leaderboard(tmp_path))
    glance = html.index('<h2 id="glance-heading">At a glance</h2>')
    assert glance < html.index('src="figures/overview-ffffffffffffffff.svg"') < html.index('<table id="leaderboard"')
    assert html.count("figures/overview-ffffffffffffffff.svg") == 1  # not repeated under Figures
    figures = html[html.index('<h2 id="figures-heading">') :]
    assert 'src="figures/accuracy-latency-sst2-v1.0-ffffffffffffffff.svg"' in figures


def test_unit_mismatch_names_the_schema_field(tmp_path: Path) -> None:
    extra = to_table(
        [Row("dq-int8", "param_mb", 1.0, "MB", False, task="other")],
        {"teacher": "minilm", "parent": "teacher", "method": "dynamic_quant"},
        _provenance(),
    )
    with pytest.raises(SuiteInputError, match=r"metrics\.param_mb\.unit"):
        render_site(_leaderboard(tmp_path, [extra]), tmp_path / "site", SCHEMA)
    assert not (tmp_path / "site" / "index.html").exists()


def test_missing_main_task_renders_with_a_note_and_duplicates_are_refused(tmp_path: Path) -> None:
    only_system = to_table(_system_rows("teacher", 1.0, 1.0), {"method": "teacher"}, _provenance())
    path = tmp_path / "system.parquet"
    write_table(only_system, path)
    html = render_site(path, tmp_path / "site", SCHEMA).read_text("utf-8")
    assert "has no results for the main task SST-2" in html
    assert "main_metric.task" in html
    assert "No recommendation: there are no results for the main task." in html
    write_table(pa.concat_tables([only_system, only_system]), path)
    with pytest.raises(SuiteInputError, match="more than once"):
        render_site(path, tmp_path / "site", SCHEMA)


def test_format_number() -> None:
    assert format_number(91.0555, 2) == "91.06"
    assert format_number(-0.001, 2) == "0.00"
    assert format_number(math.nan, 2) == "NaN"
    assert format_number(-math.inf, 2) == "-inf"
    assert format_number(22713216.0, 0, thousands=True) == "22,713,216"


def test_table_cells_escape_like_the_templates() -> None:
    from markupsafe import escape

    from suite.site.formatting import Cell, _escape

    hostile = ["<script>alert('x')</script>", 'a "quoted" & <b>bold</b>', "plain 91.06 [89.10, 92.90]", ""]
    assert [_escape(text) for text in hostile] == [str(escape(text)) for text in hostile]
    cell = Cell("<b>", 'say "hi" & <go>', "1.5", "failed")
    assert cell.html == '<td class="failed" title="say &#34;hi&#34; &amp; &lt;go&gt;" data-value="1.5">&lt;b&gt;</td>'


def test_timestamps_convert_as_pyarrow_does() -> None:
    from suite.site.data import _python_values

    stamps = [
        datetime(2025, 1, 2, tzinfo=UTC),
        None,
        datetime(2025, 1, 3, tzinfo=UTC),
        datetime(2025, 1, 2, tzinfo=UTC),
    ]
    column = pa.chunked_array([stamps[:2], stamps[2:], []], pa.timestamp("us", tz="UTC"))
    assert _python_values(column) == column.to_pylist() == stamps
    assert _python_values(pa.chunked_array([["a", None]])) == ["a", None]


def test_render_does_not_import_torch() -> None:
    heavy = "{'torch', 'suite.models', 'suite.artefacts', 'suite.train', 'suite.compress'}"
    code = f"import sys, suite.site; loaded = {heavy} & set(sys.modules); assert not loaded, loaded"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_rank_imports_neither_torch_nor_the_site() -> None:
    # suite.rank computes, suite.site formats: the analysis never depends on the presentation.
    code = (
        "import sys, suite.rank; loaded = {m for m in sys.modules if m == 'torch' or m.startswith('suite.site')"
        " or m in ('suite.figures', 'suite.entries', 'suite.cli')}; assert not loaded, loaded"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _display_schema(tmp_path: Path, change: Callable[[dict], None]) -> Path:
    """A copy of leaderboard/schema.yaml with one change."""
    raw = yaml.safe_load(SCHEMA.read_text("utf-8"))
    change(raw)
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Checked by leaderboard/display.schema.yaml ...
        (
            lambda s: s["metrics"]["accuracy"].update(decimals=-1),
            "field 'metrics.accuracy.decimals': -1 is less than the minimum of 0 — fix: Digits after the decimal point",
        ),
        (
            lambda s: s["metrics"]["accuracy"].update(show_ci="yes"),
            "field 'metrics.accuracy.show_ci': 'yes' is not of type 'boolean'",
        ),
        (lambda s: s["metrics"]["size_mb"].pop("unit"), "field 'metrics.size_mb': 'unit' is a required property"),
        (lambda s: s["groups"].pop("energy"), "field 'groups': 'energy' is a required property"),
        (lambda s: s["labels"].pop("hardware"), "field 'labels': 'hardware' is a required property"),
        (lambda s: s.pop("site"), "field '(top level)': 'site' is a required property"),
        (
            lambda s: s["recommendations"].update(tolerances_pts=[]),
            "field 'recommendations.tolerances_pts': [] should be non-empty",
        ),
        (
            lambda s: s["recommendations"].update(tolerances_pts=[1, -2]),
            "field 'recommendations.tolerances_pts[1]': -2 is less than the minimum of 0",
        ),
        # ... and what refers to other fields, by suite.site.schema.
        (
            lambda s: s["metrics"]["accuracy"].update(decimals=2.0),
            "field 'metrics.accuracy.decimals': is 2.0 — fix: write a whole number, e.g. 2",
        ),
        (
            lambda s: s["metrics"]["accuracy"].update(group="speed"),
            "field 'metrics.accuracy.group': is 'speed' — fix: use one of ['quality', 'fidelity', 'latency', 'size'",
        ),
        (
            lambda s: s["metrics"]["latency_mean_ms"].update(spread="latency_sd_ms"),
            "field 'metrics.latency_mean_ms.spread': names 'latency_sd_ms', not a metric",
        ),
        (
            lambda s: s["columns"]["system"].append("watts"),
            "field 'columns.system': lists ['watts'] — fix: describe them under metrics",
        ),
        (
            lambda s: s["main_metric"].update(metric="sparsity"),
            "field 'main_metric.metric': 'sparsity' is not in columns.task — fix: add it to columns.task",
        ),
        (
            lambda s: s["metric_patterns"][0].pop("description"),
            "field 'metric_patterns[0]': 'description' is a required property",
        ),
        (
            lambda s: s["metric_patterns"][0].update(like="task"),
            "field 'metric_patterns[0].like': is 'task', not a part of the pattern — fix: use one of ['metric',",
        ),
        (
            lambda s: s["metric_patterns"][1].pop("unit"),
            "field 'metric_patterns[1]': has no `like` and no ['unit'] — fix: give them, or `like: <part>`",
        ),
        (
            lambda s: s["metric_patterns"][0].update(pattern="accuracy_at_slice"),
            "field 'metric_patterns[0].pattern': 'accuracy_at_slice' has no {part}",
        ),
        (
            lambda s: s["metric_patterns"][0].update(display_name="{metric.display_name} on {severity}"),
            "field 'metric_patterns[0].display_name': refers to {severity} — fix: use {metric.display_name} or",
        ),
        (
            lambda s: s["metric_patterns"][1].update(group="speed"),
            "field 'metric_patterns[1].group': is 'speed' — fix: use one of ['quality', 'fidelity'",
        ),
    ],
)
def test_bad_display_schema_names_the_file_and_the_field(
    tmp_path: Path, change: Callable[[dict], None], message: str
) -> None:
    from suite.site import load_schema

    path = _display_schema(tmp_path, change)
    with pytest.raises(SuiteInputError) as caught:
        load_schema(path)
    assert str(caught.value).startswith(f"{path}: {message}")


def test_display_schema_accepts_what_it_always_did(tmp_path: Path) -> None:
    from suite.site import load_schema

    def change(raw: dict) -> None:
        raw["unknown_section"] = {"anything": 1}  # keys the display schema does not describe are ignored
        raw["tasks"] = None
        raw["groups"]["extra"] = "Extra"
        raw["metrics"]["accuracy"].update(thousands=1, unit_label="pct", note="ignored")
        raw["recommendations"]["tolerances_pts"] = [0, 1.5]

    schema = load_schema(_display_schema(tmp_path, change))
    assert schema.metrics["accuracy"].thousands is True and schema.metrics["accuracy"].header == "Accuracy (pct)"
    assert schema.task_names == {} and schema.groups["extra"] == "Extra" and schema.tolerances == (0.0, 1.5)
    assert load_schema(SCHEMA).main_metric == "accuracy"


def test_empty_results_render_a_page_that_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    write_table(to_table([], {}, _provenance()), path)
    html = render_site(path, tmp_path / "site", SCHEMA).read_text("utf-8")
    assert "empty.parquet holds no results yet" in html
    assert "0 models from empty.parquet" in html


def test_partial_results_show_gaps_and_drop_no_variant(tmp_path: Path) -> None:
    # A second task that only the teacher has, and a variant with nothing but a failed size measurement.
    extra = [
        to_table(
            [Row("teacher", "accuracy", 75.0, "%", True, task="mnli", task_version="2.0", n=100)],
            {"teacher": "minilm", "parent": None, "method": "teacher"},
            _provenance(),
        ),
        to_table(
            [Row("lonely", "size_mb", math.nan, "MiB", False, status="failed", error="disk full")],
            {"teacher": "minilm", "parent": "teacher", "method": "dynamic_quant"},
            _provenance(),
        ),
    ]
    html, parsed = _render(tmp_path, _leaderboard(tmp_path, extra))
    assert [row[0][0] for row in parsed.rows] == ["teacher", "dq-int8", SCRIPT_NAME, "lonely"]
    assert _cell(parsed, "dq-int8", "Accuracy (%)", 1)[0] == "—"  # mnli: a gap, not a dropped row
    assert _cell(parsed, "teacher", "Accuracy (%)", 1)[0] == "75.00"
    assert _cell(parsed, "lonely", "Size on disk (MiB)")[0] == "failed"
    assert (tmp_path / "site" / "variants" / "lonely.html").is_file()
    assert (tmp_path / "site" / "tasks" / "mnli-v2.0.html").is_file()
    # Not ranked on the front, with the reason, instead of vanishing.
    front = _cell(parsed, "lonely", "P(on front)")
    assert (front[0], front[1]["title"]) == ("—", "not ranked: no result on the main task")
    assert (
        f"{SCRIPT_NAME}" not in html
        and "accuracy is nan; speedup_p50 failed: latency_p50_ms failed: "
        + LATENCY_ERROR.replace("<", "&lt;").replace(">", "&gt;")
        in html
    )  # the broken variant is listed as not ranked, with the reason (its speedup: derived from the failed latency)


def test_sla_targets_from_the_resolved_config(tmp_path: Path) -> None:
    resolved = tmp_path / "config.resolved.json"
    sla = {"max_accuracy_drop_pts": 1.0, "min_size_reduction_pct": 50.0, "max_latency_p99_ms": 7.0}
    resolved.write_text(json.dumps({"config": {"seed": 1, "sla": sla, "variants": []}, "tasks": {}}))
    page = render_site(_leaderboard(tmp_path), tmp_path / "site", SCHEMA, resolved=resolved)
    html = page.read_text("utf-8")
    assert "No SLA targets" not in html
    # dq-int8 meets every target it can be checked against, but its non-finite rate was never measured, so its
    # deployment readiness is unknown: "incomplete", never a silent pass.
    assert "0 of 2 variants meet every SLA target" in html
    card = (tmp_path / "site" / "variants" / "dq-int8.html").read_text("utf-8")
    assert "<td>74.5 % lower</td><td>≥ 50 % lower</td>" in card.replace("\n", "")
    assert "<caption>Teacher vs dq-int8: incomplete</caption>" in card
    recommendations = (tmp_path / "site" / "recommendations.html").read_text("utf-8")
    assert "p99 latency ≤ 7 ms" in recommendations
    resolved.write_text(json.dumps({"config": {"sla": {"max_drop": 1}}}))
    with pytest.raises(SuiteInputError, match=r"config\.sla\.max_drop"):
        render_site(_leaderboard(tmp_path), tmp_path / "site", SCHEMA, resolved=resolved)


def test_no_sla_without_resolved_is_said_on_the_page(tmp_path: Path) -> None:
    html, _ = _render(tmp_path, _leaderboard(tmp_path))
    assert "No SLA targets: this site was rendered without <code>--resolved</code>" in html


def test_release_is_self_contained_and_indexed(tmp_path: Path) -> None:
    parquet = _leaderboard(tmp_path)
    for name in ("2025-01", "2025-02"):
        render_site(parquet, tmp_path / "site", SCHEMA, release=name)
    releases = tmp_path / "site" / "releases"
    index = (releases / "index.html").read_text("utf-8")
    assert '<a href="2025-01/index.html">2025-01</a>' in index
    assert '<a href="2025-02/index.html">2025-02</a>' in index
    assert (releases / "2025-02" / "downloads" / "leaderboard.parquet").read_bytes() == parquet.read_bytes()
    assert json.loads((releases / "2025-01" / "release.json").read_text())["variants"] == 3
    with pytest.raises(SuiteInputError, match="--release"):
        render_site(parquet, tmp_path / "site", SCHEMA, release="../escape")


def test_overview_figure_has_the_four_panels(tmp_path: Path) -> None:
    _render(tmp_path, _leaderboard(tmp_path))
    svg = (tmp_path / "site" / "figures" / "overview-ffffffffffffffff.svg").read_text("utf-8")
    for title in ("Latency p50 (speedup vs teacher)", "Accuracy (dashed: teacher)", "Size on disk (reduction vs"):
        assert title in svg
    assert "Speedup vs accuracy (bubble area: size)" in svg
    assert "4.00 ms · 2.50×" in svg  # dq-int8: teacher p50 10 ms / 4 ms
    assert "22.1 MiB · −75 %" in svg
    assert "&lt;script&gt;" in svg and SCRIPT_NAME not in svg


def test_task_page_ranks_a_zero_accuracy_and_not_a_nan(tmp_path: Path) -> None:
    """0.0 is a value (last place), NaN is none (unranked, an em dash): both rows are shown."""
    zero = to_table(
        _task_rows("always-wrong", 0.0, (0.0, 0.0)) + _system_rows("always-wrong", 9.0, 86.7),
        {"teacher": "minilm", "parent": "teacher", "method": "import"},
        _provenance(),
    )
    render_site(_leaderboard(tmp_path, [zero]), tmp_path / "site", SCHEMA)
    page = (tmp_path / "site" / "tasks" / "sst2-v1.0.html").read_text(encoding="utf-8")
    row = r'<td data-value="\d*">([^<]*)</td>\s*<th scope="row" data-value="[^"]*"><a href="[^"]*">([^<]*)</a>'
    ranks = re.findall(row, page)
    assert ranks == [
        ("1", "teacher"),
        ("2", "dq-int8"),
        ("3", "always-wrong"),
        ("—", escape(SCRIPT_NAME)),
    ]


def test_variants_not_built_in_this_environment_are_listed_with_the_reason(tmp_path: Path) -> None:
    resolved = tmp_path / "config.resolved.json"
    skipped = [{"id": "gguf-q8-0", "method": "gguf_quantize", "reason": "needs llama-cpp-python <the extra>"}]
    config = {"config": {"seed": 1, "variants": []}, "tasks": {}, "skipped": skipped}
    resolved.write_text(json.dumps(config))
    html = render_site(_leaderboard(tmp_path), tmp_path / "site", SCHEMA, resolved=resolved).read_text("utf-8")
    assert "Variants not built in this environment" in html
    assert (
        "<li><strong>gguf-q8-0</strong> (<code>gguf_quantize</code>): needs llama-cpp-python &lt;the extra&gt;</li>"
        in html
    )
    resolved.write_text(json.dumps({**config, "skipped": []}))
    html = render_site(_leaderboard(tmp_path), tmp_path / "site", SCHEMA, resolved=resolved).read_text("utf-8")
    assert "not built in this environment" not in html


# --- paired speedups, the A/A noise floor, contended hosts and the operator profile --------------------------------

AA_TEXT = (  # as suite.measure writes it
    "paired: per round the median latency of 'teacher' / this variant's, median over 30 rounds, 95 % CI from a seeded "
    "bootstrap over rounds; A/A: 'teacher' against a second, independently loaded copy of itself in one process"
)
PAIRED_TEXT = "paired: per round teacher's median latency / this variant's, median over 30 rounds"
PROFILED = "torch.profiler: one pass of 50 batch-1 queries after 3 warm-up queries; self time excludes nested operators"
LOAD_TEXT = (
    "contended: other processes' CPU 35.0% > 20% (limits in the config's load_guard); its absolute timings are not "
    "judged against SLAs; load guard over the timed steps (latency, throughput): over 12.0 s of timing"
)
CONTENDED_TEXT = "timed on a contended host (other processes' CPU 35.0 %, steal 0.0 %, calibration drift +4.2 %)"
CONTENDED_HTML = CONTENDED_TEXT.replace("'", "&#39;")  # as the pages escape it


def _paired_rows(
    variant: str, speedup: tuple[float, float, float], contended: bool = False, shared: bool = False
) -> list[Row]:
    """The system rows of results with paired timing: speedups with intervals, the reference's latencies, the load
    guard (`shared`: other work shared the CPUs, `oversubscribed`) and the operator profile (the measure job's rows)."""
    how = AA_TEXT if variant == "teacher" else PAIRED_TEXT
    value, low, high = speedup
    profile = {"n": 50, "measurement": PROFILED}
    return [
        Row(variant, "speedup_p50", value, "x", True, ci_low=low, ci_high=high, n=30, measurement=how),
        Row(variant, "speedup_mean", value, "x", True, ci_low=low - 0.01, ci_high=high + 0.01, n=30, measurement=how),
        Row(variant, "reference_latency_p50_ms", 10.0, "ms", False, n=500),
        Row(variant, "reference_latency_mean_ms", 10.2, "ms", False, n=500),
        Row(variant, "throughput_bs8_sps", 800.0 * value, "samples/s", True, n=400),
        Row(variant, "throughput_speedup@bs8", value, "x", True, ci_low=low, ci_high=high, n=10, measurement=how),
        Row(variant, "contended", float(contended), "flag", False, measurement=LOAD_TEXT if contended else "quiet"),
        Row(variant, "oversubscribed", float(shared), "flag", False),
        Row(variant, "host_other_cpu_pct", 35.0 if contended else 1.0, "%", False),
        Row(variant, "host_steal_pct", 0.0, "%", False),
        Row(variant, "calibration_drift_pct", 4.2 if contended else 0.3, "%", False),
        Row(variant, "op_time_share@inductor::compiled_graph", 30.0, "%", None, **profile),
        Row(variant, "op_time_share@other", 8.5, "%", None, **profile),
        Row(variant, "op_time_share@aten::addmm", 61.5, "%", None, **profile),
        Row(variant, "profiled_ms_per_query", 3.2, "ms", False, **profile),
        Row(variant, "achieved_gflops", 12.3, "GFLOP/s", True),
        Row(variant, "gflops_per_sample", 0.045, "GFLOP", False),
    ]


def _paired_leaderboard(tmp_path: Path, shared: bool = False) -> Path:
    """The teacher (its speedups: the A/A noise floor), `fast` (measurably faster, timed on a contended host; with
    `shared` its CPUs were shared too, else its speedups stand), `twin` (a tie with fast: both intervals overlap) and
    `same` (no measurable change)."""
    tables = [
        to_table(
            _task_rows("teacher", 91.0, (89.0, 93.0))
            + _system_rows("teacher", 10.0, 86.7)
            + _paired_rows("teacher", (0.99, 0.97, 1.02)),
            {"teacher": "minilm", "parent": None, "method": "teacher"},
            _provenance(),
        )
    ]
    for variant, accuracy, speedup, contended in (
        ("fast", 90.5, (1.3, 1.2, 1.4), True),
        ("twin", 90.4, (1.28, 1.18, 1.38), False),
        ("same", 90.5, (1.02, 0.98, 1.05), False),
    ):
        rows = _task_rows(variant, accuracy, (accuracy - 2, accuracy + 2)) + _system_rows(
            variant, 10 / speedup[0], 43.0
        )
        tables.append(
            to_table(
                rows + _paired_rows(variant, speedup, contended, shared and contended),
                {"teacher": "minilm", "parent": "teacher", "method": "dynamic_quant"},
                _provenance(),
            )
        )
    path = tmp_path / "results" / "leaderboard.parquet"
    write_table(pa.concat_tables(tables), path)
    return path


def test_every_new_measurement_is_described(tmp_path: Path) -> None:
    from suite.site import load_schema

    names = set(pq.read_table(_paired_leaderboard(tmp_path)).column("metric").to_pylist())
    schema = load_schema(SCHEMA).describing(names)
    assert sorted(names - set(schema.metrics)) == []
    assert schema.metrics["op_time_share@aten::addmm"].display_name == "Time share: aten::addmm"
    assert schema.metrics["throughput_speedup@bs8"].header == "Throughput speedup, batch 8 (×)"
    html, _ = _render(tmp_path, _paired_leaderboard(tmp_path))
    assert "not described in" not in html


def test_speedups_show_their_interval_and_no_measurable_change(tmp_path: Path) -> None:
    html, parsed = _render(tmp_path, _paired_leaderboard(tmp_path))
    assert _cell(parsed, "fast", "Speedup p50 (×)")[0] == "1.30× [1.20, 1.40]"
    assert _cell(parsed, "same", "Speedup p50 (×)")[0] == "1.02× [0.98, 1.05] · no measurable change"
    assert _cell(parsed, "teacher", "Speedup p50 (×)")[0] == "0.99× [0.97, 1.02] · A/A noise floor"
    same = (tmp_path / "site" / "variants" / "same.html").read_text("utf-8")
    assert (
        '<th scope="row" title="speedup_p50">Speedup p50</th><td class="num">1.02× · no measurable change</td>'
        '<td class="num">[0.98, 1.05]</td>'
    ) in same
    assert '<td class="num">1.02× · no measurable change</td><td class="num">[0.98, 1.05]</td>' in same  # bs8
    fast = (tmp_path / "site" / "variants" / "fast.html").read_text("utf-8")
    assert '<td class="num">1.30×</td><td class="num">[1.20, 1.40]</td>' in fast
    assert "1.30× · no measurable change" not in fast
    # the task page shows the speedup (the front's speed axis) beside the task's numbers
    task = (tmp_path / "site" / "tasks" / "sst2-v1.0.html").read_text("utf-8")
    table = _Table(table_id="")
    table.feed(task.replace('<table class="sortable compact">', '<table id="" class="sortable compact">', 1))
    row = {r[1][0]: dict(zip(table.group_headers, [text for text, _ in r], strict=True)) for r in table.rows}
    assert row["same"]["Speedup p50 (×)"] == "1.02× [0.98, 1.05] · no measurable change"
    assert row["fast"]["Speedup p50 (×)"] == "1.30× [1.20, 1.40]"
    # the front's speed axis is the paired speedup; twin is dominated by fast only on the measured values
    assert "Non-dominated over Accuracy (%) ↑, Speedup p50 (×) ↑, Size on disk (MiB) ↓" in html
    assert '<a href="variants/twin.html">twin</a> — ' in html
    assert "dominated by fast; a tie with fast (intervals overlap)</li>" in html
    twin = (tmp_path / "site" / "variants" / "twin.html").read_text("utf-8")
    assert "; a tie with fast (intervals overlap wherever they are better)</li>" in twin


def test_the_noise_floor_opens_the_page_and_older_results_say_nothing(tmp_path: Path) -> None:
    html, _ = _render(tmp_path, _paired_leaderboard(tmp_path))
    line = "Noise floor (A/A: teacher vs a second copy of itself): 0.99× [0.97, 1.02], CI width 5 %"
    assert f'<p class="noise-floor"><strong>{line}</strong>.' in html
    assert html.index(line) < html.index('<table id="leaderboard"')
    old, _ = _render(tmp_path / "old", _leaderboard(tmp_path / "old"))
    assert "Noise floor" not in old


def test_a_contended_variant_is_marked_next_to_its_latencies_and_not_judged(tmp_path: Path) -> None:
    resolved = tmp_path / "config.resolved.json"
    sla = {"max_accuracy_drop_pts": 1.0, "min_size_reduction_pct": None, "max_latency_p99_ms": 100.0}
    resolved.write_text(json.dumps({"config": {"seed": 1, "sla": sla, "variants": []}, "tasks": {}}))
    html = render_site(_paired_leaderboard(tmp_path), tmp_path / "site", SCHEMA, resolved=resolved).read_text("utf-8")
    parsed = _Table()
    parsed.feed(html)
    text, attributes = _cell(parsed, "fast", "Latency p99 (ms)")
    assert (text, attributes["class"]) == ("9.69 †", "contended")
    assert attributes["title"] == f"† {CONTENDED_TEXT}"  # the parser unescapes
    assert _cell(parsed, "fast", "Speedup p50 (×)")[0] == "1.30× [1.20, 1.40]"  # CPUs not shared: the pair stands
    assert _cell(parsed, "same", "Latency p99 (ms)")[0] == "11.80"  # a quiet host: no mark
    page = (tmp_path / "site" / "variants" / "fast.html").read_text("utf-8")
    assert f"† This variant was {CONTENDED_HTML}: its" in page
    assert "No other work shared its CPUs (the host's speed changed while it timed), so its paired speedups" in page
    assert f'<td class="num contended" title="† {CONTENDED_HTML}">9.69 †</td>' in page
    assert f'<td class="kpi not-judged">not judged: {CONTENDED_HTML}</td>' in page
    assert "not judged" not in (tmp_path / "site" / "variants" / "same.html").read_text("utf-8")  # a quiet host
    scorecards = (tmp_path / "site" / "scorecard.html").read_text("utf-8")
    assert f"<small>not judged: {CONTENDED_HTML}</small>" in scorecards


def test_the_accuracy_latency_figure_draws_a_contended_latency_hollow_and_off_the_staircase(tmp_path: Path) -> None:
    _render(tmp_path, _paired_leaderboard(tmp_path))
    svg = next((tmp_path / "site" / "figures").glob("accuracy-latency-sst2-*.svg")).read_text("utf-8")
    circles = {name: attributes for attributes, name in re.findall(r"<circle ([^>]*)><title>(\w+):", svg)}
    assert 'fill-opacity="0.08" stroke-dasharray="3 2"' in circles["fast"]  # fast's job was contended
    assert all('fill-opacity="0.55"' in circles[v] for v in ("teacher", "twin", "same"))
    assert f"<title>fast: 7.7, 90.5 † {escape(CONTENDED_TEXT, quote=True)}</title>" in svg
    assert ">fast †</text>" in svg
    # the staircase (accuracy up, latency down) starts at twin, the fastest fair point: fast's 7.69 ms is left out
    twin_x = re.search(r'<circle cx="([\d.]+)" cy="([\d.]+)"[^>]*><title>twin:', svg).groups()
    assert re.search(r'<path d="M([\d.]+),([\d.]+)L', svg).groups() == twin_x
    task = (tmp_path / "site" / "tasks" / "sst2-v1.0.html").read_text("utf-8")
    assert (
        "Drawn hollow and marked †: fast (timed on a contended host, so their latency p50 is not judged and this "
        "plane&#39;s staircase leaves them out)."
    ) in task
    quiet = tmp_path / "quiet"  # nothing contended: no hollow point, no fourth legend item, no sentence
    _render(quiet, _leaderboard(quiet))
    for figure in (quiet / "site" / "figures").glob("accuracy-latency-*.svg"):
        assert 'stroke-dasharray="3 2"' not in figure.read_text("utf-8")
    assert "Drawn hollow" not in (quiet / "site" / "tasks" / "sst2-v1.0.html").read_text("utf-8")


def test_speedups_of_a_job_whose_cpus_were_shared_are_marked_and_not_ranked(tmp_path: Path) -> None:
    html, parsed = _render(tmp_path, _paired_leaderboard(tmp_path, shared=True))
    text, attributes = _cell(parsed, "fast", "Speedup p50 (×)")
    assert (text, attributes["class"], attributes["title"]) == (
        "1.30× [1.20, 1.40] †",
        "contended",
        f"† {CONTENDED_TEXT}",
    )
    assert _cell(parsed, "twin", "Speedup p50 (×)")[0] == "1.28× [1.18, 1.38]"  # a quiet job: no mark
    # off the front, with the reason; twin, which fast dominated on the measured values, is on it now
    assert f'<li><a href="variants/fast.html">fast</a>: speedup_p50 {CONTENDED_HTML}</li>' in html
    assert "dominated by fast" not in html
    # the overview's scatter leaves it out and its text alternative says why
    assert (
        "front teacher, same, twin). Not in the scatter (other work shared the CPUs while they were timed): fast."
        in html
    )
    page = (tmp_path / "site" / "variants" / "fast.html").read_text("utf-8")
    assert "Other work shared its CPUs, so its speedups are marked † and not ranked either" in page
    assert f'<td class="num contended" title="† {CONTENDED_HTML}">1.30× †</td><td class="num">[1.20, 1.40]</td>' in page
    assert "not ranked" in page  # the scorecard's speedup line


def test_the_variant_page_says_where_the_time_goes(tmp_path: Path) -> None:
    _render(tmp_path, _paired_leaderboard(tmp_path))
    page = (tmp_path / "site" / "variants" / "fast.html").read_text("utf-8")
    section = page[page.index('<h2 id="profile-heading">Where the time goes</h2>') : page.index('id="metrics-heading"')]
    table = _Table(table_id="")
    table.feed(section.replace('<table class="compact op-profile">', '<table id="" class="compact op-profile">'))
    assert [[text for text, _ in row] for row in table.rows] == [
        ["aten::addmm", "61.5", "1.968"],
        # the suite's own operator names, explained by the display schema's `operators`
        [
            "inductor::compiled_graph (the kernels torch.compile generated; what they call out to is listed under its "
            "own name)",
            "30.0",
            "0.960",
        ],
        ["other (every operator not listed)", "8.5", "0.272"],
    ]
    assert "self time is the time spent in an" in section
    assert "Profiled: 3.200 ms per query †; achieved 12.3 GFLOP/s †, 0.045 GFLOP per sample." in section
    quiet = (tmp_path / "site" / "variants" / "same.html").read_text("utf-8")
    assert "Profiled: 3.200 ms per query; achieved 12.3 GFLOP/s, 0.045 GFLOP per sample." in quiet
    old = tmp_path / "old"
    _render(old, _leaderboard(old))
    assert "Where the time goes" not in (old / "site" / "variants" / "dq-int8.html").read_text("utf-8")
