//! A walk over a DICOM file's element headers before dicom-rs parses it. The parser reserves
//! memory for each element's *declared* length, so a 20 MB upload declaring a 2.6 GB element
//! would make it ask for 2.6 GB (found by fuzzing). Here every declared length is checked
//! against the bytes that really remain, and a deflated data set is inflated with a cap (a
//! deflate bomb), before anything is allocated for it.

use std::io::Read;

use dicom_core::dictionary::{DataDictionary, VirtualVr};
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
    let mut uid = String::new();
    let meta_end = walk(file, 132, Syntax::ExplicitLittle, Some(&mut uid))?;
    let body = &file[meta_end..];
    let checked = match uid.as_str() {
        "1.2.840.10008.1.2" => walk(body, 0, Syntax::ImplicitLittle, None).map(drop),
        "1.2.840.10008.1.2.2" => walk(body, 0, Syntax::ExplicitBig, None).map(drop),
        "1.2.840.10008.1.2.1.99" => {
            let mut inflated = Vec::new();
            flate2::read::DeflateDecoder::new(body)
                .take(max_inflated as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|e| format!("the deflated data set is damaged: {e}"))?;
            if inflated.len() > max_inflated {
                return Err(format!("the deflated data set inflates past {max_inflated} bytes"));
            }
            walk(&inflated, 0, Syntax::ExplicitLittle, None).map(drop)
        }
        _ => walk(body, 0, Syntax::ExplicitLittle, None).map(drop),
    };
    checked.map(|()| uid)
}

/// Walks headers from `pos`; with `meta`, walks the meta group only, stores its Transfer
/// Syntax UID there and returns the offset of the first element past group 2. Containers (sequences, items) are entered, not skipped, so nested
/// lengths are checked too; fragments of encapsulated pixel data are skipped.
fn walk(b: &[u8], mut pos: usize, syntax: Syntax, mut meta: Option<&mut String>) -> Result<usize, String> {
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
        if meta.is_some() && group != 0x0002 {
            return Ok(pos);
        }
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
        let explicit = syntax != Syntax::ImplicitLittle || group == 0x0002;
        let (vr, len, header) = if explicit {
            let vr = b.get(pos + 4..pos + 6).ok_or_else(short)?;
            let vr = VR::from_binary([vr[0], vr[1]]).ok_or_else(|| format!("unknown VR at byte {pos}"))?;
            if matches!(
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
            ) {
                (Some(vr), u32_at(pos + 8).ok_or_else(short)?, 12)
            } else {
                (Some(vr), u32::from(u16_at(pos + 6).ok_or_else(short)?), 8)
            }
        } else {
            (None, u32_at(pos + 4).ok_or_else(short)?, 8)
        };
        pos += header;
        if len == UNDEFINED {
            fragments = (group, element) == PIXEL_DATA;
            continue; // contents follow inline, up to a delimiter
        }
        fit(len, b.len() - pos)?;
        if let Some(uid) = meta.as_deref_mut().filter(|_| (group, element) == (0x0002, 0x0010)) {
            *uid = String::from_utf8_lossy(&b[pos..pos + len as usize])
                .trim_end_matches(['\0', ' '])
                .to_string();
        }
        let sequence = match vr {
            Some(vr) => vr == VR::SQ,
            None => StandardDataDictionary
                .by_tag(Tag(group, element))
                .is_some_and(|e| matches!(e.vr, VirtualVr::Exact(VR::SQ))),
        };
        if !sequence {
            pos += len as usize;
        }
    }
    if meta.is_some() { Err("the DICOM file has no data set after its meta group".into()) } else { Ok(pos) }
}

fn fit(len: u32, remaining: usize) -> Result<(), String> {
    if len as usize > remaining {
        return Err(format!("an element declares {len} bytes but only {remaining} remain"));
    }
    Ok(())
}
