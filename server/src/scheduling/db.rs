//! Queries on doctors, availability and appointments.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::model::{Appointment, Doctor, Exception, Status, iso};
use super::slots::{Rule, Window};
use crate::db::{Arg, Db, Filters, WriteTx, new_id, now_ms};
use crate::error::Result;

/// A stored integer into the narrower type the domain uses; out of range is corrupt data.
fn narrow<T: TryFrom<i64>>(v: i64) -> Result<T> {
    T::try_from(v).map_err(|_| anyhow::anyhow!("stored value {v} is out of range").into())
}

fn ts(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// Makes sure a doctor account has its scheduling profile.
pub async fn ensure_doctor(conn: &mut AnyConnection, user_id: &str) -> Result<()> {
    sqlx::query("INSERT INTO doctors (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

fn doctor_from(r: &AnyRow) -> Result<Doctor> {
    Ok(Doctor {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        specialty: r.try_get("specialty")?,
        timezone: r.try_get("timezone")?,
        consult_minutes: r.try_get("consult_minutes")?,
    })
}

const DOCTOR_SELECT: &str = "SELECT u.id, u.name, u.specialty, u.timezone, d.consult_minutes
     FROM doctors d JOIN users u ON u.id = d.user_id
     WHERE u.active = 1 AND u.role = 'doctor'";

/// An active doctor.
pub async fn doctor(conn: &mut AnyConnection, id: &str) -> Result<Option<Doctor>> {
    let sql = format!("{DOCTOR_SELECT} AND u.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(doctor_from).transpose()
}

/// Active doctors, optionally of one specialty (case-insensitive).
pub async fn doctors(conn: &mut AnyConnection, specialty: Option<&str>) -> Result<Vec<Doctor>> {
    let sql = format!(
        "{DOCTOR_SELECT} AND ($1 IS NULL OR lower(u.specialty) = lower($1)) ORDER BY u.specialty, u.name"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(specialty).fetch_all(conn).await?;
    rows.iter().map(doctor_from).collect()
}

/// Distinct specialties of active doctors.
pub async fn specialties(conn: &mut AnyConnection) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT DISTINCT u.specialty FROM doctors d JOIN users u ON u.id = d.user_id
         WHERE u.active = 1 AND u.role = 'doctor' AND u.specialty IS NOT NULL ORDER BY u.specialty",
    )
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("specialty")?)).collect()
}

pub async fn rules(conn: &mut AnyConnection, doctor_id: &str) -> Result<Vec<Rule>> {
    let rows = sqlx::query(
        "SELECT weekday, start_minute, end_minute FROM availability_rules
         WHERE doctor_id = $1 ORDER BY weekday, start_minute",
    )
    .bind(doctor_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Rule {
                weekday: narrow(r.try_get::<i64, _>("weekday")?)?,
                start_minute: narrow(r.try_get::<i64, _>("start_minute")?)?,
                end_minute: narrow(r.try_get::<i64, _>("end_minute")?)?,
            })
        })
        .collect()
}

/// Replaces a doctor's weekly rules and slot length.
pub async fn replace_rules(
    conn: &mut AnyConnection,
    doctor_id: &str,
    rules: &[Rule],
    consult_minutes: i64,
) -> Result<()> {
    sqlx::query("DELETE FROM availability_rules WHERE doctor_id = $1")
        .bind(doctor_id)
        .execute(&mut *conn)
        .await?;
    for r in rules {
        sqlx::query(
            "INSERT INTO availability_rules (id, doctor_id, weekday, start_minute, end_minute)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(new_id())
        .bind(doctor_id)
        .bind(i64::from(r.weekday))
        .bind(i64::from(r.start_minute))
        .bind(i64::from(r.end_minute))
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("UPDATE doctors SET consult_minutes = $2 WHERE user_id = $1")
        .bind(doctor_id)
        .bind(consult_minutes)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Exceptions overlapping `[from, to)`.
pub async fn exceptions(
    conn: &mut AnyConnection,
    doctor_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<Exception>> {
    let rows = sqlx::query(
        "SELECT id, kind, starts_at, ends_at, reason FROM availability_exceptions
         WHERE doctor_id = $1 AND ends_at > $2 AND starts_at < $3 ORDER BY starts_at",
    )
    .bind(doctor_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Exception {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                starts_at: iso(r.try_get("starts_at")?),
                ends_at: iso(r.try_get("ends_at")?),
                reason: r.try_get("reason")?,
            })
        })
        .collect()
}

pub async fn insert_exception(
    conn: &mut AnyConnection,
    doctor_id: &str,
    kind: &str,
    window: Window,
    reason: Option<&str>,
) -> Result<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO availability_exceptions (id, doctor_id, kind, starts_at, ends_at, reason, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(doctor_id)
    .bind(kind)
    .bind(window.start.as_millisecond())
    .bind(window.end.as_millisecond())
    .bind(reason)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn delete_exception(conn: &mut AnyConnection, doctor_id: &str, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM availability_exceptions WHERE id = $1 AND doctor_id = $2")
        .bind(id)
        .bind(doctor_id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Exception windows overlapping `[from, to)`, as (extra hours, time off).
pub async fn exception_windows(
    conn: &mut AnyConnection,
    doctor_id: &str,
    from: i64,
    to: i64,
) -> Result<(Vec<Window>, Vec<Window>)> {
    let rows = sqlx::query(
        "SELECT kind, starts_at, ends_at FROM availability_exceptions
         WHERE doctor_id = $1 AND ends_at > $2 AND starts_at < $3",
    )
    .bind(doctor_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    let (mut extra, mut off) = (Vec::new(), Vec::new());
    for r in &rows {
        let w = Window::new(ts(r.try_get("starts_at")?), ts(r.try_get("ends_at")?));
        if r.try_get::<String, _>("kind")? == "extra" { extra.push(w) } else { off.push(w) }
    }
    Ok((extra, off))
}

/// Booked appointment windows of a doctor (or, with `as_patient`, of a patient) overlapping
/// `[from, to)`, leaving out one appointment (the one being moved).
pub async fn booked_windows(
    conn: &mut AnyConnection,
    person_id: &str,
    as_patient: bool,
    from: i64,
    to: i64,
    except_id: Option<&str>,
) -> Result<Vec<Window>> {
    // A doctor is also busy during scheduled case reviews they have not declined.
    let sql = if as_patient {
        "SELECT starts_at, ends_at FROM appointments WHERE patient_id = $1 AND status = 'booked'
           AND ends_at > $2 AND starts_at < $3 AND ($4 IS NULL OR id <> $4)"
    } else {
        "SELECT starts_at, ends_at FROM appointments WHERE doctor_id = $1 AND status = 'booked'
           AND ends_at > $2 AND starts_at < $3 AND ($4 IS NULL OR id <> $4)
         UNION ALL
         SELECT r.starts_at, r.ends_at FROM reviews r JOIN review_experts e ON e.review_id = r.id
         WHERE e.expert_id = $1 AND e.response <> 'declined' AND r.status = 'scheduled'
           AND r.ends_at > $2 AND r.starts_at < $3 AND ($4 IS NULL OR r.id <> $4)"
    };
    let rows = sqlx::query(sql).bind(person_id).bind(from).bind(to).bind(except_id).fetch_all(conn).await?;
    rows.iter().map(|r| Ok(Window::new(ts(r.try_get("starts_at")?), ts(r.try_get("ends_at")?)))).collect()
}

/// Takes the doctor's row lock for the rest of the transaction on PostgreSQL; false if there
/// is no such doctor.
pub async fn lock_doctor(tx: &mut WriteTx, doctor_id: &str) -> Result<bool> {
    if !tx.locks_rows() {
        return Ok(true); // the one writer holds the whole database; a missing doctor shows later
    }
    let r = sqlx::query("UPDATE doctors SET version = version + 1 WHERE user_id = $1")
        .bind(doctor_id)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Takes the patient's row lock (after the doctor's, always in that order).
pub async fn lock_patient(tx: &mut WriteTx, patient_id: &str) -> Result<()> {
    if tx.locks_rows() {
        sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
            .bind(patient_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// A new appointment's fields.
pub struct NewAppointment<'a> {
    pub doctor_id: &'a str,
    pub patient_id: &'a str,
    pub window: Window,
    pub reason: Option<&'a str>,
    pub created_by: &'a str,
}

/// Inserts a booked appointment and returns it as stored (names from the caller, no re-read).
pub async fn insert_appointment(
    conn: &mut AnyConnection,
    a: &NewAppointment<'_>,
    doctor_name: &str,
    patient_name: &str,
) -> Result<Appointment> {
    let id = new_id();
    let room_id = new_id();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO appointments (id, doctor_id, patient_id, starts_at, ends_at, status, room_id, reason,
                                   sequence, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'booked', $6, $7, 0, $8, $9, $9)",
    )
    .bind(&id)
    .bind(a.doctor_id)
    .bind(a.patient_id)
    .bind(a.window.start.as_millisecond())
    .bind(a.window.end.as_millisecond())
    .bind(&room_id)
    .bind(a.reason)
    .bind(a.created_by)
    .bind(now)
    .execute(conn)
    .await?;
    let (starts_ms, ends_ms) = (a.window.start.as_millisecond(), a.window.end.as_millisecond());
    Ok(Appointment {
        id,
        doctor_id: a.doctor_id.to_string(),
        doctor_name: doctor_name.to_string(),
        patient_id: a.patient_id.to_string(),
        patient_name: patient_name.to_string(),
        starts_at: iso(starts_ms),
        ends_at: iso(ends_ms),
        status: Status::Booked,
        room_id,
        reason: a.reason.map(str::to_string),
        status_reason: None,
        sequence: 0,
        starts_ms,
        ends_ms,
        updated_ms: now,
    })
}

const APPOINTMENT_SELECT: &str = "SELECT a.id, a.doctor_id, du.name AS doctor_name, a.patient_id,
        pu.name AS patient_name, a.starts_at, a.ends_at, a.status, a.room_id, a.reason,
        a.status_reason, a.sequence, a.updated_at
     FROM appointments a
     JOIN users du ON du.id = a.doctor_id
     JOIN users pu ON pu.id = a.patient_id";

fn appointment_from(r: &AnyRow) -> Result<Appointment> {
    let starts_ms: i64 = r.try_get("starts_at")?;
    let ends_ms: i64 = r.try_get("ends_at")?;
    Ok(Appointment {
        id: r.try_get("id")?,
        doctor_id: r.try_get("doctor_id")?,
        doctor_name: r.try_get("doctor_name")?,
        patient_id: r.try_get("patient_id")?,
        patient_name: r.try_get("patient_name")?,
        starts_at: iso(starts_ms),
        ends_at: iso(ends_ms),
        status: Status::parse(&r.try_get::<String, _>("status")?)?,
        room_id: r.try_get("room_id")?,
        reason: r.try_get("reason")?,
        status_reason: r.try_get("status_reason")?,
        sequence: r.try_get("sequence")?,
        starts_ms,
        ends_ms,
        updated_ms: r.try_get("updated_at")?,
    })
}

pub async fn appointment(conn: &mut AnyConnection, id: &str) -> Result<Option<Appointment>> {
    let sql = format!("{APPOINTMENT_SELECT} WHERE a.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(appointment_from).transpose()
}

/// The appointment whose room this is, if it is an appointment's.
pub async fn appointment_by_room(conn: &mut AnyConnection, room_id: &str) -> Result<Option<Appointment>> {
    let sql = format!("{APPOINTMENT_SELECT} WHERE a.room_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(room_id).fetch_optional(conn).await?;
    row.as_ref().map(appointment_from).transpose()
}

/// Filter for appointment lists; `None` fields do not restrict.
#[derive(Debug, Default)]
pub struct AppointmentFilter {
    pub doctor_id: Option<String>,
    pub patient_id: Option<String>,
    pub status: Option<Status>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub limit: i64,
}

pub async fn appointments(db: &Db, f: &AppointmentFilter) -> Result<Vec<Appointment>> {
    let mut w = Filters::default();
    w.add("a.doctor_id = ?", f.doctor_id.clone().map(Arg::Text));
    w.add("a.patient_id = ?", f.patient_id.clone().map(Arg::Text));
    w.add("a.status = ?", f.status.map(|s| Arg::Text(s.as_str().into())));
    w.add("a.ends_at > ?", f.from.map(Arg::Int));
    w.add("a.starts_at < ?", f.to.map(Arg::Int));
    let sql =
        format!("{APPOINTMENT_SELECT} {} ORDER BY a.starts_at, a.id LIMIT ${}", w.where_clause(), w.next());
    let rows = w.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).bind(f.limit).fetch_all(db.read()).await?;
    rows.iter().map(appointment_from).collect()
}

/// Changes status (and optionally time); bumps SEQUENCE. Only from `booked`; false otherwise.
pub async fn transition(
    conn: &mut AnyConnection,
    id: &str,
    status: Status,
    window: Option<Window>,
    status_reason: Option<&str>,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE appointments SET status = $2, status_reason = $3,
            starts_at = COALESCE($4, starts_at), ends_at = COALESCE($5, ends_at),
            sequence = sequence + 1, updated_at = $6
         WHERE id = $1 AND status = 'booked'",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(status_reason)
    .bind(window.map(|w| w.start.as_millisecond()))
    .bind(window.map(|w| w.end.as_millisecond()))
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
