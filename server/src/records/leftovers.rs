//! What a consultation's call leaves behind, for its record: the chat transcript and the images
//! shared, with times and authors. (Signed-off findings come from `diagnosis::findings`.)

use jiff::Timestamp;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::ids::RoomId;
use crate::records::audit::{self, Actor, Event};
use crate::web::i18n::Tr;
use crate::web::time::{moment, zone};

/// The most chat lines a record shows.
const MAX_LINES: i64 = 2000;

pub struct Line {
    pub when: String,
    pub who: String,
    pub text: String,
}

pub struct Shared {
    pub when: String,
    pub who: String,
    pub filename: String,
    /// Where it opens: for clinicians and admins (patients see pictures in the call).
    pub url: Option<String>,
}

pub struct Leftovers {
    pub chat: Vec<Line>,
    pub images: Vec<Shared>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.chat.is_empty() && self.images.is_empty()
    }
}

/// The room's chat and images in the reader's time zone; reading them is audited when there
/// is anything to read. The caller has checked that `user` may see the consultation.
pub async fn of_room(
    state: &AppState,
    user: &CurrentUser,
    addr: &str,
    room_id: &str,
    patient_id: Option<&str>,
    tr: &Tr,
) -> Result<Leftovers> {
    let tz = zone(&user.timezone);
    let at = |ms: i64| moment(Timestamp::from_millisecond(ms).unwrap_or_default(), &tz, tr);
    let chat = crate::consult::db::chat_history(&state.db, &RoomId::new(room_id), MAX_LINES)
        .await?
        .into_iter()
        .map(|l| Line { when: at(l.at), who: l.name, text: l.text })
        .collect::<Vec<_>>();
    let images = crate::imaging::db::in_room(&state.db, room_id)
        .await?
        .into_iter()
        .map(|i| Shared {
            when: at(i.created_at),
            who: i.shared_by_name,
            filename: i.filename,
            url: (user.role != crate::accounts::model::Role::Patient).then_some(i.url),
        })
        .collect::<Vec<_>>();
    let left = Leftovers { chat, images };
    if !left.is_empty() {
        let event = Event::new("room.record_read")
            .object("room", room_id)
            .patient(patient_id)
            .detail(format!("{} chat lines, {} images", left.chat.len(), left.images.len()));
        audit::record_read(&state.db, &Actor::user(user, addr), event).await?;
    }
    Ok(left)
}
