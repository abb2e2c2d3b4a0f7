"""The Hub paths stay real code; without a network they end in one clear error (HF_HUB_OFFLINE: no traffic)."""

import pytest

from suite.errors import SuiteInputError
from suite.models import load_source_model, load_tokenizer
from suite.specs import DataFile, DatasetSpec, ModelSource, TaskSpec

HUB_MODEL = ModelSource(
    kind="hub",
    id="distilbert/distilbert-base-uncased-finetuned-sst-2-english",
    revision="714eb0fa89d2f80546fda750413ed43d93601a13",
)


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Offline, with an empty cache (nothing to fall back on). The libraries read these variables once, at import:
    where an earlier test imported them, the environment alone changes nothing (and each load here waited on the
    network, ~46 s a test in the full suite), so their constants are set too."""
    import datasets.config
    import huggingface_hub.constants

    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache / "hub"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def test_hub_model_offline_is_one_clear_error():
    with pytest.raises(SuiteInputError) as info:
        load_source_model(HUB_MODEL, {0: "NEGATIVE", 1: "POSITIVE"}, seed=0, label="cfg.yaml", field="teacher.source")
    message = str(info.value)
    assert message.startswith("cfg.yaml: field 'teacher.source': cannot load distilbert/")
    assert "714eb0fa89d2f80546fda750413ed43d93601a13" in message and "fix:" in message


def test_hub_tokenizer_offline_is_one_clear_error():
    with pytest.raises(SuiteInputError, match="cannot load the tokenizer"):
        load_tokenizer(HUB_MODEL)


def test_hub_dataset_offline_is_one_clear_error(tmp_path):
    from suite.data import load_split

    dataset = DatasetSpec(
        name="sst2",
        format="tsv",
        text_field="sentence",
        label_field="label",
        labels={0: "negative", 1: "positive"},
        files={"validation": DataFile("sst2/dev.tsv", "0" * 64)},
        hub_id="stanfordnlp/sst2",
        hub_revision="1" * 40,
    )
    task = TaskSpec("sst2", "1.0", "classification", "", dataset, "validation", ("accuracy",), "tasks/sst2/sst2.yaml")
    with pytest.raises(SuiteInputError) as info:
        load_split(task, "validation", mirror=None, cache_dir=str(tmp_path / "cache"))
    assert info.value.field == "dataset.hub"
    assert "not in the data mirror and the Hub load of stanfordnlp/sst2@1111" in str(info.value)
