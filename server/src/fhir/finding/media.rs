//! `Media`: the image the model read, named by its sha256 (an RFC 6920 `ni` URI) so a
//! receiving system can check it has the same bytes.

use serde::Serialize;

use super::{Finding, NAMED_HASH_SYSTEM, named_hash};
use crate::fhir::model::{CodeableConcept, Coding, Identifier, Meta, Reference};
use crate::fhir::search::instant;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    pub id: String,
    pub meta: Meta,
    pub identifier: Vec<Identifier>,
    pub status: &'static str,
    #[serde(rename = "type")]
    pub type_: CodeableConcept,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    pub created_date_time: String,
    pub height: i64,
    pub width: i64,
    pub content: Attachment,
}

#[derive(Clone, Debug, Serialize)]
pub struct Attachment {
    #[serde(rename = "contentType")]
    pub content_type: &'static str,
    pub size: i64,
    pub title: String,
    pub creation: String,
}

pub fn media(f: &Finding) -> Media {
    Media {
        id: f.image_id.clone(),
        meta: Meta { version_id: None, last_updated: instant(f.image_at) },
        identifier: vec![Identifier {
            use_: Some("official"),
            type_: None,
            system: NAMED_HASH_SYSTEM.into(),
            value: named_hash(&f.input_sha256),
        }],
        status: "completed",
        type_: CodeableConcept {
            coding: vec![Coding {
                system: Some("http://terminology.hl7.org/CodeSystem/media-type".into()),
                code: Some("image".into()),
                display: Some("Image".into()),
            }],
            text: None,
        },
        subject: f.patient_id.as_deref().map(|p| Reference::to("Patient", p, f.patient_name.as_deref())),
        created_date_time: instant(f.image_at),
        height: f.height.max(1),
        width: f.width.max(1),
        content: Attachment {
            content_type: match f.image_kind.as_str() {
                "png" => "image/png",
                "jpeg" => "image/jpeg",
                _ => "application/dicom",
            },
            size: f.bytes,
            title: f.filename.clone(),
            creation: instant(f.image_at),
        },
    }
}
