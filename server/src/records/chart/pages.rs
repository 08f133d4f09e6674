//! `/patients/{id}`: the chart page (with the emergency-access form for a doctor without a care
//! relationship), and `/admin/emergency-access`: the admin report.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use serde::Deserialize;

use super::model::{Basis, ChartQuery, EmergencyInput, EntryKind};
use super::service;
use crate::AppState;
use crate::accounts::model::Role;
use crate::auth::{Admins, ClientAddr, CurrentUser, RequireRole};
use crate::error::{AppError, Result};
use crate::web::i18n::Tr;
use crate::web::input::{Path, Query};
use crate::web::time::{moment, zone};
use crate::web::{PageCtx, PageForm, render};

fn kind_label(tr: &Tr, k: EntryKind) -> &'static str {
    match k {
        EntryKind::Appointment => tr.t("chart.kind_appointment"),
        EntryKind::Note => tr.t("chart.kind_note"),
        EntryKind::Addendum => tr.t("chart.kind_addendum"),
        EntryKind::Outcome => tr.t("chart.kind_outcome"),
        EntryKind::Finding => tr.t("chart.kind_finding"),
        EntryKind::Image => tr.t("chart.kind_image"),
    }
}

/// One timeline entry as a page shows it, in the reader's zone and language.
fn line(page: &PageCtx, tz: &jiff::tz::TimeZone, e: &super::model::ChartEntry) -> Line {
    Line {
        kind: e.kind.as_str(),
        label: kind_label(&page.tr, e.kind),
        when: moment(Timestamp::from_millisecond(e.at).unwrap_or_default(), tz, &page.tr),
        by: e.by.clone(),
        // An appointment's title is its status: shown in the reader's language.
        title: match (e.kind, crate::scheduling::model::Status::parse(&e.title)) {
            (EntryKind::Appointment, Ok(status)) => {
                crate::scheduling::pages::status_label(page, status).to_string()
            }
            _ => e.title.clone(),
        },
        detail: e.detail.clone(),
        link: e.link.clone(),
    }
}

struct Line {
    kind: &'static str,
    label: &'static str,
    when: String,
    by: String,
    title: String,
    detail: String,
    link: Option<String>,
}

#[derive(Template)]
#[template(path = "chart.html")]
struct ChartPage {
    page: PageCtx,
    id: String,
    /// None: the chart is not open to the caller (a doctor may ask for emergency access).
    patient: Option<super::model::ChartPatient>,
    demographics: super::model::Demographics,
    /// The caller may change the demographics (not by emergency access).
    editable: bool,
    sexes: Vec<(&'static str, &'static str)>,
    /// The recorded sex in the reader's language, empty when unknown.
    sex_label: &'static str,
    emergency: bool,
    lines: Vec<Line>,
    truncated: bool,
    kinds: Vec<(&'static str, &'static str)>,
    f_kind: String,
    f_from: String,
    f_to: String,
    error: Option<String>,
}

/// `GET /patients/{id}`.
pub async fn page(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    Query(q): Query<ChartQuery>,
) -> Result<Response> {
    chart_page(&state, page, &user, &addr, id, &q, None).await
}

fn sexes(tr: &Tr) -> Vec<(&'static str, &'static str)> {
    vec![
        ("female", tr.t("chart.sex_female")),
        ("male", tr.t("chart.sex_male")),
        ("other", tr.t("chart.sex_other")),
        ("unknown", tr.t("chart.sex_unknown")),
    ]
}

async fn chart_page(
    state: &AppState,
    page: PageCtx,
    user: &CurrentUser,
    addr: &str,
    id: String,
    q: &ChartQuery,
    error: Option<String>,
) -> Result<Response> {
    let opened = service::open(&state.db, user, addr, &id, q).await;
    let tz = zone(&user.timezone);
    let kinds = EntryKind::ALL.iter().map(|k| (k.as_str(), kind_label(&page.tr, *k))).collect();
    let (f_kind, f_from, f_to) = (
        q.kind.clone().unwrap_or_default(),
        q.from.clone().unwrap_or_default(),
        q.to.clone().unwrap_or_default(),
    );
    match opened {
        Ok(chart) => {
            let lines = chart.entries.iter().map(|e| line(&page, &tz, e)).collect();
            let sexes = sexes(&page.tr);
            let sex_label = chart
                .demographics
                .sex
                .and_then(|x| sexes.iter().find(|(v, _)| *v == x.as_str()).map(|(_, l)| *l))
                .unwrap_or("");
            Ok(render(&ChartPage {
                sexes,
                sex_label,
                page,
                id,
                emergency: chart.basis == Basis::Emergency,
                editable: chart.basis != Basis::Emergency,
                demographics: chart.demographics,
                patient: Some(chart.patient),
                lines,
                truncated: chart.truncated,
                kinds,
                f_kind,
                f_from,
                f_to,
                error,
            }))
        }
        Err(AppError::NotFound(_)) if user.role == Role::Doctor => {
            Ok(closed(page, id, kinds, None, StatusCode::NOT_FOUND))
        }
        Err(e) => Err(e),
    }
}

fn closed(
    page: PageCtx,
    id: String,
    kinds: Vec<(&'static str, &'static str)>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let mut resp = render(&ChartPage {
        sexes: Vec::new(),
        sex_label: "",
        demographics: Default::default(),
        editable: false,
        page,
        id,
        patient: None,
        emergency: false,
        lines: Vec::new(),
        truncated: false,
        kinds,
        f_kind: String::new(),
        f_from: String::new(),
        f_to: String::new(),
        error,
    });
    *resp.status_mut() = status;
    resp
}

#[derive(Deserialize)]
pub struct DemographicsForm {
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    sex: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    record_number: String,
    #[serde(default)]
    preferred_language: String,
}

/// `POST /patients/{id}/demographics`.
pub async fn demographics(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    PageForm(f): PageForm<DemographicsForm>,
) -> Result<Response> {
    let sex = match f.sex.trim() {
        "" => Ok(None),
        other => super::model::Sex::parse(other)
            .map(Some)
            .ok_or_else(|| AppError::invalid("sex", "female, male, other or unknown")),
    };
    let saved = match sex {
        Ok(sex) => {
            let d = super::model::Demographics {
                birth_date: Some(f.birth_date),
                sex,
                phone: Some(f.phone),
                record_number: Some(f.record_number),
                preferred_language: Some(f.preferred_language),
            };
            service::save_demographics(&state.db, &user, &addr, &id, d).await.map(|_| ())
        }
        Err(e) => Err(e),
    };
    match saved {
        Ok(()) => Ok(Redirect::to(&format!("/patients/{id}")).into_response()),
        Err(e @ AppError::Validation { .. }) => {
            let status = e.status();
            let mut resp =
                chart_page(&state, page, &user, &addr, id, &ChartQuery::default(), Some(e.to_string()))
                    .await?;
            *resp.status_mut() = status;
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct EmergencyForm {
    #[serde(default)]
    reason: String,
}

/// `POST /patients/{id}/emergency`.
pub async fn emergency(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    PageForm(f): PageForm<EmergencyForm>,
) -> Result<Response> {
    match service::emergency_access(&state.db, &user, &addr, &id, EmergencyInput { reason: f.reason }).await {
        Ok(_) => Ok(Redirect::to(&format!("/patients/{id}")).into_response()),
        Err(e @ AppError::Validation { .. }) => {
            let kinds = EntryKind::ALL.iter().map(|k| (k.as_str(), kind_label(&page.tr, *k))).collect();
            Ok(closed(page, id, kinds, Some(e.to_string()), StatusCode::UNPROCESSABLE_ENTITY))
        }
        // Already caring for the patient: the chart opens as it is.
        Err(AppError::Conflict(_)) => Ok(Redirect::to(&format!("/patients/{id}")).into_response()),
        Err(e) => Err(e),
    }
}

struct GrantLine {
    when: String,
    until: String,
    user: String,
    patient: String,
    patient_id: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "admin_emergency.html")]
struct ReportPage {
    page: PageCtx,
    grants: Vec<GrantLine>,
}

/// `GET /admin/emergency-access`: the last 30 days.
pub async fn report(
    State(state): State<AppState>,
    page: PageCtx,
    admin: RequireRole<Admins>,
) -> Result<Response> {
    let tz = zone(&admin.0.timezone);
    let at = |ms: i64| moment(Timestamp::from_millisecond(ms).unwrap_or_default(), &tz, &page.tr);
    let grants = service::report(&state.db, 30)
        .await?
        .into_iter()
        .map(|g| GrantLine {
            when: at(g.granted_at),
            until: at(g.expires_at),
            user: g.user_name,
            patient: g.patient_name,
            patient_id: g.patient_id,
            reason: g.reason,
        })
        .collect();
    Ok(render(&ReportPage { page, grants }))
}

struct OwnNote {
    when: String,
    by: String,
    link: String,
    view: crate::records::notes::model::NoteView,
}

#[derive(Template)]
#[template(path = "record.html")]
struct OwnPage {
    page: PageCtx,
    lines: Vec<Line>,
    notes: Vec<OwnNote>,
}

/// `GET /record`: the patient's own record, printable, with the JSON download.
pub async fn own(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
) -> Result<Response> {
    let record = service::own(&state.db, &user, &addr).await?;
    let tz = zone(&user.timezone);
    let at = |ms: i64| moment(Timestamp::from_millisecond(ms).unwrap_or_default(), &tz, &page.tr);
    let lines = record.entries.iter().map(|e| line(&page, &tz, e)).collect();
    let notes = record
        .notes
        .into_iter()
        .rev()
        .map(|n| OwnNote {
            when: at(n.signed_at.unwrap_or_default()),
            by: n.signed_by.clone().unwrap_or_default(),
            link: format!("/appointments/{}", n.appointment_id),
            view: n,
        })
        .collect();
    Ok(render(&OwnPage { page, lines, notes }))
}
