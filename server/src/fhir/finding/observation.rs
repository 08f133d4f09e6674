//! `Observation`: one per label the model reported, its probability as a quantity of unit 1
//! (UCUM), from the model's `Device`, with the report's status.

use serde::Serialize;

use super::Finding;
use crate::fhir::model::{CodeableConcept, Meta, Reference};
use crate::fhir::search::instant;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub id: String,
    pub meta: Meta,
    pub status: &'static str,
    pub code: CodeableConcept,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    pub effective_date_time: String,
    pub value_quantity: Quantity,
    pub device: Reference,
    pub derived_from: Vec<Reference>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Quantity {
    pub value: f64,
    pub unit: &'static str,
    pub system: &'static str,
    pub code: &'static str,
}

/// The id of the finding's `index`th label.
pub fn id(f: &Finding, index: usize) -> String {
    format!("{}-{index}", f.id)
}

/// The finding and label index an Observation id names.
pub fn parse_id(id: &str) -> Option<(&str, usize)> {
    let (finding, index) = id.rsplit_once('-')?;
    // A UUID's last group is 12 hex digits; a label index is a short number.
    (index.len() <= 3).then_some(())?;
    Some((finding, index.parse().ok()?))
}

pub fn all(f: &Finding) -> Vec<Observation> {
    // Observation statuses are the report's (R4 shares the codes).
    let status = super::report::status(&f.status);
    f.predictions
        .iter()
        .enumerate()
        .map(|(i, (label, probability))| Observation {
            id: id(f, i),
            meta: Meta { version_id: None, last_updated: instant(super::report::changed_at(f)) },
            status,
            code: CodeableConcept::text(label.clone()),
            subject: f.patient_id.as_deref().map(|p| Reference::to("Patient", p, f.patient_name.as_deref())),
            effective_date_time: instant(f.completed_at.unwrap_or(f.requested_at)),
            // Probabilities are stored as f32: rounded to the digits they carry.
            value_quantity: Quantity {
                value: (probability * 1e6).round() / 1e6,
                unit: "probability",
                system: "http://unitsofmeasure.org",
                code: "1",
            },
            device: Reference::to(
                "Device",
                &super::device::id_of(&f.model, &f.model_version, f.model_sha256.as_deref()),
                Some(&f.model),
            ),
            derived_from: vec![Reference::to("Media", &f.image_id, Some(&f.filename))],
        })
        .collect()
}
