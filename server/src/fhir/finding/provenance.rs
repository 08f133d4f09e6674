//! `Provenance`: where a finding came from. Its target is the report and its observations; its
//! agents are the model (`author`) and, once signed off, the clinician (`verifier`); its entity
//! is the image (`source`), named by its hash and, for a multi-frame file, the frame.

use serde::Serialize;

use super::Finding;
use crate::fhir::model::{CodeableConcept, Coding, Meta, Reference};
use crate::fhir::search::instant;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub id: String,
    pub meta: Meta,
    pub target: Vec<Reference>,
    /// An `instant`.
    pub recorded: String,
    pub activity: CodeableConcept,
    pub agent: Vec<Agent>,
    pub entity: Vec<Entity>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    #[serde(rename = "type")]
    pub type_: CodeableConcept,
    pub who: Reference,
}

#[derive(Clone, Debug, Serialize)]
pub struct Entity {
    pub role: &'static str,
    pub what: Reference,
}

fn participant(code: &str, display: &str) -> CodeableConcept {
    CodeableConcept {
        coding: vec![Coding {
            system: Some("http://terminology.hl7.org/CodeSystem/provenance-participant-type".into()),
            code: Some(code.into()),
            display: Some(display.into()),
        }],
        text: None,
    }
}

/// The provenance of an analysed finding (none while the model runs or when it failed).
pub fn provenance(f: &Finding) -> Option<Provenance> {
    if matches!(f.status.as_str(), "running" | "failed") {
        return None;
    }
    let mut target = vec![Reference::to("DiagnosticReport", &f.id, None)];
    target.extend(
        (0..f.predictions.len()).map(|i| Reference::to("Observation", &super::observation::id(f, i), None)),
    );
    let device = super::device::id_of(&f.model, &f.model_version, f.model_sha256.as_deref());
    let mut agent = vec![Agent {
        type_: participant("author", "Author"),
        who: Reference::to("Device", &device, Some(&format!("{} {}", f.model, f.model_version))),
    }];
    if let Some(by) = &f.decided_by {
        agent.push(Agent {
            type_: participant("verifier", "Verifier"),
            who: Reference::to("Practitioner", by, f.decided_by_name.as_deref()),
        });
    }
    let frame = if f.frame > 0 { format!(", frame {}", f.frame + 1) } else { String::new() };
    Some(Provenance {
        id: f.id.clone(),
        meta: Meta { version_id: None, last_updated: instant(super::report::changed_at(f)) },
        target,
        recorded: instant(super::report::changed_at(f)),
        activity: CodeableConcept::text("AI image analysis, signed off by a clinician"),
        agent,
        entity: vec![Entity {
            role: "source",
            what: Reference::to(
                "Media",
                &f.image_id,
                Some(&format!("{} (sha256 {}{frame})", f.filename, f.input_sha256)),
            ),
        }],
    })
}
