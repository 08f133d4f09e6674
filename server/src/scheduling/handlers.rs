//! `/api/v1/doctors*` and `/api/v1/appointments*`.

use crate::web::input::{Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;
use utoipa::IntoParams;

use super::db::{self, AppointmentFilter};
use super::model::*;
use super::service::{self, may_manage};
use super::slots::{Rule, Window};
use crate::AppState;
use crate::auth::{ClientAddr, CurrentUser};
use crate::error::{AppError, ErrorBody, Result};
use crate::records::audit::{self, Actor, Event};
use crate::web::ApiJson;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DoctorQuery {
    /// Only doctors of this specialty (case-insensitive).
    pub specialty: Option<String>,
}

/// Active doctors with their specialty, time zone and slot length.
#[utoipa::path(get, path = "/api/v1/doctors", tag = "scheduling", params(DoctorQuery),
    responses((status = 200, body = [Doctor]), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_doctors(
    State(state): State<AppState>,
    _user: CurrentUser,
    Query(q): Query<DoctorQuery>,
) -> Result<Json<Vec<Doctor>>> {
    let specialty = q.specialty.as_deref().map(str::trim).filter(|s| !s.is_empty());
    Ok(Json(db::doctors(&mut *state.db.acquire().await?, specialty).await?))
}

async fn doctor_or_404(state: &AppState, id: &str) -> Result<Doctor> {
    let mut conn = state.db.acquire().await?;
    db::doctor(&mut conn, id).await?.ok_or(AppError::NotFound("doctor"))
}

/// A doctor's weekly availability (the doctor and admins).
#[utoipa::path(get, path = "/api/v1/doctors/{id}/availability", tag = "scheduling", params(("id" = String, Path)),
    responses((status = 200, body = Availability), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_availability(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Availability>> {
    may_manage(&user, &id)?;
    let doctor = doctor_or_404(&state, &id).await?;
    let mut conn = state.db.acquire().await?;
    let rules = db::rules(&mut conn, &id).await?;
    Ok(Json(Availability {
        consult_minutes: doctor.consult_minutes,
        rules: rules
            .iter()
            .map(|r| RuleView {
                weekday: r.weekday.into(),
                start: hhmm(r.start_minute.into()),
                end: hhmm(r.end_minute.into()),
            })
            .collect(),
    }))
}

/// Validates weekly rules: weekdays 1–7, start before end, no overlaps on one day.
pub fn parse_rules(input: &Availability) -> Result<Vec<Rule>> {
    if !(5..=240).contains(&input.consult_minutes) {
        return Err(AppError::invalid("consult_minutes", "a consultation lasts 5 to 240 minutes"));
    }
    if input.rules.len() > 70 {
        return Err(AppError::invalid("rules", "at most 70 weekly rules"));
    }
    let mut rules = Vec::with_capacity(input.rules.len());
    for (i, r) in input.rules.iter().enumerate() {
        if !(1..=7).contains(&r.weekday) {
            return Err(AppError::invalid(
                &format!("rules[{i}].weekday"),
                "weekday is 1 (Monday) to 7 (Sunday)",
            ));
        }
        let start = parse_hhmm(&format!("rules[{i}].start"), &r.start)?;
        let end = parse_hhmm(&format!("rules[{i}].end"), &r.end)?;
        if end <= start || start >= 1440 {
            return Err(AppError::invalid(&format!("rules[{i}].end"), "the end must be after the start"));
        }
        let weekday = i8::try_from(r.weekday).map_err(|_| {
            AppError::invalid(&format!("rules[{i}].weekday"), "weekday is 1 (Monday) to 7 (Sunday)")
        })?;
        rules.push(Rule { weekday, start_minute: start, end_minute: end });
    }
    rules.sort_by_key(|r| (r.weekday, r.start_minute));
    for pair in rules.windows(2) {
        if pair[0].weekday == pair[1].weekday && pair[1].start_minute < pair[0].end_minute {
            return Err(AppError::invalid("rules", "two rules overlap on the same weekday"));
        }
    }
    Ok(rules)
}

/// Replace a doctor's weekly availability (the doctor and admins).
#[utoipa::path(put, path = "/api/v1/doctors/{id}/availability", tag = "scheduling", params(("id" = String, Path)), request_body = Availability,
    responses((status = 200, body = Availability), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_availability(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<Availability>,
) -> Result<Json<Availability>> {
    may_manage(&user, &id)?;
    let rules = parse_rules(&input)?;
    doctor_or_404(&state, &id).await?;
    let mut tx = state.db.write().await?;
    db::lock_doctor(&mut tx, &id).await?;
    db::replace_rules(&mut tx, &id, &rules, input.consult_minutes).await?;
    audit::record(
        &mut tx,
        &Actor::user(&user, &addr),
        Event::new("availability.update").object("doctor", &id).detail(format!("rules={}", rules.len())),
    )
    .await?;
    tx.commit().await?;
    get_availability(State(state), user, Path(id)).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// First day, `YYYY-MM-DD` (default: today).
    pub from: Option<String>,
    /// Last day, inclusive, `YYYY-MM-DD` (default: 14 days after `from`; at most 92 days).
    pub to: Option<String>,
    /// IANA time zone the days are in and local times are shown in (default: the caller's).
    pub tz: Option<String>,
}

/// Resolves a day range in a zone into `[from, to)` instants.
pub fn day_range(q: &RangeQuery, default_tz: &str) -> Result<(TimeZone, Timestamp, Timestamp)> {
    let tz_name = q.tz.as_deref().filter(|s| !s.is_empty()).unwrap_or(default_tz);
    let tz = TimeZone::get(tz_name)
        .map_err(|_| AppError::invalid("tz", format!("{tz_name:?} is not a known time zone")))?;
    let today = Timestamp::now().to_zoned(tz.clone()).date();
    let from = match q.from.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => parse_date("from", s)?,
        None => today,
    };
    let to = match q.to.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => parse_date("to", s)?,
        None => from.checked_add(14.days()).map_err(anyhow::Error::from)?,
    };
    if to < from {
        return Err(AppError::invalid("to", "the range ends before it starts"));
    }
    let days = from.until(to).map_err(anyhow::Error::from)?.get_days() as i64;
    if days >= MAX_RANGE_DAYS {
        return Err(AppError::invalid("to", format!("a range may span at most {MAX_RANGE_DAYS} days")));
    }
    let start = from.to_zoned(tz.clone()).map_err(anyhow::Error::from)?.timestamp();
    let end = to
        .checked_add(1.day())
        .map_err(anyhow::Error::from)?
        .to_zoned(tz.clone())
        .map_err(anyhow::Error::from)?
        .timestamp();
    Ok((tz, start, end))
}

/// Free slots of a doctor between two dates, shown in a time zone of the caller's choice.
#[utoipa::path(get, path = "/api/v1/doctors/{id}/slots", tag = "scheduling", params(("id" = String, Path), RangeQuery),
    responses((status = 200, body = [Slot]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_slots(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Vec<Slot>>> {
    let (tz, from, to) = day_range(&q, &user.timezone)?;
    let doctor = doctor_or_404(&state, &id).await?;
    let mut conn = state.db.acquire().await?;
    let slots = service::slots(&mut conn, &doctor, from, to).await?;
    Ok(Json(slots.iter().map(|w| slot_view(w, &tz)).collect()))
}

pub fn slot_view(w: &Window, tz: &TimeZone) -> Slot {
    Slot {
        starts_at: w.start.to_string(),
        ends_at: w.end.to_string(),
        local_start: w.start.to_zoned(tz.clone()).to_string(),
    }
}

/// Time off and extra hours in a range (the doctor and admins).
#[utoipa::path(get, path = "/api/v1/doctors/{id}/exceptions", tag = "scheduling", params(("id" = String, Path), RangeQuery),
    responses((status = 200, body = [Exception]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_exceptions(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Vec<Exception>>> {
    may_manage(&user, &id)?;
    let (_, from, to) = day_range(&q, &user.timezone)?;
    let mut conn = state.db.acquire().await?;
    Ok(Json(db::exceptions(&mut conn, &id, from.as_millisecond(), to.as_millisecond()).await?))
}

/// Add time off or extra hours (the doctor and admins). Existing bookings are kept.
#[utoipa::path(post, path = "/api/v1/doctors/{id}/exceptions", tag = "scheduling", params(("id" = String, Path)), request_body = NewException,
    responses((status = 201, body = Exception), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_exception(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewException>,
) -> Result<(StatusCode, Json<Exception>)> {
    may_manage(&user, &id)?;
    if !matches!(input.kind.as_str(), "off" | "extra") {
        return Err(AppError::invalid("kind", "kind is off (time off) or extra (extra hours)"));
    }
    let start = parse_instant("starts_at", &input.starts_at)?;
    let end = parse_instant("ends_at", &input.ends_at)?;
    if end <= start {
        return Err(AppError::invalid("ends_at", "the end must be after the start"));
    }
    if end.duration_since(start) > jiff::SignedDuration::from_hours(24 * 92) {
        return Err(AppError::invalid("ends_at", "an exception may last at most 92 days"));
    }
    let reason = parse_reason("reason", input.reason.as_deref(), false)?;
    doctor_or_404(&state, &id).await?;
    let mut tx = state.db.write().await?;
    db::lock_doctor(&mut tx, &id).await?;
    let eid =
        db::insert_exception(&mut tx, &id, &input.kind, Window::new(start, end), reason.as_deref()).await?;
    audit::record(
        &mut tx,
        &Actor::user(&user, &addr),
        Event::new("availability.exception").object("doctor", &id).detail(input.kind.clone()),
    )
    .await?;
    tx.commit().await?;
    let view = Exception {
        id: eid,
        kind: input.kind,
        starts_at: start.to_string(),
        ends_at: end.to_string(),
        reason,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Remove an exception (the doctor and admins).
#[utoipa::path(delete, path = "/api/v1/doctors/{id}/exceptions/{exception_id}", tag = "scheduling",
    params(("id" = String, Path), ("exception_id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_exception(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path((id, exception_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    may_manage(&user, &id)?;
    let mut tx = state.db.write().await?;
    if !db::delete_exception(&mut tx, &id, &exception_id).await? {
        return Err(AppError::NotFound("exception"));
    }
    audit::record(
        &mut tx,
        &Actor::user(&user, &addr),
        Event::new("availability.exception_delete").object("doctor", &id),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppointmentQuery {
    /// First day, `YYYY-MM-DD` (default: no lower bound).
    pub from: Option<String>,
    /// Last day, inclusive (default: no upper bound).
    pub to: Option<String>,
    /// Zone of the days (default: the caller's).
    pub tz: Option<String>,
    pub doctor_id: Option<String>,
    pub patient_id: Option<String>,
    /// booked, cancelled, completed or no_show.
    pub status: Option<String>,
    /// Page size, 1–500 (default 200).
    pub limit: Option<i64>,
}

/// Appointments within the caller's reach: patients see their own, doctors their agenda,
/// admins everything.
#[utoipa::path(get, path = "/api/v1/appointments", tag = "scheduling", params(AppointmentQuery),
    responses((status = 200, body = [Appointment]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_appointments(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Query(q): Query<AppointmentQuery>,
) -> Result<Json<Vec<Appointment>>> {
    let limit = q.limit.unwrap_or(200);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid("limit", "limit must be between 1 and 500"));
    }
    let (from, to) = if q.from.is_some() || q.to.is_some() {
        let range = RangeQuery { from: q.from.clone(), to: q.to.clone(), tz: q.tz.clone() };
        let (_, f, t) = day_range(&range, &user.timezone)?;
        (Some(f.as_millisecond()), Some(t.as_millisecond()))
    } else {
        (None, None)
    };
    let filter = AppointmentFilter {
        doctor_id: q.doctor_id.filter(|s| !s.is_empty()),
        patient_id: q.patient_id.filter(|s| !s.is_empty()),
        status: q.status.as_deref().filter(|s| !s.is_empty()).map(Status::parse).transpose()?,
        from,
        to,
        limit,
    };
    Ok(Json(service::list(&state.db, &user, &addr, filter).await?))
}

/// Book a free slot.
#[utoipa::path(post, path = "/api/v1/appointments", tag = "scheduling", request_body = BookRequest,
    responses((status = 201, body = Appointment), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the slot or the patient is already taken", body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn book(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<BookRequest>,
) -> Result<(StatusCode, Json<Appointment>)> {
    let appt = service::book(&state.db, &user, &addr, req).await?;
    Ok((StatusCode::CREATED, Json(appt)))
}

/// One appointment.
#[utoipa::path(get, path = "/api/v1/appointments/{id}", tag = "scheduling", params(("id" = String, Path)),
    responses((status = 200, body = Appointment), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_appointment(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Json<Appointment>> {
    Ok(Json(service::get(&state.db, &user, &addr, &id).await?))
}

/// Cancel with a reason.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/cancel", tag = "scheduling", params(("id" = String, Path)), request_body = CancelRequest,
    responses((status = 200, body = Appointment), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CancelRequest>,
) -> Result<Json<Appointment>> {
    Ok(Json(service::cancel(&state.db, &user, &addr, &id, &req.reason).await?))
}

/// Move to another free slot of the same doctor, with a reason.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/reschedule", tag = "scheduling", params(("id" = String, Path)), request_body = RescheduleRequest,
    responses((status = 200, body = Appointment), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn reschedule(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RescheduleRequest>,
) -> Result<Json<Appointment>> {
    Ok(Json(service::reschedule(&state.db, &user, &addr, &id, &req.starts_at, &req.reason).await?))
}

/// Mark as completed or no-show (clinicians).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/status", tag = "scheduling", params(("id" = String, Path)), request_body = StatusRequest,
    responses((status = 200, body = Appointment), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_status(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<StatusRequest>,
) -> Result<Json<Appointment>> {
    Ok(Json(service::set_status(&state.db, &user, &addr, &id, &req.status, req.reason.as_deref()).await?))
}

/// The appointment as an iCalendar (RFC 5545) file.
#[utoipa::path(get, path = "/api/v1/appointments/{id}/ics", tag = "scheduling", params(("id" = String, Path)),
    responses((status = 200, content_type = "text/calendar", description = "one VEVENT"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn appointment_ics(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response> {
    let a = service::get(&state.db, &user, &addr, &id).await?;
    let event = super::ics::appointment_event(&a, user.role, user.locale);
    Ok(super::ics::download(&format!("consultation-{}.ics", a.id), &[event]))
}
