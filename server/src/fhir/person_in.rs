//! What an EHR sends: `Patient` and `Practitioner` as typed R4 input. Every R4 element is
//! named, so an element R4 does not have is refused (`deny_unknown_fields`); the ones
//! Consilium keeps are typed, the rest are accepted and not kept. A `modifierExtension` changes
//! the meaning of what it sits on, so one we cannot understand is refused, as R4 requires.

use serde::Deserialize;
use serde_json::Value;

use super::outcome::{FhirError, FhirResult};
use super::patient::RECORD_NUMBER_SYSTEM;
use crate::accounts::model::Email;
use crate::records::chart::model::{Demographics, Sex};

#[allow(dead_code)] // The elements accepted and not kept are read by serde only.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatientIn {
    pub resource_type: String,
    pub id: Option<String>,
    #[serde(default)]
    pub identifier: Vec<IdentifierIn>,
    pub active: Option<bool>,
    #[serde(default)]
    pub name: Vec<NameIn>,
    #[serde(default)]
    pub telecom: Vec<TelecomIn>,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
    #[serde(default)]
    pub communication: Vec<CommunicationIn>,
    #[serde(default)]
    pub modifier_extension: Vec<Value>,
    // Accepted, not kept.
    meta: Option<Value>,
    implicit_rules: Option<Value>,
    language: Option<Value>,
    text: Option<Value>,
    contained: Option<Value>,
    extension: Option<Value>,
    deceased_boolean: Option<Value>,
    deceased_date_time: Option<Value>,
    address: Option<Value>,
    marital_status: Option<Value>,
    multiple_birth_boolean: Option<Value>,
    multiple_birth_integer: Option<Value>,
    photo: Option<Value>,
    contact: Option<Value>,
    general_practitioner: Option<Value>,
    managing_organization: Option<Value>,
    link: Option<Value>,
    #[serde(rename = "_active")]
    active_ext: Option<Value>,
    #[serde(rename = "_gender")]
    gender_ext: Option<Value>,
    #[serde(rename = "_birthDate")]
    birth_date_ext: Option<Value>,
}

#[allow(dead_code)] // The elements accepted and not kept are read by serde only.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PractitionerIn {
    pub resource_type: String,
    pub id: Option<String>,
    #[serde(default)]
    pub identifier: Vec<IdentifierIn>,
    pub active: Option<bool>,
    #[serde(default)]
    pub name: Vec<NameIn>,
    #[serde(default)]
    pub telecom: Vec<TelecomIn>,
    #[serde(default)]
    pub qualification: Vec<QualificationIn>,
    #[serde(default)]
    pub modifier_extension: Vec<Value>,
    meta: Option<Value>,
    implicit_rules: Option<Value>,
    language: Option<Value>,
    text: Option<Value>,
    contained: Option<Value>,
    extension: Option<Value>,
    address: Option<Value>,
    gender: Option<Value>,
    birth_date: Option<Value>,
    photo: Option<Value>,
    communication: Option<Value>,
    #[serde(rename = "_active")]
    active_ext: Option<Value>,
}

#[allow(dead_code)] // The elements accepted and not kept are read by serde only.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentifierIn {
    pub system: Option<String>,
    pub value: Option<String>,
    #[serde(rename = "use")]
    use_: Option<Value>,
    #[serde(rename = "type")]
    type_: Option<Value>,
    period: Option<Value>,
    assigner: Option<Value>,
    id: Option<Value>,
    extension: Option<Value>,
}

#[allow(dead_code)] // The elements accepted and not kept are read by serde only.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameIn {
    pub text: Option<String>,
    pub family: Option<String>,
    #[serde(default)]
    pub given: Vec<String>,
    #[serde(rename = "use")]
    pub use_: Option<String>,
    #[serde(default)]
    prefix: Vec<String>,
    #[serde(default)]
    suffix: Vec<String>,
    period: Option<Value>,
    id: Option<Value>,
    extension: Option<Value>,
}

#[allow(dead_code)] // The elements accepted and not kept are read by serde only.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TelecomIn {
    pub system: Option<String>,
    pub value: Option<String>,
    #[serde(rename = "use")]
    use_: Option<Value>,
    rank: Option<Value>,
    period: Option<Value>,
    id: Option<Value>,
    extension: Option<Value>,
}

#[allow(dead_code)] // The elements accepted and not kept are read by serde only.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommunicationIn {
    pub language: CodeableIn,
    pub preferred: Option<bool>,
    id: Option<Value>,
    extension: Option<Value>,
    modifier_extension: Option<Value>,
}

#[allow(dead_code)] // The elements accepted and not kept are read by serde only.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QualificationIn {
    pub code: CodeableIn,
    identifier: Option<Value>,
    period: Option<Value>,
    issuer: Option<Value>,
    id: Option<Value>,
    extension: Option<Value>,
    modifier_extension: Option<Value>,
}

#[allow(dead_code)] // The elements accepted and not kept are read by serde only.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeableIn {
    #[serde(default)]
    pub coding: Vec<CodingIn>,
    pub text: Option<String>,
    id: Option<Value>,
    extension: Option<Value>,
}

#[allow(dead_code)] // The elements accepted and not kept are read by serde only.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodingIn {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
    version: Option<Value>,
    user_selected: Option<Value>,
    id: Option<Value>,
    extension: Option<Value>,
}

/// A person as Consilium keeps them, from either resource.
#[derive(Clone, Debug)]
pub struct Person {
    pub name: String,
    pub email: Email,
    pub active: bool,
    /// `(system, value)`, the record number's system excluded.
    pub identifiers: Vec<(String, String)>,
    pub demographics: Demographics,
    pub specialty: Option<String>,
}

/// Parses a request body as `kind` (`Patient` or `Practitioner`): 400 for what is not JSON, not
/// that resource, or not R4; 422 for what R4 allows but Consilium cannot keep as given.
pub fn parse(kind: &str, body: &Value) -> FhirResult<Person> {
    let declared = body.get("resourceType").and_then(Value::as_str).unwrap_or("");
    if declared != kind {
        return Err(FhirError::structure(format!("the body is {declared:?}, not a {kind}")));
    }
    let structure = |e: serde_json::Error| {
        // serde lists every element R4 has after an unknown one; the one at fault is enough.
        let text = e.to_string();
        let text = text.split(", expected one of").next().unwrap_or(&text).to_string();
        FhirError::structure(format!("not an R4 {kind}: {text}"))
    };
    if kind == "Patient" {
        let p: PatientIn = serde_json::from_value(body.clone()).map_err(structure)?;
        refuse_modifiers(&p.modifier_extension)?;
        let (record_number, identifiers) = identifiers(&p.identifier)?;
        let sex = match p.gender.as_deref() {
            None => None,
            Some(g) => Some(Sex::parse(g).ok_or_else(|| {
                FhirError::invalid("Patient.gender", format!("{g:?} is not male, female, other or unknown"))
            })?),
        };
        let language = p
            .communication
            .iter()
            .find(|c| c.preferred == Some(true))
            .or(p.communication.first())
            .and_then(|c| c.language.coding.iter().find_map(|c| c.code.clone()));
        let demographics = Demographics {
            birth_date: p.birth_date,
            sex,
            phone: telecom(&p.telecom, "phone"),
            record_number,
            preferred_language: language,
        };
        Ok(Person {
            name: name(kind, &p.name)?,
            email: email(kind, &p.telecom)?,
            active: p.active.unwrap_or(true),
            identifiers,
            demographics,
            specialty: None,
        })
    } else {
        let p: PractitionerIn = serde_json::from_value(body.clone()).map_err(structure)?;
        refuse_modifiers(&p.modifier_extension)?;
        let (_, identifiers) = identifiers(&p.identifier)?;
        let specialty = p.qualification.first().and_then(|q| {
            q.code.text.clone().or_else(|| q.code.coding.iter().find_map(|c| c.display.clone()))
        });
        Ok(Person {
            name: name(kind, &p.name)?,
            email: email(kind, &p.telecom)?,
            active: p.active.unwrap_or(true),
            identifiers,
            demographics: Demographics::default(),
            specialty,
        })
    }
}

fn refuse_modifiers(m: &[Value]) -> FhirResult<()> {
    if m.is_empty() {
        Ok(())
    } else {
        Err(FhirError::not_supported(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "modifierExtension is not understood here, and R4 forbids keeping what it modifies without it",
        ))
    }
}

/// The person's name: `text`, else given names and family name.
fn name(kind: &str, names: &[NameIn]) -> FhirResult<String> {
    let n = names.iter().find(|n| n.use_.as_deref() == Some("official")).or(names.first());
    let text = n.and_then(|n| {
        n.text.clone().filter(|t| !t.trim().is_empty()).or_else(|| {
            let parts: Vec<&str> = n.given.iter().map(String::as_str).chain(n.family.as_deref()).collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
    });
    let text = text.ok_or_else(|| FhirError::invalid(&format!("{kind}.name"), "a name is required"))?;
    crate::accounts::model::parse_name(&text)
        .map_err(|e| FhirError::invalid(&format!("{kind}.name"), e.to_string()))
}

fn telecom(t: &[TelecomIn], system: &str) -> Option<String> {
    t.iter().find(|t| t.system.as_deref() == Some(system)).and_then(|t| t.value.clone())
}

fn email(kind: &str, t: &[TelecomIn]) -> FhirResult<Email> {
    let raw = telecom(t, "email").ok_or_else(|| {
        FhirError::invalid(
            &format!("{kind}.telecom"),
            "an e-mail address (telecom with system email) is required: it is how the person signs in and \
             hears of appointments",
        )
    })?;
    Email::parse(&raw).map_err(|e| FhirError::invalid(&format!("{kind}.telecom"), e.to_string()))
}

/// The record number (its system's value) and the other identifiers, each with a system and a
/// value of at most 256 characters.
/// `(system, value)` pairs.
type Pairs = Vec<(String, String)>;

fn identifiers(ids: &[IdentifierIn]) -> FhirResult<(Option<String>, Pairs)> {
    let mut record_number = None;
    let mut out = Vec::new();
    for i in ids {
        let (Some(system), Some(value)) = (i.system.as_deref(), i.value.as_deref()) else {
            return Err(FhirError::invalid("identifier", "each identifier needs a system and a value"));
        };
        let (system, value) = (system.trim(), value.trim());
        if system.is_empty() || value.is_empty() || system.len() > 256 || value.len() > 256 {
            return Err(FhirError::invalid("identifier", "a system and a value of 1 to 256 characters"));
        }
        if system == RECORD_NUMBER_SYSTEM {
            record_number = Some(value.to_string());
        } else if !out.iter().any(|(s, v): &(String, String)| s == system && v == value) {
            out.push((system.to_string(), value.to_string()));
        }
    }
    Ok((record_number, out))
}
