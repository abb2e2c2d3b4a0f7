# Config validation, wildcard constraints and input functions: no rules here.
import dataclasses
import json
import os
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

from suite.compress import METHODS
from suite.config import write_resolved
from suite.errors import SuiteInputError
from suite.plan import check_data, load
from suite.specs import TEACHER

# torch.compile's inductor cache lives with the results (not in /tmp), so deleting results/ really starts from nothing
# and a cluster job finds the cache its workflow wrote; an explicit TORCHINDUCTOR_CACHE_DIR wins.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path("results/cache/inductor").resolve()))

envvars:
    "TORCHINDUCTOR_CACHE_DIR",


try:
    SUITE = load(config, Path(workflow.basedir), label=", ".join(str(f) for f in workflow.configfiles))
    check_data(SUITE)  # sha256, fields and labels of every split used, before any long job starts
except SuiteInputError as exc:
    raise WorkflowError(str(exc)) from None

# The validated config with its task definitions, read by every job (`suite … --resolved`).
RESOLVED = "results/config.resolved.json"
write_resolved(SUITE, Path(RESOLVED))

VARIANTS = SUITE.variant_ids
STUDENTS = [v.id for v in SUITE.variants]
TASKS = [t.name for t in SUITE.tasks]
SCHEMA_FILE = str(Path(workflow.basedir) / "leaderboard" / "schema.yaml")


def _alternatives(names):
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


wildcard_constraints:
    variant=_alternatives(VARIANTS),
    student=_alternatives(STUDENTS),


TEACHER_LOGITS = "results/distill/teacher_logits.parquet"


def variant_inputs(wildcards):
    """The parent's artefact, and the teacher's logits for methods that distil from the teacher."""
    spec = SUITE.variant(wildcards.student)
    inputs = {"parent": f"results/models/{spec.parent}"}
    if METHODS.get(spec.method).NEEDS_TEACHER_LOGITS:
        inputs["logits"] = TEACHER_LOGITS
    return inputs


def distillation_recipe():
    return json.dumps(dataclasses.asdict(SUITE.distillation), sort_keys=True)


def variant_recipe(wildcards):
    """The student's own step, so that changing it re-runs exactly that variant (and what descends from it)."""
    spec = SUITE.variant(wildcards.student)
    return json.dumps({"method": spec.method, "params": spec.params}, sort_keys=True)


def teacher_recipe():
    raw = SUITE.raw["config"]
    return json.dumps({"teacher": raw["teacher"], "seed": raw["seed"]}, sort_keys=True)


def variant_task_definitions(wildcards):
    """The definitions of the tasks the variant runs: changing one re-runs the evaluations that include it."""
    tasks = SUITE.variant_tasks(wildcards.variant)
    return json.dumps({t: SUITE.raw["tasks"][t]["definition"] for t in tasks}, sort_keys=True)
