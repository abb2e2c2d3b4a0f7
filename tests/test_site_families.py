"""The site with two model families in one results Parquet: a section each, never ranked against each other."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from suite.cli import main
from suite.errors import SuiteInputError
from suite.results import Row, to_table, write_table
from suite.site import render_site

sys.path.insert(0, str(Path(__file__).parent))
from test_render import SCHEMA, _provenance, _Table

ROOT = Path(__file__).resolve().parents[1]
LLM_SCHEMA = ROOT / "leaderboard" / "llm.schema.yaml"
OOM = "lm-eval piqa: CUDA out of memory while scoring"

# (piqa acc, blimp acc, decode tokens/s, size MiB): mean accuracy is their first two's mean.
LLM = {
    "teacher": (65.0, 75.0, 50.0, 540.0),  # mean 70.0: the most accurate
    "q8": (64.6, 74.8, 80.0, 145.0),  # 69.7: faster and smaller than the teacher
    "q4": (63.5, 73.5, 120.0, 90.0),  # 68.5: the fastest and smallest
    "slow-big": (64.0, 74.0, 40.0, 600.0),  # 69.0: dominated by the teacher (less accurate, slower, larger)
    "pruned": (60.0, 72.0, 100.0, 100.0),  # 66.0: dominated by q4
}
FRONT = {"teacher", "q8", "q4"}  # by hand from the table above


def _llm_rows(variant: str, piqa: float, blimp: float, decode: float, size: float) -> list[Row]:
    rows = [
        Row(
            variant, "acc", piqa, "%", True, task="piqa", task_version="1.0", n=1838, ci_low=piqa - 2, ci_high=piqa + 2
        ),
        Row(variant, "acc_norm", piqa + 1, "%", True, task="piqa", task_version="1.0", n=1838),
        Row(variant, "acc", blimp, "%", True, task="blimp", task_version="2.0", ci_low=blimp - 1, ci_high=blimp + 1),
        Row(variant, "acc@anaphor_gender_agreement", blimp + 3, "%", True, task="blimp", task_version="2.0"),
        Row(variant, "word_perplexity", 30.0 + (70 - piqa), "", False, task="wikitext2", task_version="1.0"),
        Row(variant, "decode_tokens_per_s", decode, "tokens/s", True, n=640),
        Row(variant, "tpot_p50_ms", 1000 / decode, "ms", False, n=640),
        Row(variant, "tpot_p99_ms", 1100 / decode, "ms", False, n=640),
        Row(variant, "ttft_p50_ms_128", 40.0, "ms", False, n=20),
        Row(variant, "size_mb", size, "MiB", False),
        Row(variant, "peak_rss_mb", size + 300, "MiB", False),
        Row(variant, "energy_per_1k_tokens_j", 12.5, "J", False, estimate=True, measurement="CodeCarbon estimate"),
        Row(variant, "co2e_per_1m_tokens_g", 3.25, "g", False, estimate=True, measurement="CodeCarbon estimate"),
        Row(variant, "decode_speedup", decode / 50.0, "x", True),  # the teacher's: 1, as gather derives it
        # where the time goes, per decoded token: 0.4 + 0.1 = 0.5 ms of 1000 / decode
        Row(variant, "op_time_share@aten::mm", 80.0, "%", None, n=60, measurement="torch.profiler: decode steps"),
        Row(variant, "op_time_share@other", 20.0, "%", None, n=60, measurement="torch.profiler: decode steps"),
        Row(variant, "profiled_ms_per_token", 0.5, "ms", False, n=60, measurement="torch.profiler: decode steps"),
        Row(variant, "gflops_per_token", 0.28, "GFLOP", False, measurement="counted from the config"),
        Row(variant, "achieved_gflops", 0.28 * decode, "GFLOP/s", True, measurement="gflops_per_token / TPOT p50"),
    ]
    if variant != "teacher":
        rows += [
            Row(variant, "acc_drop_pts", 65.0 - piqa, "points", False, task="piqa", task_version="1.0"),
            Row(variant, "agreement", 95.0, "%", True, task="piqa", task_version="1.0"),
            Row(variant, "kl_teacher_student", 0.01, "nats", False, task="piqa", task_version="1.0"),
        ]
    return rows


def _two_families(tmp_path: Path) -> Path:
    tables = []
    for variant, numbers in LLM.items():
        lineage = {"family": "llm", "teacher": "smollm2-135m", "parent": None if variant == "teacher" else "teacher"}
        lineage["method"] = "teacher" if variant == "teacher" else variant
        tables.append(to_table(_llm_rows(variant, *numbers), lineage, _provenance(hardware_fingerprint="1" * 16)))
    broken = _llm_rows("broken", 0.0, 70.0, 90.0, 100.0)
    broken[0] = Row(
        "broken", "acc", float("nan"), "%", True, task="piqa", task_version="1.0", status="failed", error=OOM
    )
    broken_lineage = {"family": "llm", "teacher": "smollm2-135m", "parent": "teacher", "method": "gptq"}
    tables.append(to_table(broken, broken_lineage, _provenance(hardware_fingerprint="1" * 16)))
    for variant, accuracy, p50, size in (("teacher", 91.0, 10.0, 86.7), ("int8", 90.5, 4.0, 22.1)):
        rows = [
            Row(variant, "accuracy", accuracy, "%", True, task="sst2", task_version="1.0", n=872),
            Row(variant, "latency_p50_ms", p50, "ms", False, n=500),
            Row(variant, "latency_p99_ms", p50 + 2, "ms", False, n=500),
            Row(variant, "size_mb", size, "MiB", False),
        ]
        # A null family is the classifier (results before schema v4): one teacher row of each kind.
        family = None if variant == "teacher" else "classifier"
        lineage = {"family": family, "teacher": "minilm", "parent": None if variant == "teacher" else "teacher"}
        lineage["method"] = "teacher" if variant == "teacher" else "dynamic_quant"
        tables.append(to_table(rows, lineage, _provenance()))
    path = tmp_path / "results" / "leaderboard.parquet"
    write_table(pa.concat_tables(tables), path)
    return path


def _resolved(tmp_path: Path) -> list[Path]:
    llm = {
        "config": {
            "family": "llm",
            "seed": 42,
            "teacher": {
                "id": "smollm2-135m",
                "source": {
                    "kind": "package",
                    "package": "smollm2_135m_gguf",
                    "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
                    "sha256": "e" * 64,
                },
            },
            "sla": {"max_accuracy_drop_pts": 2.0, "min_size_reduction_pct": 50.0},
        }
    }
    classifier = {"config": {"family": "classifier", "seed": 42, "sla": {}}}
    paths = []
    for name, config in (("classifier", classifier), ("llm", llm)):
        path = tmp_path / "results" / name / "config.resolved.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("families")
    argv = ["render", "--input", str(_two_families(tmp)), "--output", str(tmp / "site")]
    argv += ["--schema", str(SCHEMA), str(LLM_SCHEMA), "--resolved", *map(str, _resolved(tmp))]
    assert main(argv) == 0
    return tmp / "site"


def _front(html: str) -> set[str]:
    block = html.split('id="pareto-heading"')[1].split('<ul class="front">')[1].split("</ul>")[0]
    return set(re.findall(r'<a href="[^"]+">([^<]+)</a>', block))


def test_each_family_has_its_section_and_both_teachers_their_page(site: Path) -> None:
    classifier, llm = (site / "index.html").read_text("utf-8"), (site / "llm" / "index.html").read_text("utf-8")
    assert 'href="llm/index.html"' in classifier and 'href="../index.html"' in llm  # navigable both ways
    classifier_rows = [row[0][0] for row in _parse(classifier).rows]
    llm_rows = [row[0][0] for row in _parse(llm).rows]
    assert classifier_rows == ["teacher", "int8"]
    assert llm_rows[0].startswith("teacher") and set(r.split("SmolLM2")[0] for r in llm_rows[1:]) == set(LLM) - {
        "teacher"
    } | {"broken"}
    classifier_teacher = (site / "variants" / "teacher.html").read_text("utf-8")
    llm_teacher = (site / "llm" / "variants" / "teacher.html").read_text("utf-8")
    assert "91.00" in classifier_teacher and "Q4_1" not in classifier_teacher
    assert "65.00" in llm_teacher and "70.00" in llm_teacher  # piqa acc and the derived mean accuracy
    assert "91.00" not in llm_teacher


def test_llm_pareto_front_is_the_one_computed_by_hand(site: Path) -> None:
    llm = (site / "llm" / "index.html").read_text("utf-8")
    assert _front(llm) == FRONT
    axes = llm.split('id="pareto-heading"')[1].split("</p>")[0]
    assert "Mean accuracy (%) ↑" in axes and "Decode speedup (×) ↑" in axes and "Size on disk (MiB) ↓" in axes
    assert _front((site / "index.html").read_text("utf-8")) == {"teacher", "int8"}  # the classifier's own front


def test_llm_teacher_is_labelled_q4_1_dequantised_never_fp(site: Path) -> None:
    for page in [site / "llm" / "index.html", site / "llm" / "variants" / "teacher.html"]:
        html = page.read_text("utf-8")
        assert "GGUF Q4_1-dequantised weights stored as fp32" in html
        assert "file SmolLM2-135M-Instruct.Q4_1.gguf" in html  # the resolved config's teacher source
        assert "FP32 teacher" not in html and "FP32 baseline" not in html
    assert "Q4_1" not in (site / "index.html").read_text("utf-8")


def test_failed_llm_row_shows_its_reason(site: Path) -> None:
    llm = (site / "llm" / "index.html").read_text("utf-8")
    assert f'<strong>broken</strong>: {OOM} <span class="muted">(1 number: piqa v1.0 acc)</span>' in llm
    # Not ranked, and the derived mean accuracy says why.
    assert f"broken</a>: mean_acc failed: piqa acc failed: {OOM}" in llm
    page = (site / "llm" / "variants" / "broken.html").read_text("utf-8")
    assert OOM in page


def test_energy_is_shown_as_an_estimate(site: Path) -> None:
    table = _parse((site / "llm" / "index.html").read_text("utf-8"))
    column = table.headers.index("Energy per 1 000 tokens (J)") + 0
    teacher = table.rows[0]
    text, attributes = teacher[column][0], teacher[column][1]
    assert text == "≈ 12.50" and attributes.get("class") == "estimate"


def test_llm_recommendations_and_kpis(site: Path) -> None:
    recs = (site / "llm" / "recommendations.html").read_text("utf-8")
    speed = re.findall(r'<th scope="row">speed</th>\s*<td><a href="[^"]+">([^<]+)</a>', recs)
    assert speed[:3] == ["q8", "q8", "q4"]  # tolerances 0.5, 1, 2 points: q4 is 1.5 points below the teacher
    assert "int8" not in recs  # the classifier's variants are not candidates
    card = (site / "llm" / "scorecard.html").read_text("utf-8")
    assert "Decode tokens/s (tokens/s)" in card and "Mean accuracy (%)" in card
    assert "1.60× faster" in card  # q8: 80 / 50 tokens/s


def test_llm_figures_exist_per_family(site: Path) -> None:
    assert {p.name for p in (site / "llm" / "figures").glob("overview-*.svg")}
    overview = next((site / "llm" / "figures").glob("overview-*.svg")).read_text("utf-8")
    assert "Decode tokens/s (speedup vs teacher)" in overview and "Mean accuracy (dashed: teacher)" in overview
    assert {p.name for p in (site / "figures").glob("overview-*.svg")}


def test_task_page_ranks_perplexity_lowest_first(site: Path) -> None:
    page = (site / "llm" / "tasks" / "wikitext2-v1.0.html").read_text("utf-8")
    assert "By Word perplexity, lowest first." in page
    order = re.findall(r'<th scope="row" data-value="([^"]+)">', page)
    assert order == ["teacher", "q8", "slow-big", "q4", "pruned", "broken"]  # 35.0, 35.4, 36.0, 36.5, 40.0, 100.0


def test_two_families_without_the_llm_schema_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SuiteInputError, match=r"rows of \['llm'\].*leaderboard/llm.schema.yaml"):
        render_site(_two_families(tmp_path), tmp_path / "site", SCHEMA)


def test_recommend_cli_ranks_one_family(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _two_families(tmp_path)
    argv = ["recommend", "--input", str(path), "--schema", str(LLM_SCHEMA), "--priority", "speed"]
    assert main([*argv, "--tolerance", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chosen"] == "q4"


def _parse(html: str) -> _Table:
    table = _Table()
    table.feed(html)
    return table


def test_an_llm_variant_page_says_where_the_time_goes_per_token(site: Path) -> None:
    page = (site / "llm" / "variants" / "teacher.html").read_text("utf-8")
    section = page[page.index('<h2 id="profile-heading">Where the time goes</h2>') : page.index('id="metrics-heading"')]
    assert "of one profiled pass (the decode steps of one greedy decode):" in section
    # 0.28 GFLOP per token at the teacher's 50 tokens/s
    assert "Profiled: 0.500 ms per token; achieved 14.0 GFLOP/s, 0.280 GFLOP per token.</p>" in section
    assert '<th scope="col" class="num">ms per token</th>' in section
    rows = re.findall(r"<tr[^>]*><th scope=\"row\"><code>([^<]+)</code>[^<]*</th><td class=\"num\">([^<]+)</td>"
                      r"<td class=\"num\">([^<]+)</td>", section)  # fmt: skip
    assert rows == [("aten::mm", "80.0", "0.400"), ("other", "20.0", "0.100")]
