//! Appointment lists, the detail page, and its cancel and outcome forms.

use crate::web::input::{Path, Query};
use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use serde::Deserialize;

use super::*;
use crate::AppState;
use crate::accounts::model::Role;
use crate::auth::{ClientAddr, CurrentUser};
use crate::error::Result;
use crate::scheduling::db::{self, AppointmentFilter};
use crate::scheduling::model::{Appointment, Status};
use crate::scheduling::service;
use crate::web::time::{moment, zone};
use crate::web::{PageCtx, PageForm, render};

#[derive(Template)]
#[template(path = "appointments.html")]
struct AppointmentsPage {
    page: PageCtx,
    upcoming: Vec<ApptRow>,
    past: Vec<ApptRow>,
    timezone: String,
}

/// `GET /appointments`: upcoming and recent appointments of the viewer (a doctor's agenda).
pub async fn list(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
) -> Result<Response> {
    if user.role == Role::Admin {
        return Ok(Redirect::to("/admin/schedule").into_response());
    }
    let now = Timestamp::now().as_millisecond();
    let tz = zone(&user.timezone);
    let filter = AppointmentFilter { from: Some(now - 90 * 86_400_000), limit: 500, ..Default::default() };
    let all = service::list(&state.db, &user, &addr, filter).await?;
    let (mut upcoming, mut past) = (Vec::new(), Vec::new());
    for a in &all {
        if a.status == Status::Booked && a.ends_ms > now {
            upcoming.push(row(&page, a, &user, &tz));
        } else {
            past.push(row(&page, a, &user, &tz));
        }
    }
    past.reverse();
    Ok(render(&AppointmentsPage { page, upcoming, past, timezone: user.timezone.clone() }))
}

/// Upcoming booked appointments for the dashboard.
pub async fn upcoming_rows(
    state: &AppState,
    page: &PageCtx,
    user: &CurrentUser,
    addr: &str,
    days: i64,
) -> Result<Vec<ApptRow>> {
    let now = Timestamp::now().as_millisecond();
    let filter = AppointmentFilter {
        from: Some(now),
        to: Some(now + days * 86_400_000),
        status: Some(Status::Booked),
        limit: 20,
        ..Default::default()
    };
    let tz = zone(&user.timezone);
    Ok(service::list(&state.db, user, addr, filter).await?.iter().map(|a| row(page, a, user, &tz)).collect())
}

#[derive(Template)]
#[template(path = "appointment.html")]
struct AppointmentPage {
    page: PageCtx,
    a: Appointment,
    when: String,
    doctor_time: String,
    status: &'static str,
    is_booked: bool,
    is_clinician: bool,
    notice: Option<&'static str>,
    findings: Vec<crate::diagnosis::findings::RecordEntry>,
    note: crate::records::notes::pages::NoteOnPage,
    left: crate::records::leftovers::Leftovers,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

/// `GET /appointments/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response> {
    let a = service::get(&state.db, &user, &addr, &id).await?;
    let doctor = db::doctor(&mut *state.db.acquire().await?, &a.doctor_id).await?;
    let doctor_tz = doctor.map(|d| d.timezone).unwrap_or_else(|| "UTC".into());
    let start = Timestamp::from_millisecond(a.starts_ms).unwrap_or_default();
    let notice = match q.notice.as_deref() {
        Some("booked") => Some(page.tr.t("appt.notice.booked")),
        Some("moved") => Some(page.tr.t("appt.notice.moved")),
        Some("cancelled") => Some(page.tr.t("appt.notice.cancelled")),
        Some("marked") => Some(page.tr.t("appt.notice.marked")),
        _ => None,
    };
    let findings =
        crate::diagnosis::findings::record_for_room(&state, &a.room_id, &zone(&user.timezone), &page.tr)
            .await?;
    let note = crate::records::notes::pages::on_page(&state, &user, &addr, &a, &page.tr).await?;
    let left =
        crate::records::leftovers::of_room(&state, &user, &addr, &a.room_id, Some(&a.patient_id), &page.tr)
            .await?;
    let t = AppointmentPage {
        left,
        note,
        findings,
        when: moment(start, &zone(&user.timezone), &page.tr),
        doctor_time: moment(start, &zone(&doctor_tz), &page.tr),
        status: status_label(&page, a.status),
        is_booked: a.status == Status::Booked,
        is_clinician: user.role.is_clinician(),
        page,
        a,
        notice,
    };
    Ok(render(&t))
}

#[derive(Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    reason: String,
}

/// `POST /appointments/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    PageForm(f): PageForm<CancelForm>,
) -> Result<Redirect> {
    service::cancel(&state.db, &user, &addr, &id, &f.reason).await?;
    Ok(Redirect::to(&format!("/appointments/{id}?notice=cancelled")))
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
}

/// `POST /appointments/{id}/status`.
pub async fn mark(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    PageForm(f): PageForm<StatusForm>,
) -> Result<Redirect> {
    service::set_status(&state.db, &user, &addr, &id, &f.status, None).await?;
    Ok(Redirect::to(&format!("/appointments/{id}?notice=marked")))
}
