//! Any bytes through the upload path (sniffing, PNG/JPEG/DICOM decoding, limits): an error is
//! fine, a panic, hang or runaway allocation is a bug.
#![no_main]

use consilium::imaging::decode::{Limits, decode, dicom};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_side: 4096, max_pixels: 4 * 1024 * 1024 };
    if let Ok(d) = decode(data, limits) {
        assert!(d.image.width() <= limits.max_side && d.image.height() <= limits.max_side);
    }
    // The windowed re-render a viewer asks for takes the same bytes.
    if data.len() > 132 && &data[128..132] == b"DICM" {
        let w = consilium::imaging::Window { name: String::new(), center: 40.0, width: 400.0 };
        let _ = dicom(data, limits, Some(&w), 0);
        // And a later frame, as the viewer's frame slider asks for.
        let _ = dicom(data, limits, None, 1);
    }
});
