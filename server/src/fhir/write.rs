//! What an EHR writes: its patients and practitioners, so that the people it knows are the
//! people Consilium knows, without duplicates.
//!
//! - `POST /fhir/r4/{Patient|Practitioner}` creates; with `If-None-Exist: identifier=s|v` it
//!   creates only when no one has that identifier (200 with the one who has it, 412 when
//!   several do).
//! - `PUT /fhir/r4/{type}/{id}` replaces; `PUT /fhir/r4/{type}?identifier=s|v` replaces the
//!   one with that identifier or creates them. `If-Match: W/"version"` makes either refuse
//!   (412) a resource that changed since it was read.
//! - `POST /fhir/r4` with a `transaction` Bundle of those: all of it or none of it.
//!
//! Admins only: the integration signs in with an admin's token. A created person has no
//! password (they sign in once an admin gives them one, or join by invite link); their e-mail
//! address is required. Every write is an audit row in its own transaction.

use axum::http::StatusCode;
use serde_json::Value;
use sqlx::{AnyConnection, Row};

use super::access::Scope;
use super::model::Resource;
use super::outcome::{FhirError, FhirResult};
use super::person_in::{self, Person};
use super::{patient, practitioner, version_of};
use crate::accounts::model::{Role, ValidNewUser};
use crate::db::{WriteTx, new_id, now_ms, on_unique};
use crate::error::AppError;
use crate::records::audit::{self, Actor, Event};

/// The most entries a transaction Bundle takes.
pub const MAX_ENTRIES: usize = 500;

/// A stored password hash no password matches: the account exists, signing in waits for an
/// admin to set a password.
const NO_PASSWORD: &str = "!no-password (created through FHIR)";

/// What one write asks for.
#[derive(Debug)]
pub enum Op {
    Create { if_none_exist: Option<String> },
    Update { id: String, if_match: Option<String> },
    UpdateWhere { query: String, if_match: Option<String> },
}

/// What one write did.
#[derive(Debug)]
pub struct Written {
    pub status: StatusCode,
    pub resource: Resource,
}

fn role_of(kind: &str) -> FhirResult<Role> {
    match kind {
        "Patient" => Ok(Role::Patient),
        "Practitioner" => Ok(Role::Doctor),
        other => Err(FhirError::not_supported(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{other} is read-only here; Patient and Practitioner can be written"),
        )),
    }
}

/// The `identifier=system|value` of a conditional write; nothing else is taken there.
fn identifier_condition(query: &str) -> FhirResult<(String, String)> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    match pairs.as_slice() {
        [(k, v)] if k == "identifier" => match v.split_once('|') {
            Some((s, val)) if !s.is_empty() && !val.is_empty() => Ok((s.to_string(), val.to_string())),
            _ => Err(FhirError::bad_param("identifier", "a conditional write takes identifier=system|value")),
        },
        _ => Err(FhirError::bad_param(
            "identifier",
            "a conditional write takes exactly identifier=system|value",
        )),
    }
}

/// The accounts of `role` with the identifier.
async fn with_identifier(
    conn: &mut AnyConnection,
    role: Role,
    system: &str,
    value: &str,
) -> FhirResult<Vec<String>> {
    let rows = if system == patient::RECORD_NUMBER_SYSTEM {
        sqlx::query(
            "SELECT u.id FROM patient_profiles p JOIN users u ON u.id = p.patient_id
              WHERE p.record_number = $1 AND u.role = $2",
        )
        .bind(value)
        .bind(role.as_str())
        .fetch_all(&mut *conn)
        .await?
    } else {
        sqlx::query(
            "SELECT u.id FROM person_identifiers i JOIN users u ON u.id = i.user_id
              WHERE i.system = $1 AND i.value = $2 AND u.role = $3",
        )
        .bind(system)
        .bind(value)
        .bind(role.as_str())
        .fetch_all(&mut *conn)
        .await?
    };
    Ok(rows.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?)
}

/// The resource as stored now.
async fn current(conn: &mut AnyConnection, kind: &str, id: &str) -> FhirResult<Option<Resource>> {
    if kind == "Patient" {
        Ok(patient::read(conn, &Scope::All, id).await?.map(Resource::Patient))
    } else {
        practitioner::read(conn, id, false).await
    }
}

async fn exists(conn: &mut AnyConnection, role: Role, id: &str) -> FhirResult<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM users WHERE id = $1 AND role = $2")
        .bind(id)
        .bind(role.as_str())
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

fn check_match(current: &mut Resource, if_match: Option<&str>) -> FhirResult<()> {
    let Some(wanted) = if_match else { return Ok(()) };
    let wanted = wanted.trim().trim_start_matches("W/").trim_matches('"');
    if wanted != version_of(current) {
        return Err(FhirError::Issue {
            status: StatusCode::PRECONDITION_FAILED,
            code: super::model::IssueType::Conflict,
            message: "the resource changed since that version was read; read it again and reapply the change"
                .into(),
            expression: None,
        });
    }
    Ok(())
}

/// Applies one write inside `tx`: the caller commits (or, in a transaction Bundle, all at once).
pub async fn apply(tx: &mut WriteTx, actor: &Actor, kind: &str, op: Op, body: &Value) -> FhirResult<Written> {
    let role = role_of(kind)?;
    let mut person = person_in::parse(kind, body)?;
    // The chart's own checks: a birth date not in the future and within 1900-2199, a phone
    // number's shape, a language tag.
    person.demographics = crate::records::chart::service::checked(person.demographics.clone())?;
    let body_id = body.get("id").and_then(Value::as_str);
    let target = match &op {
        Op::Create { if_none_exist: Some(cond) } => {
            let (s, v) = identifier_condition(cond)?;
            match with_identifier(tx, role, &s, &v).await?.as_slice() {
                [] => None,
                [one] => {
                    // Already there: nothing written, the one found answered (a read, audited).
                    let found = current(tx, kind, one).await?.ok_or(AppError::NotFound("resource"))?;
                    let patient = (role == Role::Patient).then_some(one.as_str());
                    audit::record(tx, actor, Event::new("fhir.read").object(kind, one).patient(patient))
                        .await?;
                    return Ok(Written { status: StatusCode::OK, resource: found });
                }
                _ => return Err(ambiguous(&s, &v)),
            }
        }
        Op::Create { if_none_exist: None } => None,
        Op::Update { id, if_match } => {
            if body_id.is_some_and(|b| b != id) {
                return Err(FhirError::structure(format!(
                    "the body's id {body_id:?} is not {id:?}, the one in the URL"
                )));
            }
            let unknown = || FhirError::Issue {
                status: StatusCode::NOT_FOUND,
                code: super::model::IssueType::NotFound,
                message: format!("{kind}/{id} is not known here; create it with POST (ids are the server's)"),
                expression: None,
            };
            // The whole resource is read only to compare versions; otherwise its row will do.
            if if_match.is_some() {
                let mut found = current(tx, kind, id).await?.ok_or_else(unknown)?;
                check_match(&mut found, if_match.as_deref())?;
            } else if !exists(tx, role, id).await? {
                return Err(unknown());
            }
            Some(id.clone())
        }
        Op::UpdateWhere { query, if_match } => {
            let (s, v) = identifier_condition(query)?;
            match with_identifier(tx, role, &s, &v).await?.as_slice() {
                [] => None,
                [one] => {
                    if body_id.is_some_and(|b| b != one) {
                        return Err(FhirError::structure(format!(
                            "the body's id {body_id:?} is not that of {s}|{v}"
                        )));
                    }
                    if if_match.is_some() {
                        let mut found =
                            current(tx, kind, one).await?.ok_or(AppError::NotFound("resource"))?;
                        check_match(&mut found, if_match.as_deref())?;
                    }
                    Some(one.clone())
                }
                _ => return Err(ambiguous(&s, &v)),
            }
        }
    };
    let (id, status) = match target {
        Some(id) => {
            update(tx, role, &id, &person).await?;
            (id, StatusCode::OK)
        }
        None => (insert(tx, role, &person).await?, StatusCode::CREATED),
    };
    identifiers(tx, &id, &person).await?;
    if role == Role::Patient {
        crate::records::chart::db::save_demographics(
            tx,
            &id,
            &person.demographics,
            actor.id.as_deref().unwrap_or(""),
            now_ms(),
        )
        .await?;
    }
    let action = if status == StatusCode::CREATED { "fhir.create" } else { "fhir.update" };
    let event = Event::new(action).object(kind, &id).patient((role == Role::Patient).then_some(id.as_str()));
    audit::record(tx, actor, event).await?;
    let resource = current(tx, kind, &id).await?.ok_or(AppError::NotFound("resource"))?;
    Ok(Written { status, resource })
}

fn ambiguous(system: &str, value: &str) -> FhirError {
    FhirError::Issue {
        status: StatusCode::PRECONDITION_FAILED,
        code: super::model::IssueType::Duplicate,
        message: format!("more than one resource has the identifier {system}|{value}; write by id instead"),
        expression: None,
    }
}

async fn insert(tx: &mut WriteTx, role: Role, p: &Person) -> FhirResult<String> {
    let new = ValidNewUser {
        email: p.email.clone(),
        name: p.name.clone(),
        role,
        password: String::new(),
        timezone: "UTC".into(),
        specialty: p.specialty.clone(),
        locale: None,
    };
    let user = crate::accounts::db::insert(tx, &new, NO_PASSWORD).await?;
    if !p.active {
        sqlx::query("UPDATE users SET active = 0 WHERE id = $1").bind(&user.id).execute(&mut **tx).await?;
    }
    if role == Role::Doctor {
        crate::scheduling::db::ensure_doctor(tx, &user.id).await?;
    }
    Ok(user.id)
}

async fn update(tx: &mut WriteTx, role: Role, id: &str, p: &Person) -> FhirResult<()> {
    sqlx::query(
        "UPDATE users SET name = $2, email = $3, active = $4, specialty = CASE WHEN role = 'doctor' THEN $5 ELSE specialty END,
             updated_at = $6
          WHERE id = $1 AND role = $7",
    )
    .bind(id)
    .bind(&p.name)
    .bind(p.email.as_str())
    .bind(i64::from(p.active))
    .bind(p.specialty.as_deref())
    .bind(now_ms())
    .bind(role.as_str())
    .execute(&mut **tx)
    .await
    .map_err(on_unique("users_email_key", "users.email", || {
        AppError::Conflict("another account has this e-mail address".into())
    }))?;
    Ok(())
}

/// Replaces the person's identifiers with those given.
async fn identifiers(tx: &mut WriteTx, id: &str, p: &Person) -> FhirResult<()> {
    sqlx::query("DELETE FROM person_identifiers WHERE user_id = $1").bind(id).execute(&mut **tx).await?;
    for (system, value) in &p.identifiers {
        sqlx::query("INSERT INTO person_identifiers (id, user_id, system, value) VALUES ($1, $2, $3, $4)")
            .bind(new_id())
            .bind(id)
            .bind(system)
            .bind(value)
            .execute(&mut **tx)
            .await
            .map_err(on_unique("person_identifiers_key", "person_identifiers.system", || {
                AppError::Conflict(format!("the identifier {system}|{value} belongs to someone else"))
            }))?;
    }
    Ok(())
}

/// The writes of a `transaction` Bundle, in order: at most [`MAX_ENTRIES`], each a `POST` or
/// `PUT` of a Patient or Practitioner.
pub fn transaction_entries(body: &Value) -> FhirResult<Vec<(String, Op, &Value)>> {
    if body.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(FhirError::structure("POST /fhir/r4 takes a Bundle of type transaction"));
    }
    match body.get("type").and_then(Value::as_str) {
        Some("transaction") => {}
        Some("batch") => {
            return Err(FhirError::not_supported(
                StatusCode::UNPROCESSABLE_ENTITY,
                "batch Bundles are not supported; send a transaction (all entries or none)",
            ));
        }
        other => return Err(FhirError::structure(format!("a Bundle of type transaction, not {other:?}"))),
    }
    let entries = body.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    if entries.len() > MAX_ENTRIES {
        return Err(FhirError::Issue {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: super::model::IssueType::TooLong,
            message: format!("a transaction takes at most {MAX_ENTRIES} entries, not {}", entries.len()),
            expression: Some("Bundle.entry".into()),
        });
    }
    let mut out = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let at = |m: String| FhirError::structure(m).at_entry(i);
        let request = e.get("request").ok_or_else(|| at("each entry needs a request".into()))?;
        let method = request.get("method").and_then(Value::as_str).unwrap_or("");
        let url = request.get("url").and_then(Value::as_str).unwrap_or("");
        let resource = e
            .get("resource")
            .filter(|r| r.is_object())
            .ok_or_else(|| at("each entry needs a resource".into()))?;
        // A full URL is taken relative to this server's FHIR base.
        let url = url.split_once("/fhir/r4/").map_or(url, |(_, rest)| rest);
        let (path, query) = url.split_once('?').map_or((url, None), |(p, q)| (p, Some(q)));
        let (kind, id) = path.split_once('/').map_or((path, None), |(k, id)| (k, Some(id)));
        let text = |name: &str| request.get(name).and_then(Value::as_str).map(str::to_string);
        let op = match (method, id, query) {
            ("POST", None, None) => Op::Create { if_none_exist: text("ifNoneExist") },
            ("PUT", Some(id), None) => Op::Update { id: id.to_string(), if_match: text("ifMatch") },
            ("PUT", None, Some(q)) => Op::UpdateWhere { query: q.to_string(), if_match: text("ifMatch") },
            _ => {
                return Err(at(format!(
                    "{method} {url} is not a write this server takes: POST Patient, PUT Patient/{{id}} or \
                     PUT Patient?identifier=system|value (or Practitioner)"
                )));
            }
        };
        out.push((kind.to_string(), op, resource));
    }
    Ok(out)
}

/// The `transaction-response` Bundle: what each entry did, in order.
pub fn response_bundle(base: &str, results: Vec<(String, Written)>) -> super::model::Bundle {
    use super::model::{Bundle, BundleEntry, BundleEntryResponse, BundleType, Meta};
    let now = super::search::instant(now_ms());
    let entry = results
        .into_iter()
        .map(|(kind, w)| {
            let mut resource = w.resource;
            super::stamp(&mut resource);
            let (id, meta) =
                resource.id_and_meta().map(|(id, m)| (id.to_string(), m.clone())).unwrap_or_default();
            BundleEntry {
                full_url: Some(format!("{base}/{kind}/{id}")),
                response: Some(BundleEntryResponse {
                    status: if w.status == StatusCode::CREATED {
                        "201 Created".into()
                    } else {
                        "200 OK".into()
                    },
                    location: format!("{kind}/{id}"),
                    etag: format!("W/\"{}\"", meta.version_id.unwrap_or_default()),
                    last_modified: meta.last_updated,
                }),
                resource,
                search: None,
            }
        })
        .collect();
    Bundle {
        id: new_id(),
        meta: Meta { version_id: None, last_updated: now.clone() },
        type_: BundleType::TransactionResponse,
        timestamp: now,
        total: None,
        link: Vec::new(),
        entry,
    }
}
