//! `Patient`: a patient's account and the demographics of their chart.
//!
//! The hospital's record number is the identifier (system [`RECORD_NUMBER_SYSTEM`], type `MR`);
//! the name is kept as typed (`HumanName.text`); e-mail and phone are `telecom`; the preferred
//! language is `communication`.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::access::Scope;
use super::model::{
    CodeableConcept, Coding, ContactPoint, ContactSystem, Gender, HumanName, Identifier, Meta, Patient,
    PatientCommunication, Resource,
};
use super::outcome::{FhirError, FhirResult};
use super::search::{self, SearchQuery, Window, instant};
use crate::db::{Arg, Db, Filters, like_escape};

/// The identifier system of the record number a clinic enters on the chart.
pub const RECORD_NUMBER_SYSTEM: &str = "urn:consilium:record-number";
/// Search parameters besides the common ones.
pub const PARAMS: [&str; 5] = ["identifier", "name", "gender", "email", "_lastUpdated"];

const SELECT: &str = "SELECT u.id, u.name, u.email, u.active, u.updated_at, p.birth_date, p.sex, p.phone,
        p.record_number, p.preferred_language, p.updated_at AS profile_updated_at
   FROM users u LEFT JOIN patient_profiles p ON p.patient_id = u.id";

fn map(r: &AnyRow) -> Result<Patient, sqlx::Error> {
    let updated: i64 = r.try_get("updated_at")?;
    let profile_updated: Option<i64> = r.try_get("profile_updated_at")?;
    let mut telecom = vec![ContactPoint { system: ContactSystem::Email, value: r.try_get("email")? }];
    if let Some(phone) = r.try_get::<Option<String>, _>("phone")? {
        telecom.push(ContactPoint { system: ContactSystem::Phone, value: phone });
    }
    let identifier = r
        .try_get::<Option<String>, _>("record_number")?
        .map(|value| Identifier {
            use_: Some("usual"),
            type_: Some(CodeableConcept {
                coding: vec![Coding {
                    system: Some("http://terminology.hl7.org/CodeSystem/v2-0203".into()),
                    code: Some("MR".into()),
                    display: Some("Medical record number".into()),
                }],
                text: None,
            }),
            system: RECORD_NUMBER_SYSTEM.into(),
            value,
        })
        .into_iter()
        .collect();
    let gender = match r.try_get::<Option<String>, _>("sex")?.as_deref() {
        Some("female") => Some(Gender::Female),
        Some("male") => Some(Gender::Male),
        Some("other") => Some(Gender::Other),
        Some("unknown") => Some(Gender::Unknown),
        _ => None,
    };
    let communication = r
        .try_get::<Option<String>, _>("preferred_language")?
        .map(|tag| PatientCommunication {
            language: CodeableConcept {
                coding: vec![Coding {
                    system: Some("urn:ietf:bcp:47".into()),
                    code: Some(tag),
                    display: None,
                }],
                text: None,
            },
            preferred: true,
        })
        .into_iter()
        .collect();
    let active: i64 = r.try_get("active")?;
    Ok(Patient {
        id: r.try_get("id")?,
        meta: Meta { version_id: None, last_updated: instant(updated.max(profile_updated.unwrap_or(0))) },
        identifier,
        active: active != 0,
        name: vec![HumanName { text: r.try_get("name")? }],
        telecom,
        gender,
        birth_date: r.try_get("birth_date")?,
        communication,
    })
}

/// The patient `id`, if the caller may read them.
pub async fn read(conn: &mut AnyConnection, scope: &Scope, id: &str) -> FhirResult<Option<Patient>> {
    let mut f = Filters::default();
    f.add("u.role = ?", Some(Arg::Text("patient".into())));
    f.add("u.id = ?", Some(Arg::Text(id.to_string())));
    scope.patients(&mut f, "u.id");
    let sql = format!("{SELECT} {}", f.where_clause());
    let row = f.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_optional(&mut *conn).await?;
    let Some(mut p) = row.as_ref().map(map).transpose()? else { return Ok(None) };
    let mut extra = super::identifiers::of(conn, &[id]).await?;
    p.identifier.extend(extra.remove(id).unwrap_or_default());
    Ok(Some(p))
}

/// One page of a Patient search.
pub async fn search(db: &Db, scope: &Scope, q: &SearchQuery) -> FhirResult<search::Page> {
    let mut f = Filters::default();
    f.add("u.role = ?", Some(Arg::Text("patient".into())));
    scope.patients(&mut f, "u.id");
    q.ids(&mut f, "u.id")?;
    for raw in q.values("identifier") {
        f.add_or(super::identifiers::condition(raw, "u.id", Some("p.record_number"))?);
    }
    for raw in q.values("name") {
        // FHIR string search: case-insensitive, here on any part of the name.
        let pattern = format!("%{}%", like_escape(&raw.trim().to_lowercase()));
        f.add("LOWER(u.name) LIKE ? ESCAPE '\\'", Some(Arg::Text(pattern)));
    }
    for raw in q.values("email") {
        f.add("LOWER(u.email) = ?", Some(Arg::Text(raw.trim().to_lowercase())));
    }
    for raw in q.values("gender") {
        let values = raw
            .split(',')
            .map(|g| match g.trim() {
                g @ ("female" | "male" | "other" | "unknown") => Ok(Arg::Text(g.to_string())),
                other => Err(FhirError::bad_param(
                    "gender",
                    format!("{other:?} is not male, female, other or unknown"),
                )),
            })
            .collect::<FhirResult<Vec<_>>>()?;
        f.add_any("p.sex = ?", values);
    }
    search::dates(
        q,
        &mut f,
        "_lastUpdated",
        "CASE WHEN p.updated_at > u.updated_at THEN p.updated_at ELSE u.updated_at END",
    )?;
    let window = Window { column: "u.id", cursor: q.cursor.as_ref(), count: q.count };
    let total =
        super::count(db, "FROM users u LEFT JOIN patient_profiles p ON p.patient_id = u.id", &f).await?;
    let mut conn = db.acquire().await?;
    let rows = window.rows(&mut conn, SELECT, &f).await?;
    let mut patients = rows.iter().map(map).collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<&str> = patients.iter().map(|p| p.id.as_str()).collect();
    let mut extra = super::identifiers::of(&mut conn, &ids).await?;
    drop(conn);
    for p in &mut patients {
        p.identifier.extend(extra.remove(&p.id).unwrap_or_default());
    }
    let (patients, has_prev, has_next) = window.finish(patients);
    Ok(search::Page {
        kind: "Patient",
        total,
        matches: patients.into_iter().map(Resource::Patient).collect(),
        includes: Vec::new(),
        has_prev,
        has_next,
    })
}
