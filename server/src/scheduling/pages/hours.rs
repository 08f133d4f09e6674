//! Consultation hours: weekly rules and time off / extra hours, in the doctor's zone.

use crate::web::input::{Path, Query};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{ClientAddr, CurrentUser};
use crate::error::{AppError, Result};
use crate::scheduling::db::{self};
use crate::scheduling::model::{Availability, Doctor, RuleView, hhmm};
use crate::scheduling::service;
use crate::web::time::{moment, zone};
use crate::web::{PageCtx, PageForm, render};

#[derive(Template)]
#[template(path = "availability.html")]
struct AvailabilityPage {
    page: PageCtx,
    doctor: Doctor,
    consult_minutes: i64,
    /// (weekday label, field name, current ranges text)
    days: Vec<(&'static str, String, String)>,
    /// Upcoming exceptions: id, kind label, local start, local end, reason.
    exceptions: Vec<(String, &'static str, String, String, String)>,
    saved: bool,
    error: Option<String>,
}

async fn availability_page(
    state: &AppState,
    page: PageCtx,
    doctor_id: &str,
    text: Option<(i64, Vec<String>)>,
    saved: bool,
    error: Option<String>,
) -> Result<Response> {
    let mut conn = state.db.acquire().await?;
    let doctor = db::doctor(&mut conn, doctor_id).await?.ok_or(AppError::NotFound("doctor"))?;
    let rules = db::rules(&mut conn, doctor_id).await?;
    drop(conn);
    let (consult_minutes, texts) = match text {
        Some(t) => t,
        None => {
            let texts = (1..=7)
                .map(|d| {
                    rules
                        .iter()
                        .filter(|r| r.weekday == d)
                        .map(|r| format!("{}-{}", hhmm(r.start_minute.into()), hhmm(r.end_minute.into())))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .collect();
            (doctor.consult_minutes, texts)
        }
    };
    let days = (1..=7)
        .zip(texts)
        .map(|(d, t)| {
            (
                page.tr.t(["day.1", "day.2", "day.3", "day.4", "day.5", "day.6", "day.7"][d - 1]),
                format!("day{d}"),
                t,
            )
        })
        .collect();
    let tz = zone(&doctor.timezone);
    let now = Timestamp::now().as_millisecond();
    let exceptions = db::exceptions(&mut *state.db.acquire().await?, doctor_id, now, now + 92 * 86_400_000)
        .await?
        .into_iter()
        .map(|e| {
            let local =
                |iso: &str| iso.parse::<Timestamp>().map(|t| moment(t, &tz, &page.tr)).unwrap_or_default();
            let kind = if e.kind == "off" { page.tr.t("avail.off") } else { page.tr.t("avail.extra") };
            (e.id, kind, local(&e.starts_at), local(&e.ends_at), e.reason.unwrap_or_default())
        })
        .collect();
    Ok(render(&AvailabilityPage { page, doctor, consult_minutes, days, exceptions, saved, error }))
}

/// `GET /schedule/{doctor_id}/availability` (the doctor or an admin).
pub async fn availability(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    Path(doctor_id): Path<String>,
    Query(q): Query<SavedQuery>,
) -> Result<Response> {
    service::may_manage(&user, &doctor_id)?;
    availability_page(&state, page, &doctor_id, None, q.saved.is_some(), None).await
}

#[derive(Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

#[derive(Deserialize)]
pub struct AvailabilityForm {
    consult_minutes: String,
    #[serde(default)]
    day1: String,
    #[serde(default)]
    day2: String,
    #[serde(default)]
    day3: String,
    #[serde(default)]
    day4: String,
    #[serde(default)]
    day5: String,
    #[serde(default)]
    day6: String,
    #[serde(default)]
    day7: String,
}

/// Reads "09:00-12:00, 13:00-17:00" lines into rule views.
fn rules_from_text(days: &[&str; 7]) -> Result<Vec<RuleView>> {
    let mut out = Vec::new();
    for (i, text) in days.iter().enumerate() {
        for range in text.split([',', ';']).map(str::trim).filter(|s| !s.is_empty()) {
            let (start, end) = range.split_once(['-', '–']).ok_or_else(|| {
                AppError::invalid(
                    &format!("day{}", i + 1),
                    format!("{range:?}: write ranges like 09:00-12:00"),
                )
            })?;
            out.push(RuleView {
                weekday: i64::try_from(i).unwrap_or(0) + 1,
                start: start.trim().into(),
                end: end.trim().into(),
            });
        }
    }
    Ok(out)
}

/// `POST /schedule/{doctor_id}/availability`.
pub async fn save_availability(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(doctor_id): Path<String>,
    PageForm(f): PageForm<AvailabilityForm>,
) -> Result<Response> {
    service::may_manage(&user, &doctor_id)?;
    let texts = [&f.day1, &f.day2, &f.day3, &f.day4, &f.day5, &f.day6, &f.day7].map(|s| s.as_str());
    let parsed = rules_from_text(&texts).and_then(|rules| {
        let consult_minutes = f
            .consult_minutes
            .trim()
            .parse()
            .map_err(|_| AppError::invalid("consult_minutes", "a whole number of minutes"))?;
        let input = Availability { consult_minutes, rules };
        crate::scheduling::handlers::parse_rules(&input).map(|r| (r, consult_minutes))
    });
    match parsed {
        Ok((rules, minutes)) => {
            let mut tx = state.db.write().await?;
            db::lock_doctor(&mut tx, &doctor_id).await?;
            db::replace_rules(&mut tx, &doctor_id, &rules, minutes).await?;
            let actor = crate::records::audit::Actor::user(&user, &addr);
            crate::records::audit::record(
                &mut tx,
                &actor,
                crate::records::audit::Event::new("availability.update")
                    .object("doctor", &doctor_id)
                    .detail(format!("rules={}", rules.len())),
            )
            .await?;
            tx.commit().await?;
            Ok(Redirect::to(&format!("/schedule/{doctor_id}/availability?saved=1")).into_response())
        }
        Err(e @ AppError::Validation { .. }) => {
            let minutes = f.consult_minutes.trim().parse().unwrap_or(30);
            let kept = texts.iter().map(|s| s.to_string()).collect();
            let mut resp = availability_page(
                &state,
                page,
                &doctor_id,
                Some((minutes, kept)),
                false,
                Some(e.to_string()),
            )
            .await?;
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct ExceptionForm {
    kind: String,
    /// `YYYY-MM-DDTHH:MM` in the doctor's zone (an HTML datetime-local value).
    starts: String,
    ends: String,
    #[serde(default)]
    reason: String,
}

fn local_instant(field: &str, raw: &str, tz: &TimeZone) -> Result<Timestamp> {
    let dt: jiff::civil::DateTime = raw
        .trim()
        .parse()
        .map_err(|_| AppError::invalid(field, format!("{raw:?} is not a date and time")))?;
    crate::web::time::supported_date(field, dt.date())?;
    Ok(dt.to_zoned(tz.clone()).map_err(|e| AppError::invalid(field, e.to_string()))?.timestamp())
}

/// `POST /schedule/{doctor_id}/exceptions`: time off or extra hours, in the doctor's zone.
pub async fn add_exception(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(doctor_id): Path<String>,
    PageForm(f): PageForm<ExceptionForm>,
) -> Result<Response> {
    service::may_manage(&user, &doctor_id)?;
    let mut conn = state.db.acquire().await?;
    let doctor = db::doctor(&mut conn, &doctor_id).await?.ok_or(AppError::NotFound("doctor"))?;
    drop(conn);
    let tz = zone(&doctor.timezone);
    let input =
        local_instant("starts", &f.starts, &tz).and_then(|s| Ok((s, local_instant("ends", &f.ends, &tz)?)));
    let result = match input {
        Ok((start, end)) => {
            let new = crate::scheduling::model::NewException {
                kind: f.kind,
                starts_at: start.to_string(),
                ends_at: end.to_string(),
                reason: Some(f.reason),
            };
            crate::scheduling::handlers::add_exception(
                State(state.clone()),
                user,
                ClientAddr(addr),
                Path(doctor_id.clone()),
                crate::web::ApiJson(new),
            )
            .await
            .map(|_| ())
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/schedule/{doctor_id}/availability?saved=1")).into_response()),
        Err(e @ AppError::Validation { .. }) => {
            let mut resp =
                availability_page(&state, page, &doctor_id, None, false, Some(e.to_string())).await?;
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

/// `POST /schedule/{doctor_id}/exceptions/{exception_id}/delete`.
pub async fn delete_exception(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path((doctor_id, exception_id)): Path<(String, String)>,
) -> Result<Redirect> {
    crate::scheduling::handlers::delete_exception(
        State(state),
        user,
        ClientAddr(addr),
        Path((doctor_id.clone(), exception_id)),
    )
    .await?;
    Ok(Redirect::to(&format!("/schedule/{doctor_id}/availability?saved=1")))
}
