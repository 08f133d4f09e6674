"""Write <model>/parity.json: reference outputs from onnxruntime (CPU) for the
model's sample PNGs, preprocessed exactly as its manifest.json says.

Preprocessing (no resize; samples are at the native input size):
  decode PNG as 8-bit RGB or gray -> value = (pixel * scale - mean[c]) / std[c]
  -> NCHW or NHWC float32 with batch 1.
Tabular features (if any) are encoded in manifest order: one_hot -> one value
per option; number -> value/divide_by (default when missing) plus, with
missing_flag, 1.0 if missing else 0.0.

Cases: without tabular input, each sample (up to 4) with tabular {}; with it,
the first samples paired with {} (defaults), and three filled-in records.

Explanations: "cam" -> cam_sum = sum of the model's CAM output; "ablation_cam"
(Ablation-CAM, Desai & Ramaswamy, WACV 2020, on the pooled features; see
ablation_cam below) -> cam_sum = sum of the un-normalised map and cam_shape =
[h, w]; anything else (occlusion) -> cam_sum null, no cam_shape.

Rerun from the repository root (venv from models/requirements.txt):
    python models/parity.py models/diagnosisnet
    python models/parity.py models/sklesion
"""
import json
import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

TABULAR_CASES = [
    {},
    {"age": 45, "sex": "male", "site": "trunk"},
    {"age": 70, "sex": "female", "site": "leg_genital"},
    {"age": 30, "sex": "female", "site": "head_neck"},
]


def image_tensor(path, spec):
    im = Image.open(path).convert("RGB" if spec["channels"] == "rgb" else "L")
    if im.size != (spec["width"], spec["height"]):
        raise SystemExit(f"{path}: {im.size} is not the native {spec['width']}x{spec['height']}")
    px = np.asarray(im, dtype=np.float32)
    if px.ndim == 2:
        px = px[:, :, None]
    mean = np.asarray(spec["mean"], np.float32)
    std = np.asarray(spec["std"], np.float32)
    x = (px * np.float32(spec["scale"]) - mean) / std
    if spec["layout"] == "NCHW":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x[None], dtype=np.float32)


def tabular_tensor(record, spec):
    values = []
    for f in spec["features"]:
        v = record.get(f["field"])
        if f["kind"] == "one_hot":
            choice = v if v in f["options"] else f["default"]
            values += [1.0 if o == choice else 0.0 for o in f["options"]]
        elif f["kind"] == "number":
            missing = v is None
            values.append((f["default"] if missing else float(v)) / f["divide_by"])
            if f.get("missing_flag"):
                values.append(1.0 if missing else 0.0)
        else:
            raise SystemExit(f"unknown feature kind {f['kind']}")
    return np.asarray([values], dtype=np.float32)


def ablation_cam(features, probabilities, tabular, head, expl):
    """Reference Ablation-CAM on the pooled features.

    features: the model's last conv map A, [1,h,w,K] (NHWC) or [1,K,h,w] (NCHW);
    probabilities: the model's output [1,C]; tabular: [1,T] or None;
    head: onnxruntime session of the layers after global average pooling.
    c = argmax class, y = probabilities[c], P = GAP(A) [K]; P_k = P with entry k
    set to 0 (batch of K rows, tabular row repeated); y_k = head(P_k)[c];
    w_k = (y - y_k) / y (0 if y == 0); cam[i,j] = max(0, sum_k w_k A[i,j,k]).
    Returns (cam [h,w] float32, un-normalised, c)."""
    a = features[0]
    if expl.get("layout", "NHWC") == "NCHW":
        a = a.transpose(1, 2, 0)
    a = np.ascontiguousarray(a, dtype=np.float32)           # [h,w,K]
    k = a.shape[2]
    c = int(np.argmax(probabilities.ravel()))
    y = float(probabilities.ravel()[c])
    pooled = a.mean(axis=(0, 1), dtype=np.float64).astype(np.float32)
    batch = np.repeat(pooled[None], k, axis=0)
    batch[np.arange(k), np.arange(k)] = 0.0
    feeds = {expl["head_pooled"]: batch}
    if expl.get("head_tabular"):
        feeds[expl["head_tabular"]] = np.repeat(tabular.reshape(1, -1), k, axis=0)
    yk = head.run([expl["head_output"]], feeds)[0][:, c].astype(np.float64)
    w = (y - yk) / y if y != 0 else np.zeros(k)
    cam = np.maximum(a.astype(np.float64) @ w, 0.0)
    return cam.astype(np.float32), c


def main(model_dir):
    with open(os.path.join(model_dir, "manifest.json")) as f:
        man = json.load(f)
    samples = sorted(p for p in os.listdir(os.path.join(model_dir, "samples"))
                     if p.endswith(".png"))
    if man["tabular"]:
        pairs = [(samples[i % len(samples)], rec) for i, rec in enumerate(TABULAR_CASES)]
    else:
        pairs = [(s, {}) for s in samples[:4]]

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(model_dir, "model.onnx"), opts,
                                providers=["CPUExecutionProvider"])
    expl = man.get("explanation") or {}
    fetch = [man["output"]["name"]]
    head = None
    if expl.get("method") == "cam":
        fetch.append(expl["output"])
    elif expl.get("method") == "ablation_cam":
        fetch.append(expl["features"])
        head = ort.InferenceSession(os.path.join(model_dir, expl["head"]), opts,
                                    providers=["CPUExecutionProvider"])
    cases = []
    for sample, record in pairs:
        rel = f"samples/{sample}"
        feeds = {man["image"]["input"]: image_tensor(os.path.join(model_dir, rel), man["image"])}
        if man["tabular"]:
            feeds[man["tabular"]["input"]] = tabular_tensor(record, man["tabular"])
        outs = sess.run(fetch, feeds)
        case = {
            "image": rel,
            "tabular": record,
            "output": [float(v) for v in outs[0].ravel()],
            "cam_sum": float(outs[1].sum(dtype=np.float64)) if len(outs) > 1 else None,
        }
        if head is not None:
            tab = feeds.get(man["tabular"]["input"]) if man["tabular"] else None
            cam, _ = ablation_cam(outs[1], outs[0], tab, head, expl)
            case["cam_sum"] = float(cam.sum(dtype=np.float64))
            case["cam_shape"] = list(cam.shape)
        cases.append(case)
        top = int(np.argmax(outs[0]))
        print(f"{rel} {record} -> {man['labels'][top]['id']} {outs[0].ravel()[top]:.4f}")
    with open(os.path.join(model_dir, "parity.json"), "w") as f:
        json.dump({"runtime": f"onnxruntime {ort.__version__}", "cases": cases}, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1]))
