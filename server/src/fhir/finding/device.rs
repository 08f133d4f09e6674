//! `Device`: the diagnosis model that made a finding: its name, version and the sha256 of its
//! model file. One Device per model file; its id is derived from the three.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Finding, NAMED_HASH_SYSTEM, named_hash};
use crate::fhir::model::{CodeableConcept, Identifier, Meta};
use crate::fhir::search::instant;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub id: String,
    pub meta: Meta,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    pub status: &'static str,
    pub device_name: Vec<DeviceName>,
    #[serde(rename = "type")]
    pub type_: CodeableConcept,
    pub version: Vec<DeviceVersion>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeviceName {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeviceVersion {
    pub value: String,
}

/// `model-` and 32 hex digits of the sha256 of name, version and model hash.
pub fn id_of(name: &str, version: &str, model_sha256: Option<&str>) -> String {
    let digest = Sha256::digest(format!("{name}\n{version}\n{}", model_sha256.unwrap_or("")).as_bytes());
    format!("model-{}", &crate::diagnosis::hex(&digest)[..32])
}

pub fn device(f: &Finding) -> Device {
    Device {
        id: id_of(&f.model, &f.model_version, f.model_sha256.as_deref()),
        meta: Meta { version_id: None, last_updated: instant(f.requested_at) },
        identifier: f
            .model_sha256
            .as_deref()
            .map(|sha| Identifier {
                use_: Some("official"),
                type_: None,
                system: NAMED_HASH_SYSTEM.into(),
                value: named_hash(sha),
            })
            .into_iter()
            .collect(),
        status: "active",
        device_name: vec![DeviceName { name: f.model.clone(), type_: "model-name" }],
        type_: CodeableConcept::text("ONNX image diagnosis model (software)"),
        version: vec![DeviceVersion { value: f.model_version.clone() }],
    }
}
