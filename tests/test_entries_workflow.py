"""Community entries through Snakemake: valid entries become variants, a NaN model fails without stopping the run,
a rejected entry is shown with its reasons, and adding one entry to a finished run re-runs only its jobs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.test_workflow import snakemake

pytestmark = pytest.mark.workflow  # runs a whole Snakemake DAG

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "leaderboard" / "entries" / "example-l1-pruned-40.yaml"
TINY = REPO / "tests" / "tiny" / "config" / "config.yaml"


def nan_model(directory: Path, model_config: dict) -> str:
    """A tiny BERT whose classifier weights are NaN (every logit NaN), saved as safetensors; returns its sha256."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from suite.entries import sha256_bytes_of

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(**model_config, num_labels=2))
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    model.save_pretrained(str(directory), safe_serialization=True)
    return sha256_bytes_of(directory / "model.safetensors")


def job_counts(output: str) -> dict[str, int]:
    """The job table of `snakemake -n --quiet rules`."""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", output, re.MULTILINE) if m[1] != "total"}


@pytest.fixture(scope="module")
def entries_run(tmp_path_factory) -> Path:
    from tests.conftest import MIRROR

    if not (MIRROR / "sst2" / "dev.tsv").is_file():
        pytest.skip(f"data mirror not found at {MIRROR}")
    workdir = tmp_path_factory.mktemp("entries")
    entries = workdir / "entries"
    entries.mkdir()
    config = yaml.safe_load(TINY.read_text())
    config["data"]["mirror"] = str(MIRROR)
    # the teacher, one variant (whose artefact is corrupted before it is evaluated) and the entries: the run stays short
    config["variants"] = [{"id": "fp16", "parent": "teacher", "method": "cast", "params": {"dtype": "float16"}}]
    config["tasks"] = ["sst2", "stability-stress"]
    config["teacher"]["finetune"]["max_train_samples"] = 500
    config["energy"] = {"enabled": False}
    config["throughput"]["batch_sizes"] = [1]
    config["entries"] = {"dir": str(entries)}
    (workdir / "config").mkdir()
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    digest = nan_model(entries / "nan-weights", config["teacher"]["source"]["model_config"])
    base = {
        "submitter": "Test submitter",
        "licence": "MIT",
        "teacher": "tiny-bert",
        "method_description": "Weights of a model whose classifier is NaN: every output is NaN.",
    }
    (entries / "nan-model.yaml").write_text(
        yaml.safe_dump(
            {
                "id": "nan-model",
                "display_name": "NaN model",
                **base,
                "model": {"local": {"path": "nan-weights", "sha256": digest}},
                "tasks": ["sst2", "stability-stress"],
            }
        )
    )
    (entries / "evil.yaml").write_text(
        yaml.safe_dump(
            {
                "id": "evil",
                "display_name": "<script>alert(1)</script>",
                **base,
                "model": {"hub": {"id": "owner/evil", "revision": "main", "sha256": "0" * 64}},
                "trust_remote_code": True,
                "tasks": ["sst2"],
            }
        )
    )
    (entries / "unreachable.yaml").write_text(  # passes check-entry; its build cannot reach the Hub
        yaml.safe_dump(
            {
                "id": "unreachable",
                "display_name": "Unreachable Hub model",
                **base,
                "model": {"hub": {"id": "owner/model", "revision": "a" * 40, "sha256": "0" * 64}},
                "tasks": ["sst2"],
            }
        )
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_OFFLINE", "1")  # no network here either way: fail at once instead of after timeouts
        built = snakemake(workdir, "--cores", "2", "results/classifier/models/fp16")
        assert built.returncode == 0, (built.stdout + built.stderr)[-3000:]
        weights = workdir / "results" / "classifier" / "models" / "fp16" / "model.safetensors"
        data = bytearray(weights.read_bytes())
        data[-64:] = bytes(64)  # the artefact changed after its build, before it was evaluated and measured
        weights.write_bytes(bytes(data))
        done = snakemake(workdir, "--cores", "2")
    (workdir / "run.log").write_text(done.stdout + done.stderr)
    return workdir


def test_failures_are_isolated_recorded_listed_and_the_exit_status_says_so(entries_run: Path):
    log = (entries_run / "run.log").read_text()
    # the workflow exits 1 at its last step, the verdict, after the leaderboard and the site were written
    assert (
        "Error in rule run_status" in log and "run status: FAILED (3 of 4 variants have failed numbers, 1 entry" in log
    )
    assert f"entry rejected, not run: {entries_run / 'entries' / 'evil.yaml'}: field 'trust_remote_code'" in log
    table = pq.read_table(entries_run / "results" / "leaderboard.parquet").to_pandas()
    assert set(table.variant) == {"teacher", "fp16", "nan-model", "unreachable"}  # the rejected entry never ran
    teacher = table[table.variant == "teacher"]
    assert (teacher.status == "ok").all()  # nobody else's failure touched the teacher's rows
    unreachable = table[table.variant == "unreachable"]
    assert (unreachable.status == "failed").all() and set(unreachable.task) == {"sst2", "system"}
    assert unreachable.error.str.startswith("build failed: ").all()
    assert unreachable.error.str.contains("HF_HUB_OFFLINE|offline", case=False).all()
    corrupted = table[(table.variant == "fp16") & (table.task != "system")]
    assert (corrupted.status == "failed").all()
    assert corrupted.error.str.startswith("evaluate failed: ArtefactIntegrityError: ").all()
    assert corrupted.error.str.contains("file model.safetensors has sha256").all()
    latency = table[(table.variant == "fp16") & (table.metric == "latency_p50_ms")]
    assert latency.status.item() == "failed" and "ArtefactIntegrityError" in latency.error.item()
    html = (entries_run / "results" / "site" / "index.html").read_text()
    failures = html.split('id="failures-heading"')[1].split("</section>")[0]
    assert "<strong>fp16</strong>: evaluate failed: ArtefactIntegrityError: " in failures
    assert "<strong>unreachable</strong>: build failed: " in failures
    assert "<strong>nan-model</strong>: non-finite logits (NaN/inf) on " in failures
    # the Pareto ranking holds the teacher only: every other variant is listed as not ranked, with its reason
    assert (entries_run / "results" / "logs" / "run_status.log").read_text().startswith("run status: FAILED")
    assert not (entries_run / "results" / "logs" / "run_ok").exists()


def test_a_dry_run_never_rewrites_the_resolved_config(entries_run: Path, tmp_path: Path):
    from tests.conftest import MIRROR

    resolved = entries_run / "results" / "classifier" / "config.resolved.json"
    before = (resolved.read_bytes(), resolved.stat().st_mtime_ns)
    (tmp_path / "mirror").symlink_to(MIRROR)  # the same data through another path: a different resolved config
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SUITE_DATA_MIRROR", str(tmp_path / "mirror"))
        dry = snakemake(entries_run, "-n", "--cores", "2")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert (resolved.read_bytes(), resolved.stat().st_mtime_ns) == before


def test_nan_entry_is_recorded_as_failing_and_the_run_goes_on(entries_run: Path):
    table = pq.read_table(entries_run / "results" / "leaderboard.parquet").to_pandas()
    assert table.verified.all()
    stability = table[(table.variant == "nan-model") & (table.metric == "nonfinite_rate")].set_index("task")
    assert stability.loc["stability-stress", "status"] == "failed"
    assert stability.loc["stability-stress", "value"] == 100.0
    assert stability.loc["sst2", "value"] == 100.0  # every SST-2 logit NaN too (counted as wrong)
    # non-finite logits on a task fail every metric of it, naming the share, not only the stability task's
    sst2 = table[(table.variant == "nan-model") & (table.task == "sst2")]
    assert (sst2.status == "failed").all()
    accuracy = sst2[sst2.metric == "accuracy"]
    assert accuracy.error.item() == "non-finite logits (NaN/inf) on 872 of 872 instances (100.0 %)"
    teacher = table[(table.variant == "teacher") & (table.metric == "nonfinite_rate")]
    assert (teacher.status == "ok").all() and (teacher.value == 0.0).all()
    record = (entries_run / "results" / "classifier" / "models" / "nan-model" / "variant.json").read_text()
    assert '"method": "import"' in record and '"source": "local"' in record
    html = (entries_run / "results" / "site" / "index.html").read_text()
    assert "Community entries" in html and "failing:" in html
    assert "Rejected entries" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    assert "field &#39;trust_remote_code&#39;" in html and "field &#39;model.hub.revision&#39;" in html


def test_adding_one_entry_reruns_only_its_jobs_then_shows_it_verified(entries_run: Path):
    dry = snakemake(entries_run, "-n", "--cores", "2", "--quiet", "rules")
    # the failures are recorded results: nothing reruns but the verdict, which says again that they are there
    assert dry.returncode == 0 and job_counts(dry.stdout + dry.stderr) == {"all": 1, "run_status": 1}
    example = yaml.safe_load(EXAMPLE.read_text())
    example.update(teacher="tiny-bert", tasks=["sst2"], self_reported={"sst2": {"accuracy": 99.0}})
    (entries_run / "entries" / EXAMPLE.name).write_text(yaml.safe_dump(example))
    dry = snakemake(entries_run, "-n", "--cores", "2", "--quiet", "rules")
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0, out
    # the entry's build, its evaluation (its one task), its measurement; then gather, combine and render
    assert job_counts(out) == {
        "all": 1,
        "build_variant": 1,
        "evaluate": 1,
        "measure": 1,
        "gather": 1,
        "combine": 1,
        "render": 1,
        "run_status": 1,
    }, out
    done = snakemake(entries_run, "--cores", "2")
    assert done.returncode == 1 and "Error in rule run_status" in done.stderr, (done.stdout + done.stderr)[-3000:]
    table = pq.read_table(entries_run / "results" / "leaderboard.parquet").to_pandas()
    rows = table[table.variant == "example-l1-pruned-40"]
    assert set(rows.task) == {"sst2", "system"} and (rows.status == "ok").all()
    accuracy = rows[(rows.task == "sst2") & (rows.metric == "accuracy")].value.item()
    page = (entries_run / "results" / "site" / "variants" / "example-l1-pruned-40.html").read_text()
    assert "Self-reported by the submitter vs verified by the suite" in page
    assert f"<td>99.00</td><td>{accuracy:.2f} [" in page and f"+{99.0 - accuracy:.2f} pts" in page
    shutil.rmtree(
        entries_run / "results" / "classifier" / "models", ignore_errors=True
    )  # keep the temp directory small
