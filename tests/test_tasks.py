"""Task kinds and generators: exact generated data, mirror parsing pitfalls, scoring, and a NaN model that fails
the stability task without crashing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from suite.config import load_task_dict, parse_task
from suite.data import NO_LABEL
from suite.specs import EvaluateSpec, TaskSpec
from suite.tasks import TASK_KINDS, load_task_data
from suite.tasks.checklist import expand
from suite.tasks.perturbation import PERTURBATIONS, instance_rng

SPEC = EvaluateSpec(threads=None, batch_size=16, max_length=32, bootstrap_resamples=100, confidence=0.95)


def task(repo: Path, name: str) -> TaskSpec:
    data, includes = load_task_dict(repo, name, "test", "tasks")
    return parse_task(data, f"tasks/{name}/{name}.yaml", includes)


@pytest.fixture
def cache(tmp_path: Path) -> str:
    return str(tmp_path / "cache")


# --- mirror data ---------------------------------------------------------------------------------------------


def test_uci_imdb_parses_to_1000_rows_with_quotes_and_u0085(repo, mirror, cache):
    data = load_task_data(task(repo, "uci-imdb"), str(mirror), cache)
    assert len(data.texts) == 1000
    assert int(np.sum(data.labels == 1)) == 500 and int(np.sum(data.labels == 0)) == 500
    assert sum('"' in t for t in data.texts) == 43  # PROVENANCE.md: quotes are text, not CSV quoting
    assert "The script is\x85was there a script?" in data.texts  # U+0085 does not split the line
    assert all(t == t.strip() for t in data.texts)  # the two trailing spaces are stripped
    assert data.data_sha256 == "aef2e49e3da25714d61175e3a6e68eeef74a20a2f914318dc3be9947ea86512d"


@pytest.mark.parametrize(("name", "rows"), [("uci-amazon", 1000), ("uci-yelp", 1000)])
def test_uci_amazon_and_yelp(repo, mirror, cache, name, rows):
    data = load_task_data(task(repo, name), str(mirror), cache)
    assert len(data.texts) == rows and int(np.sum(data.labels == 1)) == 500


def test_uci_yelp_derives_from_amazon_by_include(repo):
    spec = task(repo, "uci-yelp")
    assert spec.includes == ("tasks/uci-amazon/uci-amazon.yaml",)
    assert spec.kind == "classification" and spec.split == "test" and spec.dataset.columns == ("sentence", "label")
    assert spec.dataset.files["test"].path.endswith("yelp_labelled.txt") and spec.version == "1.0"


def test_advglue_has_148_sentences(repo, mirror, cache):
    data = load_task_data(task(repo, "advglue-sst2"), str(mirror), cache)
    assert len(data.texts) == 148
    assert int(np.sum(data.labels == 1)) == 76 and int(np.sum(data.labels == 0)) == 72


# --- generators ------------------------------------------------------------------------------------------------


def test_perturbations_exact_output_for_a_fixed_seed():
    lexicon = {"keyboard": {"g": ["f"], "r": ["e"], "e": ["w"], "f": ["d"], "i": ["u"]}}
    text = "a great film , truly ."
    out = {
        name: PERTURBATIONS.get(name)(text, 1.0, instance_rng(2024, name, 3, 5), {**lexicon, "fillers": ["um"]})
        for name in ("typo", "char_swap", "casing", "punctuation", "filler")
    }
    assert out == {
        "typo": "a grwat fulm , teuly .",  # one keyboard neighbour per word ("a" has none in this lexicon)
        "char_swap": "a rgeat iflm , trluy .",  # one adjacent transposition per word of 3+ letters
        "casing": "A GREAT FILM , TRULY .",
        "punctuation": "a great film truly",
        "filler": "a um great um film um , truly um .",
    }
    # the same seed gives the same text; another instance index another stream
    again = PERTURBATIONS.get("typo")(text, 1.0, instance_rng(2024, "typo", 3, 5), lexicon)
    assert again == out["typo"]


def test_sst2_perturb_instances(repo, mirror, cache):
    spec = task(repo, "sst2-perturb")
    assert spec.includes == ("tasks/sst2/sst2.yaml",) and spec.dataset.name == "glue-sst2"
    data = load_task_data(spec, str(mirror), cache)
    assert data.slices.count("clean") == 100
    assert len(data.texts) == 100 * (1 + 3 + 3 + 3 + 2 + 3 + 1 + 3)
    first = data.slices.index("contraction_s1")
    ref = int(data.refs[first])
    assert data.slices[ref] == "clean" and data.labels[ref] == data.labels[first]
    assert load_task_data(spec, str(mirror), cache).data_sha256 == data.data_sha256  # deterministic


def test_checklist_template_expansion_exact_sentences():
    lexicon = {"noun": ["movie", "plot"], "pos_adj": ["good", "great"]}
    assert [t for t, _ in expand("The {noun} was not {pos_adj}.", lexicon)] == [
        "The movie was not good.",
        "The movie was not great.",
        "The plot was not good.",
        "The plot was not great.",
    ]


def test_checklist_task_generation(repo, cache):
    data = load_task_data(task(repo, "checklist-sentiment"), None, cache)
    tests = dict.fromkeys(data.slices)
    assert len(tests) == 10 and "inv_person_name" in tests
    i = data.slices.index("mft_negated_positive")
    assert data.labels[i] == 0 and data.meta[i]["type"] == "mft"
    # every INV variant is its base with one name swapped
    for k, (text, ref) in enumerate(zip(data.texts, data.refs, strict=True)):
        if data.slices[k] == "inv_person_name" and ref >= 0:
            base = data.texts[ref]
            assert text.split(" ", 1)[1] == base.split(" ", 1)[1] and text != base


def test_eec_generation(repo, cache):
    data = load_task_data(task(repo, "eec-fairness"), None, cache)
    assert len(data.texts) == 7 * 60 * 8 + 4 * 60  # templates with emotion words × persons × words, + neutral
    assert "Ebony feels " in data.texts[0] or data.texts[0].startswith("Ebony feels")
    assert "She found herself in an amazing situation." in data.texts or any(
        t.startswith("She found herself in a") for t in data.texts
    )
    genders = {m["gender"] for m in data.meta}
    races = {m["race"] for m in data.meta}
    assert genders == {"female", "male"} and races == {"african_american", "european", None}
    assert int(np.sum(data.labels == NO_LABEL)) == 240


def test_eec_file_is_not_shipped(repo):
    shipped = [p for p in repo.rglob("*") if ".venv" not in p.parts and p.is_file()]
    assert not [
        p for p in shipped if "Equity-Evaluation-Corpus" in p.name or (p.suffix == ".csv" and "eec" in p.name.lower())
    ]


# --- scoring ---------------------------------------------------------------------------------------------------


class FakeModel:
    """A stand-in for Classifier: logits from a function of the text."""

    def __init__(self, fn) -> None:
        self.fn = fn

    def predict_logits(self, texts, batch_size, max_length, progress=False):
        return np.array([self.fn(t) for t in texts], dtype=np.float64).reshape(len(texts), 2)


def run(repo, name, model, mirror=None, cache="c"):
    spec = task(repo, name)
    data = load_task_data(spec, mirror, cache)
    kind = TASK_KINDS.get(spec.kind)()
    table = kind.predict(model, "v", spec, data, SPEC)
    return table, {r.metric: r for r in kind.score(table, "v", spec, SPEC, 0)}


def test_nan_model_fails_stability_without_crashing(repo, tmp_path):
    table, rows = run(repo, "stability-stress", FakeModel(lambda t: [np.nan, 0.0] if "😀" in t else [0.0, 1.0]))
    assert rows["nonfinite_rate"].status == "failed" and "unicode" in rows["nonfinite_rate"].error
    assert rows["nonfinite_rate"].value == pytest.approx(100 * 2 / 15)  # two stress inputs hold the emoji
    assert rows["nonfinite_rate@empty"].value == 0.0
    assert table.column("pred").to_pylist().count(-1) == 2


def test_model_error_is_recorded_not_raised(repo):
    def explode(text):
        if text == "":
            raise RuntimeError("boom")
        return [0.0, 1.0]

    table, rows = run(repo, "stability-stress", FakeModel(explode))
    assert rows["nonfinite_rate"].status == "failed" and "RuntimeError: boom" in rows["nonfinite_rate"].error
    assert json.loads(table.column("meta")[0].as_py())["error"] == "RuntimeError: boom"


def test_checklist_scoring_of_a_word_counting_model(repo):
    positive = {"good", "great", "excellent", "wonderful", "brilliant", "enjoyable", "beautiful", "fantastic", "loved"}

    def words(text):  # ignores negation: fails every negation test, passes invariance
        score = sum(w.strip(".,!").lower() in positive for w in text.split())
        return [0.0, 2.0 * score - 1.0]

    _, rows = run(repo, "checklist-sentiment", FakeModel(words))
    assert rows["failure_rate@mft_negated_positive"].value > 80
    assert rows["failure_rate@inv_person_name"].value == 0.0
    assert rows["failure_rate@mft_positive_words"].value < 40


def test_perturbation_scoring_flip_rate(repo, mirror, cache):
    # predicts positive iff the text has an upper-case letter: casing flips, nothing else does
    _, rows = run(
        repo, "sst2-perturb", FakeModel(lambda t: [0.0, 1.0] if t != t.lower() else [1.0, 0.0]), str(mirror), cache
    )
    assert rows["flip_rate@casing_s3"].value == 100.0
    assert rows["flip_rate@typo_s1"].value == 0.0
    assert rows["flip_rate@worst_slice"].value == 100.0
    assert rows["accuracy@worst_case"].value <= min(r.value for k, r in rows.items() if k.startswith("accuracy@"))


def test_fairness_scoring_detects_a_name_bias(repo):
    def biased(text):  # positive for European-American names only
        return [0.0, 1.0] if text.split()[0] in {"Amanda", "Adam", "Betsy", "Alan"} else [1.0, 0.0]

    _, rows = run(repo, "eec-fairness", FakeModel(biased))
    assert rows["positive_rate@race=african_american"].value == 0.0
    assert rows["dp_diff@race"].value == pytest.approx(rows["positive_rate@race=european"].value)
    assert rows["dp_diff@race"].ci_low <= rows["dp_diff@race"].value <= rows["dp_diff@race"].ci_high
    assert rows["mean_p_positive@gender=female"].unit == "probability"
