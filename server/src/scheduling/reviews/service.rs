//! Case-review rules: who may plan, see and answer; the time finder across experts' zones;
//! fixing a time under the experts' row locks; audit rows for every case (patient data).

use jiff::{SignedDuration, Timestamp};
use sqlx::AnyConnection;

use super::db::{self, NewReviewRow};
use super::model::{LocalTime, NewCase, NewReview, Proposal, Review};
use crate::accounts::model::Role;
use crate::auth::CurrentUser;
use crate::db::Db;
use crate::error::{AppError, Result};
use crate::records::audit::{self, Actor, Event};
use crate::scheduling::db as sdb;
use crate::scheduling::handlers::{RangeQuery, day_range};
use crate::scheduling::model::{Doctor, parse_instant, parse_reason};
use crate::scheduling::reminders;
use crate::scheduling::service::free_windows;
use crate::scheduling::slots::{Window, common_starts, merge};

/// Proposals are laid on a quarter-hour grid.
const STEP: SignedDuration = SignedDuration::from_mins(15);
const MAX_EXPERTS: usize = 30;

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn is_coordinator(user: &CurrentUser, r: &Review) -> bool {
    user.role == Role::Admin || r.coordinator_id == user.id
}

fn may_see(user: &CurrentUser, r: &Review) -> bool {
    is_coordinator(user, r) || r.experts.iter().any(|e| e.expert_id == user.id)
}

/// A review its coordinator, its invited experts and admins may see (others get 404), read
/// without auditing: for callers that show none of its patient data or audit it themselves.
pub async fn seen_by(db: &Db, user: &CurrentUser, id: &str) -> Result<Review> {
    visible(&mut *db.acquire().await?, user, id).await
}

/// Loads a review the user may see; others get 404.
async fn visible(conn: &mut AnyConnection, user: &CurrentUser, id: &str) -> Result<Review> {
    match db::load(conn, id).await? {
        Some(r) if may_see(user, &r) => Ok(r),
        _ => Err(AppError::NotFound("review")),
    }
}

/// A review as stored, read back once its write has committed, on a read connection: the
/// write lease holds only the writing statements.
async fn committed(db: &Db, id: &str) -> Result<Review> {
    db::load(&mut *db.acquire().await?, id).await?.ok_or(AppError::NotFound("review"))
}

/// Creates a review in `planning` state (clinicians).
pub async fn create(db: &Db, user: &CurrentUser, addr: &str, input: NewReview) -> Result<Review> {
    if !user.role.is_clinician() {
        return Err(AppError::Forbidden);
    }
    let title = input.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(AppError::invalid("title", "a title of 1 to 200 characters"));
    }
    if !(15..=480).contains(&input.duration_minutes) {
        return Err(AppError::invalid("duration_minutes", "a review lasts 15 to 480 minutes"));
    }
    let range =
        RangeQuery { from: Some(input.from.clone()), to: Some(input.to.clone()), tz: input.tz.clone() };
    let (_, from, to) = day_range(&range, &user.timezone)?;
    let mut experts = input.experts.clone();
    experts.sort();
    experts.dedup();
    let mut specialties: Vec<String> =
        input.specialties.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    specialties.sort();
    specialties.dedup();
    if experts.is_empty() && specialties.is_empty() {
        return Err(AppError::invalid("experts", "name at least one expert or one specialty"));
    }
    if experts.len() > MAX_EXPERTS {
        return Err(AppError::invalid("experts", format!("at most {MAX_EXPERTS} experts")));
    }
    // Checked on a read connection, so the write lease holds only the inserts.
    let mut conn = db.acquire().await?;
    for e in &experts {
        if sdb::doctor(&mut conn, e).await?.is_none() {
            return Err(AppError::invalid("experts", format!("{e} is not an active doctor")));
        }
    }
    let known = sdb::specialties(&mut conn).await?;
    drop(conn);
    for s in &specialties {
        if !known.iter().any(|k| k.eq_ignore_ascii_case(s)) {
            return Err(AppError::invalid("specialties", format!("no active doctor practises {s}")));
        }
    }
    let mut tx = db.write().await?;
    let row = NewReviewRow {
        title,
        coordinator_id: &user.id,
        duration_minutes: input.duration_minutes,
        window: (from.as_millisecond(), to.as_millisecond()),
    };
    let id = db::insert(&mut tx, &row, &experts, &specialties).await?;
    audit::record(&mut tx, &Actor::user(user, addr), Event::new("review.create").object("review", &id))
        .await?;
    tx.commit().await?;
    committed(db, &id).await
}

/// One review; reading its cases is audited per patient.
pub async fn get(db: &Db, user: &CurrentUser, addr: &str, id: &str) -> Result<Review> {
    let r = visible(&mut *db.acquire().await?, user, id).await?;
    if !r.cases.is_empty() {
        let mut tx = db.write().await?;
        for c in &r.cases {
            audit::record(
                &mut tx,
                &Actor::user(user, addr),
                Event::new("review.case_read").object("review", &r.id).patient(Some(&c.patient_id)),
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(r)
}

/// Reviews the user coordinates or is invited to (admins: all), without reading cases.
/// At most `limit` (capped at 200), newest first.
pub async fn list(db: &Db, user: &CurrentUser, limit: i64) -> Result<Vec<Review>> {
    let scope = (user.role != Role::Admin).then_some(user.id.as_str());
    let ids = db::ids_for(db, scope, limit.clamp(1, 200)).await?;
    let mut conn = db.acquire().await?;
    let mut out = Vec::new();
    for id in ids {
        if let Some(mut r) = db::load(&mut conn, &id).await? {
            r.cases.clear();
            out.push(r);
        }
    }
    Ok(out)
}

/// Adds a patient case to the agenda (coordinator or admin).
pub async fn add_case(db: &Db, user: &CurrentUser, addr: &str, id: &str, input: NewCase) -> Result<Review> {
    let question = parse_reason("question", Some(&input.question), true)?.unwrap_or_default();
    let notes = match input.notes.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(n) if n.chars().count() > 5000 => {
            return Err(AppError::invalid("notes", "at most 5000 characters"));
        }
        other => other.map(str::to_string),
    };
    // Who may add, and to whom: read before the write lease, which holds only the inserts.
    let mut conn = db.acquire().await?;
    let r = visible(&mut conn, user, id).await?;
    if !is_coordinator(user, &r) {
        return Err(AppError::Forbidden);
    }
    match crate::accounts::db::find(&mut conn, &input.patient_id).await? {
        Some(u) if u.role == Role::Patient && u.active => {}
        _ => return Err(AppError::invalid("patient_id", "no active patient has this id")),
    }
    drop(conn);
    let mut tx = db.write().await?;
    let case_id = db::add_case(&mut tx, id, &input.patient_id, &question, notes.as_deref()).await?;
    audit::record(
        &mut tx,
        &Actor::user(user, addr),
        Event::new("review.case_add").object("review_case", &case_id).patient(Some(&input.patient_id)),
    )
    .await?;
    tx.commit().await?;
    committed(db, id).await
}

/// The people a proposal must suit: each named expert, and for each open specialty the
/// doctors who could cover it.
struct Panel {
    experts: Vec<Doctor>,
    specialties: Vec<(String, Vec<Doctor>)>,
}

async fn panel(conn: &mut AnyConnection, r: &Review) -> Result<Panel> {
    let mut experts = Vec::new();
    for e in &r.experts {
        if let Some(d) = sdb::doctor(conn, &e.expert_id).await? {
            experts.push(d);
        }
    }
    let mut specialties = Vec::new();
    for s in &r.specialties {
        let doctors = sdb::doctors(conn, Some(s))
            .await?
            .into_iter()
            .filter(|d| !experts.iter().any(|e| e.id == d.id))
            .collect();
        specialties.push((s.clone(), doctors));
    }
    Ok(Panel { experts, specialties })
}

/// Earliest common times inside the review's window: every named expert free, and at least one
/// doctor of every required specialty free, each within their own weekly hours.
pub async fn proposals(db: &Db, user: &CurrentUser, id: &str, limit: usize) -> Result<Vec<Proposal>> {
    let mut conn = db.acquire().await?;
    let r = visible(&mut conn, user, id).await?;
    if !is_coordinator(user, &r) {
        return Err(AppError::Forbidden);
    }
    let from = ts(r.window_ms.0).max(Timestamp::now());
    let to = ts(r.window_ms.1);
    if from >= to || r.status == "cancelled" {
        return Ok(Vec::new());
    }
    let p = panel(&mut conn, &r).await?;
    let mut free_of: Vec<Vec<Window>> = Vec::new();
    for d in &p.experts {
        free_of.push(free_windows(&mut conn, d, from, to, Some(&r.id)).await?);
    }
    let mut per_specialty_doctor: Vec<Vec<(Doctor, Vec<Window>)>> = Vec::new();
    for (_, doctors) in &p.specialties {
        let mut each = Vec::new();
        for d in doctors {
            each.push((d.clone(), free_windows(&mut conn, d, from, to, Some(&r.id)).await?));
        }
        free_of.push(merge(each.iter().flat_map(|(_, w)| w.iter().copied()).collect()));
        per_specialty_doctor.push(each);
    }
    let length = SignedDuration::from_mins(r.duration_minutes);
    let starts = common_starts(&free_of, length, STEP, limit.clamp(1, 50));
    Ok(starts
        .iter()
        .map(|w| {
            let mut attendees: Vec<LocalTime> = p.experts.iter().map(|d| local(d, None, w)).collect();
            for ((specialty, _), each) in p.specialties.iter().zip(&per_specialty_doctor) {
                if let Some((d, _)) = each.iter().find(|(_, free)| free.iter().any(|f| f.contains(w))) {
                    attendees.push(local(d, Some(specialty), w));
                }
            }
            Proposal { starts_at: w.start.to_string(), ends_at: w.end.to_string(), attendees }
        })
        .collect())
}

fn local(d: &Doctor, specialty: Option<&String>, w: &Window) -> LocalTime {
    LocalTime {
        expert_id: d.id.clone(),
        name: d.name.clone(),
        for_specialty: specialty.cloned(),
        timezone: d.timezone.clone(),
        local_start: w.start.to_zoned(crate::web::time::zone(&d.timezone)).to_string(),
    }
}

/// Fixes the review at `starts_at` if that is still a common free time; doctors found for the
/// required specialties join as experts; everyone is asked (again) to accept.
pub async fn schedule(db: &Db, user: &CurrentUser, addr: &str, id: &str, starts_at: &str) -> Result<Review> {
    crate::db::retry_contended(|| schedule_once(db, user, addr, id, starts_at)).await
}

async fn schedule_once(db: &Db, user: &CurrentUser, addr: &str, id: &str, starts_at: &str) -> Result<Review> {
    let start = parse_instant("starts_at", starts_at)?;
    let proposals = proposals(db, user, id, 50).await?;
    let mut conn = db.acquire().await?;
    let r = visible(&mut conn, user, id).await?;
    drop(conn);
    if r.status == "cancelled" {
        return Err(AppError::Conflict("this review was cancelled".into()));
    }
    let end =
        start.checked_add(SignedDuration::from_mins(r.duration_minutes)).map_err(anyhow::Error::from)?;
    let chosen = proposals.iter().find(|p| p.starts_at == start.to_string());
    let attendees: Vec<String> = match chosen {
        Some(p) => p.attendees.iter().map(|a| a.expert_id.clone()).collect(),
        None => {
            return Err(AppError::invalid(
                "starts_at",
                "not a common free time of the experts; choose one of the proposals",
            ));
        }
    };
    let mut tx = db.write().await?;
    let mut locked = attendees.clone();
    locked.sort();
    for e in &locked {
        sdb::lock_doctor(&mut tx, e).await?;
    }
    // Re-check under the locks: someone may have booked an expert meanwhile.
    for e in &attendees {
        let busy =
            sdb::booked_windows(&mut tx, e, false, start.as_millisecond(), end.as_millisecond(), Some(&r.id))
                .await?;
        if !busy.is_empty() {
            return Err(AppError::Conflict(
                "an expert has just been booked at this time; find a time again".into(),
            ));
        }
    }
    for e in &attendees {
        db::add_expert(&mut tx, id, e).await?;
    }
    db::set_time(&mut tx, id, start.as_millisecond(), end.as_millisecond()).await?;
    let mut recipients: Vec<&str> = attendees.iter().map(String::as_str).collect();
    if !recipients.contains(&r.coordinator_id.as_str()) {
        recipients.push(&r.coordinator_id);
    }
    reminders::cancel(&mut tx, id).await?;
    reminders::queue(&mut tx, "review", id, &recipients, start.as_millisecond()).await?;
    audit::record(
        &mut tx,
        &Actor::user(user, addr),
        Event::new("review.schedule").object("review", id).detail(start.to_string()),
    )
    .await?;
    tx.commit().await?;
    committed(db, id).await
}

/// An invited expert accepts or declines a scheduled review.
pub async fn rsvp(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    id: &str,
    response: &str,
    comment: Option<&str>,
) -> Result<Review> {
    if !matches!(response, "accepted" | "declined") {
        return Err(AppError::invalid("response", "accepted or declined"));
    }
    let comment = parse_reason("comment", comment, false)?;
    let mut tx = db.write().await?;
    let r = visible(&mut tx, user, id).await?;
    if !r.experts.iter().any(|e| e.expert_id == user.id) {
        return Err(AppError::Forbidden);
    }
    if r.status != "scheduled" {
        return Err(AppError::Conflict("answer once a time is fixed".into()));
    }
    db::respond(&mut tx, id, &user.id, response, comment.as_deref()).await?;
    audit::record(
        &mut tx,
        &Actor::user(user, addr),
        Event::new("review.rsvp").object("review", id).detail(response),
    )
    .await?;
    tx.commit().await?;
    committed(db, id).await
}

/// Cancels a review (coordinator or admin).
pub async fn cancel(db: &Db, user: &CurrentUser, addr: &str, id: &str) -> Result<Review> {
    let mut tx = db.write().await?;
    let r = visible(&mut tx, user, id).await?;
    if !is_coordinator(user, &r) {
        return Err(AppError::Forbidden);
    }
    if !db::cancel(&mut tx, id).await? {
        return Err(AppError::Conflict("already cancelled".into()));
    }
    reminders::cancel(&mut tx, id).await?;
    audit::record(&mut tx, &Actor::user(user, addr), Event::new("review.cancel").object("review", id))
        .await?;
    tx.commit().await?;
    committed(db, id).await
}
