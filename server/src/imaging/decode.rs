//! Turning uploaded bytes into pixels, safely: the kind is recognised by content (magic
//! bytes), never by name; sizes are checked before anything large is allocated (decompression
//! bombs); DICOM goes through dicom-rs with its rescale and window/level, for the transfer
//! syntaxes we can decode in pure Rust. Every failure is an [`ImageError`] with a message a
//! person understands; nothing here panics on hostile input.

use std::io::Cursor;

use dicom_dictionary_std::tags;
use dicom_object::{FileDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::{ConvertOptions, PixelDecoder, VoiLutOption};
use image::{ImageFormat, ImageReader, RgbImage};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::byte;

/// What an upload turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Png,
    Jpeg,
    Dicom,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Png => "png",
            Kind::Jpeg => "jpeg",
            Kind::Dicom => "dicom",
        }
    }
}

/// Bounds on what we decode.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest side in pixels.
    pub max_side: u32,
    /// Width × height × frames.
    pub max_pixels: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_side: 16_384, max_pixels: 64 * 1024 * 1024 }
    }
}

/// Why an upload cannot be shown.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    TooLarge(String),
}

/// A window/level choice for a DICOM image.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Window {
    pub name: String,
    pub center: f64,
    pub width: f64,
}

/// Facts about a DICOM file worth showing beside it (no patient identifiers).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct DicomInfo {
    pub modality: String,
    pub transfer_syntax: String,
    pub photometric: String,
    pub bits_stored: u16,
    pub frames: u32,
    /// The file's own windows first, then presets for its modality.
    pub windows: Vec<Window>,
}

/// A decoded upload.
#[derive(Debug)]
pub struct Decoded {
    pub kind: Kind,
    /// The picture as people see it (for DICOM: the first frame at its default window).
    pub image: RgbImage,
    pub dicom: Option<DicomInfo>,
}

/// Recognises PNG, JPEG and DICOM Part 10 by their first bytes.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Kind::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Kind::Jpeg)
    } else if bytes.len() > 132 && &bytes[128..132] == b"DICM" {
        Some(Kind::Dicom)
    } else {
        None
    }
}

/// Decodes an upload of any supported kind.
pub fn decode(bytes: &[u8], limits: Limits) -> Result<Decoded, ImageError> {
    match sniff(bytes) {
        Some(Kind::Dicom) => {
            let (image, info) = dicom(bytes, limits, None, 0)?;
            Ok(Decoded { kind: Kind::Dicom, image, dicom: Some(info) })
        }
        Some(kind) => Ok(Decoded { kind, image: picture(bytes, kind, limits)?, dicom: None }),
        None => Err(ImageError::Unsupported(
            "not a PNG, JPEG or DICOM file (recognised by content, not by name)".into(),
        )),
    }
}

fn picture(bytes: &[u8], kind: Kind, limits: Limits) -> Result<RgbImage, ImageError> {
    let format = if kind == Kind::Png { ImageFormat::Png } else { ImageFormat::Jpeg };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| ImageError::Corrupt(format!("unreadable {}: {e}", kind.as_str())))?;
    check_size(w, h, 1, limits)?;
    reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    l.max_alloc = Some(limits.max_pixels * 8);
    reader.limits(l);
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => {
            ImageError::TooLarge(format!("the image is too large to decode: {e}"))
        }
        e => ImageError::Corrupt(format!("unreadable {}: {e}", kind.as_str())),
    })?;
    Ok(img.into_rgb8())
}

fn check_size(w: u32, h: u32, frames: u32, limits: Limits) -> Result<(), ImageError> {
    if w == 0 || h == 0 {
        return Err(ImageError::Corrupt("the image has no pixels".into()));
    }
    let pixels = u64::from(w) * u64::from(h) * u64::from(frames.max(1));
    if w > limits.max_side || h > limits.max_side || pixels > limits.max_pixels {
        return Err(ImageError::TooLarge(format!(
            "{w}×{h} pixels ({frames} frame(s)) is over the limit of {} per side and {} pixels",
            limits.max_side, limits.max_pixels
        )));
    }
    Ok(())
}

/// Transfer syntaxes decoded here, with their names.
const SUPPORTED: &[(&str, &str)] = &[
    ("1.2.840.10008.1.2", "Implicit VR Little Endian"),
    ("1.2.840.10008.1.2.1", "Explicit VR Little Endian"),
    ("1.2.840.10008.1.2.2", "Explicit VR Big Endian"),
    ("1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian"),
    ("1.2.840.10008.1.2.5", "RLE Lossless"),
    ("1.2.840.10008.1.2.4.50", "JPEG Baseline"),
    ("1.2.840.10008.1.2.4.51", "JPEG Extended"),
    ("1.2.840.10008.1.2.4.57", "JPEG Lossless"),
    ("1.2.840.10008.1.2.4.70", "JPEG Lossless SV1"),
];

/// Well-known names of syntaxes we refuse, for a clearer message.
const KNOWN: &[(&str, &str)] = &[
    ("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless"),
    ("1.2.840.10008.1.2.4.81", "JPEG-LS Near-Lossless"),
    ("1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless"),
    ("1.2.840.10008.1.2.4.91", "JPEG 2000"),
    ("1.2.840.10008.1.2.4.201", "HTJ2K Lossless"),
    ("1.2.840.10008.1.2.4.203", "HTJ2K"),
];

fn presets(modality: &str) -> Vec<Window> {
    let w = |name: &str, center: f64, width: f64| Window { name: name.into(), center, width };
    match modality {
        "CT" => vec![
            w("Soft tissue", 40.0, 400.0),
            w("Lung", -600.0, 1500.0),
            w("Bone", 400.0, 1800.0),
            w("Brain", 40.0, 80.0),
        ],
        _ => Vec::new(),
    }
}

type Obj = FileDicomObject<InMemDicomObject>;

/// The encapsulated fragment that starts `frame`, which the checks below read: the first one
/// for frame 0 or a single-frame file, the frame's own when the file has one fragment per frame
/// (the usual layout). Other layouts need the offset table; their later frames are refused.
fn frame_fragment(obj: &Obj, frame: u32, frames: u32) -> Result<&[u8], ImageError> {
    let fragments = obj
        .element(tags::PIXEL_DATA)
        .ok()
        .and_then(|e| e.value().fragments())
        .ok_or_else(|| ImageError::Corrupt("the DICOM compressed data has no fragments".into()))?;
    let fragment = match frame {
        0 => fragments.first(),
        f if fragments.len() == frames as usize => fragments.get(f as usize),
        _ => {
            return Err(ImageError::Unsupported(
                "this file's compressed frames are not one fragment each; only its first frame can be shown"
                    .into(),
            ));
        }
    };
    fragment
        .map(Vec::as_slice)
        .ok_or_else(|| ImageError::Corrupt("the DICOM compressed data has no fragments".into()))
}

/// Checks a frame's RLE segments (PS3.5 G) before dicom-rs decodes them: its RLE decoder
/// (0.10.1) indexes past a segment that decodes to fewer bytes than the image needs, a panic
/// found by fuzzing (`fuzz/`).
fn check_rle(obj: &Obj, fragment: &[u8], rows: u32, cols: u32) -> Result<(), ImageError> {
    let bad = |m: &str| ImageError::Corrupt(format!("the DICOM RLE data is damaged: {m}"));
    let spp = int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1) as usize;
    let bytes = int(obj, tags::BITS_ALLOCATED).unwrap_or(8).div_ceil(8) as usize;
    let header = |i: usize| -> Option<usize> {
        let b = fragment.get(i * 4..i * 4 + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = header(0).ok_or_else(|| bad("no header"))?;
    if count > 15 || count < spp * bytes {
        return Err(bad("wrong number of segments"));
    }
    let mut offsets: Vec<usize> =
        (1..=count).map(header).collect::<Option<_>>().ok_or_else(|| bad("short header"))?;
    offsets.push(fragment.len());
    let needed = rows as usize * cols as usize;
    for pair in offsets.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        if start < 64 || start > end || end > fragment.len() {
            return Err(bad("segment offsets out of order"));
        }
        if packbits_len(&fragment[start..end]) < needed {
            return Err(bad("a segment is shorter than the image"));
        }
    }
    Ok(())
}

/// Checks that a frame's JPEG stream has the size, components and precision the DICOM header
/// promises: dicom-rs 0.10.1 copies the decoded picture into a buffer sized from the header
/// and panics when they differ (the fuzzer's third find).
fn check_jpeg(obj: &Obj, fragment: &[u8], rows: u32, cols: u32) -> Result<(), ImageError> {
    let bad = |m: &str| ImageError::Corrupt(format!("the DICOM JPEG data is damaged: {m}"));
    let spp = int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    let bits = int(obj, tags::BITS_ALLOCATED).unwrap_or(8);
    // Walk the markers up to the frame header (SOFn: C0–CF except C4, C8, CC).
    let mut i = 2;
    while i + 9 < fragment.len() {
        if fragment[i] != 0xFF {
            return Err(bad("no frame header"));
        }
        let marker = fragment[i + 1];
        let len = u16::from_be_bytes([fragment[i + 2], fragment[i + 3]]) as usize;
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            let precision = u32::from(fragment[i + 4]);
            let height = u32::from(u16::from_be_bytes([fragment[i + 5], fragment[i + 6]]));
            let width = u32::from(u16::from_be_bytes([fragment[i + 7], fragment[i + 8]]));
            let components = u32::from(fragment[i + 9]);
            let depth_ok = if precision <= 8 { bits == 8 } else { bits == 16 };
            if (height, width, components) != (rows, cols, spp) || !depth_ok {
                return Err(bad("its picture does not match the image size in the header"));
            }
            return Ok(());
        }
        i += 2 + len;
    }
    Err(bad("no frame header"))
}

/// How many bytes a PackBits segment decodes to.
fn packbits_len(segment: &[u8]) -> usize {
    let (mut i, mut out) = (0, 0usize);
    while i < segment.len() {
        let n = i8::from_ne_bytes([segment[i]]);
        i += 1;
        match n {
            0..=127 => {
                let run = (usize::from(n.unsigned_abs()) + 1).min(segment.len() - i);
                out += run;
                i += run;
            }
            -127..=-1 if i < segment.len() => {
                out += 1 + n.unsigned_abs() as usize;
                i += 1;
            }
            _ => {}
        }
    }
    out
}

/// The DICOM linear VOI function (PS3.3 C.11.2.1.2.1) onto 0–255.
fn window_level(x: f64, center: f64, width: f64) -> u8 {
    let y = ((x - (center - 0.5)) / (width - 1.0).max(1.0) + 0.5).clamp(0.0, 1.0);
    byte((y * 255.0).round())
}

fn text(obj: &Obj, tag: dicom_object::Tag) -> String {
    obj.element(tag).ok().and_then(|e| e.to_str().ok()).map(|s| s.trim().to_string()).unwrap_or_default()
}

fn int(obj: &Obj, tag: dicom_object::Tag) -> Option<u32> {
    obj.element(tag).ok().and_then(|e| e.to_int::<u32>().ok())
}

/// Decodes `frame` (from 0) of a DICOM file at `window` (its own default window when `None`).
pub fn dicom(
    bytes: &[u8],
    limits: Limits,
    window: Option<&Window>,
    frame: u32,
) -> Result<(RgbImage, DicomInfo), ImageError> {
    // Every declared length is checked before the parser allocates for it.
    let most = usize::try_from(limits.max_pixels.saturating_mul(8)).unwrap_or(usize::MAX);
    super::dicom_lengths::check(bytes, most)
        .map_err(|m| ImageError::Corrupt(format!("unreadable DICOM: {m}")))?;
    let obj = OpenFileOptions::new()
        .from_reader(&bytes[128..])
        .map_err(|e| ImageError::Corrupt(format!("unreadable DICOM: {e}")))?;
    let uid = obj.meta().transfer_syntax().trim_end_matches('\0').trim().to_string();
    let Some((_, ts_name)) = SUPPORTED.iter().find(|(u, _)| *u == uid) else {
        let name = KNOWN.iter().find(|(u, _)| *u == uid).map(|(_, n)| *n).unwrap_or("an unknown encoding");
        return Err(ImageError::Unsupported(format!(
            "DICOM transfer syntax {name} ({uid}) is not supported; send it uncompressed, RLE or JPEG"
        )));
    };
    let (rows, cols) = (int(&obj, tags::ROWS).unwrap_or(0), int(&obj, tags::COLUMNS).unwrap_or(0));
    let frames = int(&obj, tags::NUMBER_OF_FRAMES).unwrap_or(1);
    check_size(cols, rows, frames, limits)?;
    if frame >= frames.max(1) {
        return Err(ImageError::Corrupt(format!(
            "frame {} is not in this file (it has {frames})",
            frame + 1
        )));
    }
    if obj.element(tags::PIXEL_DATA).is_err() {
        return Err(ImageError::Corrupt("the DICOM file holds no image (no Pixel Data)".into()));
    }
    let modality = text(&obj, tags::MODALITY);
    let encapsulated = uid == "1.2.840.10008.1.2.5" || uid.starts_with("1.2.840.10008.1.2.4.");
    if encapsulated {
        let fragment = frame_fragment(&obj, frame, frames)?;
        if uid == "1.2.840.10008.1.2.5" {
            check_rle(&obj, fragment, rows, cols)?;
        } else {
            check_jpeg(&obj, fragment, rows, cols)?;
        }
    }
    // A decoder that still panics on some hostile file must cost that upload, not the server.
    let decoded =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| obj.decode_pixel_data_frame(frame)))
            .map_err(|_| ImageError::Corrupt("the DICOM pixel data cannot be decoded".into()))?
            .map_err(|e| ImageError::Corrupt(format!("the DICOM pixel data cannot be decoded: {e}")))?;
    let mut windows: Vec<Window> = decoded
        .window()
        .ok()
        .flatten()
        .unwrap_or(&[])
        .iter()
        .take(4)
        .enumerate()
        .map(|(i, w)| Window { name: format!("File {}", i + 1), center: w.center, width: w.width })
        .collect();
    windows.extend(presets(&modality));
    let custom = match window {
        Some(w) if w.width >= 1.0 && w.center.is_finite() => Some((w.center, w.width)),
        Some(_) => return Err(ImageError::Corrupt("window width must be at least 1".into())),
        None => None,
    };
    // Values after the modality LUT (rescale slope/intercept, e.g. Hounsfield units); the
    // window is applied here so every bit depth takes the same, well-defined path.
    let options = ConvertOptions::new().with_voi_lut(VoiLutOption::Identity);
    let values: Vec<f32> = decoded
        .to_vec_frame_with_options(0, &options)
        .map_err(|e| ImageError::Corrupt(format!("the DICOM pixel data cannot be converted: {e}")))?;
    let (w, h) = (decoded.columns(), decoded.rows());
    let spp = decoded.samples_per_pixel() as usize;
    let expected = w as usize * h as usize * spp;
    if values.len() < expected {
        return Err(ImageError::Corrupt("the DICOM pixel data is shorter than its size says".into()));
    }
    let values = &values[..expected];
    let rgb: Vec<u8> = match spp {
        1 => {
            let (center, width) = custom
                .or_else(|| {
                    windows.first().filter(|w| w.name.starts_with("File")).map(|w| (w.center, w.width))
                })
                .unwrap_or_else(|| {
                    let (lo, hi) =
                        values.iter().fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
                    (f64::from(lo + hi) / 2.0, f64::from(hi - lo).max(1.0))
                });
            let invert = decoded.photometric_interpretation().to_string() == "MONOCHROME1";
            values
                .iter()
                .flat_map(|v| {
                    let g = window_level(f64::from(*v), center, width);
                    let g = if invert { 255 - g } else { g };
                    [g, g, g]
                })
                .collect()
        }
        3 => {
            let max = if decoded.bits_allocated() > 8 {
                values.iter().copied().fold(1.0f32, f32::max)
            } else {
                255.0
            };
            values.iter().map(|v| byte(f64::from((v / max * 255.0).round()))).collect()
        }
        n => return Err(ImageError::Unsupported(format!("{n} samples per pixel are not supported"))),
    };
    let image =
        RgbImage::from_raw(w, h, rgb).ok_or_else(|| ImageError::Corrupt("bad pixel layout".into()))?;
    let info = DicomInfo {
        modality,
        transfer_syntax: (*ts_name).to_string(),
        photometric: decoded.photometric_interpretation().to_string(),
        bits_stored: decoded.bits_stored(),
        frames,
        windows,
    };
    Ok((image, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_recognised_by_content() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(Kind::Png));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Kind::Jpeg));
        let mut dcm = vec![0u8; 140];
        dcm[128..132].copy_from_slice(b"DICM");
        assert_eq!(sniff(&dcm), Some(Kind::Dicom));
        assert_eq!(sniff(b"GIF89a"), None);
        assert!(matches!(decode(b"%PDF-1.7", Limits::default()), Err(ImageError::Unsupported(_))));
    }

    #[test]
    fn truncated_png_is_corrupt_not_a_panic() {
        let mut png = Vec::new();
        RgbImage::new(64, 64).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
        assert!(matches!(decode(&png[..png.len() / 2], Limits::default()), Err(ImageError::Corrupt(_))));
    }

    /// CRC-32 (ISO-HDLC), to forge a PNG header that passes its checksum.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_decoding() {
        let mut png = Vec::new();
        RgbImage::new(4, 4).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
        // Declare 100000×100000 pixels in IHDR (bytes 16..24) with a valid CRC (29..33).
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(decode(&png, Limits::default()), Err(ImageError::TooLarge(_))));
    }

    #[test]
    fn every_frame_of_a_cine_loop_decodes_native_and_rle() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data");
        for name in ["us_cine.dcm", "us_cine_rle.dcm"] {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            for frame in 0..8 {
                let (img, info) = dicom(&bytes, Limits::default(), None, frame).unwrap();
                assert_eq!(info.frames, 8);
                // The disc moves 12 px a frame: its centre is the brightest column of row 64.
                let row: Vec<u8> = (0..img.width()).map(|x| img.get_pixel(x, 64)[0]).collect();
                let bright: Vec<u32> = (0..img.width()).filter(|&x| row[x as usize] == 255).collect();
                let centre = (bright[0] + bright[bright.len() - 1]) / 2;
                assert!(centre.abs_diff(20 + 12 * frame) <= 1, "{name} frame {frame}: disc at {centre}");
            }
            let err = dicom(&bytes, Limits::default(), None, 8).unwrap_err();
            assert!(err.to_string().contains("frame 9 is not in this file"), "{err}");
        }
    }
}
