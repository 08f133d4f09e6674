//! FHIR R4 at `/fhir/r4`: the hospital's systems read Consilium's record.
//!
//! - [`model`]: the R4 datatypes and resources served, as typed serde models;
//! - one mapping module per resource ([`patient`], [`practitioner`] for Practitioner and
//!   PractitionerRole, [`appointment`]): its SQL, its mapping from our rows, its search; an AI
//!   finding's five resources in [`finding`];
//! - [`search`]: parameters, dates, cursors, the `searchset` Bundle; [`access`]: whose
//!   resources a token reads; [`outcome`]: every error as an `OperationOutcome`;
//!   [`capability`]: `GET /fhir/r4/metadata`; [`write`]: an EHR's patients and practitioners,
//!   conditional by identifier ([`person_in`] parses them, [`identifiers`] keeps their ids
//!   from other systems), and transaction Bundles of them, answered by [`write_routes`].
//!
//! The domains never import this module: it reads their tables through its own queries, because
//! FHIR's search (prefixes, alternatives, cursors) is FHIR's, not the domains'. JSON only:
//! `_format` and `Accept` asking for anything else get 406. Every read and search writes audit
//! rows naming the patients whose data it returned.

pub mod access;
pub mod appointment;
pub mod audit_event;
pub mod capability;
pub mod care_plan;
pub mod composition;
pub mod encounter;
pub mod export;
pub mod finding;
pub mod identifiers;
pub mod model;
pub mod outcome;
pub mod patient;
pub mod person_in;
pub mod practitioner;
pub mod schedule;
pub mod search;
pub mod write;
mod write_routes;

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sqlx::Row;

use self::access::Scope;
use self::model::{IssueType, Resource};
use self::outcome::{FHIR_JSON, FhirError, FhirResult};
use self::search::SearchQuery;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::auth::extract::ClientAddr;
use crate::db::{Db, Filters};
use crate::records::audit::{self, Actor, Event};

/// The largest request body on `/fhir` (a transaction Bundle of a few hundred people), above
/// the server's general limit.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Where FHIR lives, below the server's base URL.
pub const PATH: &str = "/fhir/r4";

/// The `/fhir/r4` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/fhir/r4/metadata", get(metadata))
        .route("/fhir/r4", post(write_routes::transaction))
        .route("/fhir/r4/{kind}", get(search_type).post(write_routes::create).put(write_routes::update_where))
        .route("/fhir/r4/{kind}/{id}", get(read).put(write_routes::update))
        .route("/fhir/r4/Patient/{id}/$export", get(export_record))
        .layer(from_fn(formats))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Whether `path` is answered by FHIR (errors included).
pub fn is_fhir_path(path: &str) -> bool {
    path == "/fhir" || path.starts_with("/fhir/")
}

fn base(state: &AppState) -> String {
    format!("{}{PATH}", state.config.base_url())
}

/// A resource's version: the first 16 hex digits of the sha256 of its content (meta's
/// version left out), so it changes with every change however it was made, and `If-Match`
/// compares what the client read with what is stored.
pub fn version_of(resource: &mut Resource) -> String {
    use sha2::{Digest, Sha256};
    // Hashed in place with the version left out, then put back: no copy of the resource.
    let kept = resource.meta_mut().and_then(|m| m.version_id.take());
    let bytes = serde_json::to_vec(&*resource).unwrap_or_default();
    if let Some(meta) = resource.meta_mut() {
        meta.version_id = kept;
    }
    crate::diagnosis::hex(&Sha256::digest(&bytes))[..16].to_string()
}

/// Puts the version in `meta.versionId`.
pub fn stamp(resource: &mut Resource) {
    let version = version_of(resource);
    if let Some(meta) = resource.meta_mut() {
        meta.version_id = Some(version);
    }
}

/// A resource as `application/fhir+json`, with its version as a weak `ETag`.
fn answer(status: StatusCode, mut resource: Resource) -> Response {
    stamp(&mut resource);
    let etag = resource.id_and_meta().and_then(|(_, m)| m.version_id.clone());
    let mut resp = (status, axum::Json(&resource)).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    if let Some(v) = etag.and_then(|v| HeaderValue::from_str(&format!("W/\"{v}\"")).ok()) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// Refuses `_format` and `Accept` values that are not JSON: this server speaks no XML.
async fn formats(req: Request, next: Next) -> Response {
    let json = |v: &str| {
        let v = v.split(';').next().unwrap_or("").trim();
        matches!(v, "json" | "application/json" | "application/fhir+json" | "*/*" | "application/*" | "")
    };
    let format = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes()).find(|(n, _)| n == "_format").map(|(_, v)| v.into_owned())
    });
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_string);
    let refused = match (format.as_deref(), accept.as_deref()) {
        (Some(f), _) => !json(f),
        (None, Some(a)) => !a.split(',').any(json),
        (None, None) => false,
    };
    if refused {
        return FhirError::not_supported(
            StatusCode::NOT_ACCEPTABLE,
            "this server answers JSON only (application/fhir+json); ask with _format=json",
        )
        .into_response();
    }
    next.run(req).await
}

/// `GET /fhir/r4/metadata`: readable without signing in, as FHIR clients expect.
async fn metadata(State(state): State<AppState>) -> Response {
    static STARTED: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let started = *STARTED.get_or_init(crate::db::now_ms);
    answer(
        StatusCode::OK,
        Resource::CapabilityStatement(Box::new(capability::statement(&base(&state), started))),
    )
}

/// The resource types served.
pub const TYPES: [&str; 15] = [
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Appointment",
    "Schedule",
    "Slot",
    "Encounter",
    "Composition",
    "CarePlan",
    "AuditEvent",
    "DiagnosticReport",
    "Observation",
    "Media",
    "Device",
    "Provenance",
];

/// The audit log is for admins' tokens.
fn admins_only(user: &CurrentUser) -> FhirResult<()> {
    if user.role == crate::accounts::model::Role::Admin {
        Ok(())
    } else {
        Err(FhirError::App(crate::error::AppError::Forbidden))
    }
}

fn unknown_type(kind: &str) -> FhirError {
    FhirError::not_supported(
        StatusCode::NOT_FOUND,
        format!(
            "{kind:?} is not a resource type this server serves: Patient, Practitioner, PractitionerRole, Appointment"
        ),
    )
}

fn check_id(id: &str) -> FhirResult<()> {
    if !search::valid_id(id) {
        return Err(FhirError::Issue {
            status: StatusCode::BAD_REQUEST,
            code: IssueType::Value,
            message: "a resource id is 1 to 64 letters, digits, '-' or '.'".into(),
            expression: None,
        });
    }
    Ok(())
}

/// `GET /fhir/r4/{type}/{id}`.
async fn read(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path((kind, id)): Path<(String, String)>,
) -> FhirResult<Response> {
    check_id(&id)?;
    let scope = Scope::of(&user);
    let db = &state.db;
    let (resource, patient) = match kind.as_str() {
        "Patient" => (
            patient::read(&mut *db.acquire().await?, &scope, &id).await?.map(Resource::Patient),
            Some(id.clone()),
        ),
        "Practitioner" => (practitioner::read(&mut *db.acquire().await?, &id, false).await?, None),
        "PractitionerRole" => (practitioner::read(&mut *db.acquire().await?, &id, true).await?, None),
        "Appointment" => match appointment::read(db, &scope, &id).await? {
            Some(found) => (Some(Resource::Appointment(found.resource)), Some(found.patient_id)),
            None => (None, None),
        },
        "Encounter" => match encounter::read(db, &scope, &id).await? {
            Some((e, patient)) => (Some(Resource::Encounter(e)), Some(patient)),
            None => (care_plan::review_encounter(db, &scope, &id).await?.map(Resource::Encounter), None),
        },
        "Schedule" => (schedule::read_schedule(db, &id).await?, None),
        "Slot" => (schedule::read_slot(db, &id).await?, None),
        "AuditEvent" => {
            admins_only(&user)?;
            let q = SearchQuery::parse(Some(&format!("_id={id}")), &HeaderMap::new(), &[])?;
            (audit_event::search(db, &q).await?.matches.pop(), None)
        }
        "CarePlan" => match care_plan::read(db, &scope, &id).await? {
            Some((c, patient)) => (Some(Resource::CarePlan(c)), Some(patient)),
            None => (None, None),
        },
        "Composition" => match composition::read(db, &scope, &id).await? {
            Some((c, patient)) => (Some(Resource::Composition(c)), Some(patient)),
            None => (None, None),
        },
        "DiagnosticReport" | "Media" | "Device" | "Provenance" | "Observation" => {
            let found = match kind.as_str() {
                "DiagnosticReport" | "Provenance" => finding::one(db, &scope, &id).await?,
                "Media" => finding::by_image(db, &scope, &id).await?,
                "Device" => finding::by_device(db, &scope, &id).await?,
                _ => match finding::observation::parse_id(&id) {
                    Some((finding_id, _)) => finding::one(db, &scope, finding_id).await?,
                    None => None,
                },
            };
            let patient = found.as_ref().and_then(|f| f.patient_id.clone());
            let resource = found.and_then(|f| match kind.as_str() {
                "DiagnosticReport" => Some(Resource::DiagnosticReport(finding::report::report(&f))),
                "Provenance" => finding::provenance::provenance(&f).map(Resource::Provenance),
                "Media" => Some(Resource::Media(finding::media::media(&f))),
                "Device" => Some(Resource::Device(finding::device::device(&f))),
                _ => {
                    finding::observation::all(&f).into_iter().find(|o| o.id == id).map(Resource::Observation)
                }
            });
            // A Device is not patient data; the finding that named it is not disclosed.
            (resource, if kind == "Device" { None } else { patient })
        }
        other => return Err(unknown_type(other)),
    };
    let Some(resource) = resource else {
        return Err(FhirError::Issue {
            status: StatusCode::NOT_FOUND,
            code: IssueType::NotFound,
            message: format!("{kind}/{id} is not known here, or not yours to read"),
            expression: None,
        });
    };
    let patients: Vec<String> = patient.into_iter().collect();
    record(db, &Actor::user(&user, &addr), "fhir.read", &kind, &id, &patients, None).await?;
    Ok(answer(StatusCode::OK, resource))
}

/// `GET /fhir/r4/{type}?…`: a `searchset` Bundle.
async fn search_type(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(kind): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> FhirResult<Response> {
    let scope = Scope::of(&user);
    let db = &state.db;
    let raw = raw.as_deref();
    let (q, page, patients) = match kind.as_str() {
        "Patient" => {
            let q = SearchQuery::parse(raw, &headers, &patient::PARAMS)?;
            let page = patient::search(db, &scope, &q).await?;
            let ids =
                page.matches.iter().filter_map(|r| r.id_and_meta()).map(|(id, _)| id.to_string()).collect();
            (q, page, ids)
        }
        "Practitioner" | "PractitionerRole" => {
            let role = kind == "PractitionerRole";
            let known: &[&str] = if role { &practitioner::ROLE_PARAMS } else { &practitioner::PARAMS };
            let q = SearchQuery::parse(raw, &headers, known)?;
            let page = practitioner::search(db, &q, role).await?;
            (q, page, Vec::new())
        }
        "Appointment" => {
            let q = SearchQuery::parse(raw, &headers, &appointment::PARAMS)?;
            let (page, patients) = appointment::search(db, &scope, &q).await?;
            (q, page, patients)
        }
        "Encounter" => {
            let q = SearchQuery::parse(raw, &headers, &encounter::PARAMS)?;
            let (page, patients) = encounter::search(db, &scope, &q).await?;
            (q, page, patients)
        }
        "Schedule" => {
            let q = SearchQuery::parse(raw, &headers, &schedule::SCHEDULE_PARAMS)?;
            let page = schedule::search_schedules(db, &q).await?;
            (q, page, Vec::new())
        }
        "Slot" => {
            let q = SearchQuery::parse(raw, &headers, &schedule::SLOT_PARAMS)?;
            let page = schedule::search_slots(db, &q).await?;
            (q, page, Vec::new())
        }
        "AuditEvent" => {
            admins_only(&user)?;
            let q = SearchQuery::parse(raw, &headers, &audit_event::PARAMS)?;
            let page = audit_event::search(db, &q).await?;
            (q, page, Vec::new())
        }
        "CarePlan" => {
            let q = SearchQuery::parse(raw, &headers, &care_plan::PARAMS)?;
            let (page, patients) = care_plan::search(db, &scope, &q).await?;
            (q, page, patients)
        }
        "Composition" => {
            let q = SearchQuery::parse(raw, &headers, &composition::PARAMS)?;
            let (page, patients) = composition::search(db, &scope, &q).await?;
            (q, page, patients)
        }
        "DiagnosticReport" => {
            let q = SearchQuery::parse(raw, &headers, &finding::PARAMS)?;
            let (page, patients) = finding::search_reports(db, &scope, &q).await?;
            (q, page, patients)
        }
        "Provenance" => {
            let q = SearchQuery::parse(raw, &headers, &finding::PROVENANCE_PARAMS)?;
            let (page, patients) = finding::search_provenance(db, &scope, &q).await?;
            (q, page, patients)
        }
        other => return Err(unknown_type(other)),
    };
    let detail: String = raw.unwrap_or("").chars().take(300).collect();
    record(db, &Actor::user(&user, &addr), "fhir.search", &kind, "search", &patients, Some(detail)).await?;
    Ok(answer(StatusCode::OK, Resource::Bundle(search::bundle(&base(&state), &q, page))))
}

/// Audit rows of one FHIR read: one per patient whose data it returned (one without a patient
/// when there were none), in one write.
async fn record(
    db: &Db,
    actor: &Actor,
    action: &str,
    kind: &str,
    object: &str,
    patients: &[String],
    detail: Option<String>,
) -> FhirResult<()> {
    let mut tx = db.write().await?;
    let all: Vec<Option<&str>> =
        if patients.is_empty() { vec![None] } else { patients.iter().map(|p| Some(p.as_str())).collect() };
    for patient in all {
        let mut e = Event::new(action).object(kind, object).patient(patient);
        if let Some(d) = &detail {
            e = e.detail(d.clone());
        }
        audit::record(&mut tx, actor, e).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// How many rows `FROM … WHERE filters` holds: a search's `total`.
async fn count(db: &Db, from: &str, f: &Filters) -> FhirResult<u64> {
    let sql = format!("SELECT COUNT(*) AS n {from} {}", f.where_clause());
    let row =
        f.clone().bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_one(&mut *db.acquire().await?).await?;
    let n: i64 = row.try_get("n")?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// `GET /fhir/r4/Patient/{id}/$export`: the patient's compartment as a `collection` Bundle.
async fn export_record(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> FhirResult<Response> {
    check_id(&id)?;
    Ok(export::download(export::bundle(&state, &user, &addr, &id).await?))
}

/// `GET /record/fhir`: the signed-in patient's own record, for the record page's download.
pub async fn own_record(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
) -> FhirResult<Response> {
    if user.role != crate::accounts::model::Role::Patient {
        return Err(FhirError::App(crate::error::AppError::Forbidden));
    }
    Ok(export::download(export::bundle(&state, &user, &addr, &user.id).await?))
}
