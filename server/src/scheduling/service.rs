//! Booking rules. Every change runs in one transaction that first takes the doctor's row lock
//! (then the patient's), re-checks the slot against fresh data, writes, and records the audit
//! row — so concurrent bookings of one slot give exactly one success on SQLite and PostgreSQL.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use sqlx::AnyConnection;

use super::db::{self, AppointmentFilter, NewAppointment};
use super::messages::Notice;
use super::model::{Appointment, BookRequest, Doctor, Status, parse_instant, parse_reason};
use super::reminders;
use super::slots::{Calendar, Window, free_slots};
use crate::accounts::model::Role;
use crate::auth::CurrentUser;
use crate::db::{Db, retry_contended};
use crate::error::{AppError, Result};
use crate::records::audit::{self, Actor, Event};

const DAY_MS: i64 = 86_400_000;

pub fn doctor_tz(d: &Doctor) -> TimeZone {
    TimeZone::get(&d.timezone).unwrap_or(TimeZone::UTC)
}

/// Doctors may manage their own schedule; admins everyone's.
pub fn may_manage(user: &CurrentUser, doctor_id: &str) -> Result<()> {
    match user.role {
        Role::Admin => Ok(()),
        Role::Doctor if user.id == doctor_id => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

/// Free slots of a doctor starting in `[from, to)`.
pub async fn slots(
    conn: &mut AnyConnection,
    doctor: &Doctor,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Window>> {
    let (f, t) = (from.as_millisecond(), to.as_millisecond());
    let rules = db::rules(conn, &doctor.id).await?;
    let (extra, mut blocked) = db::exception_windows(conn, &doctor.id, f - DAY_MS, t + DAY_MS).await?;
    blocked.extend(db::booked_windows(conn, &doctor.id, false, f - DAY_MS, t + DAY_MS, None).await?);
    let tz = doctor_tz(doctor);
    let cal = Calendar {
        tz: &tz,
        rules: &rules,
        extra: &extra,
        blocked: &blocked,
        length: SignedDuration::from_mins(doctor.consult_minutes),
    };
    Ok(free_slots(&cal, from, to, Timestamp::now()))
}

/// A person's free time in `[from, to)`: weekly hours plus extra hours, minus time off and
/// booked appointments. The time finder intersects these.
/// `ignore` leaves one appointment or review out of the busy time (the one being re-planned).
pub async fn free_windows(
    conn: &mut AnyConnection,
    doctor: &Doctor,
    from: Timestamp,
    to: Timestamp,
    ignore: Option<&str>,
) -> Result<Vec<Window>> {
    let (f, t) = (from.as_millisecond(), to.as_millisecond());
    let tz = doctor_tz(doctor);
    let mut windows = super::slots::rule_windows(&db::rules(conn, &doctor.id).await?, &tz, from, to);
    let (extra, mut blocked) = db::exception_windows(conn, &doctor.id, f, t).await?;
    windows.extend(extra);
    blocked.extend(db::booked_windows(conn, &doctor.id, false, f, t, ignore).await?);
    let clip = Window::new(from, to);
    Ok(super::slots::subtract(windows, &blocked)
        .into_iter()
        .filter_map(|w| {
            let (s, e) = (w.start.max(clip.start), w.end.min(clip.end));
            (s < e).then(|| Window::new(s, e))
        })
        .collect())
}

/// The slot starting at `start`, if it is on the doctor's grid and free. Off the grid, in the
/// past or in time off: 422. Taken by another booking: 409.
async fn check_slot(
    conn: &mut AnyConnection,
    doctor: &Doctor,
    start: Timestamp,
    moving: Option<&str>,
) -> Result<Window> {
    let now = Timestamp::now();
    if start <= now {
        return Err(AppError::invalid("starts_at", "this time is in the past"));
    }
    let (f, t) = (start.as_millisecond() - DAY_MS, start.as_millisecond() + DAY_MS);
    let from = Timestamp::from_millisecond(f).map_err(anyhow::Error::from)?;
    let to = Timestamp::from_millisecond(t).map_err(anyhow::Error::from)?;
    let rules = db::rules(conn, &doctor.id).await?;
    let (extra, off) = db::exception_windows(conn, &doctor.id, f, t).await?;
    let tz = doctor_tz(doctor);
    let cal = Calendar {
        tz: &tz,
        rules: &rules,
        extra: &extra,
        blocked: &off,
        length: SignedDuration::from_mins(doctor.consult_minutes),
    };
    let slot = free_slots(&cal, from, to, now).into_iter().find(|s| s.start == start).ok_or_else(|| {
        AppError::invalid(
            "starts_at",
            "this is not a bookable time of this doctor; choose one of the free slots",
        )
    })?;
    let booked = db::booked_windows(conn, &doctor.id, false, f, t, moving).await?;
    if booked.iter().any(|b| b.overlaps(&slot)) {
        return Err(AppError::Conflict(
            "this slot has just been booked by someone else; please choose another".into(),
        ));
    }
    Ok(slot)
}

async fn patient_is_free(
    conn: &mut AnyConnection,
    patient_id: &str,
    slot: &Window,
    moving: Option<&str>,
) -> Result<()> {
    let (f, t) = (slot.start.as_millisecond(), slot.end.as_millisecond());
    if !db::booked_windows(conn, patient_id, true, f, t, moving).await?.is_empty() {
        return Err(AppError::Conflict("the patient already has an appointment at this time".into()));
    }
    Ok(())
}

async fn active_patient(conn: &mut AnyConnection, id: &str) -> Result<crate::accounts::model::User> {
    match crate::accounts::db::find(conn, id).await? {
        Some(u) if u.role == Role::Patient && u.active => Ok(u),
        _ => Err(AppError::invalid("patient_id", "no active patient has this id")),
    }
}

/// Books a slot: a patient for themselves, a doctor into their own agenda for a patient, an
/// admin for anyone.
pub async fn book(db: &Db, user: &CurrentUser, addr: &str, req: BookRequest) -> Result<Appointment> {
    retry_contended(|| book_once(db, user, addr, &req)).await
}

async fn book_once(db: &Db, user: &CurrentUser, addr: &str, req: &BookRequest) -> Result<Appointment> {
    let start = parse_instant("starts_at", &req.starts_at)?;
    let reason = parse_reason("reason", req.reason.as_deref(), false)?;
    let patient_id = match user.role {
        Role::Patient => {
            if req.patient_id.as_deref().is_some_and(|p| p != user.id) {
                return Err(AppError::Forbidden);
            }
            user.id.clone()
        }
        Role::Doctor | Role::Admin => {
            req.patient_id.clone().filter(|p| !p.is_empty()).ok_or_else(|| {
                AppError::invalid("patient_id", "choose the patient this appointment is for")
            })?
        }
    };
    if user.role == Role::Doctor && req.doctor_id != user.id {
        return Err(AppError::Forbidden);
    }
    // Read before the write lease: an account's activity is no booking invariant (the foreign
    // key is), and every statement inside the lease is paid by each writer in turn on SQLite.
    let patient = active_patient(&mut *db.acquire().await?, &patient_id).await?;
    let mut tx = db.write().await?;
    if !db::lock_doctor(&mut tx, &req.doctor_id).await? {
        return Err(AppError::NotFound("doctor"));
    }
    let doctor = db::doctor(&mut tx, &req.doctor_id).await?.ok_or(AppError::NotFound("doctor"))?;
    db::lock_patient(&mut tx, &patient_id).await?;
    let slot = check_slot(&mut tx, &doctor, start, None).await?;
    patient_is_free(&mut tx, &patient_id, &slot, None).await?;
    let new = NewAppointment {
        doctor_id: &doctor.id,
        patient_id: &patient_id,
        window: slot,
        reason: reason.as_deref(),
        created_by: &user.id,
    };
    let appt = db::insert_appointment(&mut tx, &new, &doctor.name, &patient.name).await?;
    let id = appt.id.clone();
    reminders::queue(&mut tx, "appointment", &id, &[&patient_id, &doctor.id], slot.start.as_millisecond())
        .await?;
    reminders::tell(&mut tx, Notice::Booked, &id, [&patient_id, &doctor.id]).await?;
    audit::record(
        &mut tx,
        &Actor::user(user, addr),
        Event::new("appointment.create").object("appointment", &id).patient(Some(&patient_id)),
    )
    .await?;
    tx.commit().await?;
    Ok(appt)
}

/// An appointment as stored, read back once its write has committed, on a read connection:
/// the write lease holds only the writing statements.
async fn committed(db: &Db, id: &str) -> Result<Appointment> {
    db::appointment(&mut *db.acquire().await?, id).await?.ok_or(AppError::NotFound("appointment"))
}

fn may_see(user: &CurrentUser, a: &Appointment) -> bool {
    match user.role {
        Role::Admin => true,
        Role::Doctor => a.doctor_id == user.id,
        Role::Patient => a.patient_id == user.id,
    }
}

/// Loads an appointment the user may see; others' appointments are 404, not 403, so that
/// ids reveal nothing.
async fn visible(conn: &mut AnyConnection, user: &CurrentUser, id: &str) -> Result<Appointment> {
    match db::appointment(conn, id).await? {
        Some(a) if may_see(user, &a) => Ok(a),
        _ => Err(AppError::NotFound("appointment")),
    }
}

pub async fn get(db: &Db, user: &CurrentUser, addr: &str, id: &str) -> Result<Appointment> {
    let a = visible(&mut *db.acquire().await?, user, id).await?;
    audit::record_read(
        db,
        &Actor::user(user, addr),
        Event::new("appointment.read").object("appointment", &a.id).patient(Some(&a.patient_id)),
    )
    .await?;
    Ok(a)
}

/// Lists appointments within the caller's reach: patients their own, doctors their agenda.
pub async fn list(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    mut f: AppointmentFilter,
) -> Result<Vec<Appointment>> {
    match user.role {
        Role::Patient => {
            if f.patient_id.as_deref().is_some_and(|p| p != user.id) {
                return Err(AppError::Forbidden);
            }
            f.patient_id = Some(user.id.clone());
        }
        Role::Doctor => {
            if f.doctor_id.as_deref().is_some_and(|d| d != user.id) {
                return Err(AppError::Forbidden);
            }
            f.doctor_id = Some(user.id.clone());
        }
        Role::Admin => {}
    }
    let list = db::appointments(db, &f).await?;
    if !list.is_empty() {
        let patient = f.patient_id.as_deref();
        let detail = format!("n={} doctor={}", list.len(), f.doctor_id.as_deref().unwrap_or("any"));
        audit::record_read(
            db,
            &Actor::user(user, addr),
            Event::new("appointment.list").patient(patient).detail(detail),
        )
        .await?;
    }
    Ok(list)
}

/// Cancels a booked appointment (patient: own; doctor: own agenda; admin: any).
pub async fn cancel(db: &Db, user: &CurrentUser, addr: &str, id: &str, reason: &str) -> Result<Appointment> {
    retry_contended(|| cancel_once(db, user, addr, id, reason)).await
}

async fn cancel_once(db: &Db, user: &CurrentUser, addr: &str, id: &str, reason: &str) -> Result<Appointment> {
    let reason = parse_reason("reason", Some(reason), true)?;
    let mut tx = db.write().await?;
    let a = visible(&mut tx, user, id).await?;
    db::lock_doctor(&mut tx, &a.doctor_id).await?;
    if !db::transition(&mut tx, id, Status::Cancelled, None, reason.as_deref()).await? {
        return Err(AppError::Conflict(format!(
            "only a booked appointment can be cancelled; this one is {}",
            a.status.as_str()
        )));
    }
    reminders::cancel(&mut tx, id).await?;
    reminders::tell(&mut tx, Notice::Cancelled, id, [&a.patient_id, &a.doctor_id]).await?;
    audit::record(
        &mut tx,
        &Actor::user(user, addr),
        Event::new("appointment.cancel").object("appointment", id).patient(Some(&a.patient_id)),
    )
    .await?;
    tx.commit().await?;
    committed(db, id).await
}

/// Moves a booked appointment to another free slot of the same doctor.
pub async fn reschedule(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    id: &str,
    starts_at: &str,
    reason: &str,
) -> Result<Appointment> {
    retry_contended(|| reschedule_once(db, user, addr, id, starts_at, reason)).await
}

async fn reschedule_once(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    id: &str,
    starts_at: &str,
    reason: &str,
) -> Result<Appointment> {
    let start = parse_instant("starts_at", starts_at)?;
    let reason = parse_reason("reason", Some(reason), true)?;
    let mut tx = db.write().await?;
    let a = visible(&mut tx, user, id).await?;
    db::lock_doctor(&mut tx, &a.doctor_id).await?;
    let doctor = db::doctor(&mut tx, &a.doctor_id).await?.ok_or(AppError::NotFound("doctor"))?;
    db::lock_patient(&mut tx, &a.patient_id).await?;
    if a.status != Status::Booked {
        return Err(AppError::Conflict(format!(
            "only a booked appointment can be moved; this one is {}",
            a.status.as_str()
        )));
    }
    let slot = check_slot(&mut tx, &doctor, start, Some(id)).await?;
    patient_is_free(&mut tx, &a.patient_id, &slot, Some(id)).await?;
    db::transition(&mut tx, id, Status::Booked, Some(slot), reason.as_deref()).await?;
    reminders::cancel(&mut tx, id).await?;
    reminders::queue(&mut tx, "appointment", id, &[&a.patient_id, &a.doctor_id], slot.start.as_millisecond())
        .await?;
    reminders::tell(&mut tx, Notice::Moved, id, [&a.patient_id, &a.doctor_id]).await?;
    let detail = format!("from={} to={}", a.starts_at, slot.start);
    audit::record(
        &mut tx,
        &Actor::user(user, addr),
        Event::new("appointment.reschedule")
            .object("appointment", id)
            .patient(Some(&a.patient_id))
            .detail(detail),
    )
    .await?;
    tx.commit().await?;
    committed(db, id).await
}

/// Marks how a booked appointment ended: clinicians only.
pub async fn set_status(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    id: &str,
    status: &str,
    reason: Option<&str>,
) -> Result<Appointment> {
    retry_contended(|| set_status_once(db, user, addr, id, status, reason)).await
}

async fn set_status_once(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    id: &str,
    status: &str,
    reason: Option<&str>,
) -> Result<Appointment> {
    let status = Status::parse(status)?;
    if !matches!(status, Status::Completed | Status::NoShow) {
        return Err(AppError::invalid("status", "use completed or no_show; cancel has its own endpoint"));
    }
    let reason = parse_reason("reason", reason, false)?;
    if !user.role.is_clinician() {
        return Err(AppError::Forbidden);
    }
    let mut tx = db.write().await?;
    let a = visible(&mut tx, user, id).await?;
    if !db::transition(&mut tx, id, status, None, reason.as_deref()).await? {
        return Err(AppError::Conflict(format!(
            "only a booked appointment can be marked; this one is {}",
            a.status.as_str()
        )));
    }
    audit::record(
        &mut tx,
        &Actor::user(user, addr),
        Event::new("appointment.status")
            .object("appointment", id)
            .patient(Some(&a.patient_id))
            .detail(status.as_str()),
    )
    .await?;
    tx.commit().await?;
    committed(db, id).await
}
