"""Time every task of a config on one variant artefact: data/generation, predict (inference) and score, per task.

Usage: python scripts/bench_tasks.py --model /work/run-default/results/models/teacher [--config config/config.yaml]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a variant artefact directory")
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--variant", default="teacher")
    args = parser.parse_args()

    import torch

    from suite.artefacts import load_artefact
    from suite.plan import load_file
    from suite.tasks import TASK_KINDS, load_task_data

    cfg = load_file(args.config)
    torch.set_num_threads(cfg.threads)
    os.environ.setdefault("TQDM_DISABLE", "1")
    start = time.perf_counter()
    model, _ = load_artefact(args.model)
    load_s = time.perf_counter() - start
    print(f"model load {load_s:.2f} s ({args.model}), torch threads {torch.get_num_threads()}")
    print(f"{'task':<22}{'instances':>10}{'distinct':>10}{'data s':>9}{'predict s':>11}{'score s':>9}")
    totals = [0.0, 0.0, 0.0]
    for task in cfg.tasks:
        kind = TASK_KINDS.get(task.kind)()
        t0 = time.perf_counter()
        data = load_task_data(task, cfg.data_mirror, cfg.data_cache)
        t1 = time.perf_counter()
        table = kind.predict(model, args.variant, task, data, cfg.evaluate)
        t2 = time.perf_counter()
        kind.score(table, args.variant, task, cfg.evaluate, cfg.seed)
        t3 = time.perf_counter()
        for i, value in enumerate((t1 - t0, t2 - t1, t3 - t2)):
            totals[i] += value
        sizes = f"{task.name:<22}{len(data.texts):>10}{len(set(data.texts)):>10}"
        print(f"{sizes}{t1 - t0:>9.2f}{t2 - t1:>11.2f}{t3 - t2:>9.2f}")
    print(f"{'total':<42}{totals[0]:>9.2f}{totals[1]:>11.2f}{totals[2]:>9.2f}")
    print(f"all tasks, one variant (load + data + predict): {load_s + totals[0] + totals[1]:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
