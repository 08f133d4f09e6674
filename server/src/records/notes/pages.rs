//! The note on the appointment page and in the room: the treating doctor gets the editor
//! (`note_editor.html`, driven by `note.js` over the API), anyone else who may read it a
//! read-only copy (`note_view.html`).

use jiff::Timestamp;

use super::model::{NoteStatus, NoteView};
use super::service;
use crate::AppState;
use crate::accounts::model::Role;
use crate::auth::CurrentUser;
use crate::error::{AppError, Result};
use crate::scheduling::model::{Appointment, Status};
use crate::web::i18n::Tr;
use crate::web::time::{moment, zone};

/// A note ready for `note_view.html`: times in the reader's zone.
pub struct ReadNote {
    pub view: NoteView,
    pub signed_at: String,
    /// Each addendum's time, in order.
    pub addenda_at: Vec<String>,
}

/// What a page shows of an appointment's note.
pub struct NoteOnPage {
    /// The appointment whose note the caller writes (the editor shows), if they write it.
    pub editor: Option<String>,
    /// The translated texts of the editor's script.
    pub i18n: String,
    /// The note the caller reads, if there is one they may see.
    pub read: Option<ReadNote>,
}

pub async fn on_page(
    state: &AppState,
    user: &CurrentUser,
    addr: &str,
    a: &Appointment,
    tr: &Tr,
) -> Result<NoteOnPage> {
    let i18n = tr.json("note.");
    if user.role == Role::Doctor && user.id == a.doctor_id && a.status != Status::Cancelled {
        return Ok(NoteOnPage { editor: Some(a.id.clone()), i18n, read: None });
    }
    let view = match service::read(&state.db, user, addr, &a.id).await {
        Ok(v) if v.status != NoteStatus::Empty => Some(v),
        Ok(_) | Err(AppError::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let tz = zone(&user.timezone);
    let at = |ms: i64| moment(Timestamp::from_millisecond(ms).unwrap_or_default(), &tz, tr);
    let read = view.map(|v| ReadNote {
        signed_at: v.signed_at.map(at).unwrap_or_default(),
        addenda_at: v.addenda.iter().map(|x| at(x.signed_at)).collect(),
        view: v,
    });
    Ok(NoteOnPage { editor: None, i18n, read })
}
