//! An AI finding as FHIR: a `DiagnosticReport` ([`report`]) with an `Observation` per label
//! ([`observation`]), the image as `Media` ([`media`]), the model as a `Device` ([`device`]) and
//! a `Provenance` ([`provenance`]) whose agents are the model (author) and the signing clinician
//! (verifier) and whose entity is the image with its sha256 and frame.
//!
//! A finding's patient is its appointment's patient, or, in a case review, the patient of the
//! case its image was shared for. Patients read only signed-off findings (accepted, amended or
//! rejected), as in the room; clinicians also read those still awaiting a decision.

pub mod device;
pub mod media;
pub mod observation;
pub mod provenance;
pub mod report;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::access::Scope;
use super::model::Resource;
use super::outcome::{FhirError, FhirResult};
use super::search::{self, SearchQuery, Window};
use crate::db::{Arg, Db, Filters};

/// Search parameters of `DiagnosticReport` besides the common ones.
pub const PARAMS: [&str; 8] =
    ["patient", "subject", "status", "date", "issued", "_lastUpdated", "_include", "_revinclude"];
/// Search parameters of `Provenance` besides the common ones.
pub const PROVENANCE_PARAMS: [&str; 3] = ["target", "patient", "_include"];

/// The `_include` and `_revinclude` values served.
pub const INCLUDES: [&str; 4] =
    ["DiagnosticReport:result", "DiagnosticReport:media", "DiagnosticReport:subject", "Observation:device"];
pub const REVINCLUDES: [&str; 1] = ["Provenance:target"];

/// A condition on a finding's patient, by the indexes that lead to it (the appointment's room,
/// or the case its image was shared for), for `test` (`= ?`, `IN (…)`).
fn of_patient(test: &str) -> String {
    format!(
        "(f.room_id IN (SELECT room_id FROM appointments WHERE patient_id {test})
          OR f.image_id IN (SELECT ci.id FROM review_cases cc JOIN images ci ON ci.case_id = cc.id WHERE cc.patient_id {test}))"
    )
}
const FROM: &str = "FROM findings f JOIN images i ON i.id = f.image_id
     LEFT JOIN appointments a ON a.room_id = f.room_id
     LEFT JOIN review_cases c ON c.id = i.case_id
     LEFT JOIN users pu ON pu.id = COALESCE(a.patient_id, c.patient_id)";
const COLUMNS: &str = "SELECT f.id, f.status, f.model, f.model_version, f.model_sha256, f.input_sha256, f.predictions,
        f.frame, f.requested_at, f.completed_at, f.decided_by, f.decided_by_name, f.decided_at, f.decision_label,
        f.decision_note, i.id AS image_id, i.kind AS image_kind, i.filename, i.width, i.height, i.bytes,
        i.created_at AS image_at, COALESCE(a.patient_id, c.patient_id) AS patient_id, pu.name AS patient_name,
        a.room_id AS encounter_id";

/// One finding with its image and patient: everything the five resources are made of.
#[derive(Clone, Debug)]
pub struct Finding {
    pub id: String,
    pub status: String,
    pub model: String,
    pub model_version: String,
    pub model_sha256: Option<String>,
    pub input_sha256: String,
    /// `(label, probability)` in the model's order.
    pub predictions: Vec<(String, f64)>,
    pub frame: i64,
    pub requested_at: i64,
    pub completed_at: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_label: Option<String>,
    pub decision_note: Option<String>,
    pub image_id: String,
    pub image_kind: String,
    pub filename: String,
    pub width: i64,
    pub height: i64,
    pub bytes: i64,
    pub image_at: i64,
    pub patient_id: Option<String>,
    pub patient_name: Option<String>,
    /// The consultation's Encounter (its room), when made in an appointment's call.
    pub encounter_id: Option<String>,
}

fn map(r: &AnyRow) -> Result<Finding, sqlx::Error> {
    let predictions: Option<String> = r.try_get("predictions")?;
    let predictions = predictions
        .and_then(|p| serde_json::from_str::<Vec<crate::diagnosis::Prediction>>(&p).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.label, f64::from(p.probability)))
        .collect();
    Ok(Finding {
        id: r.try_get("id")?,
        status: r.try_get("status")?,
        model: r.try_get("model")?,
        model_version: r.try_get("model_version")?,
        model_sha256: r.try_get("model_sha256")?,
        input_sha256: r.try_get("input_sha256")?,
        predictions,
        frame: r.try_get("frame")?,
        requested_at: r.try_get("requested_at")?,
        completed_at: r.try_get("completed_at")?,
        decided_by: r.try_get("decided_by")?,
        decided_by_name: r.try_get("decided_by_name")?,
        decided_at: r.try_get("decided_at")?,
        decision_label: r.try_get("decision_label")?,
        decision_note: r.try_get("decision_note")?,
        image_id: r.try_get("image_id")?,
        image_kind: r.try_get("image_kind")?,
        filename: r.try_get("filename")?,
        width: r.try_get("width")?,
        height: r.try_get("height")?,
        bytes: r.try_get("bytes")?,
        image_at: r.try_get("image_at")?,
        patient_id: r.try_get("patient_id")?,
        patient_name: r.try_get("patient_name")?,
        encounter_id: r.try_get("encounter_id")?,
    })
}

/// The findings a caller may read: their patients' (admins: all, also those of ad-hoc rooms
/// without a patient), patients only once signed off.
fn scoped(scope: &Scope) -> Filters {
    let mut f = Filters::default();
    scope.patients_where(&mut f, of_patient);
    if let Scope::Own(_) = scope {
        f.add_any("f.status = ?", ["accepted", "amended", "rejected"].map(|s| Arg::Text(s.into())).to_vec());
    }
    f
}

async fn fetch(db: &Db, f: Filters, tail: &str) -> FhirResult<Vec<Finding>> {
    let sql = format!("{COLUMNS} {FROM} {} {tail}", f.where_clause());
    let rows = f.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&mut *db.acquire().await?).await?;
    Ok(rows.iter().map(map).collect::<Result<_, _>>()?)
}

/// The finding `id`, if the caller may read it.
pub async fn one(db: &Db, scope: &Scope, id: &str) -> FhirResult<Option<Finding>> {
    let mut f = scoped(scope);
    f.add("f.id = ?", Some(Arg::Text(id.to_string())));
    Ok(fetch(db, f, "").await?.pop())
}

/// The latest finding made on the image `id` (the `Media` is built from it).
pub async fn by_image(db: &Db, scope: &Scope, image_id: &str) -> FhirResult<Option<Finding>> {
    let mut f = scoped(scope);
    f.add("f.image_id = ?", Some(Arg::Text(image_id.to_string())));
    Ok(fetch(db, f, "ORDER BY f.id DESC LIMIT 1").await?.pop())
}

/// The findings made with the model a `Device` id names (any one serves: they share the model).
pub async fn by_device(db: &Db, scope: &Scope, device_id: &str) -> FhirResult<Option<Finding>> {
    let models = sqlx::query("SELECT DISTINCT model, model_version, model_sha256 FROM findings")
        .fetch_all(&mut *db.acquire().await?)
        .await?;
    for r in &models {
        let (name, version, sha): (String, String, Option<String>) =
            (r.try_get("model")?, r.try_get("model_version")?, r.try_get("model_sha256")?);
        if device::id_of(&name, &version, sha.as_deref()) == device_id {
            let mut f = scoped(scope);
            f.add("f.model = ?", Some(Arg::Text(name)));
            f.add("f.model_version = ?", Some(Arg::Text(version)));
            return Ok(fetch(db, f, "ORDER BY f.id LIMIT 1").await?.pop());
        }
    }
    Ok(None)
}

/// `patient=` (commas for alternatives).
fn patient_param(f: &mut Filters, raw: &str) -> FhirResult<()> {
    let tests = raw
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| Ok((of_patient("= ?"), Arg::Text(search::reference_id("Patient", v)?))))
        .collect::<FhirResult<Vec<_>>>()?;
    f.add_or(tests);
    Ok(())
}

/// The includes asked for, checked against those served.
fn includes(q: &SearchQuery, allowed: &[&str], name: &str) -> FhirResult<Vec<String>> {
    let mut out = Vec::new();
    for v in q.values(name) {
        if !allowed.contains(&v) {
            return Err(FhirError::bad_param(
                name,
                format!("{name}={v} is not supported; supported: {}", allowed.join(", ")),
            ));
        }
        out.push(v.to_string());
    }
    Ok(out)
}

/// A page of findings: how many match, the page, whether pages come before and after, and the
/// patients it shows.
struct Found {
    total: u64,
    rows: Vec<Finding>,
    has_prev: bool,
    has_next: bool,
    patients: Vec<String>,
}

async fn page_of(db: &Db, q: &SearchQuery, f: &Filters) -> FhirResult<Found> {
    // Every condition is on `f`: the count needs no join.
    let total = super::count(db, "FROM findings f", f).await?;
    let window = Window { column: "f.id", cursor: q.cursor.as_ref(), count: q.count };
    let rows =
        if q.count == 0 { Vec::new() } else { fetch(db, window.filters(f), &window.order_limit()).await? };
    let (rows, has_prev, has_next) = window.finish(rows);
    let patients = search::distinct(rows.iter().filter_map(|r| r.patient_id.clone()));
    Ok(Found { total, rows, has_prev, has_next, patients })
}

/// One page of a `DiagnosticReport` search with what it includes, and the patients shown.
pub async fn search_reports(
    db: &Db,
    scope: &Scope,
    q: &SearchQuery,
) -> FhirResult<(search::Page, Vec<String>)> {
    let narrowed = scope.for_patients(db, &q.patient_ids()?).await?;
    let scope = &narrowed;
    let include = includes(q, &INCLUDES, "_include")?;
    let revinclude = includes(q, &REVINCLUDES, "_revinclude")?;
    let mut f = scoped(scope);
    q.ids(&mut f, "f.id")?;
    for name in ["patient", "subject"] {
        for raw in q.values(name) {
            patient_param(&mut f, raw)?;
        }
    }
    for raw in q.values("status") {
        let mut ours = Vec::new();
        for code in raw.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let matching = report::our_statuses(code).ok_or_else(|| {
                FhirError::bad_param("status", format!("{code:?} is not an R4 report status"))
            })?;
            ours.extend(matching.iter().map(|s| Arg::Text(s.to_string())));
        }
        if ours.is_empty() {
            ours.push(Arg::Text("\u{1}none".into()));
        }
        f.add_any("f.status = ?", ours);
    }
    search::dates(q, &mut f, "date", "f.requested_at")?;
    search::dates(q, &mut f, "issued", "COALESCE(f.decided_at, f.completed_at, f.requested_at)")?;
    search::dates(q, &mut f, "_lastUpdated", "COALESCE(f.decided_at, f.completed_at, f.requested_at)")?;
    let Found { total, rows, has_prev, has_next, patients } = page_of(db, q, &f).await?;
    let mut extra = Vec::new();
    for r in &rows {
        if include.iter().any(|i| i == "DiagnosticReport:result") {
            extra.extend(observation::all(r).into_iter().map(Resource::Observation));
        }
        if include.iter().any(|i| i == "DiagnosticReport:media") {
            extra.push(Resource::Media(media::media(r)));
        }
        if include.iter().any(|i| i == "Observation:device") && !r.predictions.is_empty() {
            extra.push(Resource::Device(device::device(r)));
        }
        if revinclude.iter().any(|i| i == "Provenance:target")
            && let Some(p) = provenance::provenance(r)
        {
            extra.push(Resource::Provenance(p));
        }
    }
    if include.iter().any(|i| i == "DiagnosticReport:subject") {
        let mut conn = db.acquire().await?;
        for p in &patients {
            if let Some(found) = super::patient::read(&mut conn, scope, p).await? {
                extra.push(Resource::Patient(found));
            }
        }
    }
    dedup(&mut extra);
    let page = search::Page {
        kind: "DiagnosticReport",
        total,
        matches: rows.iter().map(|r| Resource::DiagnosticReport(report::report(r))).collect(),
        includes: extra,
        has_prev,
        has_next,
    };
    Ok((page, patients))
}

/// One page of a `Provenance` search (`target=DiagnosticReport/…` or `patient=…`), with the
/// targets when `_include=Provenance:target`.
pub async fn search_provenance(
    db: &Db,
    scope: &Scope,
    q: &SearchQuery,
) -> FhirResult<(search::Page, Vec<String>)> {
    let include = includes(q, &["Provenance:target"], "_include")?;
    let mut f = scoped(scope);
    // Only signed-off findings have a verifier, but every analysed one has its author: the
    // model. A finding still running has no provenance yet.
    f.add_any(
        "f.status = ?",
        ["ready", "accepted", "amended", "rejected"].map(|s| Arg::Text(s.into())).to_vec(),
    );
    q.ids(&mut f, "f.id")?;
    for raw in q.values("target") {
        search::alternatives(&mut f, "f.id", raw, |v| search::reference_id("DiagnosticReport", v))?;
    }
    for raw in q.values("patient") {
        patient_param(&mut f, raw)?;
    }
    let Found { total, rows, has_prev, has_next, patients } = page_of(db, q, &f).await?;
    let mut extra = Vec::new();
    if !include.is_empty() {
        for r in &rows {
            extra.push(Resource::DiagnosticReport(report::report(r)));
            extra.extend(observation::all(r).into_iter().map(Resource::Observation));
        }
    }
    let page = search::Page {
        kind: "Provenance",
        total,
        matches: rows.iter().filter_map(provenance::provenance).map(Resource::Provenance).collect(),
        includes: extra,
        has_prev,
        has_next,
    };
    Ok((page, patients))
}

/// Drops repeated resources (one Device for many findings of one model).
fn dedup(resources: &mut Vec<Resource>) {
    let mut seen = std::collections::HashSet::new();
    resources.retain(|r| match r.id_and_meta() {
        Some((id, _)) => seen.insert((r.type_name(), id.to_string())),
        None => true,
    });
}

/// `ni:///sha-256;…` (RFC 6920): a hash as a URI, for `Identifier.value`.
pub fn named_hash(hex: &str) -> String {
    use base64::Engine;
    let bytes: Vec<u8> =
        (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()).collect();
    format!("ni:///sha-256;{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The identifier system of RFC 6920 named hashes.
pub const NAMED_HASH_SYSTEM: &str = "urn:ietf:rfc:6920";
