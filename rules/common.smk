# Config validation, wildcard constraints and input functions: no rules here.
import json
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

from suite.config import load, write_resolved
from suite.data import check_data
from suite.errors import SuiteInputError
from suite.specs import TEACHER

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
    task=_alternatives(TASKS),


def parent_model(wildcards):
    return f"results/models/{SUITE.variant(wildcards.student).parent}"


def variant_recipe(wildcards):
    """The student's own step, so that changing it re-runs exactly that variant (and what descends from it)."""
    spec = SUITE.variant(wildcards.student)
    return json.dumps({"method": spec.method, "params": spec.params}, sort_keys=True)


def teacher_recipe():
    raw = SUITE.raw["config"]
    return json.dumps({"teacher": raw["teacher"], "seed": raw["seed"]}, sort_keys=True)


def task_definition(wildcards):
    return json.dumps(SUITE.raw["tasks"][wildcards.task]["definition"], sort_keys=True)
