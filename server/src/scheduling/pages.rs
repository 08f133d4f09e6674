//! Scheduling pages: patients book (specialty or doctor → free times in their own zone →
//! confirm), everyone sees their appointments, doctors keep their weekly hours, admins run a
//! week grid per doctor.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;

use super::db::{self, AppointmentFilter};
use super::model::{Appointment, Availability, BookRequest, Doctor, RuleView, Status, hhmm, parse_date};
use super::service;
use crate::AppState;
use crate::accounts::model::Role;
use crate::auth::{Admins, ClientAddr, CurrentUser, RequireRole};
use crate::error::{AppError, Result};
use crate::web::time::{clock, day, moment, zone};
use crate::web::{PageCtx, PageForm, render, urlencode};

/// A free slot as a button.
pub struct SlotCell {
    pub starts_at: String,
    pub label: String,
}

/// One day column of free times (and, in the admin grid, appointments).
pub struct DayColumn {
    pub label: String,
    pub slots: Vec<SlotCell>,
    pub appointments: Vec<ApptRow>,
}

/// An appointment as lists show it.
pub struct ApptRow {
    pub id: String,
    pub when: String,
    pub time: String,
    pub with: String,
    pub status: &'static str,
    pub status_code: &'static str,
}

fn status_label(page: &PageCtx, s: Status) -> &'static str {
    match s {
        Status::Booked => page.tr.t("appt.status.booked"),
        Status::Cancelled => page.tr.t("appt.status.cancelled"),
        Status::Completed => page.tr.t("appt.status.completed"),
        Status::NoShow => page.tr.t("appt.status.no_show"),
    }
}

fn row(page: &PageCtx, a: &Appointment, viewer: &CurrentUser, tz: &TimeZone) -> ApptRow {
    let start = Timestamp::from_millisecond(a.starts_ms).unwrap_or_default();
    ApptRow {
        id: a.id.clone(),
        when: moment(start, tz, &page.tr),
        time: clock(start, tz),
        with: if viewer.role == Role::Patient { a.doctor_name.clone() } else { a.patient_name.clone() },
        status: status_label(page, a.status),
        status_code: a.status.as_str(),
    }
}

fn week_start(from: Option<&str>, tz: &TimeZone) -> Result<Date> {
    match from.filter(|s| !s.is_empty()) {
        Some(s) => parse_date("from", s),
        None => Ok(Timestamp::now().to_zoned(tz.clone()).date()),
    }
}

fn instant(date: Date, tz: &TimeZone) -> Result<Timestamp> {
    Ok(date.to_zoned(tz.clone()).map_err(anyhow::Error::from)?.timestamp())
}

/// Seven day columns of free slots from `start` in `tz`.
async fn week(
    state: &AppState,
    doctor: &Doctor,
    start: Date,
    tz: &TimeZone,
    page: &PageCtx,
) -> Result<Vec<DayColumn>> {
    let end = start.checked_add(7.days()).map_err(anyhow::Error::from)?;
    let mut conn = state.db.acquire().await?;
    let slots = service::slots(&mut conn, doctor, instant(start, tz)?, instant(end, tz)?).await?;
    let mut days = Vec::new();
    let mut d = start;
    while d < end {
        let cells = slots
            .iter()
            .filter(|s| s.start.to_zoned(tz.clone()).date() == d)
            .map(|s| SlotCell { starts_at: s.start.to_string(), label: clock(s.start, tz) })
            .collect();
        days.push(DayColumn { label: day(d, &page.tr), slots: cells, appointments: Vec::new() });
        d = d.checked_add(1.day()).map_err(anyhow::Error::from)?;
    }
    Ok(days)
}

// ---- patient booking ----

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
    let doctors = db::doctors(&state.db, Some(specialty.trim()).filter(|s| !s.is_empty())).await?;
    let specialties = db::specialties(&state.db).await?;
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
    Path(doctor_id): Path<String>,
    Query(q): Query<ConfirmQuery>,
) -> Result<Response> {
    let start = super::model::parse_instant("starts_at", &q.starts_at)?;
    let mut conn = state.db.acquire().await?;
    let doctor = db::doctor(&mut conn, &doctor_id).await?.ok_or(AppError::NotFound("doctor"))?;
    drop(conn);
    let reschedule = q.reschedule.unwrap_or_default();
    let patients = if user.role.is_clinician() && reschedule.is_empty() {
        let filter =
            crate::accounts::db::ListFilter { role: Some(Role::Patient), limit: 500, ..Default::default() };
        crate::accounts::db::list(&state.db, &filter)
            .await?
            .into_iter()
            .map(|u| (u.id, format!("{} ({})", u.name, u.email)))
            .collect()
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

// ---- appointments ----

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
    let mut conn = state.db.acquire().await?;
    let doctor_tz =
        db::doctor(&mut conn, &a.doctor_id).await?.map(|d| d.timezone).unwrap_or_else(|| "UTC".into());
    let start = Timestamp::from_millisecond(a.starts_ms).unwrap_or_default();
    let notice = match q.notice.as_deref() {
        Some("booked") => Some(page.tr.t("appt.notice.booked")),
        Some("moved") => Some(page.tr.t("appt.notice.moved")),
        Some("cancelled") => Some(page.tr.t("appt.notice.cancelled")),
        Some("marked") => Some(page.tr.t("appt.notice.marked")),
        _ => None,
    };
    let t = AppointmentPage {
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

// ---- weekly hours ----

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
    let mut conn = state.db.acquire().await?;
    let exceptions = db::exceptions(&mut conn, doctor_id, now, now + 92 * 86_400_000)
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
            out.push(RuleView { weekday: i as i64 + 1, start: start.trim().into(), end: end.trim().into() });
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
        super::handlers::parse_rules(&input).map(|r| (r, consult_minutes))
    });
    match parsed {
        Ok((rules, minutes)) => {
            let mut tx = state.db.begin().await?;
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

// ---- admin week grid ----

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
    let doctors = db::doctors(&state.db, Some(specialty.trim()).filter(|s| !s.is_empty())).await?;
    let specialties = db::specialties(&state.db).await?;
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
            let new = super::model::NewException {
                kind: f.kind,
                starts_at: start.to_string(),
                ends_at: end.to_string(),
                reason: Some(f.reason),
            };
            super::handlers::add_exception(
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
    super::handlers::delete_exception(
        State(state),
        user,
        ClientAddr(addr),
        Path((doctor_id.clone(), exception_id)),
    )
    .await?;
    Ok(Redirect::to(&format!("/schedule/{doctor_id}/availability?saved=1")))
}
