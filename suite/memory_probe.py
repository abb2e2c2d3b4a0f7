"""The memory probe a fresh interpreter runs: load one variant, run the task inputs, print the peak RSS as JSON.

Started by `suite.trackers.memory.peak_rss_in_subprocess` (`python -m suite.memory_probe …`), so no variant's
memory is seen by another's. It imports the suite's modules before its baseline, like the runtimes, so that
`model_rss_mb` compares models, not libraries.

The inputs file holds what the loaded model's interface runs: a Classifier predicts a JSON list of texts at
`batch_size` and `max_length`; a CausalLM generates `new_tokens` greedy tokens after `prompt_ids` (a JSON object with
both; batch_size and max_length are then 1 and the sequence length, and unused).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from suite.artefacts import load_artefact
from suite.families.llm import CausalLM
from suite.models import Classifier
from suite.trackers.decode import forward_convention, greedy_decode
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
    run(model, json.loads(Path(texts_file).read_text()), batch_size, max_length)
    result = {"peak_rss_mb": rss_mib(), "baseline_rss_mb": baseline, "after_load_rss_mb": loaded}
    if device.startswith("cuda"):
        result["cuda_max_memory_allocated_mb"] = torch.cuda.max_memory_allocated() / (1 << 20)
    return result


def run(model: Any, inputs: Any, batch_size: int, max_length: int) -> None:
    """The workload of the model's interface on the inputs file's content."""
    if isinstance(model, CausalLM):
        if not isinstance(inputs, dict) or not {"prompt_ids", "new_tokens"} <= inputs.keys():
            raise ValueError("a causal LM's memory probe needs a JSON object with prompt_ids and new_tokens")
        module = model.callable
        with model.inference():
            greedy_decode(
                module,
                inputs["prompt_ids"],
                int(inputs["new_tokens"]),
                device=model.device,
                convention=forward_convention(module),
            )
    elif isinstance(model, Classifier):
        model.predict_logits(inputs, batch_size, max_length)
    else:
        raise TypeError(f"the memory probe cannot run a {type(model).__name__}")


if __name__ == "__main__":
    model_dir, texts_file, batch_size, max_length, threads, device = sys.argv[1:7]
    print(json.dumps(probe(model_dir, texts_file, int(batch_size), int(max_length), int(threads), device)))
