//! From a decoded picture to the model's image tensor, exactly as its manifest says: resize,
//! channel order, layout, scale and normalisation.

use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};

use super::engine::Tensor;
use super::manifest::{Channels, ImageInput, Layout, Resize};

/// Resizes `img` to the model's input size (a no-op when it already is that size).
pub fn resize(img: &RgbImage, spec: &ImageInput) -> RgbImage {
    if img.width() == spec.width && img.height() == spec.height {
        return img.clone();
    }
    let filter = match spec.resize {
        Resize::Bilinear => FilterType::Triangle,
        Resize::Nearest => FilterType::Nearest,
    };
    image::imageops::resize(img, spec.width, spec.height, filter)
}

/// The input tensor of an image already at the model's size.
pub fn tensor(img: &RgbImage, spec: &ImageInput) -> Tensor {
    let (w, h) = (spec.width as usize, spec.height as usize);
    debug_assert_eq!((img.width() as usize, img.height() as usize), (w, h));
    let c = spec.channels.count();
    let gray;
    let pixels: &[u8] = match spec.channels {
        Channels::Rgb => img.as_raw(),
        Channels::Gray => {
            gray = DynamicImage::ImageRgb8(img.clone()).into_luma8();
            gray.as_raw()
        }
    };
    let norm = |px: u8, ch: usize| (f32::from(px) * spec.scale - spec.mean[ch]) / spec.std[ch];
    let mut data = vec![0f32; c * h * w];
    match spec.layout {
        Layout::Nhwc => {
            for (i, px) in pixels.iter().enumerate() {
                data[i] = norm(*px, i % c);
            }
        }
        Layout::Nchw => {
            for (i, px) in pixels.iter().enumerate() {
                let (pos, ch) = (i / c, i % c);
                data[ch * h * w + pos] = norm(*px, ch);
            }
        }
    }
    let shape = match spec.layout {
        Layout::Nhwc => vec![1, h, w, c],
        Layout::Nchw => vec![1, c, h, w],
    };
    Tensor::new(shape, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(layout: Layout) -> ImageInput {
        ImageInput {
            input: "x".into(),
            layout,
            width: 2,
            height: 1,
            channels: Channels::Rgb,
            resize: Resize::Bilinear,
            scale: 1.0 / 255.0,
            mean: vec![0.0, 0.5, 0.0],
            std: vec![1.0, 0.5, 1.0],
        }
    }

    #[test]
    fn layouts_place_channels_where_the_manifest_says() {
        let img = RgbImage::from_raw(2, 1, vec![255, 255, 0, 0, 0, 255]).unwrap();
        let nhwc = tensor(&img, &spec(Layout::Nhwc));
        assert_eq!(nhwc.shape, [1, 1, 2, 3]);
        assert_eq!(nhwc.data, [1.0, 1.0, 0.0, 0.0, -1.0, 1.0]);
        let nchw = tensor(&img, &spec(Layout::Nchw));
        assert_eq!(nchw.shape, [1, 3, 1, 2]);
        assert_eq!(nchw.data, [1.0, 0.0, 1.0, -1.0, 0.0, 1.0]);
    }
}
