//! Finding flows after the analysis: the room's list (clinicians see all, others only what a
//! clinician signed off) and the sign-off itself (accept, amend, reject), each audited.

use serde::Deserialize;
use utoipa::ToSchema;

use super::db::{self, SignOff};
use super::events::Event as RoomEvent;
use super::findings::{self, FindingStatus, FindingView};
use crate::AppState;
use crate::consult::admission::Entrant;
use crate::consult::admission::room_patient;
use crate::error::{AppError, Result};
use crate::ids::RoomId;
use crate::records::audit::{self, Actor, Event};

/// A clinician's sign-off.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `accept` (the top label), `amend` (another label or diagnosis, with a reason) or
    /// `reject` (with a reason).
    pub decision: String,
    /// For `amend`: a label of the model or the clinician's own words (1–200 characters).
    pub label: Option<String>,
    /// Why: required to amend or reject (up to 2000 characters).
    pub note: Option<String>,
}

/// What a clinician decided, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The model's top label stands.
    Accept,
    /// Another label or diagnosis, in the clinician's words.
    Amend {
        label: String,
    },
    Reject,
}

impl Decision {
    /// The finding's status once decided.
    pub fn status(&self) -> FindingStatus {
        match self {
            Decision::Accept => FindingStatus::Accepted,
            Decision::Amend { .. } => FindingStatus::Amended,
            Decision::Reject => FindingStatus::Rejected,
        }
    }

    /// The audit verb.
    fn action(&self) -> &'static str {
        match self {
            Decision::Accept => "finding.accept",
            Decision::Amend { .. } => "finding.amend",
            Decision::Reject => "finding.reject",
        }
    }
}

/// Reads a request into a decision and its note: amending and rejecting need a reason.
pub fn parse(input: &DecisionRequest) -> Result<(Decision, Option<String>)> {
    let note = input.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 2000) {
        return Err(AppError::invalid("note", "a note has at most 2000 characters"));
    }
    let decision = match input.decision.as_str() {
        "accept" => Decision::Accept,
        "amend" => {
            let label =
                input.label.as_deref().map(str::trim).filter(|l| !l.is_empty() && l.chars().count() <= 200);
            let Some(label) = label else {
                return Err(AppError::invalid(
                    "label",
                    "amending needs the label or diagnosis you settle on (1–200 characters)",
                ));
            };
            if note.is_none() {
                return Err(AppError::invalid("note", "say why you amend the model's finding"));
            }
            Decision::Amend { label: label.to_string() }
        }
        "reject" => {
            if note.is_none() {
                return Err(AppError::invalid("note", "say why you reject the model's finding"));
            }
            Decision::Reject
        }
        _ => return Err(AppError::invalid("decision", "accept, amend or reject")),
    };
    Ok((decision, note.map(str::to_string)))
}

/// The patient whose data a finding is: the room's, or its image's review case's.
pub async fn patient_of(state: &AppState, finding: &FindingView) -> Result<Option<String>> {
    let image = crate::imaging::db::find(&state.db, &finding.image_id).await?.view;
    room_patient(state, &finding.room_id, image.case_id.as_deref()).await
}

/// Signs off a ready finding (the caller is a clinician in its room); then it enters the
/// record and everyone in the room sees it.
pub async fn decide(
    state: &AppState,
    who: &Entrant,
    actor: &Actor,
    finding: &FindingView,
    decision: Decision,
    note: Option<&str>,
) -> Result<FindingView> {
    let top = finding.predictions.as_ref().and_then(|p| {
        p.iter().max_by(|a, b| a.probability.total_cmp(&b.probability)).map(|p| p.label.clone())
    });
    let label = match &decision {
        Decision::Accept => top,
        Decision::Amend { label } => Some(label.clone()),
        Decision::Reject => None,
    };
    let patient = patient_of(state, finding).await?;
    let mut tx = state.db.write().await?;
    let sign_off = SignOff {
        status: decision.status(),
        label: label.as_deref(),
        note,
        by: &who.user_id,
        by_name: &who.name,
    };
    if !db::sign_off(&mut tx, &finding.id, &sign_off).await? {
        let current = db::status(&mut tx, &finding.id).await?;
        return Err(AppError::Conflict(match current {
            FindingStatus::Running => "the analysis is still running".into(),
            FindingStatus::Failed => "the analysis failed; there is nothing to sign off".into(),
            other => format!("this finding was already {}", other.as_str()),
        }));
    }
    let event = Event::new(decision.action())
        .object("finding", &finding.id)
        .patient(patient.as_deref())
        .detail(label.unwrap_or_default());
    audit::record(&mut tx, actor, event).await?;
    tx.commit().await?;
    let (done, _) = findings::find(state, &finding.id).await?;
    // Signed off: the whole room sees it now.
    (state.events.diagnosis)(
        RoomId::new(done.room_id.as_str()),
        RoomEvent::Finding { finding: Box::new(done.clone()) },
    )
    .await;
    Ok(done)
}

/// A room's findings for `who`: all of them for clinicians, signed-off ones for others. The
/// read is audited.
pub async fn in_room(
    state: &AppState,
    who: &Entrant,
    actor: &Actor,
    room_id: &str,
) -> Result<Vec<FindingView>> {
    let clinical = who.access.role.is_clinical();
    let list: Vec<FindingView> = db::in_room(&state.db, room_id)
        .await?
        .into_iter()
        .filter(|f| clinical || f.signed_off())
        .map(|f| if clinical { f } else { f.for_patients() })
        .collect();
    let patient = room_patient(state, room_id, None).await?;
    let event = Event::new("finding.list").object("room", room_id).patient(patient.as_deref());
    audit::record_read(&state.db, actor, event).await?;
    Ok(list)
}
