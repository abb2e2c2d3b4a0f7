"""The memory probe a fresh interpreter runs: load one variant, run the task inputs, print the peak RSS as JSON.

Started by `suite.trackers.memory.peak_rss_in_subprocess` (`python -m suite.memory_probe …`), so no variant's
memory is seen by another's. It imports the suite's modules before its baseline, like the runtimes, so that
`model_rss_mb` compares models, not libraries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from suite.artefacts import load_artefact
from suite.trackers.memory import rss_mib


def probe(
    model_dir: str, texts_file: str, batch_size: int, max_length: int, threads: int, device: str = "cpu"
) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    # Every backend's runtime is imported before the baseline, so model_rss_mb compares models, not libraries.
    import onnxruntime  # noqa: F401
    import transformers  # noqa: F401

    baseline = rss_mib()  # the interpreter with torch, transformers and onnxruntime imported, before the model exists

    model, _ = load_artefact(model_dir, device)
    loaded = rss_mib()
    texts = json.loads(Path(texts_file).read_text())
    model.predict_logits(texts, batch_size, max_length)
    result = {"peak_rss_mb": rss_mib(), "baseline_rss_mb": baseline, "after_load_rss_mb": loaded}
    if device.startswith("cuda"):
        result["cuda_max_memory_allocated_mb"] = torch.cuda.max_memory_allocated() / (1 << 20)
    return result


if __name__ == "__main__":
    model_dir, texts_file, batch_size, max_length, threads, device = sys.argv[1:7]
    print(json.dumps(probe(model_dir, texts_file, int(batch_size), int(max_length), int(threads), device)))
