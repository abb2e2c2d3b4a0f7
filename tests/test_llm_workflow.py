"""The tiny llm-track config through Snakemake end to end, alone and beside the classifier track in one run."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.test_workflow import snakemake

pytestmark = pytest.mark.workflow  # runs a whole Snakemake DAG

VARIANTS = {"teacher", "torchao-int8-wo", "drop-2-distil", "sparse-24-mlp", "drop-2-distil-bf16"}


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory) -> Path:
    from tests.conftest import MIRROR, write_tiny_config

    if not (MIRROR / "piqa" / "valid.jsonl").is_file():
        pytest.skip(f"data mirror not found at {MIRROR}")
    workdir = tmp_path_factory.mktemp("tiny-llm")
    write_tiny_config(workdir, "llm.yaml")
    done = snakemake(workdir, "--cores", "2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return workdir


def test_every_llm_variant_has_quality_fidelity_and_per_token_rows(llm_run: Path):
    table = pq.read_table(llm_run / "results" / "leaderboard.parquet").to_pandas()
    assert set(table.variant) == VARIANTS and set(table.family) == {"llm"}
    assert (table.status == "ok").all(), table[table.status != "ok"][["variant", "metric", "error"]]
    rows = table.set_index(["variant", "task", "metric"])
    for variant in VARIANTS:
        for task, metric in [
            ("piqa", "acc"),
            ("piqa", "acc_norm"),
            ("blimp", "acc"),
            ("wikitext2", "word_perplexity"),
            ("sst2-zeroshot", "acc"),
            ("system", "ttft_p50_ms_16"),
            ("system", "ttft_p50_ms_64"),
            ("system", "tpot_p50_ms"),
            ("system", "decode_tokens_per_s"),
            ("system", "size_mb"),
            ("system", "peak_rss_mb"),
            ("system", "profiled_ms_per_token"),
            ("system", "op_time_share@other"),
        ]:
            assert (variant, task, metric) in rows.index, (variant, task, metric)
    # every row carries the sample it was scored on (n) and the lm-eval version in how it was measured
    piqa = rows.loc[("teacher", "piqa", "acc")]
    assert piqa.n == 250 and "lm-evaluation-harness 0.4.13" in piqa.measurement
    # fidelity to the teacher: the teacher against itself flips nothing and agrees everywhere
    assert rows.loc[("teacher", "piqa", "agreement")].value == 100.0
    assert rows.loc[("teacher", "piqa", "flips_correct_to_wrong")].value == 0.0
    assert rows.loc[("teacher", "wikitext2", "perplexity_ratio")].value == pytest.approx(1.0)
    # a bfloat16 cast halves the weights on disk (of the distilled student it was cast from)
    halved = (
        rows.loc[("drop-2-distil-bf16", "system", "size_mb")].value
        / rows.loc[("drop-2-distil", "system", "size_mb")].value
    )
    assert halved == pytest.approx(0.5, abs=0.01)
    # per-token speedups are timed paired with the teacher in each job (the teacher's: A/A), with a CI over rounds
    for variant in VARIANTS:
        for metric in ("decode_speedup", "ttft_speedup_16", "ttft_speedup_64"):
            row = rows.loc[(variant, "system", metric)]
            assert row.measurement.startswith("paired: per round") and row.ci_low <= row.value <= row.ci_high, row
        assert rows.loc[(variant, "system", "reference_tpot_p50_ms")].value > 0
    assert "A/A: 'teacher' against a second" in rows.loc[("teacher", "system", "decode_speedup")].measurement
    # FLOPs per token are counted from each artefact's config: dropping 2 layers counts fewer, a bf16 cast the same;
    # achieved GFLOP/s is the count over the TPOT p50
    flops = {v: rows.loc[(v, "system", "gflops_per_token")].value for v in VARIANTS}
    assert flops["drop-2-distil"] < flops["teacher"] and flops["drop-2-distil-bf16"] == flops["drop-2-distil"]
    for variant in VARIANTS:
        tpot_s = rows.loc[(variant, "system", "tpot_p50_ms")].value / 1e3
        assert rows.loc[(variant, "system", "achieved_gflops")].value == pytest.approx(flops[variant] / tpot_s)


def test_llm_variants_record_their_lineage_and_the_teacher_corpus(llm_run: Path):
    import json

    models = llm_run / "results" / "llm" / "models"
    record = json.loads((models / "drop-2-distil" / "variant.json").read_text())
    assert record["lineage"] == ["teacher", "drop-2-distil"] and record["teacher_logits_sha256"]
    build = record["build"]
    assert len(build["layer_dropping"]["kept_layers"]) == 2 and len(build["layer_dropping"]["block_influence"]) == 4
    assert build["training"]["corpus"].startswith("teacher-generated: 8 sequences")
    chain = json.loads((models / "drop-2-distil-bf16" / "variant.json").read_text())
    assert chain["parent_artefact_sha256"] == record["artefact_sha256"]
    teacher = json.loads((models / "teacher" / "variant.json").read_text())
    assert teacher["build"] == {"source_quantisation": "none (randomly initialised)"}


def test_the_site_has_an_llm_section(llm_run: Path):
    html = (llm_run / "results" / "site" / "index.html").read_text()
    for variant in VARIANTS:
        assert f">{variant}<" in html
