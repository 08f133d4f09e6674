//! A case-review outcome on the API, and the checks on what is written.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{AppError, Result};

/// The most text one outcome holds, all fields together (UTF-8 bytes); more is 413.
pub const MAX_OUTCOME_BYTES: usize = 32 * 1024;

/// What the review recommends for the case.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recommendation {
    Surgery,
    SystemicTherapy,
    Radiotherapy,
    FurtherInvestigation,
    Surveillance,
    ClinicalTrial,
    Other,
}

impl Recommendation {
    pub fn as_str(self) -> &'static str {
        match self {
            Recommendation::Surgery => "surgery",
            Recommendation::SystemicTherapy => "systemic_therapy",
            Recommendation::Radiotherapy => "radiotherapy",
            Recommendation::FurtherInvestigation => "further_investigation",
            Recommendation::Surveillance => "surveillance",
            Recommendation::ClinicalTrial => "clinical_trial",
            Recommendation::Other => "other",
        }
    }

    pub const ALL: [Recommendation; 7] = [
        Recommendation::Surgery,
        Recommendation::SystemicTherapy,
        Recommendation::Radiotherapy,
        Recommendation::FurtherInvestigation,
        Recommendation::Surveillance,
        Recommendation::ClinicalTrial,
        Recommendation::Other,
    ];

    pub fn parse(s: &str) -> Option<Recommendation> {
        Recommendation::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn from_stored(s: &str) -> Result<Recommendation> {
        Recommendation::parse(s).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("a case outcome has the unknown recommendation {s:?}"))
        })
    }
}

/// A draft outcome as the review's clinicians save it: the whole outcome each time, with the
/// version it was edited from (0 for the first save).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeInput {
    pub version: i64,
    /// The clinician who presented the case: the coordinator or one of the review's experts.
    #[serde(default)]
    pub presenter_id: Option<String>,
    /// The clinical question; the case's own question when left empty.
    #[serde(default)]
    pub question: String,
    #[serde(default)]
    pub discussion: String,
    #[serde(default)]
    pub recommendation: Option<Recommendation>,
    #[serde(default)]
    pub recommendation_text: String,
    /// The doctor responsible for the next step (any active doctor).
    #[serde(default)]
    pub responsible_id: Option<String>,
}

/// Checked content: trimmed, within size.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OutcomeContent {
    pub presenter_id: Option<String>,
    pub question: String,
    pub discussion: String,
    pub recommendation: Option<Recommendation>,
    pub recommendation_text: String,
    pub responsible_id: Option<String>,
}

pub fn check(input: OutcomeInput) -> Result<(i64, OutcomeContent)> {
    if input.version < 0 {
        return Err(AppError::invalid("version", "0 for a new outcome, otherwise the version last read"));
    }
    let size = input.question.len() + input.discussion.len() + input.recommendation_text.len();
    if size > MAX_OUTCOME_BYTES {
        return Err(AppError::TooLarge(MAX_OUTCOME_BYTES));
    }
    let id = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    Ok((
        input.version,
        OutcomeContent {
            presenter_id: id(input.presenter_id),
            question: input.question.trim().to_string(),
            discussion: input.discussion.trim().to_string(),
            recommendation: input.recommendation,
            recommendation_text: input.recommendation_text.trim().to_string(),
            responsible_id: id(input.responsible_id),
        },
    ))
}

/// Where an outcome is in its life.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    Empty,
    Draft,
    Signed,
}

/// An outcome as read back. The patient reads it once signed, without the discussion.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct OutcomeView {
    pub id: Option<String>,
    pub review_id: String,
    pub case_id: String,
    pub patient_id: String,
    pub status: OutcomeStatus,
    pub version: i64,
    pub presenter_id: Option<String>,
    pub presenter: Option<String>,
    pub question: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discussion: Option<String>,
    pub recommendation: Option<Recommendation>,
    pub recommendation_text: String,
    pub responsible_id: Option<String>,
    pub responsible: Option<String>,
    pub saved_by: Option<String>,
    pub saved_at: Option<i64>,
    pub signed_by: Option<String>,
    pub signed_at: Option<i64>,
    pub content_sha256: Option<String>,
}

/// Signing: the version signed must be the version last read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignOutcome {
    pub version: i64,
}

/// What the coordinator's signature covers.
#[derive(Serialize)]
pub struct SignedOutcome<'a> {
    pub outcome_id: &'a str,
    pub review_id: &'a str,
    pub case_id: &'a str,
    pub patient_id: &'a str,
    pub content: &'a OutcomeContent,
    pub signed_by: &'a str,
    pub signed_at: i64,
}
