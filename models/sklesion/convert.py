"""Convert the Keras skin-lesion classifier shipped in the PyPI package
`sklesion` 0.2.2 to ONNX (fp16-stored weights, fp32 compute) and check it.

Steps:
  1. load sklesion/model.keras with Keras 3 on the torch backend and split it
     at the Xception trunk's global average pooling: trunk (up to
     block14_sepconv2_act, the last conv activation map A [1,8,8,2048] NHWC),
     the pooling, and the head (every layer after the pooling);
  2. torch.onnx.export (legacy TorchScript exporter, opset 17, batch 1) of
     trunk -> pooling -> head with inputs "image" [1,254,254,3] (raw RGB 0-255,
     NHWC) and "meta" [1,10], outputs "probabilities" [1,7] and "features"
     (A, float32 NHWC [1,8,8,2048]) -> model.onnx;
  3. torch.onnx.export of the head alone, dynamic batch on axis 0: inputs
     "pooled" [N,2048] and "meta" [N,10], output "probabilities" [N,7]
     -> head.onnx (used by the Ablation-CAM explanation, see MODEL_CARD.md);
  4. store every large float32 initializer of both files as float16 and insert
     a Cast back to float32 in front of its users (halves the file, compute
     stays fp32); the same threshold gives head.onnx exactly model.onnx's
     rounded head weights;
  5. print the max abs difference of the probabilities Keras vs ONNX fp32 vs
     ONNX fp16 on the PNGs in samples/ with a few metadata vectors, of the
     features Keras vs ONNX, of head(GAP(features), meta) vs the model's
     probabilities, and time one Ablation-CAM (onnxruntime, 1 thread).

Rerun (from the repository root, venv from models/requirements.txt active,
sklesion installed with `pip install --no-deps sklesion==0.2.2`):
    KERAS_BACKEND=torch python models/sklesion/convert.py
The fp32 intermediate goes to $TMPDIR (never into the repository).
"""
import glob
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import sklesion  # noqa: E402
import torch  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402
from PIL import Image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from parity import ablation_cam  # noqa: E402  (models/parity.py: the reference)

OUT = os.path.join(HERE, "model.onnx")
HEAD_OUT = os.path.join(HERE, "head.onnx")
FP32 = os.path.join(tempfile.gettempdir(), "sklesion_fp32.onnx")
HEAD_FP32 = os.path.join(tempfile.gettempdir(), "sklesion_head_fp32.onnx")
FEATURES_LAYER = "block14_sepconv2_act"  # last conv activation, right before the GAP
POOL_LAYER = "global_average_pooling2d"
EXPLANATION = {"method": "ablation_cam", "features": "features", "layout": "NHWC",
               "head": "head.onnx", "head_pooled": "pooled", "head_tabular": "meta",
               "head_output": "probabilities"}
MIN_FP16_ELEMENTS = 20000  # smaller tensors (depthwise kernels, BN, biases) stay fp32:
# with 1024 the probabilities moved by 2.1e-3, with 20000 by ~2e-4 for +0.6 MB


def meta_vector(sex=None, site=None, age=None):
    """The package's own encoding: sex(3) + site(5) + age/90 + age_missing."""
    sexes = ["female", "male", "unknown"]
    sites = ["arm", "head_neck", "leg_genital", "trunk", "unknown"]
    v = [0.0] * 10
    v[sexes.index(sex or "unknown")] = 1.0
    v[3 + sites.index(site or "unknown")] = 1.0
    v[8] = (51.90180032733224 if age is None else age) / 90.0
    v[9] = 1.0 if age is None else 0.0
    return np.array([v], dtype=np.float32)


def make_padding_static():
    """Keras' torch backend computes "same" padding from tensor shapes; under the
    TorchScript tracer those become graph values and export fails ("not
    constant"). The input size is fixed, so force them to Python ints."""
    import keras.src.backend.torch.nn as knn
    orig = knn._compute_padding_length

    def static(input_length, kernel_length, stride, dilation_rate=1):
        return orig(int(input_length), int(kernel_length), int(stride), int(dilation_rate))
    knn._compute_padding_length = static


def split(model):
    """(normalization, trunk, pooling, head) of the sklesion model; reuses the
    original layers (and so their weights). The head's wiring is the original
    one (checked against model.layers below and numerically in main)."""
    L = model.get_layer
    xc = L("xception")
    assert xc.layers[-1].name == POOL_LAYER, xc.layers[-1].name
    assert xc.layers[-2].name == FEATURES_LAYER, xc.layers[-2].name
    trunk = keras.Model(xc.inputs, xc.get_layer(FEATURES_LAYER).output, name="trunk")
    k = int(keras.tree.flatten(xc.output)[0].shape[-1])
    pooled = keras.Input((k,), name="pooled")
    meta = keras.Input((int(model.inputs[1].shape[-1]),), name="meta")
    img = L("batch_normalization_4")(L("dense")(L("dropout")(pooled)))
    tab = L("batch_normalization_6")(L("dense_2")(L("batch_normalization_5")(L("dense_1")(meta))))
    x = L("concatenate")([img, tab])
    out = L("dense_4")(L("batch_normalization_7")(L("dense_3")(L("dropout_1")(x))))
    head = keras.Model([pooled, meta], out, name="head")
    used = {"input_layer_2", "input_layer_3", "normalization", "xception"}
    used |= {layer.name for layer in head.layers if not isinstance(layer, keras.layers.InputLayer)}
    assert used == {layer.name for layer in model.layers}, used ^ {l.name for l in model.layers}
    return L("normalization"), trunk, xc.get_layer(POOL_LAYER), head


class Wrapper(torch.nn.Module):
    """image, meta -> (probabilities, features): the original model's
    computation, with the last conv map exposed as a second output."""

    def __init__(self, norm, trunk, pool, head):
        super().__init__()
        self.norm, self.trunk, self.pool, self.head = norm, trunk, pool, head

    def forward(self, image, meta):
        a = self.trunk(self.norm(image), training=False)
        return self.head([self.pool(a), meta], training=False), a


class HeadWrapper(torch.nn.Module):
    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, pooled, meta):
        return self.head([pooled, meta], training=False)


def pin_batch_1(path, name):
    """The tracer leaves the "features" output's dims symbolic
    ("Castfeatures_dim_0".."_2", 2048) although the graph is exported for batch 1
    at a fixed size; pin them to [1,h,w,K] as shape inference finds them."""
    m = onnx.load(path)
    inferred = onnx.shape_inference.infer_shapes(m)
    (node,) = [n for n in m.graph.node if name in n.output]
    (vi,) = [v for v in inferred.graph.value_info if v.name == node.input[0]]
    shape = [1] + [d.dim_value for d in vi.type.tensor_type.shape.dim[1:]]
    assert all(s > 0 for s in shape), shape
    (out,) = [o for o in m.graph.output if o.name == name]
    out.type.tensor_type.ClearField("shape")
    for s in shape:
        out.type.tensor_type.shape.dim.add().dim_value = s
    onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    onnx.save(m, path)


def to_fp16_weights(src, dst):
    m = onnx.load(src)
    g = m.graph
    casts = []
    for init in g.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        if arr.size < MIN_FP16_ELEMENTS:
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(arr.astype(np.float16), name + "_fp16"))
        casts.append(helper.make_node("Cast", [name + "_fp16"], [name],
                                      to=onnx.TensorProto.FLOAT, name=name + "_cast"))
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, dst)
    print(f"fp16 weights: {len(casts)} initializers cast; "
          f"{os.path.getsize(src) / 1e6:.1f} MB -> {os.path.getsize(dst) / 1e6:.1f} MB")


def main():
    path = os.path.join(os.path.dirname(sklesion.__file__), "model.keras")
    model = keras.models.load_model(path)
    print("head of the Keras model (after the Xception trunk):")
    for layer in model.layers[-12:]:
        act = getattr(layer, "activation", None)
        print(f"  {layer.name:24s} {type(layer).__name__:20s} "
              f"{getattr(act, '__name__', '')}")
    print("=> pooled features pass through Dense+ReLU+BN layers before the output "
          "Dense: plain CAM is not exact; manifest uses Ablation-CAM with head.onnx.")

    make_padding_static()
    norm, trunk, pool, head = split(model)
    wrapper = Wrapper(norm, trunk, pool, head).eval()
    image = torch.zeros(1, 254, 254, 3)
    meta = torch.from_numpy(meta_vector())
    with torch.no_grad():
        torch.onnx.export(wrapper, (image, meta), FP32, input_names=["image", "meta"],
                          output_names=["probabilities", "features"], opset_version=17,
                          dynamo=False, do_constant_folding=True)
        k = int(head.inputs[0].shape[-1])
        torch.onnx.export(HeadWrapper(head).eval(),
                          (torch.rand(2, k), torch.from_numpy(np.repeat(meta_vector(), 2, 0))),
                          HEAD_FP32, input_names=["pooled", "meta"],
                          output_names=["probabilities"], opset_version=17, dynamo=False,
                          do_constant_folding=True,
                          dynamic_axes={"pooled": {0: "N"}, "meta": {0: "N"},
                                        "probabilities": {0: "N"}})
    pin_batch_1(FP32, "features")
    to_fp16_weights(FP32, OUT)
    to_fp16_weights(HEAD_FP32, HEAD_OUT)
    for f in (OUT, HEAD_OUT):
        g = onnx.load(f).graph
        io = [(v.name, [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim],
               onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type))
              for v in list(g.input) + list(g.output)]
        print(f"{os.path.basename(f)}: {os.path.getsize(f)} bytes; inputs+outputs {io}")

    samples = sorted(glob.glob(os.path.join(HERE, "samples", "*.png")))
    metas = [meta_vector(), meta_vector("male", "trunk", 45),
             meta_vector("female", "leg_genital", 70)]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    s32 = ort.InferenceSession(FP32, opts, providers=["CPUExecutionProvider"])
    s16 = ort.InferenceSession(OUT, opts, providers=["CPUExecutionProvider"])
    h32 = ort.InferenceSession(HEAD_FP32, opts, providers=["CPUExecutionProvider"])
    h16 = ort.InferenceSession(HEAD_OUT, opts, providers=["CPUExecutionProvider"])
    d_k32 = d_k16 = d_3216 = d_split = d_fk32 = d_fk16 = d_h16 = d_h32 = 0.0
    for s in samples:
        x = np.asarray(Image.open(s).convert("RGB"), dtype=np.float32)[None]
        with torch.no_grad():
            a_k = np.asarray(trunk(norm(x), training=False).detach().cpu())
        for mv in metas:
            with torch.no_grad():
                k = np.asarray(model([x, mv], training=False).detach().cpu())
                ks = np.asarray(wrapper(torch.from_numpy(x), torch.from_numpy(mv))[0].cpu())
            p32, f32 = s32.run(["probabilities", "features"], {"image": x, "meta": mv})
            p16, f16 = s16.run(["probabilities", "features"], {"image": x, "meta": mv})
            q32 = h32.run(None, {"pooled": f32.mean(axis=(1, 2)), "meta": mv})[0]
            q16 = h16.run(None, {"pooled": f16.mean(axis=(1, 2)), "meta": mv})[0]
            d_split = max(d_split, float(np.abs(k - ks).max()))
            d_k32 = max(d_k32, float(np.abs(k - p32).max()))
            d_k16 = max(d_k16, float(np.abs(k - p16).max()))
            d_3216 = max(d_3216, float(np.abs(p32 - p16).max()))
            d_fk32 = max(d_fk32, float(np.abs(a_k - f32).max()))
            d_fk16 = max(d_fk16, float(np.abs(a_k - f16).max()))
            d_h32 = max(d_h32, float(np.abs(q32 - p32).max()))
            d_h16 = max(d_h16, float(np.abs(q16 - p16).max()))
            print(f"  {os.path.basename(s)} meta={mv[0].round(3).tolist()} "
                  f"keras={np.round(k[0], 4).tolist()}")
    print(f"max abs diff over {len(samples)} samples x {len(metas)} metas: "
          f"keras vs onnx-fp32 {d_k32:.3g}, keras vs onnx-fp16 {d_k16:.3g}, "
          f"onnx-fp32 vs onnx-fp16 {d_3216:.3g}; keras model vs keras split {d_split:.3g}")
    print(f"features (max {float(a_k.max()):.3g}): keras vs onnx-fp32 {d_fk32:.3g}, "
          f"keras vs onnx-fp16 {d_fk16:.3g}")
    print(f"head(GAP(features), meta) vs model probabilities: fp32 {d_h32:.3g}, "
          f"shipped fp16 {d_h16:.3g}")
    assert d_h16 <= 1e-5 and d_h32 <= 1e-5

    # timing of one Ablation-CAM, 1 thread (first sample, default metadata)
    x = np.asarray(Image.open(samples[0]).convert("RGB"), dtype=np.float32)[None]
    mv = metas[0]
    for _ in range(2):  # warm-up
        p, f = s16.run(["probabilities", "features"], {"image": x, "meta": mv})
        ablation_cam(f, p, mv, h16, EXPLANATION)
    t_model, t_head, t_all = [], [], []
    batch = np.repeat(f.mean(axis=(1, 2)), f.shape[-1], axis=0)
    for _ in range(5):
        t0 = time.perf_counter()
        p, f = s16.run(["probabilities", "features"], {"image": x, "meta": mv})
        t1 = time.perf_counter()
        cam, c = ablation_cam(f, p, mv, h16, EXPLANATION)
        t2 = time.perf_counter()
        h16.run(None, {"pooled": batch, "meta": np.repeat(mv, len(batch), 0)})
        t3 = time.perf_counter()
        t_model.append(t1 - t0)
        t_all.append(t2 - t1)
        t_head.append(t3 - t2)
    ms = lambda v: f"{1000 * float(np.median(v)):.0f} ms"  # noqa: E731
    print(f"timing (onnxruntime, 1 thread, median of 5): model run {ms(t_model)}; "
          f"head batch of {len(batch)} rows {ms(t_head)}; whole ablation after the model "
          f"run (head batch + weights + map) {ms(t_all)}; total "
          f"{ms(np.add(t_model, t_all))}. cam {list(cam.shape)} class {c} "
          f"sum {float(cam.sum()):.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
