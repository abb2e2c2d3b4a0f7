"""The SST-2 mirror read through 🤗 datasets: every row, the documented label counts, stripped text."""

import numpy as np

from suite.plan import load_file


def test_sst2_dev_from_the_mirror(repo, mirror, monkeypatch, tmp_path):
    monkeypatch.setenv("SUITE_DATA_MIRROR", str(mirror))
    monkeypatch.chdir(tmp_path)  # the datasets cache goes under the working directory
    from suite.data import load_split

    cfg = load_file(repo / "config" / "classifier.yaml", repo)
    data = load_split(cfg.task("sst2"), "validation", cfg.data_mirror, cfg.data_cache)
    assert len(data.texts) == 872
    assert int(np.sum(data.labels == 1)) == 444 and int(np.sum(data.labels == 0)) == 428  # PROVENANCE.md
    assert data.data_sha256 == "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0"
    assert data.source == "mirror:sst2/dev.tsv"
    assert all(t == t.strip() and t for t in data.texts)  # GLUE's trailing space is stripped
    assert data.texts[0] == "it 's a charming and often affecting journey ."
