//! What a consultation note is on the API: the draft a doctor saves, the note as read back,
//! its addenda, and the checks on what is written (sizes, diagnosis codes).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{AppError, Result};

/// The most text one note holds, all sections and diagnoses together (UTF-8 bytes); more is
/// 413. (A request body is at most 64 KiB in all, `CONSILIUM_MAX_BODY_BYTES`.)
pub const MAX_NOTE_BYTES: usize = 48 * 1024;
/// The most text one addendum holds (UTF-8 bytes); more is 413.
pub const MAX_ADDENDUM_BYTES: usize = 16 * 1024;
/// Diagnoses on one note.
pub const MAX_DIAGNOSES: usize = 30;
/// Characters of a diagnosis's own text and of a code's display text.
pub const MAX_DIAGNOSIS_CHARS: usize = 500;

/// A draft as the doctor saves it: the whole note each time, with the version it was based on.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// The version this draft was edited from: 0 for a note not saved yet, otherwise the
    /// `version` last read. A different current version is 409, naming who saved it.
    pub version: i64,
    #[serde(default)]
    pub subjective: String,
    #[serde(default)]
    pub objective: String,
    #[serde(default)]
    pub assessment: String,
    #[serde(default)]
    pub plan: String,
    /// What the patient is told to do, in plain words.
    #[serde(default)]
    pub instructions: String,
    #[serde(default)]
    pub diagnoses: Vec<Diagnosis>,
}

/// A diagnosis: free text, optionally coded.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Diagnosis {
    /// As the doctor writes it (1–500 characters).
    pub text: String,
    /// `icd10` or `snomed`, with `code`; checked for shape, not looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<CodeSystem>,
    /// ICD-10 like `J45.9` or `U07.1`; SNOMED CT a concept id with a valid check digit, like
    /// `195967001`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The code's display text, e.g. `Asthma`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodeSystem {
    Icd10,
    Snomed,
}

/// The sections of a note as stored: checked, trimmed at the ends.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Content {
    pub subjective: String,
    pub objective: String,
    pub assessment: String,
    pub plan: String,
    pub instructions: String,
    pub diagnoses: Vec<Diagnosis>,
}

impl Content {
    pub fn is_empty(&self) -> bool {
        [&self.subjective, &self.objective, &self.assessment, &self.plan, &self.instructions]
            .iter()
            .all(|s| s.is_empty())
            && self.diagnoses.is_empty()
    }
}

/// Checks a draft: 413 past [`MAX_NOTE_BYTES`], 422 naming the field for a bad diagnosis.
pub fn check(input: NoteInput) -> Result<(i64, Content)> {
    if input.version < 0 {
        return Err(AppError::invalid("version", "0 for a new note, otherwise the version last read"));
    }
    let size = [&input.subjective, &input.objective, &input.assessment, &input.plan, &input.instructions]
        .iter()
        .map(|s| s.len())
        .sum::<usize>()
        + input
            .diagnoses
            .iter()
            .map(|d| {
                d.text.len()
                    + d.code.as_ref().map_or(0, String::len)
                    + d.display.as_ref().map_or(0, String::len)
            })
            .sum::<usize>();
    if size > MAX_NOTE_BYTES {
        return Err(AppError::TooLarge(MAX_NOTE_BYTES));
    }
    if input.diagnoses.len() > MAX_DIAGNOSES {
        return Err(AppError::invalid("diagnoses", format!("at most {MAX_DIAGNOSES} diagnoses")));
    }
    let diagnoses = input
        .diagnoses
        .into_iter()
        .enumerate()
        .map(|(i, d)| check_diagnosis(i, d))
        .collect::<Result<Vec<_>>>()?;
    Ok((
        input.version,
        Content {
            subjective: input.subjective.trim().to_string(),
            objective: input.objective.trim().to_string(),
            assessment: input.assessment.trim().to_string(),
            plan: input.plan.trim().to_string(),
            instructions: input.instructions.trim().to_string(),
            diagnoses,
        },
    ))
}

fn check_diagnosis(i: usize, d: Diagnosis) -> Result<Diagnosis> {
    let field = |name: &str| format!("diagnoses[{i}].{name}");
    let text = d.text.trim().to_string();
    if text.is_empty() || text.chars().count() > MAX_DIAGNOSIS_CHARS {
        return Err(AppError::invalid(&field("text"), format!("1 to {MAX_DIAGNOSIS_CHARS} characters")));
    }
    if text.contains(['\n', '\r', '\t']) {
        return Err(AppError::invalid(&field("text"), "one line"));
    }
    let display = d.display.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if display
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_DIAGNOSIS_CHARS || s.contains(['\n', '\r', '\t']))
    {
        return Err(AppError::invalid(
            &field("display"),
            format!("one line of at most {MAX_DIAGNOSIS_CHARS} characters"),
        ));
    }
    let code = d.code.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    match (d.system, &code) {
        (None, None) => {}
        (None, Some(_)) => {
            return Err(AppError::invalid(
                &field("system"),
                "say which system the code is from: icd10 or snomed",
            ));
        }
        (Some(_), None) => return Err(AppError::invalid(&field("code"), "a coded diagnosis needs its code")),
        (Some(CodeSystem::Icd10), Some(c)) if !icd10_shaped(c) => {
            return Err(AppError::invalid(
                &field("code"),
                format!("{c:?} is not an ICD-10 code, like J45.9"),
            ));
        }
        (Some(CodeSystem::Snomed), Some(c)) if !snomed_shaped(c) => {
            return Err(AppError::invalid(
                &field("code"),
                format!("{c:?} is not a SNOMED CT concept id (6 to 18 digits with a valid check digit)"),
            ));
        }
        _ => {}
    }
    if display.is_some() && code.is_none() {
        return Err(AppError::invalid(&field("display"), "a display text goes with a code"));
    }
    Ok(Diagnosis { text, system: d.system, code, display })
}

/// ICD-10 (WHO and national modifications): a letter, two characters of which the first is a
/// digit, then optionally a dot and one to four more (`A00`, `J45.9`, `S72.001A`).
pub fn icd10_shaped(code: &str) -> bool {
    let b = code.as_bytes();
    if b.len() < 3
        || !b[0].is_ascii_uppercase()
        || !b[1].is_ascii_digit()
        || !(b[2].is_ascii_digit() || b[2].is_ascii_uppercase())
    {
        return false;
    }
    match &b[3..] {
        [] => true,
        [b'.', rest @ ..] => {
            (1..=4).contains(&rest.len()) && rest.iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        }
        _ => false,
    }
}

/// A SNOMED CT identifier of a concept: 6 to 18 digits, no leading zero, a concept partition
/// (`00` or `10` before the check digit) and a valid Verhoeff check digit.
pub fn snomed_shaped(code: &str) -> bool {
    let b = code.as_bytes();
    if !(6..=18).contains(&b.len()) || b[0] == b'0' || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let partition = &b[b.len() - 3..b.len() - 1];
    (partition == b"00" || partition == b"10") && verhoeff_valid(b)
}

/// The Verhoeff dihedral check (SNOMED CT's check digit): true when the last digit checks.
fn verhoeff_valid(digits: &[u8]) -> bool {
    const D: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let mut c = 0u8;
    for (i, d) in digits.iter().rev().enumerate() {
        c = D[usize::from(c)][usize::from(P[i % 8][usize::from(d - b'0')])];
    }
    c == 0
}

/// Checks an addendum's text: 1 character at least, [`MAX_ADDENDUM_BYTES`] at most (413).
pub fn check_addendum(text: &str) -> Result<String> {
    if text.len() > MAX_ADDENDUM_BYTES {
        return Err(AppError::TooLarge(MAX_ADDENDUM_BYTES));
    }
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::invalid("text", "an addendum says something"));
    }
    Ok(text.to_string())
}

/// The hash a signature covers: the note's content with whose note it is, who signed and when,
/// as canonical JSON (fields in a fixed order), SHA-256 in hex.
pub fn content_hash(subject: &Signed<'_>) -> String {
    crate::records::sha256_json(subject)
}

/// What a signature is over.
#[derive(Serialize)]
pub struct Signed<'a> {
    pub note_id: &'a str,
    pub appointment_id: &'a str,
    pub patient_id: &'a str,
    /// The note's content, or for an addendum its text.
    pub content: SignedContent<'a>,
    pub signed_by: &'a str,
    pub signed_at: i64,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum SignedContent<'a> {
    Note(&'a Content),
    Addendum { position: i64, text: &'a str },
}

/// Where a note is in its life.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoteStatus {
    /// Nothing saved yet.
    Empty,
    /// Saved, still being written.
    Draft,
    /// Signed: frozen; changes are addenda.
    Signed,
}

/// A note as read back. A patient reads only a signed note, and without its subjective and
/// objective sections (the clinician's working notes).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct NoteView {
    /// None while nothing is saved.
    pub id: Option<String>,
    pub appointment_id: String,
    pub patient_id: String,
    pub status: NoteStatus,
    /// Send it back with the next save; 0 while nothing is saved.
    pub version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subjective: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
    pub assessment: String,
    pub plan: String,
    pub instructions: String,
    pub diagnoses: Vec<Diagnosis>,
    pub saved_by: Option<String>,
    /// Milliseconds since the epoch.
    pub saved_at: Option<i64>,
    pub signed_by: Option<String>,
    pub signed_at: Option<i64>,
    /// SHA-256 of what was signed (see the API description of signing).
    pub content_sha256: Option<String>,
    pub addenda: Vec<AddendumView>,
}

/// A signed addition to a signed note.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct AddendumView {
    pub id: String,
    /// 1 for the first addendum, in order.
    pub position: i64,
    pub text: String,
    pub author: String,
    pub signed_at: i64,
    pub content_sha256: String,
}

/// Signing: the version signed must be the version last read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInput {
    pub version: i64,
}

/// An addendum to a signed note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddendumInput {
    /// 1 character to 16 KiB.
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icd10_codes_are_checked_for_shape() {
        for ok in ["A00", "J45", "J45.9", "U07.1", "S72.001A", "C4A.0"] {
            assert!(icd10_shaped(ok), "{ok}");
        }
        for bad in ["", "J4", "j45.9", "45.9", "J45.", "J45.12345", "J45-9", "J459X1", "JJ5"] {
            assert!(!icd10_shaped(bad), "{bad}");
        }
    }

    #[test]
    fn snomed_ids_need_a_concept_partition_and_a_valid_check_digit() {
        // Asthma, diabetes mellitus type 2, the SNOMED CT root concept.
        for ok in ["195967001", "44054006", "138875005"] {
            assert!(snomed_shaped(ok), "{ok}");
        }
        // A wrong check digit, a description id (partition 01), a leading zero, too short.
        for bad in ["195967002", "44054007", "1234011", "0195967001", "12345", "19596700a"] {
            assert!(!snomed_shaped(bad), "{bad}");
        }
    }
}
