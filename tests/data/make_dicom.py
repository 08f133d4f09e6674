"""Generate the synthetic DICOM test files and photos in tests/data/.

Everything is computed here (a phantom of concentric discs and colour
gradients; no patient data), so the files are CC0. UIDs are derived from fixed
strings, so reruns give identical pixel data and UIDs.

Files: ct_native.dcm, ct_implicit.dcm, mr_rle.dcm, xr_jpeg.dcm, rgb_native.dcm,
deflate.dcm, j2k.dcm, us_cine.dcm, us_cine_rle.dcm, truncated.dcm, photo.png, photo.jpg
(see README.md).

Rerun from the repository root (venv from models/requirements.txt):
    python tests/data/make_dicom.py
"""
import io
import os

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    RLELossless, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian,
    ImplicitVRLittleEndian, JPEG2000Lossless, JPEGBaseline8Bit, generate_uid,
)

HERE = os.path.dirname(os.path.abspath(__file__))
N = 256
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
DX_STORAGE = "1.2.840.10008.5.1.4.1.1.1"  # CR/DX-like: Computed Radiography
SC_STORAGE = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture
US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"  # Ultrasound Multi-frame


def uid(name):
    return generate_uid(entropy_srcs=["consilium-test-data", name])


def radius():
    y, x = np.mgrid[0:N, 0:N]
    return np.hypot(x - N / 2 + 0.5, y - N / 2 + 0.5), x, y


def ct_hu():
    """Body disc of soft tissue with fat, water, bone and air inserts (HU)."""
    r, x, y = radius()
    hu = np.full((N, N), -1000.0)
    hu[r < 110] = 40
    hu[r < 80] = -100
    hu[r < 50] = 0
    hu[r < 20] = 700
    hu[np.hypot(x - 190, y - 128) < 10] = -1000
    return hu.astype(np.int16)


def base(name, modality, sop_class, rows, cols):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = uid(name + "sop")
    ds.file_meta.ImplementationClassUID = uid("implementation")
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid(name + "series")
    ds.PatientName = "Test^Phantom"
    ds.PatientID = "PHANTOM-0001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyDate = ds.SeriesDate = "20240101"
    ds.StudyTime = "120000"
    ds.StudyDescription = "Synthetic phantom (Consilium test data)"
    ds.SeriesDescription = name
    ds.Modality = modality
    ds.InstanceNumber = 1
    ds.Rows, ds.Columns = rows, cols
    ds.PixelSpacing = [1, 1]
    return ds


def set_pixels(ds, arr, photometric, bits, signed):
    ds.SamplesPerPixel = 3 if arr.ndim == 3 else 1
    ds.PhotometricInterpretation = photometric
    if arr.ndim == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = arr.tobytes()


def save(ds, name, syntax):
    ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(os.path.join(HERE, name), enforce_file_format=True,
               implicit_vr=syntax == ImplicitVRLittleEndian, little_endian=True)


def ct(name):
    ds = base(name, "CT", CT_STORAGE, N, N)
    set_pixels(ds, ct_hu() + 1024, "MONOCHROME2", 16, True)  # stored = HU + 1024
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1, -1024, "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    return ds


def main():
    save(ct("ct_native"), "ct_native.dcm", ExplicitVRLittleEndian)
    save(ct("ct_implicit"), "ct_implicit.dcm", ImplicitVRLittleEndian)
    save(ct("deflate"), "deflate.dcm", DeflatedExplicitVRLittleEndian)

    # MR: unsigned 16-bit, smooth intensity ramp across the discs, RLE Lossless
    r, x, y = radius()
    mr = np.where(r < 110, 800 + 3 * x, 0) + np.where(r < 50, 1200, 0) + np.where(r < 20, -900, 0)
    ds = base("mr_rle", "MR", MR_STORAGE, N, N)
    set_pixels(ds, mr.astype(np.uint16), "MONOCHROME2", 16, False)
    ds.compress(RLELossless, mr.astype(np.uint16), generate_instance_uid=False)
    ds.save_as(os.path.join(HERE, "mr_rle.dcm"), enforce_file_format=True)

    # X-ray-like 8-bit, JPEG Baseline frame encoded by Pillow, encapsulated
    xr = np.clip(40 + 0.6 * (ct_hu() + 1000) / 7, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(xr, "L").save(buf, format="JPEG", quality=90)
    ds = base("xr_jpeg", "CR", DX_STORAGE, N, N)
    set_pixels(ds, xr, "MONOCHROME2", 8, False)
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    save(ds, "xr_jpeg.dcm", JPEGBaseline8Bit)

    # RGB photo-like pattern (colour gradients and discs), native
    rgb = photo_pattern(N, N)
    ds = base("rgb_native", "OT", SC_STORAGE, N, N)
    set_pixels(ds, rgb, "RGB", 8, False)
    save(ds, "rgb_native.dcm", ExplicitVRLittleEndian)

    # JPEG 2000 lossless codestream from Pillow's OpenJPEG encoder
    buf = io.BytesIO()
    Image.fromarray(xr, "L").save(buf, format="JPEG2000", no_jp2=True, irreversible=False)
    ds = base("j2k", "CR", DX_STORAGE, N, N)
    set_pixels(ds, xr, "MONOCHROME2", 8, False)
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    save(ds, "j2k.dcm", JPEG2000Lossless)

    # Ultrasound-like cine loop: 8 frames of a bright disc moving left to right, native and
    # RLE (one fragment per frame)
    cine = us_cine(8, 128)
    for name, syntax in [("us_cine.dcm", ExplicitVRLittleEndian), ("us_cine_rle.dcm", RLELossless)]:
        ds = base(name[:-4], "US", US_MULTIFRAME_STORAGE, 128, 128)
        ds.NumberOfFrames = len(cine)
        ds.FrameIncrementPointer = 0x00181063  # Frame Time
        ds.FrameTime = 40
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit, ds.PixelRepresentation = 7, 0
        ds.PixelData = cine.tobytes()
        if syntax == RLELossless:
            ds.compress(RLELossless, cine, generate_instance_uid=False)
            ds.save_as(os.path.join(HERE, name), enforce_file_format=True)
        else:
            save(ds, name, syntax)

    data = open(os.path.join(HERE, "ct_native.dcm"), "rb").read()
    open(os.path.join(HERE, "truncated.dcm"), "wb").write(data[: len(data) // 2])

    im = Image.fromarray(photo_pattern(240, 320))
    im.save(os.path.join(HERE, "photo.png"))
    im.save(os.path.join(HERE, "photo.jpg"), quality=85)
    print("wrote", sorted(f for f in os.listdir(HERE) if f.endswith((".dcm", ".png", ".jpg"))))


def us_cine(frames, n):
    """Speckle-free sector of grey with a bright disc that moves by frame (frame k: x = 20 + 12k)."""
    y, x = np.mgrid[0:n, 0:n]
    out = np.zeros((frames, n, n), np.uint8)
    for k in range(frames):
        img = np.where(np.hypot(x - n / 2, y) < n * 0.95, 60, 0)
        img = np.where(np.hypot(x - (20 + 12 * k), y - n / 2) < 12, 230, img)
        out[k] = img
    return out


def photo_pattern(h, w):
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    img = np.stack([200 * x + 40, 120 + 80 * np.sin(6 * y), 220 - 150 * y], -1)
    for cx, cy, rad, col in [(0.3, 0.4, 0.18, (180, 90, 60)), (0.7, 0.6, 0.12, (60, 40, 30))]:
        d = np.hypot((x - cx) * w, (y - cy) * h) / (rad * min(h, w))
        a = np.clip(1.5 - d, 0, 1)[..., None]
        img = img * (1 - a) + np.array(col) * a
    return np.clip(img, 0, 255).astype(np.uint8)


if __name__ == "__main__":
    main()
