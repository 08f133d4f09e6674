//! Browsing the audit log: `GET /api/v1/audit` and the admin page `/admin/audit`.

use crate::web::input::Query;
use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::audit::{self, AuditEntry, AuditQuery};
use crate::AppState;
use crate::auth::{Admins, RequireRole};
use crate::error::{AppError, ErrorBody, Result};
use crate::web::{PageCtx, render, urlencode};

/// Audit rows, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = [AuditEntry]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_audit(
    State(state): State<AppState>,
    _admin: RequireRole<Admins>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>> {
    Ok(Json(audit::search(&state.db, &q).await?))
}

/// One row as the page shows it.
struct Row {
    time: String,
    actor: String,
    actor_id: String,
    action: String,
    /// The action in words in the viewer's language (the code when the table lacks it).
    action_words: String,
    patient: String,
    patient_id: String,
    object: String,
    addr: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    page: PageCtx,
    rows: Vec<Row>,
    f_actor: String,
    f_patient: String,
    f_action: String,
    f_from: String,
    f_to: String,
    older: Option<String>,
    error: Option<String>,
}

/// Page filters: dates are calendar days in the viewer's time zone.
#[derive(Deserialize, Default)]
pub struct PageFilter {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    patient: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<String>,
}

const PAGE_SIZE: i64 = 100;

/// Start of a calendar day (`YYYY-MM-DD`) in a time zone, as epoch ms.
fn day_start(date: &str, tz: &jiff::tz::TimeZone, field: &str) -> Result<Option<i64>> {
    if date.is_empty() {
        return Ok(None);
    }
    let d: jiff::civil::Date =
        date.parse().map_err(|_| AppError::invalid(field, format!("{date:?} is not a date (YYYY-MM-DD)")))?;
    let d = crate::web::time::supported_date(field, d)?;
    let z = d.to_zoned(tz.clone()).map_err(|e| AppError::invalid(field, e.to_string()))?;
    Ok(Some(z.timestamp().as_millisecond()))
}

/// `GET /admin/audit`.
pub async fn page(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    page: PageCtx,
    Query(f): Query<PageFilter>,
) -> Result<Response> {
    let tz = jiff::tz::TimeZone::get(&admin.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let mut error = None;
    let (from, to) = match (day_start(&f.from, &tz, "from"), day_start(&f.to, &tz, "to")) {
        (Ok(a), Ok(b)) => (a, b.map(|ms| ms + 86_400_000)),
        (Err(e), _) | (_, Err(e)) => {
            error = Some(e.to_string());
            (None, None)
        }
    };
    let q = AuditQuery {
        actor: Some(f.actor.trim().to_string()),
        patient: Some(f.patient.trim().to_string()),
        action: Some(f.action.trim().to_string()),
        from,
        to,
        limit: Some(PAGE_SIZE),
        before: f.before.clone(),
    };
    let entries = match audit::search(&state.db, &q).await {
        Ok(v) => v,
        Err(e @ AppError::Validation { .. }) => {
            error = Some(e.to_string());
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    let older = (i64::try_from(entries.len()) == Ok(PAGE_SIZE)).then(|| {
        let last = &entries[entries.len() - 1].id;
        format!(
            "/admin/audit?actor={}&patient={}&action={}&from={}&to={}&before={}",
            urlencode(&f.actor),
            urlencode(&f.patient),
            urlencode(&f.action),
            urlencode(&f.from),
            urlencode(&f.to),
            urlencode(last)
        )
    });
    let rows = entries
        .into_iter()
        .map(|e| Row {
            time: jiff::Timestamp::from_millisecond(e.at)
                .map(|t| t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S %Z").to_string())
                .unwrap_or_default(),
            actor: match (&e.actor_name, &e.actor_role, &e.actor_id) {
                (Some(name), Some(role), _) => format!("{name} ({role})"),
                (None, _, Some(id)) => id.clone(),
                _ => page.tr.t("audit.system").to_string(),
            },
            actor_id: e.actor_id.unwrap_or_default(),
            action_words: page
                .tr
                .lookup(&format!("audit.act.{}", e.action))
                .map_or_else(|| e.action.clone(), str::to_string),
            action: e.action,
            patient: e.patient_name.or_else(|| e.patient_id.clone()).unwrap_or_default(),
            patient_id: e.patient_id.unwrap_or_default(),
            object: match (e.object_type, e.object_id) {
                (Some(t), Some(id)) => format!("{t} {id}"),
                _ => String::new(),
            },
            addr: e.client_addr.unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
        })
        .collect();
    Ok(render(&AuditPage {
        page,
        rows,
        f_actor: f.actor,
        f_patient: f.patient,
        f_action: f.action,
        f_from: f.from,
        f_to: f.to,
        older,
        error,
    }))
}
