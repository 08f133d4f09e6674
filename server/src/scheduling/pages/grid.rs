//! The admin week grid: one doctor's appointments and free slots per day.

use crate::web::input::Query;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;

use super::*;
use crate::AppState;
use crate::auth::{Admins, ClientAddr, RequireRole};
use crate::error::{AppError, Result};
use crate::scheduling::db::{self, AppointmentFilter};
use crate::scheduling::model::Doctor;
use crate::scheduling::service;
use crate::web::time::zone;
use crate::web::{PageCtx, render, urlencode};

#[derive(Template)]
#[template(path = "admin_schedule.html")]
struct AdminSchedule {
    page: PageCtx,
    doctors: Vec<Doctor>,
    specialties: Vec<String>,
    specialty: String,
    doctor: Option<Doctor>,
    days: Vec<DayColumn>,
    timezone: String,
    prev: String,
    next: String,
    from: String,
}

#[derive(Deserialize)]
pub struct GridQuery {
    doctor: Option<String>,
    specialty: Option<String>,
    from: Option<String>,
}

/// `GET /admin/schedule`: one doctor's week — appointments and free slots per day, in the
/// doctor's own zone — with links to book, move and cancel.
pub async fn grid(
    State(state): State<AppState>,
    page: PageCtx,
    admin: RequireRole<Admins>,
    ClientAddr(addr): ClientAddr,
    Query(q): Query<GridQuery>,
) -> Result<Response> {
    let specialty = q.specialty.unwrap_or_default();
    let doctors =
        db::doctors(&mut *state.db.acquire().await?, Some(specialty.trim()).filter(|s| !s.is_empty()))
            .await?;
    let specialties = db::specialties(&mut *state.db.acquire().await?).await?;
    let chosen = q
        .doctor
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(doctors.first().map(|d| d.id.as_str()))
        .map(str::to_string);
    let mut days = Vec::new();
    let mut doctor = None;
    let mut timezone = admin.timezone.clone();
    let tz_admin = zone(&admin.timezone);
    let start = week_start(q.from.as_deref(), &tz_admin)?;
    if let Some(id) = chosen {
        let mut conn = state.db.acquire().await?;
        let d = db::doctor(&mut conn, &id).await?.ok_or(AppError::NotFound("doctor"))?;
        drop(conn);
        let tz = zone(&d.timezone);
        timezone = d.timezone.clone();
        days = week(&state, &d, start, &tz, &page).await?;
        let filter = AppointmentFilter {
            doctor_id: Some(d.id.clone()),
            from: Some(instant(start, &tz)?.as_millisecond()),
            to: Some(
                instant(start.checked_add(7.days()).map_err(anyhow::Error::from)?, &tz)?.as_millisecond(),
            ),
            limit: 500,
            ..Default::default()
        };
        for a in service::list(&state.db, &admin, &addr, filter).await? {
            let local =
                Timestamp::from_millisecond(a.starts_ms).unwrap_or_default().to_zoned(tz.clone()).date();
            let idx = start.until(local).map(|s| s.get_days()).unwrap_or(-1);
            if let Some(col) = usize::try_from(idx).ok().and_then(|i| days.get_mut(i)) {
                col.appointments.push(row(&page, &a, &admin, &tz));
            }
        }
        doctor = Some(d);
    }
    let id = doctor.as_ref().map(|d| d.id.clone()).unwrap_or_default();
    let link = |d: Date| {
        format!("/admin/schedule?doctor={}&specialty={}&from={d}", urlencode(&id), urlencode(&specialty))
    };
    let prev = link(start.checked_sub(7.days()).map_err(anyhow::Error::from)?);
    let next = link(start.checked_add(7.days()).map_err(anyhow::Error::from)?);
    Ok(render(&AdminSchedule {
        page,
        doctors,
        specialties,
        specialty,
        doctor,
        days,
        timezone,
        prev,
        next,
        from: start.to_string(),
    }))
}
