"""The model-family seam: the config's family decides which task kinds, methods and formats apply, checked at load."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from suite.compress import METHODS
from suite.errors import SuiteInputError
from suite.families import CLASSIFIER, FAMILIES, ModelFamily
from suite.formats import FORMAT_FP32
from suite.plan import load
from suite.tasks import TASK_KINDS

REPO = Path(__file__).resolve().parent.parent


def test_the_classifier_family_is_the_default_and_is_registered(tiny_config, repo):
    cfg = load(copy.deepcopy(tiny_config), repo, "tiny.yaml")
    assert cfg.family == CLASSIFIER
    family = FAMILIES.get(cfg.family)()
    assert isinstance(family, ModelFamily)
    assert family.FULL_PRECISION_FORMAT == FORMAT_FP32
    assert family.MEASUREMENTS == ("size", "latency", "throughput", "flops", "profile", "memory", "energy")
    # the tiny teacher's shape, read from its config without loading weights
    assert family.teacher_arch(cfg.teacher.source) == {
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
    }


def test_an_unknown_family_is_refused_with_the_known_ones(tiny_config, repo):
    config = copy.deepcopy(tiny_config)
    config["family"] = "clasifier"
    with pytest.raises(SuiteInputError) as err:
        load(config, repo, "my.yaml")
    assert str(err.value) == (
        "my.yaml: field 'family': unknown model family 'clasifier'; did you mean 'classifier'? (known: classifier, llm)"
        " — fix: `suite families` lists the model families"
    )


def test_a_method_of_another_family_is_refused_at_load(tiny_config, repo, monkeypatch):
    monkeypatch.setattr(METHODS.get("cast"), "FAMILIES", frozenset({"causal-lm"}))
    with pytest.raises(SuiteInputError) as err:
        load(copy.deepcopy(tiny_config), repo, "my.yaml")
    assert "applies to ['causal-lm'] models, not the run's 'classifier' family" in str(err.value)
    assert "field 'variants[" in str(err.value) and ".method'" in str(err.value)


def test_a_task_kind_of_another_family_is_refused_at_load(tiny_config, repo, monkeypatch):
    monkeypatch.setattr(TASK_KINDS.get("checklist"), "FAMILIES", frozenset({"causal-lm"}))
    with pytest.raises(SuiteInputError) as err:
        load(copy.deepcopy(tiny_config), repo, "my.yaml")
    assert str(err.value).startswith("tasks/checklist-sentiment/checklist-sentiment.yaml: field 'kind': a 'checklist'")
    assert "scores ['causal-lm'] models, not the run's 'classifier' family" in str(err.value)


def test_suite_families_lists_task_kinds_methods_and_measurements():
    done = subprocess.run(
        [sys.executable, "-m", "suite", "families"], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("classifier: ")
    assert "  full-precision format: torch-fp32" in lines
    assert "  task kinds: checklist, classification, contrast, fairness, perturbation, stability" in lines
    assert "  measurements: size, latency, throughput, flops, profile, memory, energy" in lines
    methods = next(line for line in lines if line.startswith("  methods: "))
    classifier = {name for name in METHODS.names() if "classifier" in METHODS.get(name).FAMILIES}
    assert set(methods.removeprefix("  methods: ").split(", ")) == classifier
    llm = lines.index(next(line for line in lines if line.startswith("llm: ")))
    assert lines[llm + 2 : llm + 5] == [
        "  task kinds: lm_eval",
        "  methods: cast, distil_lm_layers, gguf_quantize, sparse_24, torchao_int8_dynamic, torchao_int8_weight_only",
        "  measurements: size, per_token, flops, profile, memory, energy",
    ]
