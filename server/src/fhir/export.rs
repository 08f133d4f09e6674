//! The patient's own record as a FHIR `collection` Bundle (`GET /fhir/r4/Patient/{id}/$export`,
//! and the record page's download): everything their compartment holds that a clinician has
//! released, with the same rules as every other read by their token, in one file another
//! system can import.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::access::Scope;
use super::model::{Bundle, BundleEntry, BundleType, Meta, Resource};
use super::outcome::{FhirError, FhirResult};
use super::search::{Cursor, Page, SearchQuery, instant};
use crate::AppState;
use crate::accounts::model::Role;
use crate::auth::CurrentUser;
use crate::db::{new_id, now_ms};
use crate::records::audit::{self, Actor, Event};

/// The most entries one export holds (a patient's record is far smaller).
pub const MAX_ENTRIES: usize = 20_000;

/// Every page of one search of the patient's compartment.
async fn all(
    state: &AppState,
    scope: &Scope,
    kind: &str,
    patient: &str,
    out: &mut Vec<Resource>,
) -> FhirResult<()> {
    let db = &state.db;
    let mut cursor: Option<Cursor> = None;
    loop {
        let key = if kind == "Patient" { "_id" } else { "patient" };
        let mut raw = format!("_count=100&{key}={patient}");
        if let Some(Cursor::After(id)) = &cursor {
            raw.push_str(&format!("&_cursor=after.{id}"));
        }
        let headers = HeaderMap::new();
        let page: Page = match kind {
            "Patient" => {
                super::patient::search(db, scope, &SearchQuery::parse(Some(&raw), &headers, &[])?).await?
            }
            "Appointment" => {
                super::appointment::search(
                    db,
                    scope,
                    &SearchQuery::parse(Some(&raw), &headers, &super::appointment::PARAMS)?,
                )
                .await?
                .0
            }
            "Encounter" => {
                super::encounter::search(
                    db,
                    scope,
                    &SearchQuery::parse(Some(&raw), &headers, &super::encounter::PARAMS)?,
                )
                .await?
                .0
            }
            "Composition" => {
                super::composition::search(
                    db,
                    scope,
                    &SearchQuery::parse(Some(&raw), &headers, &super::composition::PARAMS)?,
                )
                .await?
                .0
            }
            "CarePlan" => {
                super::care_plan::search(
                    db,
                    scope,
                    &SearchQuery::parse(Some(&raw), &headers, &super::care_plan::PARAMS)?,
                )
                .await?
                .0
            }
            _ => {
                let raw = format!(
                    "{raw}&_include=DiagnosticReport:result&_include=DiagnosticReport:media&_include=Observation:device&_revinclude=Provenance:target"
                );
                let q = SearchQuery::parse(Some(&raw), &headers, &super::finding::PARAMS)?;
                super::finding::search_reports(db, scope, &q).await?.0
            }
        };
        let next = page
            .has_next
            .then(|| page.matches.last().and_then(|r| r.id_and_meta()).map(|(id, _)| id.to_string()))
            .flatten();
        out.extend(page.matches);
        out.extend(page.includes);
        if out.len() > MAX_ENTRIES {
            return Err(FhirError::App(crate::error::AppError::Unavailable(
                "this record is larger than one export holds; ask the clinic for it".into(),
            )));
        }
        match next {
            Some(id) => cursor = Some(Cursor::After(id)),
            None => return Ok(()),
        }
    }
}

/// The collection Bundle of `patient`'s compartment as `user` may read it.
pub async fn bundle(state: &AppState, user: &CurrentUser, addr: &str, patient: &str) -> FhirResult<Bundle> {
    // A patient exports their own record; admins any; a doctor the records of their patients
    // (what their token reads anyway).
    if user.role == Role::Patient && user.id != patient {
        return Err(FhirError::App(crate::error::AppError::NotFound("patient")));
    }
    let scope = Scope::of(user);
    let mut resources = Vec::new();
    all(state, &scope, "Patient", patient, &mut resources).await?;
    if resources.is_empty() {
        return Err(FhirError::App(crate::error::AppError::NotFound("patient")));
    }
    for kind in ["Appointment", "Encounter", "Composition", "CarePlan", "DiagnosticReport"] {
        all(state, &scope, kind, patient, &mut resources).await?;
    }
    let mut seen = std::collections::HashSet::new();
    resources.retain(|r| r.id_and_meta().is_none_or(|(id, _)| seen.insert((r.type_name(), id.to_string()))));
    let base = super::base(state);
    let entry = resources
        .into_iter()
        .map(|mut r| {
            super::stamp(&mut r);
            BundleEntry {
                full_url: r.id_and_meta().map(|(id, _)| format!("{base}/{}/{id}", r.type_name())),
                resource: r,
                search: None,
                response: None,
            }
        })
        .collect::<Vec<_>>();
    let event = Event::new("record.export_fhir")
        .object("patient", patient)
        .patient(Some(patient))
        .detail(format!("entries={}", entry.len()));
    audit::record_read(&state.db, &Actor::user(user, addr), event).await?;
    let now = instant(now_ms());
    Ok(Bundle {
        id: new_id(),
        meta: Meta { version_id: None, last_updated: now.clone() },
        type_: BundleType::Collection,
        timestamp: now,
        total: None,
        link: Vec::new(),
        entry,
    })
}

/// The Bundle as a file to save.
pub fn download(bundle: Bundle) -> Response {
    let mut resp = super::answer(StatusCode::OK, Resource::Bundle(bundle));
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"my-record.fhir.json\""),
    );
    resp
}
