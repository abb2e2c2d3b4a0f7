# Config validation, wildcard constraints and input functions: no rules here.
import dataclasses
import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from suite import entries
from suite.compress import METHODS
from suite.config import MIRROR_ENV, PLANNED_CONFIG_HASHES, write_resolved
from suite.errors import SuiteInputError
from suite.plan import check_data, load_tracks
from suite.specs import TEACHER

# torch.compile's inductor cache lives with the results (not in /tmp), so deleting results/ really starts from nothing
# and a cluster job finds the cache its workflow wrote; an explicit TORCHINDUCTOR_CACHE_DIR wins.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path("results/cache/inductor").resolve()))


# The run's tracks, one per model family (config/config.yaml lists their config files; a config without `tracks`
# is one track itself). Each is built into results/<family>/.
try:
    TRACKS = load_tracks(config, Path(workflow.basedir), label=", ".join(str(f) for f in workflow.configfiles))
    for _suite in TRACKS.values():
        check_data(_suite)  # sha256, fields and labels of every split used, before any long job starts
except SuiteInputError as exc:
    raise WorkflowError(str(exc)) from None


# Each job checks that the resolved config it reads is the one this load planned it with (suite.cli): the config
# hash of every track, passed in the environment (not as params, which would re-run every job when one setting moves).
os.environ[PLANNED_CONFIG_HASHES] = ",".join(f"{family}={cfg.config_hash}" for family, cfg in TRACKS.items())
# The data mirror the tracks resolved, for a cluster job that re-reads the workflow in a clean environment; set only
# when every track reads the same one (the resolved configs carry each track's own either way).
_MIRRORS = {cfg.data_mirror for cfg in TRACKS.values() if cfg.data_mirror}
if len(_MIRRORS) == 1:
    os.environ.setdefault(MIRROR_ENV, next(iter(_MIRRORS)))
PASSED_ENV = ["TORCHINDUCTOR_CACHE_DIR", PLANNED_CONFIG_HASHES] + ([MIRROR_ENV] if MIRROR_ENV in os.environ else [])


envvars:
    *PASSED_ENV,


# The interpreter every job runs: the one running this workflow (which imports the suite, so it has it installed),
# by absolute path, so a job started in a clean environment (a cluster node, `env -i`) needs no PATH; with
# --sdm conda/apptainer, the environment's own `python`, which finds the suite's code in the workflow's directory
# (envs/suite.yaml holds its dependencies, not the suite).
PYTHON = (
    f"env PYTHONPATH={shlex.quote(workflow.basedir)} python"
    if workflow.deployment_settings.deployment_method
    else shlex.quote(sys.executable)
)
SUITE = f"{PYTHON} -m suite"


def resolved_file(track):
    """The validated config of a track with its task definitions, read by every job (`suite … --resolved`)."""
    return f"results/{track}/config.resolved.json"


for _track, _suite in TRACKS.items():
    if not Path(resolved_file(_track)).is_file():  # the first load: jobs and render need it (a dry run too)
        write_resolved(_suite, Path(resolved_file(_track)))
    for _skip in _suite.raw.get("skipped") or []:  # said at every load; the site lists them too
        print(f"{_suite.label}: variant '{_skip['id']}' is not built here: {_skip['reason']}", file=sys.stderr)
    for _entry in entries.rejected(_suite.raw):  # said at every load; run_status and the site list them too
        for _problem in _entry.get("problems") or []:  # each message names the entry file
            print(f"entry rejected, not run: {_problem['message']}", file=sys.stderr)


onstart:
    # A run that starts brings each track's resolved config up to date (rewritten only when its content changed);
    # a dry run (`snakemake -n`) never writes it, so it cannot change what a running workflow's jobs read. Each job
    # checks the config hash it was planned with (SUITE_PLANNED_CONFIG_HASHES).
    for _track, _suite in TRACKS.items():
        write_resolved(_suite, Path(resolved_file(_track)))

# The site's display schema of each family (leaderboard/schema.yaml: the classifier's); the first is the site's root.
DISPLAY_SCHEMAS = {"classifier": "schema.yaml", "llm": "llm.schema.yaml"}
SCHEMA_FILES = [str(Path(workflow.basedir) / "leaderboard" / DISPLAY_SCHEMAS[family]) for family in TRACKS]


def _alternatives(names):
    return "|".join(re.escape(n) for n in sorted(set(names))) if names else "(?!)"


wildcard_constraints:
    track=_alternatives(TRACKS),
    variant=_alternatives([v for s in TRACKS.values() for v in s.variant_ids]),
    student=_alternatives([v.id for s in TRACKS.values() for v in s.variants]),


def track_variants(track):
    """(track, variant) of every variant of every track, for expand(zip)."""
    return [(t, v) for t in (TRACKS if track is None else [track]) for v in TRACKS[t].variant_ids]


def suite_of(wildcards):
    return TRACKS[wildcards.track]


def threads_of(wildcards):
    return TRACKS[wildcards.track].threads


def quality_threads_of(wildcards):
    """Threads of a quality job (evaluate): a family may run them one thread each, two side by side."""
    return TRACKS[wildcards.track].evaluate_threads


def teacher_logits_file(track):
    return f"results/{track}/distill/teacher_logits.parquet"


def variant_inputs(wildcards):
    """The parent's artefact, and the teacher's logits for methods that distil from the teacher."""
    spec = TRACKS[wildcards.track].variant(wildcards.student)
    inputs = {"parent": f"results/{wildcards.track}/models/{spec.parent}"}
    if METHODS.get(spec.method).NEEDS_TEACHER_LOGITS:
        inputs["logits"] = teacher_logits_file(wildcards.track)
    return inputs


def distillation_recipe(wildcards):
    return json.dumps(dataclasses.asdict(TRACKS[wildcards.track].distillation), sort_keys=True)


def variant_recipe(wildcards):
    """The student's own step, so that changing it re-runs exactly that variant (and what descends from it)."""
    spec = TRACKS[wildcards.track].variant(wildcards.student)
    return json.dumps({"method": spec.method, "params": spec.params}, sort_keys=True)


def teacher_recipe(wildcards):
    raw = TRACKS[wildcards.track].raw["config"]
    return json.dumps({"teacher": raw["teacher"], "seed": raw["seed"]}, sort_keys=True)


def variant_task_definitions(wildcards):
    """The definitions of the tasks the variant runs: changing one re-runs the evaluations that include it."""
    suite = TRACKS[wildcards.track]
    tasks = suite.variant_tasks(wildcards.variant)
    return json.dumps({t: suite.raw["tasks"][t]["definition"] for t in tasks}, sort_keys=True)


def measure_settings(wildcards):
    raw = TRACKS[wildcards.track].raw["config"]
    return json.dumps({k: raw[k] for k in ("latency", "throughput", "energy", "decode")}, sort_keys=True)


def track_outputs(pattern):
    """`pattern` (with {track} and {variant}) for every variant of every track."""
    return [pattern.format(track=t, variant=v) for t, v in track_variants(None)]


def track_files(pattern):
    return [pattern.format(track=t) for t in TRACKS]


def suite_command(arguments):
    """`python -m suite <arguments>` with the workflow's interpreter (a shell command template)."""
    return f"{SUITE} {arguments}"


def job(command, stage, record):
    """A job's shell command (`python -m suite <command>`, reading the track's resolved config, logging to {log});
    when it fails, `suite record-failure` writes the job's outputs as the record of why (`record`: those outputs'
    options), so the variant's later jobs record failed rows and gather, combine and render still run."""
    common = "--resolved {params.resolved}"
    return (
        f"{SUITE} {command} {common} > {{log}} 2>&1"
        f" || {SUITE} record-failure {stage} {common} --log {{log}} --exit-status $? {record} >> {{log}} 2>&1"
    )


def job_resources(stage):
    """A job's `mem_mb` and `runtime` (minutes) for a scheduler, from the track's `resources` config (per stage;
    profiles may override them with set-resources); with device cuda also `gpu` (default 1) and, where the config
    names one, `gpu_model`. The job itself checks that it got a GPU (suite.pipeline)."""

    def get(name):
        return lambda wildcards: TRACKS[wildcards.track].raw["config"]["resources"][stage][name]

    def gpus(wildcards):
        cfg = TRACKS[wildcards.track]
        return cfg.raw["config"]["resources"][stage].get("gpu", 1 if cfg.device.startswith("cuda") else 0)

    resources = {"mem_mb": get("mem_mb"), "runtime": get("runtime"), "gpu": gpus}
    if any("gpu_model" in cfg.raw["config"]["resources"][stage] for cfg in TRACKS.values()):
        resources["gpu_model"] = lambda wildcards: TRACKS[wildcards.track].raw["config"]["resources"][stage].get(
            "gpu_model", ""
        )
    return resources


def variant_files(pattern):
    """An input function: `pattern` (with {variant}) for every variant of the wildcards' track."""

    def files(wildcards):
        return [pattern.format(track=wildcards.track, variant=v) for v in TRACKS[wildcards.track].variant_ids]

    return files
