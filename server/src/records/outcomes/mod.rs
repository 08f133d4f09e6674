//! Case-review outcomes: for each case on a review's agenda, the presenter, the clinical
//! question, the discussion and a structured recommendation with the clinician responsible for
//! the next step. Drafted by the review's clinicians with optimistic versions (as notes), signed
//! by the coordinator, and never changed after that (migration 0014).

pub mod db;
pub mod handlers;
pub mod model;
pub mod pages;
pub mod service;

/// News of a case's outcome for the review's call, sent without knowing how a room delivers
/// it (the room hub turns it into its wire message: `consult::hub::Hub::outcomes_sink`), so
/// that the panel's open forms follow each other's saves.
#[derive(Clone, Debug)]
pub struct Event {
    pub case_id: String,
    pub version: i64,
    /// Who saved or signed.
    pub by: String,
    pub signed: bool,
}

/// Where outcomes send a room's events: `(room id, event)`.
pub type EventSink = std::sync::Arc<
    dyn Fn(crate::ids::RoomId, Event) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync,
>;

/// Tells the review's call that `saved` was saved or signed (nothing happens when nobody is
/// in the call).
pub async fn announce(state: &crate::AppState, saved: &model::OutcomeView) -> crate::error::Result<()> {
    let Some(room) = db::room_of_review(state.db.read(), &saved.review_id).await? else { return Ok(()) };
    let event = Event {
        case_id: saved.case_id.clone(),
        version: saved.version,
        by: if saved.status == model::OutcomeStatus::Signed {
            saved.signed_by.clone()
        } else {
            saved.saved_by.clone()
        }
        .unwrap_or_default(),
        signed: saved.status == model::OutcomeStatus::Signed,
    };
    (state.events.outcomes)(crate::ids::RoomId::new(room), event).await;
    Ok(())
}
