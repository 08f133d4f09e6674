"""Make the sklesion sample inputs (254x254 RGB PNG, the model's native size)
and the UI demo photo tests/data/lesion.jpg.

Real images come from the one lesion photo shipped in the PyPI package
`dermapred` 0.0.3 (Apache-2.0): dermapred/examples/example_image.jpg, a
1528x1360 clinical (non-dermoscopic) phone photo of skin with small naevi.
EXIF is dropped. A third sample is synthetic and says so in its file name.

Rerun from the repository root (venv active):
    pip download --no-deps dermapred==0.0.3 -d /tmp/dp
    unzip -o /tmp/dp/dermapred-0.0.3-py3-none-any.whl 'dermapred/examples/*' -d /tmp/dp
    python models/sklesion/make_samples.py /tmp/dp/dermapred/examples/example_image.jpg
"""
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
N = 254


def synthetic_lesion():
    """Skin-toned background with a blurred, irregular brown blob."""
    rng = np.random.default_rng(7)
    base = np.array([214, 170, 150], np.float32)
    img = base + rng.normal(0, 4, (N, N, 3))
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    blob = Image.new("L", (N, N), 0)
    d = ImageDraw.Draw(blob)
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    radii = 55 + rng.normal(0, 8, 24)
    pts = [(127 + r * np.cos(a), 127 + 0.8 * r * np.sin(a)) for a, r in zip(angles, radii)]
    d.polygon(pts, fill=255)
    blob = blob.filter(ImageFilter.GaussianBlur(6))
    brown = Image.new("RGB", (N, N), (105, 62, 45))
    return Image.composite(brown, im, blob)


def main(photo_path):
    photo = Image.open(photo_path).convert("RGB")  # drops EXIF on save
    w, h = photo.size
    out = os.path.join(HERE, "samples")
    os.makedirs(out, exist_ok=True)
    # 1: the whole photo squeezed to 254x254 (what the package's own code does)
    photo.resize((N, N), Image.BILINEAR).save(os.path.join(out, "photo_whole.png"))
    # 2: a 254x254 window around the darkest naevus of the photo at half size
    half = photo.resize((w // 2, h // 2), Image.BILINEAR)
    cx, cy = 306, 344  # naevus centre at half size (found by eye)
    half.crop((cx - N // 2, cy - N // 2, cx + N // 2, cy + N // 2)).save(
        os.path.join(out, "photo_naevus_crop.png"))
    # 3: synthetic
    synthetic_lesion().save(os.path.join(out, "synthetic_lesion.png"))
    # UI demo photo: 4:3 centre crop of the real photo at 600x450, JPEG q85
    ch = w * 3 // 4
    top = (h - ch) // 2
    demo = photo.crop((0, top, w, top + ch)).resize((600, 450), Image.BILINEAR)
    demo.save(os.path.join(ROOT, "tests", "data", "lesion.jpg"), quality=85)
    print("wrote", sorted(os.listdir(out)), "and tests/data/lesion.jpg")


if __name__ == "__main__":
    main(sys.argv[1])
