//! Patient booking: choose a doctor, a free time in one's own zone, confirm.

use crate::web::input::{Path, Query};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;

use super::*;
use crate::AppState;
use crate::auth::{ClientAddr, CurrentUser};
use crate::error::{AppError, Result};
use crate::scheduling::db::{self};
use crate::scheduling::model::{BookRequest, Doctor};
use crate::scheduling::service;
use crate::web::time::{moment, zone};
use crate::web::{PageCtx, PageForm, render, urlencode};

#[derive(Template)]
#[template(path = "book_doctors.html")]
struct BookDoctors {
    page: PageCtx,
    specialties: Vec<String>,
    specialty: String,
    doctors: Vec<Doctor>,
}

#[derive(Deserialize)]
pub struct SpecialtyQuery {
    specialty: Option<String>,
}

/// `GET /book`: choose a specialty or a doctor.
pub async fn doctors(
    State(state): State<AppState>,
    page: PageCtx,
    _user: CurrentUser,
    Query(q): Query<SpecialtyQuery>,
) -> Result<Response> {
    let specialty = q.specialty.unwrap_or_default();
    let doctors =
        db::doctors(&mut *state.db.acquire().await?, Some(specialty.trim()).filter(|s| !s.is_empty()))
            .await?;
    let specialties = db::specialties(&mut *state.db.acquire().await?).await?;
    Ok(render(&BookDoctors { page, specialties, specialty, doctors }))
}

#[derive(Template)]
#[template(path = "book_slots.html")]
struct BookSlots {
    page: PageCtx,
    doctor: Doctor,
    days: Vec<DayColumn>,
    timezone: String,
    prev: Option<String>,
    next: String,
    reschedule: String,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct SlotsQuery {
    from: Option<String>,
    reschedule: Option<String>,
}

async fn slots_page(
    state: &AppState,
    page: PageCtx,
    user: &CurrentUser,
    doctor_id: &str,
    q: SlotsQuery,
    error: Option<String>,
) -> Result<Response> {
    let tz = zone(&user.timezone);
    let mut conn = state.db.acquire().await?;
    let doctor = db::doctor(&mut conn, doctor_id).await?.ok_or(AppError::NotFound("doctor"))?;
    drop(conn);
    let today = Timestamp::now().to_zoned(tz.clone()).date();
    let start = week_start(q.from.as_deref(), &tz)?.max(today);
    let days = week(state, &doctor, start, &tz, &page).await?;
    let reschedule = q.reschedule.unwrap_or_default();
    let link = |d: Date| format!("/book/{}?from={d}&reschedule={}", doctor.id, urlencode(&reschedule));
    let prev = (start > today).then(|| link(start.checked_sub(7.days()).unwrap_or(today).max(today)));
    let next = link(start.checked_add(7.days()).map_err(anyhow::Error::from)?);
    Ok(render(&BookSlots {
        page,
        doctor,
        days,
        timezone: user.timezone.clone(),
        prev,
        next,
        reschedule,
        error,
    }))
}

/// `GET /book/{doctor_id}`: a week of free times in the viewer's zone.
pub async fn slots(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    Path(doctor_id): Path<String>,
    Query(q): Query<SlotsQuery>,
) -> Result<Response> {
    slots_page(&state, page, &user, &doctor_id, q, None).await
}

#[derive(Template)]
#[template(path = "book_confirm.html")]
struct BookConfirm {
    page: PageCtx,
    doctor: Doctor,
    starts_at: String,
    when: String,
    doctor_time: String,
    reschedule: String,
    patients: Vec<(String, String)>,
}

#[derive(Deserialize)]
pub struct ConfirmQuery {
    starts_at: String,
    reschedule: Option<String>,
}

/// `GET /book/{doctor_id}/confirm`: the chosen time in both zones, a reason, and (for admins
/// and doctors) the patient.
pub async fn confirm(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(doctor_id): Path<String>,
    Query(q): Query<ConfirmQuery>,
) -> Result<Response> {
    let start = crate::scheduling::model::parse_instant("starts_at", &q.starts_at)?;
    let mut conn = state.db.acquire().await?;
    let doctor = db::doctor(&mut conn, &doctor_id).await?.ok_or(AppError::NotFound("doctor"))?;
    drop(conn);
    let reschedule = q.reschedule.unwrap_or_default();
    let patients = if user.role.is_clinician() && reschedule.is_empty() {
        crate::accounts::service::patient_choices(
            &state.db,
            &crate::records::audit::Actor::user(&user, &addr),
        )
        .await?
    } else {
        Vec::new()
    };
    let when = moment(start, &zone(&user.timezone), &page.tr);
    let doctor_time = moment(start, &zone(&doctor.timezone), &page.tr);
    Ok(render(&BookConfirm {
        page,
        doctor,
        starts_at: start.to_string(),
        when,
        doctor_time,
        reschedule,
        patients,
    }))
}

#[derive(Deserialize)]
pub struct BookForm {
    starts_at: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    reschedule: String,
    #[serde(default)]
    patient_id: String,
}

/// `POST /book/{doctor_id}`: books (or moves) and shows the appointment; a slot taken in the
/// meantime brings the week back with a message.
pub async fn submit(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(doctor_id): Path<String>,
    PageForm(f): PageForm<BookForm>,
) -> Result<Response> {
    let result = if f.reschedule.is_empty() {
        let req = BookRequest {
            doctor_id: doctor_id.clone(),
            starts_at: f.starts_at,
            patient_id: Some(f.patient_id).filter(|p| !p.is_empty()),
            reason: Some(f.reason),
        };
        service::book(&state.db, &user, &addr, req).await.map(|a| (a, "booked"))
    } else {
        let reason = if f.reason.trim().is_empty() {
            page.tr.t("appt.moved_default_reason").to_string()
        } else {
            f.reason
        };
        service::reschedule(&state.db, &user, &addr, &f.reschedule, &f.starts_at, &reason)
            .await
            .map(|a| (a, "moved"))
    };
    match result {
        Ok((a, notice)) => {
            Ok(Redirect::to(&format!("/appointments/{}?notice={notice}", a.id)).into_response())
        }
        Err(AppError::Conflict(msg)) => {
            let q = SlotsQuery { from: None, reschedule: Some(f.reschedule) };
            let mut resp = slots_page(&state, page, &user, &doctor_id, q, Some(msg)).await?;
            *resp.status_mut() = StatusCode::CONFLICT;
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}
