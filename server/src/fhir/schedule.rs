//! `Schedule` and `Slot`: a doctor's bookable time. One Schedule per doctor (the doctor's id);
//! its Slots are the free ones the booking page offers, computed from the weekly hours, time
//! off and bookings as the scheduling domain computes them, so they are never stored and an
//! id (`{doctor}-{start ms}`) names a start. Book one with `POST /api/v1/appointments`.
//! Readable by every signed-in user, as the booking page is.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::AnyConnection as AnyConn;

use super::model::{CodeableConcept, Meta, Reference, Resource};
use super::outcome::{FhirError, FhirResult};
use super::search::{self, Cursor, Prefix, SearchQuery, instant};
use crate::db::{Db, now_ms};
use crate::scheduling::model::Doctor;

/// Search parameters of `Slot` besides the common ones.
pub const SLOT_PARAMS: [&str; 3] = ["schedule", "start", "status"];
/// Search parameters of `Schedule` besides the common ones.
pub const SCHEDULE_PARAMS: [&str; 1] = ["actor"];
/// How far ahead a Schedule plans, and the widest `start` range one Slot search covers.
pub const HORIZON_DAYS: i64 = 31;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub id: String,
    pub meta: Meta,
    pub active: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub specialty: Vec<CodeableConcept>,
    pub actor: Vec<Reference>,
    pub planning_horizon: Horizon,
    pub comment: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Horizon {
    pub start: String,
    pub end: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    pub id: String,
    pub meta: Meta,
    pub schedule: Reference,
    pub status: &'static str,
    pub start: String,
    pub end: String,
}

fn schedule_of(d: &Doctor) -> Schedule {
    let now = now_ms();
    Schedule {
        id: d.id.clone(),
        meta: Meta { version_id: None, last_updated: instant(now) },
        active: true,
        specialty: d.specialty.iter().map(|s| CodeableConcept::text(s.clone())).collect(),
        actor: vec![Reference::to("Practitioner", &d.id, Some(&d.name))],
        planning_horizon: Horizon { start: instant(now), end: instant(now + HORIZON_DAYS * 86_400_000) },
        comment: format!(
            "Free {}-minute consultations; book one with POST /api/v1/appointments",
            d.consult_minutes
        ),
    }
}

fn slot_of(doctor: &str, start: Timestamp, end: Timestamp) -> Slot {
    let ms = start.as_millisecond();
    Slot {
        id: format!("{doctor}-{ms}"),
        meta: Meta { version_id: None, last_updated: instant(now_ms()) },
        schedule: Reference::to("Schedule", doctor, None),
        status: "free",
        start: instant(ms),
        end: instant(end.as_millisecond()),
    }
}

async fn doctor(conn: &mut AnyConn, id: &str) -> FhirResult<Option<Doctor>> {
    Ok(crate::scheduling::db::doctor(conn, id).await?)
}

/// The free slots of `d` starting in `[from, to)`.
async fn free(conn: &mut AnyConn, d: &Doctor, from: i64, to: i64) -> FhirResult<Vec<Slot>> {
    let ts =
        |ms: i64| Timestamp::from_millisecond(ms).map_err(|_| FhirError::bad_param("start", "out of range"));
    let windows = crate::scheduling::service::slots(conn, d, ts(from)?, ts(to)?).await?;
    Ok(windows.into_iter().map(|w| slot_of(&d.id, w.start, w.end)).collect())
}

/// `Schedule/{id}` (a doctor's id).
pub async fn read_schedule(db: &Db, id: &str) -> FhirResult<Option<Resource>> {
    Ok(doctor(&mut *db.acquire().await?, id).await?.map(|d| Resource::Schedule(schedule_of(&d))))
}

/// `Slot/{doctor}-{ms}`: served while it is free.
pub async fn read_slot(db: &Db, id: &str) -> FhirResult<Option<Resource>> {
    let Some((doctor_id, ms)) = id.rsplit_once('-').and_then(|(d, ms)| Some((d, ms.parse::<i64>().ok()?)))
    else {
        return Ok(None);
    };
    let mut conn = db.acquire().await?;
    let Some(d) = doctor(&mut conn, doctor_id).await? else { return Ok(None) };
    Ok(free(&mut conn, &d, ms, ms + 1).await?.into_iter().find(|s| s.id == id).map(Resource::Slot))
}

/// One page of a `Schedule` search: the doctors, by `actor=Practitioner/…` or `_id`.
pub async fn search_schedules(db: &Db, q: &SearchQuery) -> FhirResult<search::Page> {
    let mut ids = Vec::new();
    for raw in q.values("actor").chain(q.values("_id")) {
        for v in raw.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            ids.push(search::reference_id("Practitioner", v)?);
        }
    }
    let mut conn = db.acquire().await?;
    let mut doctors = crate::scheduling::db::doctors(&mut conn, None).await?;
    if !ids.is_empty() {
        doctors.retain(|d| ids.contains(&d.id));
    }
    doctors.sort_by(|a, b| a.id.cmp(&b.id));
    let total = doctors.len() as u64;
    page(
        "Schedule",
        q,
        total,
        doctors.iter().map(|d| (d.id.clone(), Resource::Schedule(schedule_of(d)))).collect(),
    )
}

/// One page of a `Slot` search: `schedule=Schedule/{doctor}` (required), `start` with
/// prefixes (from now and at most [`HORIZON_DAYS`] ahead by default), `status=free`.
pub async fn search_slots(db: &Db, q: &SearchQuery) -> FhirResult<search::Page> {
    let Some(schedule) = q.single("schedule")? else {
        return Err(FhirError::bad_param("schedule", "name the schedule: schedule=Schedule/{doctor id}"));
    };
    let doctor_id = search::reference_id("Schedule", schedule)?;
    let (mut from, mut to): (Option<i64>, Option<i64>) = (None, None);
    let later = |a: Option<i64>, b: i64| Some(a.map_or(b, |a| a.max(b)));
    let sooner = |a: Option<i64>, b: i64| Some(a.map_or(b, |a| a.min(b)));
    for raw in q.values("start") {
        let (prefix, lo, hi) = search::date_value("start", raw)?;
        match prefix {
            Prefix::Ge => from = later(from, lo),
            Prefix::Gt => from = later(from, hi),
            Prefix::Lt => to = sooner(to, lo),
            Prefix::Le => to = sooner(to, hi),
            Prefix::Eq => {
                from = later(from, lo);
                to = sooner(to, hi);
            }
        }
    }
    // From now (a past slot is not free) and a month on, unless asked otherwise.
    let from = from.unwrap_or_else(now_ms);
    let to = to.unwrap_or(from + HORIZON_DAYS * 86_400_000);
    if to - from > HORIZON_DAYS * 86_400_000 {
        return Err(FhirError::bad_param(
            "start",
            format!("ask for at most {HORIZON_DAYS} days of slots at once"),
        ));
    }
    let wanted_free = match q.single("status")? {
        None | Some("free") => true,
        Some("busy" | "busy-unavailable" | "busy-tentative" | "entered-in-error") => false,
        Some(other) => {
            return Err(FhirError::bad_param("status", format!("{other:?} is not an R4 slot status")));
        }
    };
    let mut conn = db.acquire().await?;
    let Some(d) = doctor(&mut conn, &doctor_id).await? else { return Ok(empty_page("Slot")) };
    let slots = if wanted_free && from < to { free(&mut conn, &d, from, to).await? } else { Vec::new() };
    drop(conn);
    let total = slots.len() as u64;
    // Slot ids end in their start, so the id order is the time order for one doctor.
    let keyed = slots.into_iter().map(|s| (slot_key(&s.id), Resource::Slot(s))).collect();
    page("Slot", q, total, keyed)
}

/// A slot's place in time order: its start (the id's last part), zero-padded.
fn slot_key(id: &str) -> String {
    format!("{:020}", id.rsplit('-').next().and_then(|m| m.parse::<i64>().ok()).unwrap_or(0))
}

fn empty_page(kind: &'static str) -> search::Page {
    search::Page {
        kind,
        total: 0,
        matches: Vec::new(),
        includes: Vec::new(),
        has_prev: false,
        has_next: false,
    }
}

/// A page of computed resources, each with a sort key, walked by the same cursor as stored ones.
fn page(
    kind: &'static str,
    q: &SearchQuery,
    total: u64,
    mut all: Vec<(String, Resource)>,
) -> FhirResult<search::Page> {
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let key_of = |id: &str| -> String {
        match kind {
            "Slot" => slot_key(id),
            _ => id.to_string(),
        }
    };
    let (rows, has_prev, has_next) = match &q.cursor {
        None => {
            let more = all.len() > q.count;
            all.truncate(q.count);
            (all, false, more)
        }
        Some(Cursor::After(id)) => {
            let k = key_of(id);
            let mut rest: Vec<_> = all.into_iter().filter(|(key, _)| *key > k).collect();
            let more = rest.len() > q.count;
            rest.truncate(q.count);
            (rest, true, more)
        }
        Some(Cursor::Before(id)) => {
            let k = key_of(id);
            let mut rest: Vec<_> = all.into_iter().filter(|(key, _)| *key < k).collect();
            let more = rest.len() > q.count;
            let skip = rest.len().saturating_sub(q.count);
            rest.drain(..skip);
            (rest, more, true)
        }
    };
    let matches = if q.count == 0 { Vec::new() } else { rows.into_iter().map(|(_, r)| r).collect() };
    Ok(search::Page { kind, total, matches, includes: Vec::new(), has_prev, has_next })
}
