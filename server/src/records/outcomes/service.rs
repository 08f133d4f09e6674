//! The flows of a case outcome: read it, save a draft, sign it.
//!
//! Who: the review's coordinator and its experts (not those who declined) write drafts, in the
//! call or after it; the coordinator signs (an expert who accepted, when the coordinator is not
//! a clinician). Admins read but never write. The case's
//! patient reads a signed outcome without the discussion. Anyone else gets 404.

use super::db::{self, Case};
use super::model::{OutcomeInput, OutcomeStatus, OutcomeView, SignOutcome, SignedOutcome, check};
use crate::accounts::model::Role;
use crate::auth::CurrentUser;
use crate::db::{Db, now_ms};
use crate::error::{AppError, Result};
use crate::records::audit::{self, Actor, Event};
use crate::records::notes::db::Saver;
use crate::scheduling::reviews::model::{Review, ReviewCase};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Coordinator,
    Expert,
    Admin,
    Patient,
}

fn is_panel_member(review: &Review, user_id: &str) -> bool {
    review.coordinator_id == user_id
        || review.experts.iter().any(|e| e.expert_id == user_id && e.response != "declined")
}

async fn standing(
    db: &Db,
    user: &CurrentUser,
    review_id: &str,
    case_id: &str,
) -> Result<(Review, ReviewCase, Standing)> {
    let review = crate::scheduling::reviews::db::load(&mut *db.acquire().await?, review_id).await?;
    let Some(review) = review else { return Err(AppError::NotFound("review")) };
    let Some(case) = review.cases.iter().find(|c| c.id == case_id).cloned() else {
        return Err(AppError::NotFound("case"));
    };
    let standing = match user.role {
        Role::Admin => Standing::Admin,
        Role::Doctor if review.coordinator_id == user.id => Standing::Coordinator,
        Role::Doctor if is_panel_member(&review, &user.id) => Standing::Expert,
        Role::Patient if case.patient_id == user.id => Standing::Patient,
        _ => return Err(AppError::NotFound("review")),
    };
    Ok((review, case, standing))
}

fn empty(review: &Review, case: &ReviewCase) -> OutcomeView {
    OutcomeView {
        id: None,
        review_id: review.id.clone(),
        case_id: case.id.clone(),
        patient_id: case.patient_id.clone(),
        status: OutcomeStatus::Empty,
        version: 0,
        presenter_id: None,
        presenter: None,
        question: case.question.clone(),
        discussion: Some(String::new()),
        recommendation: None,
        recommendation_text: String::new(),
        responsible_id: None,
        responsible: None,
        saved_by: None,
        saved_at: None,
        signed_by: None,
        signed_at: None,
        content_sha256: None,
    }
}

pub async fn read(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    review_id: &str,
    case_id: &str,
) -> Result<OutcomeView> {
    let (review, case, standing) = standing(db, user, review_id, case_id).await?;
    let stored = db::for_case(&mut *db.acquire().await?, case_id).await?;
    let view = match (standing, stored) {
        (Standing::Patient, Some(mut o)) if o.status == OutcomeStatus::Signed => {
            o.discussion = None;
            o
        }
        (Standing::Patient, _) => return Err(AppError::NotFound("outcome")),
        (_, Some(o)) => o,
        (_, None) => empty(&review, &case),
    };
    let event = Event::new("outcome.read")
        .object("review_case", case_id)
        .patient(Some(&case.patient_id))
        .detail(format!("review {review_id} version {}", view.version));
    audit::record_read(db, &Actor::user(user, addr), event).await?;
    Ok(view)
}

/// The outcomes of all of a review's cases, in agenda order, for someone who may see the
/// review (its clinicians and admins): one query, and one audit row per patient whose
/// outcome was read, in one transaction.
pub async fn read_review(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    review: &Review,
) -> Result<Vec<OutcomeView>> {
    let on_panel = is_panel_member(review, &user.id) || review.experts.iter().any(|e| e.expert_id == user.id);
    if user.role != Role::Admin && !on_panel {
        return Err(AppError::NotFound("review"));
    }
    let mut saved = db::for_review(&mut *db.acquire().await?, &review.id).await?;
    let views: Vec<OutcomeView> = review
        .cases
        .iter()
        .map(|c| match saved.iter().position(|o| o.case_id == c.id) {
            Some(i) => saved.swap_remove(i),
            None => empty(review, c),
        })
        .collect();
    let mut patients: Vec<&str> =
        views.iter().filter(|o| o.id.is_some()).map(|o| o.patient_id.as_str()).collect();
    patients.sort_unstable();
    patients.dedup();
    if !patients.is_empty() {
        let mut tx = db.write().await?;
        let actor = Actor::user(user, addr);
        for patient in patients {
            let event = Event::new("outcome.read").object("review", &review.id).patient(Some(patient));
            audit::record(&mut tx, &actor, event).await?;
        }
        tx.commit().await?;
    }
    Ok(views)
}

/// The coordinator signs; when the coordinator is not a clinician (an admin planned the
/// review), an expert who accepted the invitation signs in their place.
pub async fn may_sign(db: &Db, review: &Review, user: &CurrentUser, standing: Standing) -> Result<bool> {
    Ok(match standing {
        Standing::Coordinator => true,
        Standing::Expert => {
            review.experts.iter().any(|e| e.expert_id == user.id && e.response == "accepted")
                && !db::is_doctor(&mut *db.acquire().await?, &review.coordinator_id).await?
        }
        Standing::Admin | Standing::Patient => false,
    })
}

/// The review and case, for someone who may write the outcome.
async fn writer(
    db: &Db,
    user: &CurrentUser,
    review_id: &str,
    case_id: &str,
) -> Result<(Review, ReviewCase, Standing)> {
    let (review, case, standing) = standing(db, user, review_id, case_id).await?;
    if !matches!(standing, Standing::Coordinator | Standing::Expert) {
        return Err(AppError::Forbidden);
    }
    if review.status == "cancelled" {
        return Err(AppError::Conflict("the review was cancelled".into()));
    }
    Ok((review, case, standing))
}

fn stale(current: &OutcomeView) -> AppError {
    crate::records::stale("outcome", current.saved_by.as_deref(), current.saved_at, current.version)
}

fn frozen(current: &OutcomeView) -> AppError {
    crate::records::frozen("outcome", current.signed_by.as_deref(), current.signed_at, "")
}

async fn conflict_now(db: &Db, case_id: &str) -> AppError {
    match found(db, case_id).await {
        Ok(o) if o.status == OutcomeStatus::Signed => frozen(&o),
        Ok(o) => stale(&o),
        Err(e) => e,
    }
}

async fn found(db: &Db, case_id: &str) -> Result<OutcomeView> {
    db::for_case(&mut *db.acquire().await?, case_id).await?.ok_or(AppError::NotFound("outcome"))
}

pub async fn save(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    review_id: &str,
    case_id: &str,
    input: OutcomeInput,
) -> Result<OutcomeView> {
    let (review, case, _) = writer(db, user, review_id, case_id).await?;
    let (version, mut content) = check(input)?;
    if content.question.is_empty() {
        content.question = case.question.clone();
    }
    if let Some(p) = &content.presenter_id
        && !is_panel_member(&review, p)
    {
        return Err(AppError::invalid(
            "presenter_id",
            "the presenter is the coordinator or one of the review's experts",
        ));
    }
    if let Some(r) = &content.responsible_id
        && !db::is_doctor(&mut *db.acquire().await?, r).await?
    {
        return Err(AppError::invalid("responsible_id", "no active doctor has this id"));
    }
    let by = Saver { id: &user.id, name: &user.name, at: now_ms() };
    let mut tx = db.write().await?;
    let current = db::for_case(&mut tx, case_id).await?;
    let id = match &current {
        Some(o) if o.status == OutcomeStatus::Signed => return Err(frozen(o)),
        Some(o) if o.version != version => return Err(stale(o)),
        Some(o) => {
            let id = o.id.clone().unwrap_or_default();
            if !db::update(&mut tx, &id, version, &content, &by).await? {
                drop(tx);
                return Err(conflict_now(db, case_id).await);
            }
            id
        }
        None if version != 0 => {
            return Err(AppError::Conflict("this outcome has not been saved yet: send version 0".into()));
        }
        None => {
            let place = Case { review_id, case_id, patient_id: &case.patient_id };
            match db::insert(&mut tx, &place, &content, &by).await? {
                Some(id) => id,
                None => {
                    drop(tx);
                    return Err(conflict_now(db, case_id).await);
                }
            }
        }
    };
    let event = Event::new("outcome.save")
        .object("case_outcome", &id)
        .patient(Some(&case.patient_id))
        .detail(format!("review {review_id} case {case_id} version {}", version + 1));
    audit::record(&mut tx, &Actor::user(user, addr), event).await?;
    tx.commit().await?;
    found(db, case_id).await
}

pub async fn sign(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    review_id: &str,
    case_id: &str,
    input: SignOutcome,
) -> Result<OutcomeView> {
    let (review, case, standing) = writer(db, user, review_id, case_id).await?;
    if !may_sign(db, &review, user, standing).await? {
        return Err(AppError::Forbidden);
    }
    let by = Saver { id: &user.id, name: &user.name, at: now_ms() };
    let mut tx = db.write().await?;
    let Some(current) = db::for_case(&mut tx, case_id).await? else {
        return Err(AppError::invalid("recommendation", "choose a recommendation before signing"));
    };
    if current.status == OutcomeStatus::Signed {
        return Err(frozen(&current));
    }
    if current.version != input.version {
        return Err(stale(&current));
    }
    if current.recommendation.is_none() {
        return Err(AppError::invalid("recommendation", "choose a recommendation before signing"));
    }
    let id = current.id.clone().unwrap_or_default();
    let content = super::model::OutcomeContent {
        presenter_id: current.presenter_id.clone(),
        question: current.question.clone(),
        discussion: current.discussion.clone().unwrap_or_default(),
        recommendation: current.recommendation,
        recommendation_text: current.recommendation_text.clone(),
        responsible_id: current.responsible_id.clone(),
    };
    let hash = crate::records::sha256_json(&SignedOutcome {
        outcome_id: &id,
        review_id,
        case_id,
        patient_id: &case.patient_id,
        content: &content,
        signed_by: &user.id,
        signed_at: by.at,
    });
    if !db::sign(&mut tx, &id, input.version, &by, &hash).await? {
        drop(tx);
        return Err(conflict_now(db, case_id).await);
    }
    let event = Event::new("outcome.sign")
        .object("case_outcome", &id)
        .patient(Some(&case.patient_id))
        .detail(format!("review {review_id} case {case_id} version {} sha256 {hash}", input.version));
    audit::record(&mut tx, &Actor::user(user, addr), event).await?;
    // The clinician named for the next step hears of it through the outbox, in this
    // transaction: a signature is never without its notice, nor a notice without it.
    if let Some(responsible) = &current.responsible_id {
        crate::scheduling::reminders::notify(&mut tx, "outcome", &id, responsible).await?;
    }
    tx.commit().await?;
    found(db, case_id).await
}
