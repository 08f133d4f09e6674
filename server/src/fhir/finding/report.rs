//! `DiagnosticReport`: the finding itself. Status: `registered` while the model runs,
//! `preliminary` while it awaits a clinician, `final` once accepted, `amended` when the
//! clinician settled on another label, `cancelled` when rejected (or the analysis failed). The
//! clinician's decision is the `conclusion`.

use serde::Serialize;

use super::Finding;
use crate::fhir::model::{CodeableConcept, Meta, Reference};
use crate::fhir::search::instant;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticReport {
    pub id: String,
    pub meta: Meta,
    pub status: &'static str,
    pub code: CodeableConcept,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// When the image was analysed (a `dateTime`).
    pub effective_date_time: String,
    /// When this version was made: the decision, else the analysis (an `instant`).
    pub issued: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub results_interpreter: Vec<Reference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub result: Vec<Reference>,
    pub media: Vec<ReportMedia>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conclusion_code: Vec<CodeableConcept>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReportMedia {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub link: Reference,
}

/// Ours → FHIR.
pub fn status(ours: &str) -> &'static str {
    match ours {
        "running" => "registered",
        "ready" => "preliminary",
        "accepted" => "final",
        "amended" => "amended",
        _ => "cancelled",
    }
}

/// FHIR → ours, for a `status` search; `None` for a code that is not an R4 report status.
pub fn our_statuses(code: &str) -> Option<&'static [&'static str]> {
    Some(match code {
        "registered" => &["running"],
        "preliminary" => &["ready"],
        "final" => &["accepted"],
        "amended" => &["amended"],
        "cancelled" => &["rejected", "failed"],
        "partial" | "corrected" | "appended" | "entered-in-error" | "unknown" => &[],
        _ => return None,
    })
}

/// When the finding last changed.
pub fn changed_at(f: &Finding) -> i64 {
    f.decided_at.or(f.completed_at).unwrap_or(f.requested_at)
}

pub fn report(f: &Finding) -> DiagnosticReport {
    let conclusion = match (f.status.as_str(), &f.decision_label, &f.decided_by_name) {
        ("accepted", Some(label), Some(by)) => Some(format!("{label}: accepted by {by}.")),
        ("amended", Some(label), Some(by)) => Some(format!("{label}: amended by {by}.")),
        ("rejected", _, Some(by)) => Some(format!("Rejected by {by}.")),
        ("failed", _, _) => Some("The analysis failed.".to_string()),
        _ => None,
    }
    .map(|c| match &f.decision_note {
        Some(note) if !note.trim().is_empty() => format!("{c} {}", note.trim()),
        _ => c,
    });
    DiagnosticReport {
        id: f.id.clone(),
        meta: Meta { version_id: None, last_updated: instant(changed_at(f)) },
        status: status(&f.status),
        code: CodeableConcept::text(format!("AI image analysis: {} {}", f.model, f.model_version)),
        subject: f.patient_id.as_deref().map(|p| Reference::to("Patient", p, f.patient_name.as_deref())),
        encounter: f.encounter_id.as_deref().map(|e| Reference::to("Encounter", e, None)),
        effective_date_time: instant(f.requested_at),
        issued: instant(changed_at(f)),
        results_interpreter: f
            .decided_by
            .as_deref()
            .map(|d| Reference::to("Practitioner", d, f.decided_by_name.as_deref()))
            .into_iter()
            .collect(),
        result: (0..f.predictions.len())
            .map(|i| Reference::to("Observation", &super::observation::id(f, i), None))
            .collect(),
        media: vec![ReportMedia {
            comment: (f.frame > 0).then(|| format!("frame {}", f.frame + 1)),
            link: Reference::to("Media", &f.image_id, Some(&f.filename)),
        }],
        conclusion,
        conclusion_code: f
            .decision_label
            .iter()
            .filter(|_| f.status != "rejected")
            .map(|l| CodeableConcept::text(l.clone()))
            .collect(),
    }
}
