//! `Appointment`: a booked consultation, its two participants and its status.
//!
//! Statuses map one way each: booked → `booked`, completed → `fulfilled`, cancelled →
//! `cancelled`, no-show → `noshow`. The reason given at booking is `reasonCode.text`; the
//! reason for a cancellation is `cancelationReason.text`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::access::Scope;
use super::model::{
    Appointment, AppointmentParticipant, AppointmentStatus, CodeableConcept, Meta, ParticipationStatus,
    Reference, Resource,
};
use super::outcome::{FhirError, FhirResult};
use super::search::{self, SearchQuery, Window, instant};
use crate::db::{Arg, Db, Filters};
use crate::scheduling::model::Status;

/// Search parameters besides the common ones.
pub const PARAMS: [&str; 6] = ["patient", "practitioner", "actor", "date", "status", "_lastUpdated"];

const FROM: &str =
    "FROM appointments a JOIN users d ON d.id = a.doctor_id JOIN users p ON p.id = a.patient_id";
const COLUMNS: &str = "SELECT a.id, a.doctor_id, d.name AS doctor_name, a.patient_id, p.name AS patient_name,
        a.starts_at, a.ends_at, a.status, a.reason, a.status_reason, a.created_at, a.updated_at";

/// Ours → FHIR.
pub fn status(s: Status) -> AppointmentStatus {
    match s {
        Status::Booked => AppointmentStatus::Booked,
        Status::Completed => AppointmentStatus::Fulfilled,
        Status::Cancelled => AppointmentStatus::Cancelled,
        Status::NoShow => AppointmentStatus::Noshow,
    }
}

/// A FHIR status code → ours; `None` for an R4 code no Consilium appointment has.
fn our_status(code: &str) -> FhirResult<Option<Status>> {
    if let Some(s) = AppointmentStatus::ALL.into_iter().find(|s| s.code() == code) {
        let ours = [Status::Booked, Status::Completed, Status::Cancelled, Status::NoShow];
        return Ok(ours.into_iter().find(|o| status(*o) == s));
    }
    match code {
        "proposed" | "pending" | "arrived" | "entered-in-error" | "checked-in" | "waitlist" => Ok(None),
        other => Err(FhirError::bad_param("status", format!("{other:?} is not an R4 appointment status"))),
    }
}

/// The patient of the row, for the audit log.
pub struct Found {
    pub resource: Appointment,
    pub patient_id: String,
}

fn map(r: &AnyRow) -> Result<Found, sqlx::Error> {
    let st: String = r.try_get("status")?;
    let st = Status::parse(&st).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?;
    let starts: i64 = r.try_get("starts_at")?;
    let ends: i64 = r.try_get("ends_at")?;
    let patient_id: String = r.try_get("patient_id")?;
    let patient_name: String = r.try_get("patient_name")?;
    let doctor_id: String = r.try_get("doctor_id")?;
    let doctor_name: String = r.try_get("doctor_name")?;
    let status_reason: Option<String> = r.try_get("status_reason")?;
    let resource = Appointment {
        id: r.try_get("id")?,
        meta: Meta { version_id: None, last_updated: instant(r.try_get("updated_at")?) },
        status: status(st),
        cancelation_reason: status_reason.filter(|_| st == Status::Cancelled).map(CodeableConcept::text),
        reason_code: r
            .try_get::<Option<String>, _>("reason")?
            .into_iter()
            .map(CodeableConcept::text)
            .collect(),
        start: instant(starts),
        end: instant(ends),
        minutes_duration: (ends - starts) / 60_000,
        created: instant(r.try_get("created_at")?),
        participant: vec![
            AppointmentParticipant {
                actor: Reference::to("Patient", &patient_id, Some(&patient_name)),
                status: ParticipationStatus::Accepted,
            },
            AppointmentParticipant {
                actor: Reference::to("Practitioner", &doctor_id, Some(&doctor_name)),
                status: ParticipationStatus::Accepted,
            },
        ],
    };
    Ok(Found { resource, patient_id })
}

/// The appointment `id`, if the caller may read it.
pub async fn read(db: &Db, scope: &Scope, id: &str) -> FhirResult<Option<Found>> {
    let mut f = Filters::default();
    f.add("a.id = ?", Some(Arg::Text(id.to_string())));
    scope.patients(&mut f, "a.patient_id");
    let sql = format!("{COLUMNS} {FROM} {}", f.where_clause());
    let row = f.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_optional(&mut *db.acquire().await?).await?;
    Ok(row.as_ref().map(map).transpose()?)
}

/// One page of an Appointment search, with the patients it shows.
pub async fn search(db: &Db, scope: &Scope, q: &SearchQuery) -> FhirResult<(search::Page, Vec<String>)> {
    let narrowed = scope.for_patients(db, &q.patient_ids()?).await?;
    let scope = &narrowed;
    let mut f = Filters::default();
    scope.patients(&mut f, "a.patient_id");
    q.ids(&mut f, "a.id")?;
    for raw in q.values("patient") {
        search::alternatives(&mut f, "a.patient_id", raw, |v| search::reference_id("Patient", v))?;
    }
    for raw in q.values("practitioner") {
        search::alternatives(&mut f, "a.doctor_id", raw, |v| search::reference_id("Practitioner", v))?;
    }
    for raw in q.values("actor") {
        // Either participant (ids are unique across accounts, so one test covers both).
        let mut ids = Vec::new();
        for v in raw.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            let kind = if v.contains("Practitioner/") { "Practitioner" } else { "Patient" };
            ids.push(Arg::Text(search::reference_id(kind, v)?));
        }
        f.add_any("? IN (a.patient_id, a.doctor_id)", ids);
    }
    search::dates(q, &mut f, "date", "a.starts_at")?;
    search::dates(q, &mut f, "_lastUpdated", "a.updated_at")?;
    for raw in q.values("status") {
        let mut values = Vec::new();
        for code in raw.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            // A code no appointment of ours has still narrows the search: to nothing.
            let ours = our_status(code)?.map(Status::as_str).unwrap_or("\u{1}none");
            values.push(Arg::Text(ours.to_string()));
        }
        f.add_any("a.status = ?", values);
    }
    // Every condition is on `a`: the count needs no join.
    let total = super::count(db, "FROM appointments a", &f).await?;
    let window = Window { column: "a.id", cursor: q.cursor.as_ref(), count: q.count };
    let rows = window.rows(&mut *db.acquire().await?, &format!("{COLUMNS} {FROM}"), &f).await?;
    let rows = rows.iter().map(map).collect::<Result<Vec<_>, _>>()?;
    let (rows, has_prev, has_next) = window.finish(rows);
    let patients = search::distinct(rows.iter().map(|r| r.patient_id.clone()));
    let page = search::Page {
        kind: "Appointment",
        total,
        matches: rows.into_iter().map(|r| Resource::Appointment(r.resource)).collect(),
        includes: Vec::new(),
        has_prev,
        has_next,
    };
    Ok((page, patients))
}
