//! Explanations: where in the image the model looked. A class activation map comes straight
//! from a model that has one; otherwise occlusion sensitivity greys out one patch at a time
//! and measures how much the top label's probability falls. Either way the result is a map of
//! 0–1 values, drawn as a transparent colour overlay (PNG) for the shared viewer.

use image::{ImageBuffer, Rgb, RgbImage, Rgba, RgbaImage};

use super::engine::Tensor;
use super::manifest::{Explanation, Layout};
use super::{DiagnosisError, Model, Registry};
use crate::imaging::byte;

/// A grid of importances, 0 (none) to 1 (most).
#[derive(Clone, Debug, PartialEq)]
pub struct Heat {
    pub width: usize,
    pub height: usize,
    pub values: Vec<f32>,
}

impl Heat {
    /// Negative evidence is dropped; the rest is scaled so the strongest point is 1.
    fn normalised(width: usize, height: usize, mut values: Vec<f32>) -> Heat {
        let max = values.iter().copied().fold(0f32, f32::max);
        for v in &mut values {
            *v = if max > 0.0 && v.is_finite() { (*v).max(0.0) / max } else { 0.0 };
        }
        Heat { width, height, values }
    }
}

/// The activation map of label `class` from a `[labels, h, w]` CAM tensor.
pub fn from_cam(cam: &Tensor, class: usize) -> Heat {
    let (h, w) = (cam.shape[1], cam.shape[2]);
    let plane = cam.data[class * h * w..(class + 1) * h * w].to_vec();
    Heat::normalised(w, h, plane)
}

/// Ablation-CAM of label `class`, un-normalised: `(width, height, values)`. Global average
/// pooling is linear, so removing channel k of the feature map is removing entry k of the
/// pooled vector: all k ablations are one batched run of the model's head.
pub fn ablation_cam_raw(
    registry: &Registry,
    model: &Model,
    features: &Tensor,
    tabular: &[f32],
    class: usize,
) -> Result<(usize, usize, Vec<f32>), DiagnosisError> {
    let Explanation::AblationCam { layout, .. } = &model.manifest.explanation else {
        return Err(DiagnosisError::Engine("not an Ablation-CAM model".into()));
    };
    let (h, w, k) = match (layout, features.shape.as_slice()) {
        (Layout::Nhwc, [1, h, w, k]) => (*h, *w, *k),
        (Layout::Nchw, [1, k, h, w]) => (*h, *w, *k),
        (_, shape) => return Err(DiagnosisError::Engine(format!("unexpected feature map shape {shape:?}"))),
    };
    // A[i][j][c] whatever the layout.
    let at = |i: usize, j: usize, c: usize| match layout {
        Layout::Nhwc => features.data[(i * w + j) * k + c],
        Layout::Nchw => features.data[(c * h + i) * w + j],
    };
    let mut pooled = vec![0f32; k];
    for i in 0..h {
        for j in 0..w {
            for (c, p) in pooled.iter_mut().enumerate() {
                *p += at(i, j, c);
            }
        }
    }
    let cells = (h * w) as f32;
    pooled.iter_mut().for_each(|p| *p /= cells);
    // Row 0: nothing removed (the reference score); row 1 + c: channel c removed.
    let mut batch = Vec::with_capacity((k + 1) * k);
    batch.extend_from_slice(&pooled);
    for c in 0..k {
        let start = batch.len();
        batch.extend_from_slice(&pooled);
        batch[start + c] = 0.0;
    }
    let scores = registry.run_head(model, &Tensor::new(vec![k + 1, k], batch), tabular)?;
    let labels = scores.data.len() / (k + 1);
    let y = scores.data[class];
    let weights: Vec<f32> = (0..k)
        .map(|c| if y == 0.0 { 0.0 } else { (y - scores.data[(c + 1) * labels + class]) / y })
        .collect();
    let mut cam = vec![0f32; h * w];
    for i in 0..h {
        for j in 0..w {
            let v: f32 = (0..k).map(|c| weights[c] * at(i, j, c)).sum();
            cam[i * w + j] = v.max(0.0);
        }
    }
    Ok((w, h, cam))
}

/// [`ablation_cam_raw`], scaled 0–1.
pub fn ablation_cam(
    registry: &Registry,
    model: &Model,
    features: &Tensor,
    tabular: &[f32],
    class: usize,
) -> Result<Heat, DiagnosisError> {
    let (w, h, values) = ablation_cam_raw(registry, model, features, tabular, class)?;
    Ok(Heat::normalised(w, h, values))
}

/// Occlusion sensitivity of label `class` on an image already at the model's input size.
/// `progress` hears the fraction done after each row of patches.
pub fn occlusion(
    registry: &Registry,
    model: &Model,
    input: &RgbImage,
    tabular: &[f32],
    (patch, stride): (u32, u32),
    class: usize,
    progress: &mut dyn FnMut(f32),
) -> Result<Heat, DiagnosisError> {
    let (w, h) = input.dimensions();
    let baseline = registry.infer_prepared(model, input, tabular)?.predictions[class].probability;
    let mean = mean_colour(input);
    let positions = |len: u32| -> Vec<u32> {
        let last = len.saturating_sub(patch);
        let mut v: Vec<u32> = (0..=last).step_by(stride.max(1) as usize).collect();
        if v.last() != Some(&last) {
            v.push(last); // cover the far edge too
        }
        v
    };
    let (xs, ys) = (positions(w), positions(h));
    let mut sum = vec![0f32; (w * h) as usize];
    let mut count = vec![0f32; (w * h) as usize];
    for (row, y0) in ys.iter().enumerate() {
        for x0 in &xs {
            let mut occluded = input.clone();
            for y in *y0..(*y0 + patch).min(h) {
                for x in *x0..(*x0 + patch).min(w) {
                    occluded.put_pixel(x, y, mean);
                }
            }
            let p = registry.infer_prepared(model, &occluded, tabular)?.predictions[class].probability;
            let drop = baseline - p;
            for y in *y0..(*y0 + patch).min(h) {
                for x in *x0..(*x0 + patch).min(w) {
                    let i = (y * w + x) as usize;
                    sum[i] += drop;
                    count[i] += 1.0;
                }
            }
        }
        progress((row + 1) as f32 / ys.len() as f32);
    }
    let values = sum.iter().zip(&count).map(|(s, c)| if *c > 0.0 { s / c } else { 0.0 }).collect();
    Ok(Heat::normalised(w as usize, h as usize, values))
}

fn mean_colour(img: &RgbImage) -> Rgb<u8> {
    let n = u64::from(img.width()) * u64::from(img.height());
    let mut acc = [0u64; 3];
    for p in img.pixels() {
        for c in 0..3 {
            acc[c] += u64::from(p[c]);
        }
    }
    Rgb(acc.map(|a| u8::try_from(a / n.max(1)).unwrap_or(u8::MAX)))
}

fn side(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The overlay at `width`×`height` (smoothly scaled), as PNG bytes: blue for little, red for
/// much, transparent where nothing mattered.
pub fn overlay_png(heat: &Heat, width: u32, height: u32) -> Vec<u8> {
    let small: ImageBuffer<image::Luma<f32>, Vec<f32>> =
        ImageBuffer::from_raw(side(heat.width), side(heat.height), heat.values.clone())
            .expect("values match the grid");
    let big = image::imageops::resize(&small, width, height, image::imageops::FilterType::Triangle);
    let mut out = RgbaImage::new(width, height);
    for (x, y, v) in big.enumerate_pixels() {
        out.put_pixel(x, y, colour(v[0].clamp(0.0, 1.0)));
    }
    let mut png = Vec::new();
    image::DynamicImage::ImageRgba8(out)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encoding a PNG in memory");
    png
}

/// A blue → cyan → yellow → red ramp whose opacity grows with the value.
fn colour(v: f32) -> Rgba<u8> {
    let stops =
        [(0.0, [0.0, 0.0, 1.0]), (0.35, [0.0, 1.0, 1.0]), (0.65, [1.0, 1.0, 0.0]), (1.0, [1.0, 0.0, 0.0])];
    let mut rgb = stops[0].1;
    for pair in stops.windows(2) {
        let ((a, ca), (b, cb)) = (pair[0], pair[1]);
        if v >= a && v <= b {
            let t = (v - a) / (b - a);
            rgb = [0, 1, 2].map(|i| ca[i] + (cb[i] - ca[i]) * t);
        }
    }
    let alpha = (v * 1.6).min(1.0) * 210.0;
    let channel = |c: f32| byte(f64::from(c * 255.0));
    Rgba([channel(rgb[0]), channel(rgb[1]), channel(rgb[2]), byte(f64::from(alpha))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cam_is_normalised_per_class_and_drops_negative_evidence() {
        let cam = Tensor::new(vec![2, 1, 3], vec![1.0, 2.0, 4.0, -1.0, 0.0, 3.0]);
        assert_eq!(from_cam(&cam, 0).values, [0.25, 0.5, 1.0]);
        assert_eq!(from_cam(&cam, 1).values, [0.0, 0.0, 1.0]);
    }

    #[test]
    fn overlay_is_a_png_of_the_asked_size() {
        let heat = Heat { width: 2, height: 2, values: vec![0.0, 1.0, 0.5, 0.0] };
        let png = overlay_png(&heat, 10, 6);
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!((img.width(), img.height()), (10, 6));
    }
}
