//! A walk over a DICOM file's element headers before dicom-rs parses it. The parser reserves
//! memory for each element's *declared* length, so a 20 MB upload declaring a 2.6 GB element
//! would make it ask for 2.6 GB (found by fuzzing). Here every declared length is checked
//! against the bytes that really remain, and a deflated data set is inflated with a cap (a
//! deflate bomb), before anything is allocated for it.

use std::io::Read;

use dicom_core::dictionary::DataDictionary;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: (u16, u16) = (0xFFFE, 0xE000);
const PIXEL_DATA: (u16, u16) = (0x7FE0, 0x0010);

#[derive(Clone, Copy, PartialEq)]
enum Syntax {
    ExplicitLittle,
    ExplicitBig,
    ImplicitLittle,
}

/// Checks `file` (a Part 10 file: preamble, `DICM`, meta group, data set) and returns its
/// transfer syntax UID; `max_inflated` bounds a deflated data set. The error says what is wrong.
pub fn check(file: &[u8], max_inflated: usize) -> Result<String, String> {
    let (uid, meta_end) = meta_group(file)?;
    let body = &file[meta_end..];
    if body.is_empty() {
        return Err("the DICOM file has no data set after its meta group".into());
    }
    let checked = match uid.as_str() {
        "1.2.840.10008.1.2" => walk(body, Syntax::ImplicitLittle),
        "1.2.840.10008.1.2.2" => walk(body, Syntax::ExplicitBig),
        "1.2.840.10008.1.2.1.99" => {
            let mut inflated = Vec::new();
            flate2::read::DeflateDecoder::new(body)
                .take(max_inflated as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|e| format!("the deflated data set is damaged: {e}"))?;
            if inflated.len() > max_inflated {
                return Err(format!("the deflated data set inflates past {max_inflated} bytes"));
            }
            walk(&inflated, Syntax::ExplicitLittle)
        }
        _ => walk(body, Syntax::ExplicitLittle),
    };
    checked.map(|()| uid)
}

/// Reads the file meta group the way dicom-rs does, so both agree on where the data set
/// starts: it opens with its Group Length (0002,0000), and elements (of any group, explicit VR
/// little endian, defined lengths, values skipped whole) are read until that many bytes are
/// consumed. Returns the Transfer Syntax UID and the offset of the data set. (Ending the group
/// at the first element outside group 2 instead let a fuzzed file inflate a deflated data set
/// from other bytes than the parser did, and slip a 2.6 GB length past this check.)
fn meta_group(b: &[u8]) -> Result<(String, usize), String> {
    let short = || "the DICOM file ends inside its meta group".to_string();
    let le16 = |p: usize| b.get(p..p + 2).map(|s| u16::from_le_bytes([s[0], s[1]])).ok_or_else(short);
    let le32 =
        |p: usize| b.get(p..p + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]])).ok_or_else(short);
    if (le16(132)?, le16(134)?, b.get(136..138)) != (0x0002, 0x0000, Some(b"UL")) || le16(138)? != 4 {
        return Err("the DICOM meta group does not start with its group length (0002,0000)".into());
    }
    let group_length = le32(140)? as usize;
    let (start, mut pos) = (144, 144);
    let mut uid = None;
    while pos - start < group_length {
        let (group, element) = (le16(pos)?, le16(pos + 2)?);
        let vr = b.get(pos + 4..pos + 6).ok_or_else(short)?;
        let vr = VR::from_binary([vr[0], vr[1]]).unwrap_or(VR::UN); // as dicom-rs reads it
        let (len, header) =
            if long_length(vr) { (le32(pos + 8)?, 12) } else { (u32::from(le16(pos + 6)?), 8) };
        pos += header;
        if len == UNDEFINED {
            return Err(format!("the meta element ({group:04X},{element:04X}) has no defined length"));
        }
        fit(len, b.len() - pos)?;
        if (group, element) == (0x0002, 0x0010) {
            let value = String::from_utf8_lossy(&b[pos..pos + len as usize]);
            uid = Some(value.trim_end_matches(['\0', ' ']).to_string());
        }
        pos += len as usize;
    }
    let uid = uid.ok_or("the DICOM meta group names no transfer syntax (0002,0010)")?;
    Ok((uid, pos))
}

/// The VR dicom-rs gives an element of an implicit VR data set: the dictionary's (relaxed, so
/// "US or SS" is one of them), OW for pixel and overlay data, UN for tags it does not know.
fn implicit_vr(tag: Tag) -> VR {
    if tag == Tag(PIXEL_DATA.0, PIXEL_DATA.1) || (tag.0 >> 8 == 0x60 && tag.1 == 0x3000) {
        return VR::OW;
    }
    StandardDataDictionary.by_tag(tag).map_or(VR::UN, |e| e.vr.relaxed())
}

/// The size of one value of a binary VR; `None` for text and byte VRs.
fn value_size(vr: VR) -> Option<u32> {
    match vr {
        VR::SS | VR::US | VR::OW => Some(2),
        VR::AT | VR::FL | VR::OF | VR::OL | VR::SL | VR::UL => Some(4),
        VR::FD | VR::OD | VR::OV | VR::SV | VR::UV => Some(8),
        _ => None,
    }
}

/// Explicit VRs whose header has a 4-byte length (after two reserved bytes).
fn long_length(vr: VR) -> bool {
    matches!(
        vr,
        VR::OB
            | VR::OD
            | VR::OF
            | VR::OL
            | VR::OV
            | VR::OW
            | VR::SQ
            | VR::SV
            | VR::UC
            | VR::UN
            | VR::UR
            | VR::UT
            | VR::UV
    )
}

/// Walks a data set's element headers. Containers (sequences, items) are entered, not
/// skipped, so nested lengths are checked too; fragments of encapsulated pixel data are skipped.
fn walk(b: &[u8], syntax: Syntax) -> Result<(), String> {
    let mut pos = 0;
    let u16_at = |p: usize| -> Option<u16> {
        let s = b.get(p..p + 2)?;
        Some(if syntax == Syntax::ExplicitBig {
            u16::from_be_bytes([s[0], s[1]])
        } else {
            u16::from_le_bytes([s[0], s[1]])
        })
    };
    let u32_at = |p: usize| -> Option<u32> {
        let s = b.get(p..p + 4)?;
        let a = [s[0], s[1], s[2], s[3]];
        Some(if syntax == Syntax::ExplicitBig { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) })
    };
    let short = || "the DICOM file ends inside an element header".to_string();
    let mut fragments = false; // inside undefined-length pixel data
    while pos < b.len() {
        let (group, element) = (u16_at(pos).ok_or_else(short)?, u16_at(pos + 2).ok_or_else(short)?);
        if group == 0xFFFE {
            // Item or delimiter: no VR, a 4-byte length (always little endian in the meta
            // group's sense for LE syntaxes; big endian files use big endian here too).
            let len = u32_at(pos + 4).ok_or_else(short)?;
            pos += 8;
            if (group, element) == ITEM && len != UNDEFINED && (fragments || len as usize > b.len() - pos) {
                fit(len, b.len() - pos)?;
                pos += len as usize; // a fragment's bytes, not elements
            } else if element == 0xE0DD {
                fragments = false;
            }
            continue;
        }
        let explicit = syntax != Syntax::ImplicitLittle;
        let (vr, len, header) = if explicit {
            let vr = b.get(pos + 4..pos + 6).ok_or_else(short)?;
            // An unknown VR is read as UN (4-byte length), as dicom-rs and PS3.5 6.2.2 do.
            let vr = VR::from_binary([vr[0], vr[1]]).unwrap_or(VR::UN);
            if long_length(vr) {
                (vr, u32_at(pos + 8).ok_or_else(short)?, 12)
            } else {
                (vr, u32::from(u16_at(pos + 6).ok_or_else(short)?), 8)
            }
        } else {
            (implicit_vr(Tag(group, element)), u32_at(pos + 4).ok_or_else(short)?, 8)
        };
        pos += header;
        if len == UNDEFINED {
            fragments = (group, element) == PIXEL_DATA;
            continue; // contents follow inline, up to a delimiter
        }
        fit(len, b.len() - pos)?;
        // dicom-rs reads whole values of binary VRs and skips the rest of the length, which
        // puts it out of step with the file (a fuzzed 2-byte FD made it read a 4 GB length).
        if let Some(size) = value_size(vr).filter(|size| len % size != 0) {
            return Err(format!(
                "element ({group:04X},{element:04X}) has {len} bytes, not a whole number of {size}-byte {vr:?} values"
            ));
        }
        if vr != VR::SQ {
            pos += len as usize;
        }
    }
    Ok(())
}

fn fit(len: u32, remaining: usize) -> Result<(), String> {
    if len as usize > remaining {
        return Err(format!("an element declares {len} bytes but only {remaining} remain"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> Vec<u8> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data");
        std::fs::read(dir.join(name)).unwrap()
    }

    #[test]
    fn every_shipped_encoding_passes_and_names_its_transfer_syntax() {
        for (name, uid) in [
            ("ct_implicit.dcm", "1.2.840.10008.1.2"),
            ("ct_native.dcm", "1.2.840.10008.1.2.1"),
            ("deflate.dcm", "1.2.840.10008.1.2.1.99"),
            ("mr_rle.dcm", "1.2.840.10008.1.2.5"),
            ("xr_jpeg.dcm", "1.2.840.10008.1.2.4.50"),
        ] {
            assert_eq!(check(&data(name), 1 << 26), Ok(uid.to_string()), "{name}");
        }
    }

    #[test]
    fn lengths_past_the_end_are_refused_before_the_parser_sees_them() {
        // Both made dicom-rs reserve 2.6 GB; the second hid behind an off-group meta element.
        for name in ["fuzz/huge-declared-length.dcm", "fuzz/deflated-meta-off-group.dcm"] {
            let err = check(&data(name), 1 << 26).unwrap_err();
            assert!(err.contains("declares 2617482243 bytes"), "{name}: {err}");
        }
    }

    #[test]
    fn a_binary_value_of_a_partial_length_is_refused() {
        // (0028,0103) as FD with 2 bytes: dicom-rs read none of them and lost its place.
        let err = check(&data("fuzz/short-binary-value.dcm"), 1 << 26).unwrap_err();
        assert!(err.contains("(0028,0103) has 2 bytes, not a whole number of 8-byte FD values"), "{err}");
    }

    #[test]
    fn a_meta_group_without_its_group_length_is_refused() {
        let mut file = data("deflate.dcm");
        file[134] = 1; // (0002,0000) becomes (0002,0001)
        assert!(check(&file, 1 << 26).unwrap_err().contains("group length"));
    }
}
