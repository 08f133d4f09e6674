//! The HTTP side of an EHR's writes: bodies, conditional headers, one database transaction per
//! write (or per transaction Bundle), answers with `Location` and `ETag`. What a write does is
//! [`super::write`].

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::model::Resource;
use super::outcome::{FhirError, FhirResult};
use super::{answer, base, check_id, write};
use crate::AppState;
use crate::auth::ClientAddr;
use crate::auth::extract::{Admins, RequireRole};
use crate::records::audit::Actor;

/// The body of a write: JSON (`application/fhir+json` or `application/json`), else 415; not
/// JSON, 400.
fn json_body(headers: &HeaderMap, bytes: &[u8]) -> FhirResult<serde_json::Value> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if !matches!(media, "application/fhir+json" | "application/json") {
        return Err(FhirError::not_supported(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the resource as application/fhir+json",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| FhirError::structure(format!("the body is not JSON: {e}")))
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Runs one write in its own transaction. A conditional write that lost a race with another
/// making the same person (a unique identifier or e-mail taken meanwhile) runs once more, and
/// then finds the one the other made.
async fn one_write(
    state: &AppState,
    actor: &Actor,
    kind: &str,
    op: impl Fn() -> write::Op,
    body: &serde_json::Value,
) -> FhirResult<write::Written> {
    let conditional = !matches!(op(), write::Op::Update { .. } | write::Op::Create { if_none_exist: None });
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = state.db.write().await?;
        match write::apply(&mut tx, actor, kind, op(), body).await {
            Ok(w) => {
                tx.commit().await?;
                return Ok(w);
            }
            Err(FhirError::App(crate::error::AppError::Conflict(_))) if conditional && attempt < 3 => {
                continue;
            }
            Err(e) => return Err(e),
        }
    }
}

fn written(state: &AppState, kind: &str, w: write::Written) -> Response {
    let id = w.resource.id_and_meta().map(|(id, _)| id.to_string()).unwrap_or_default();
    let mut resp = answer(w.status, w.resource);
    if let Ok(v) = HeaderValue::from_str(&format!("{}/{kind}/{id}", base(state))) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// `POST /fhir/r4/{type}`, conditional with `If-None-Exist`.
pub(super) async fn create(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ClientAddr(addr): ClientAddr,
    Path(kind): Path<String>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> FhirResult<Response> {
    let body = json_body(&headers, &bytes)?;
    let if_none_exist = header_text(&headers, "if-none-exist");
    let op = || write::Op::Create { if_none_exist: if_none_exist.clone() };
    let w = one_write(&state, &Actor::user(&admin, &addr), &kind, op, &body).await?;
    Ok(written(&state, &kind, w))
}

/// `PUT /fhir/r4/{type}/{id}`, with `If-Match`.
pub(super) async fn update(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ClientAddr(addr): ClientAddr,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> FhirResult<Response> {
    check_id(&id)?;
    let body = json_body(&headers, &bytes)?;
    let if_match = header_text(&headers, "if-match");
    let op = || write::Op::Update { id: id.clone(), if_match: if_match.clone() };
    let w = one_write(&state, &Actor::user(&admin, &addr), &kind, op, &body).await?;
    Ok(written(&state, &kind, w))
}

/// `PUT /fhir/r4/{type}?identifier=system|value`: update that one, or create them.
pub(super) async fn update_where(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ClientAddr(addr): ClientAddr,
    Path(kind): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> FhirResult<Response> {
    let Some(query) = raw.filter(|q| !q.is_empty()) else {
        return Err(FhirError::bad_param("identifier", "PUT names an id, or identifier=system|value"));
    };
    let body = json_body(&headers, &bytes)?;
    let if_match = header_text(&headers, "if-match");
    let op = || write::Op::UpdateWhere { query: query.clone(), if_match: if_match.clone() };
    let w = one_write(&state, &Actor::user(&admin, &addr), &kind, op, &body).await?;
    Ok(written(&state, &kind, w))
}

/// `POST /fhir/r4` with a `transaction` Bundle of Patient and Practitioner writes: all in one
/// database transaction, so a refused entry leaves nothing of the others.
pub(super) async fn transaction(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> FhirResult<Response> {
    let body = json_body(&headers, &bytes)?;
    let ops = write::transaction_entries(&body)?;
    let actor = Actor::user(&admin, &addr);
    let mut tx = state.db.write().await?;
    let mut results = Vec::with_capacity(ops.len());
    for (i, (kind, op, resource)) in ops.into_iter().enumerate() {
        let w = write::apply(&mut tx, &actor, &kind, op, resource).await.map_err(|e| e.at_entry(i))?;
        results.push((kind, w));
    }
    tx.commit().await?;
    Ok(answer(StatusCode::OK, Resource::Bundle(write::response_bundle(&base(&state), results))))
}
