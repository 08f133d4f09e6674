//! Who may open a patient's chart, the chart itself, and emergency access.
//!
//! Admins open any chart. A doctor opens the chart of a patient they care for (an appointment
//! with them, or a case review with them on its agenda); any other doctor only with emergency
//! access, which takes a reason and lasts [`EMERGENCY_HOURS`]. Everyone else gets 404, as for a
//! patient that does not exist. Every opening is an audit row naming its basis.

use jiff::civil::Date;

use super::db::{self, NewGrant};
use super::model::{
    Basis, ChartQuery, ChartView, EMERGENCY_HOURS, EmergencyGrant, EmergencyInput, EntryKind, MAX_ENTRIES,
    REASON_CHARS,
};
use crate::accounts::model::Role;
use crate::auth::CurrentUser;
use crate::db::{Db, now_ms};
use crate::error::{AppError, Result};
use crate::records::audit::{self, Actor, Event};

/// The caller's basis for opening `patient`'s chart, or 404.
async fn basis(
    db: &Db,
    user: &CurrentUser,
    patient: &str,
) -> Result<(super::model::ChartPatient, Basis, Option<String>)> {
    let mut conn = db.acquire().await?;
    let Some(p) = db::patient(&mut conn, patient).await? else { return Err(AppError::NotFound("patient")) };
    match user.role {
        Role::Admin => Ok((p, Basis::Admin, None)),
        Role::Doctor if db::cares_for(&mut conn, &user.id, patient).await? => Ok((p, Basis::Care, None)),
        Role::Doctor => match db::emergency(&mut conn, &user.id, patient, now_ms()).await? {
            Some(reason) => Ok((p, Basis::Emergency, Some(reason))),
            None => Err(AppError::NotFound("patient")),
        },
        Role::Patient => Err(AppError::NotFound("patient")),
    }
}

fn kinds(raw: Option<&str>) -> Result<Vec<EntryKind>> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(EntryKind::ALL.to_vec()) };
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let kind = EntryKind::ALL.into_iter().find(|k| k.as_str() == part).ok_or_else(|| {
            AppError::invalid(
                "kind",
                format!("{part:?} is not one of appointment, note, addendum, outcome, finding, image"),
            )
        })?;
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok(out)
}

fn day_ms(field: &str, raw: Option<&str>, end: bool) -> Result<Option<i64>> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(None) };
    let date: Date = crate::scheduling::model::parse_date(field, raw)?;
    let day = if end { date.tomorrow().map_err(|_| AppError::invalid(field, "out of range"))? } else { date };
    let ts = day
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|_| AppError::invalid(field, "out of range"))?
        .timestamp();
    Ok(Some(ts.as_millisecond()))
}

/// The chart, newest first, filtered; audited with its basis.
pub async fn open(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    patient: &str,
    q: &ChartQuery,
) -> Result<ChartView> {
    let kinds = kinds(q.kind.as_deref())?;
    let from = day_ms("from", q.from.as_deref(), false)?;
    let to = day_ms("to", q.to.as_deref(), true)?;
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(AppError::invalid("to", "the last day comes on or after the first"));
    }
    let (p, basis, reason) = basis(db, user, patient).await?;
    let (mut entries, demographics) = {
        let mut conn = db.acquire().await?;
        (db::entries(&mut conn, patient, &kinds).await?, db::demographics(&mut conn, patient).await?)
    };
    entries.retain(|e| from.is_none_or(|f| e.at >= f) && to.is_none_or(|t| e.at < t));
    entries.sort_by(|a, b| b.at.cmp(&a.at).then(a.kind.cmp(&b.kind)));
    let truncated = entries.len() > MAX_ENTRIES;
    entries.truncate(MAX_ENTRIES);
    let detail = match (&basis, &reason) {
        (Basis::Emergency, Some(r)) => format!("emergency: {r}"),
        (Basis::Care, _) => "care".to_string(),
        _ => "admin".to_string(),
    };
    let event = Event::new(if basis == Basis::Emergency { "chart.read_emergency" } else { "chart.read" })
        .object("patient", patient)
        .patient(Some(patient))
        .detail(detail);
    audit::record_read(db, &Actor::user(user, addr), event).await?;
    Ok(ChartView { patient: p, demographics, basis, entries, truncated })
}

/// Grants `user` emergency access to `patient`'s chart for [`EMERGENCY_HOURS`].
pub async fn emergency_access(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    patient: &str,
    input: EmergencyInput,
) -> Result<EmergencyGrant> {
    if user.role != Role::Doctor {
        return Err(AppError::Forbidden);
    }
    let reason = input.reason.trim().to_string();
    if !REASON_CHARS.contains(&reason.chars().count()) {
        return Err(AppError::invalid("reason", "say why, in 10 to 500 characters"));
    }
    let p = {
        let mut conn = db.acquire().await?;
        let Some(p) = db::patient(&mut conn, patient).await? else {
            return Err(AppError::NotFound("patient"));
        };
        if db::cares_for(&mut conn, &user.id, patient).await? {
            return Err(AppError::Conflict(
                "you care for this patient: open the chart without emergency access".into(),
            ));
        }
        p
    };
    let now = now_ms();
    let expires_at = now + EMERGENCY_HOURS * 3_600_000;
    let mut tx = db.write().await?;
    let id = db::grant(
        &mut tx,
        &NewGrant {
            user_id: &user.id,
            patient_id: patient,
            reason: &reason,
            granted_at: now,
            expires_at,
            client_addr: addr,
        },
    )
    .await?;
    let event = Event::new("chart.emergency_access")
        .object("patient", patient)
        .patient(Some(patient))
        .detail(reason.clone());
    audit::record(&mut tx, &Actor::user(user, addr), event).await?;
    tx.commit().await?;
    Ok(EmergencyGrant {
        id,
        user_id: user.id.clone(),
        user_name: user.name.clone(),
        patient_id: p.id,
        patient_name: p.name,
        reason,
        granted_at: now,
        expires_at,
    })
}

/// The admin report: emergency accesses of the last `days` days.
pub async fn report(db: &Db, days: i64) -> Result<Vec<EmergencyGrant>> {
    if !(1..=366).contains(&days) {
        return Err(AppError::invalid("days", "1 to 366 days"));
    }
    let since = now_ms() - days * 86_400_000;
    db::grants(&mut *db.acquire().await?, since, 500).await
}

/// The caller's own record (patients only): the timeline and their signed notes without the
/// subjective and objective sections. Audited as the patient reading their record.
pub async fn own(db: &Db, user: &CurrentUser, addr: &str) -> Result<super::model::OwnRecord> {
    if user.role != Role::Patient {
        return Err(AppError::Forbidden);
    }
    let mut conn = db.acquire().await?;
    let patient = db::patient(&mut conn, &user.id).await?.ok_or(AppError::NotFound("patient"))?;
    let mut entries = db::entries(&mut conn, &user.id, &EntryKind::ALL).await?;
    entries.sort_by(|a, b| b.at.cmp(&a.at).then(a.kind.cmp(&b.kind)));
    let mut notes = crate::records::notes::db::signed_for_patient(&mut conn, &user.id).await?;
    drop(conn);
    for n in &mut notes {
        n.subjective = None;
        n.objective = None;
    }
    let event = Event::new("record.read_own").object("patient", &user.id).patient(Some(&user.id));
    audit::record_read(db, &Actor::user(user, addr), event).await?;
    Ok(super::model::OwnRecord { patient, generated_at: now_ms(), entries, notes })
}

/// Checks demographics: trimmed, empty fields unknown, each within its shape.
pub fn checked(d: super::model::Demographics) -> Result<super::model::Demographics> {
    let clean = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let birth_date = clean(d.birth_date);
    if let Some(b) = &birth_date {
        let date = crate::scheduling::model::parse_date("birth_date", b)?;
        if date > jiff::Zoned::now().date() {
            return Err(AppError::invalid("birth_date", "a date of birth is not in the future"));
        }
    }
    let phone = clean(d.phone);
    if phone.as_ref().is_some_and(|p| {
        !(3..=32).contains(&p.chars().count())
            || !p.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
            || !p.chars().any(|c| c.is_ascii_digit())
    }) {
        return Err(AppError::invalid("phone", "digits, spaces and + - ( ) . only, 3 to 32 characters"));
    }
    let record_number = clean(d.record_number);
    if record_number.as_ref().is_some_and(|r| r.chars().count() > 64 || r.contains(['\n', '\r', '\t'])) {
        return Err(AppError::invalid("record_number", "one line of at most 64 characters"));
    }
    let preferred_language = clean(d.preferred_language);
    if let Some(tag) = &preferred_language {
        let mut parts = tag.split('-');
        let primary_ok = parts
            .next()
            .is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
        let rest_ok =
            parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !primary_ok || !rest_ok || tag.len() > 35 {
            return Err(AppError::invalid(
                "preferred_language",
                "a language tag such as de, zh-Hans or pt-BR",
            ));
        }
    }
    Ok(super::model::Demographics { birth_date, sex: d.sex, phone, record_number, preferred_language })
}

/// Replaces a patient's demographics: admins and the doctors who care for the patient (404 for
/// anyone else, as for the chart).
pub async fn save_demographics(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    patient: &str,
    input: super::model::Demographics,
) -> Result<super::model::Demographics> {
    let (_, basis, _) = basis(db, user, patient).await?;
    if basis == Basis::Emergency {
        // Emergency access is for reading in an emergency, not for keeping the record.
        return Err(AppError::Forbidden);
    }
    let d = checked(input)?;
    let mut tx = db.write().await?;
    db::save_demographics(&mut tx, patient, &d, &user.id, now_ms()).await?;
    let event = Event::new("patient.demographics").object("patient", patient).patient(Some(patient));
    audit::record(&mut tx, &Actor::user(user, addr), event).await?;
    tx.commit().await?;
    Ok(d)
}
