"""Baseline latency of a model folder under onnxruntime (CPU).

Loads <model>/model.onnx, builds the inputs of the first case in
<model>/parity.json (same preprocessing as models/parity.py), runs it
sequentially and prints ONE JSON line:
  {"runtime","model","threads","iterations","p50_ms","p99_ms","mean_ms","throughput_per_s"}

Rerun from the repository root (venv from models/requirements.txt):
    python models/bench_onnxruntime.py models/sklesion --threads 2 --iterations 50 --warmup 5
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity import image_tensor, tabular_tensor  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="onnxruntime latency baseline")
    ap.add_argument("model_dir")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    a = ap.parse_args()

    with open(os.path.join(a.model_dir, "manifest.json")) as f:
        man = json.load(f)
    with open(os.path.join(a.model_dir, "parity.json")) as f:
        case = json.load(f)["cases"][0]
    feeds = {man["image"]["input"]: image_tensor(os.path.join(a.model_dir, case["image"]),
                                                 man["image"])}
    if man["tabular"]:
        feeds[man["tabular"]["input"]] = tabular_tensor(case["tabular"], man["tabular"])

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(a.model_dir, "model.onnx"), opts,
                                providers=["CPUExecutionProvider"])
    for _ in range(a.warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(a.iterations):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1000)
    t = np.array(times)
    print(json.dumps({
        "runtime": f"onnxruntime {ort.__version__}",
        "model": man["name"],
        "threads": a.threads,
        "iterations": a.iterations,
        "p50_ms": round(float(np.percentile(t, 50)), 3),
        "p99_ms": round(float(np.percentile(t, 99)), 3),
        "mean_ms": round(float(t.mean()), 3),
        "throughput_per_s": round(1000.0 / float(t.mean()), 2),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
