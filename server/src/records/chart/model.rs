//! The patient's chart on the API: one timeline of what the record holds about a patient.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The most entries a chart answers with; older ones are left out and `truncated` says so.
pub const MAX_ENTRIES: usize = 2000;
/// How long emergency access lasts.
pub const EMERGENCY_HOURS: i64 = 12;
/// Characters a reason for emergency access takes.
pub const REASON_CHARS: std::ops::RangeInclusive<usize> = 10..=500;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Appointment,
    Note,
    Addendum,
    Outcome,
    Finding,
    Image,
}

impl EntryKind {
    pub const ALL: [EntryKind; 6] = [
        EntryKind::Appointment,
        EntryKind::Note,
        EntryKind::Addendum,
        EntryKind::Outcome,
        EntryKind::Finding,
        EntryKind::Image,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Appointment => "appointment",
            EntryKind::Note => "note",
            EntryKind::Addendum => "addendum",
            EntryKind::Outcome => "outcome",
            EntryKind::Finding => "finding",
            EntryKind::Image => "image",
        }
    }
}

/// One line of the timeline.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ChartEntry {
    pub kind: EntryKind,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// Who: the doctor, the signer, the author.
    pub by: String,
    /// What, in a line (the appointment's status, the model's label, the review's title).
    pub title: String,
    /// More: the assessment and plan, the recommendation, the addendum's text.
    pub detail: String,
    /// Where it is shown in full.
    pub link: Option<String>,
}

/// How the caller came to open the chart.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// An admin.
    Admin,
    /// An appointment with the patient, or a case review with the patient on its agenda.
    Care,
    /// Emergency access, with a reason, for a limited time.
    Emergency,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ChartPatient {
    pub id: String,
    pub name: String,
    pub email: String,
    pub timezone: String,
    pub locale: Option<String>,
}

/// A patient's demographics. Every field may be unknown.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Demographics {
    /// `YYYY-MM-DD`, not in the future.
    #[serde(default)]
    pub birth_date: Option<String>,
    #[serde(default)]
    pub sex: Option<Sex>,
    /// Digits, spaces, `+ - ( ) .`: 3 to 32 characters.
    #[serde(default)]
    pub phone: Option<String>,
    /// The hospital's record number or another external identifier (1 to 64 characters).
    #[serde(default)]
    pub record_number: Option<String>,
    /// A BCP 47 language tag such as `de`, `zh-Hans` or `pt-BR`.
    #[serde(default)]
    pub preferred_language: Option<String>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

impl Sex {
    pub const ALL: [Sex; 4] = [Sex::Female, Sex::Male, Sex::Other, Sex::Unknown];

    pub fn parse(s: &str) -> Option<Sex> {
        Sex::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ChartView {
    pub patient: ChartPatient,
    pub demographics: Demographics,
    pub basis: Basis,
    /// Newest first.
    pub entries: Vec<ChartEntry>,
    /// More entries matched than [`MAX_ENTRIES`]; narrow the dates.
    pub truncated: bool,
}

/// Filters of the timeline.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChartQuery {
    /// Only these kinds, comma-separated (`appointment,note,addendum,outcome,finding,image`).
    pub kind: Option<String>,
    /// From this day (`YYYY-MM-DD`, UTC), inclusive.
    pub from: Option<String>,
    /// To this day (`YYYY-MM-DD`, UTC), inclusive.
    pub to: Option<String>,
}

/// Asking for emergency access to a chart.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyInput {
    /// Why, for the audit report: 10 to 500 characters.
    pub reason: String,
}

/// Emergency access granted (or as the admin report lists it).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct EmergencyGrant {
    pub id: String,
    pub user_id: String,
    pub user_name: String,
    pub patient_id: String,
    pub patient_name: String,
    pub reason: String,
    pub granted_at: i64,
    pub expires_at: i64,
}

/// A patient's own record, as they read and download it: what clinicians have released.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct OwnRecord {
    pub patient: ChartPatient,
    /// Milliseconds since the epoch.
    pub generated_at: i64,
    /// The timeline, newest first (the same kinds as a clinician's chart, released parts only).
    pub entries: Vec<ChartEntry>,
    /// Signed notes without the clinician's working sections, with their addenda.
    pub notes: Vec<crate::records::notes::model::NoteView>,
}
