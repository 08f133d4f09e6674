//! The SQL of the room task: chat lines, the agenda of a review's room, and the end of an
//! ad-hoc room. (Who may enter a room
//! is read in `access`; invites and device tokens keep their queries beside their flows.)

use sqlx::Row;

use super::protocol::ChatLine;
use crate::db::{Db, new_id, now_ms};
use crate::error::Result;
use crate::ids::RoomId;

/// The room's last `limit` chat lines, oldest first.
pub async fn chat_history(db: &Db, room: &RoomId, limit: i64) -> Result<Vec<ChatLine>> {
    let rows = sqlx::query(
        "SELECT COALESCE(sender_id, guest_id) AS sender_id, sender_name, body, created_at FROM chat_messages WHERE room_id = $1
         ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(room.as_str())
    .bind(limit)
    .fetch_all(db.read())
    .await?;
    let mut lines = rows
        .iter()
        .map(|r| {
            Ok(ChatLine {
                from: r.try_get::<Option<String>, _>("sender_id")?.unwrap_or_default(),
                name: r.try_get("sender_name")?,
                text: r.try_get("body")?,
                at: r.try_get("created_at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    lines.reverse();
    Ok(lines)
}

/// Keeps a chat line; it is shown only once this has returned. A guest's line names the
/// guest in `guest_id` (guests have no account for `sender_id` to name).
pub async fn store_chat(db: &Db, room: &RoomId, line: &ChatLine) -> Result<()> {
    let guest = line.from.starts_with("guest:");
    let insert = sqlx::query(
        "INSERT INTO chat_messages (id, room_id, sender_id, guest_id, sender_name, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(room.as_str())
    .bind((!guest).then_some(&line.from))
    .bind(guest.then_some(&line.from))
    .bind(&line.name)
    .bind(&line.text)
    .bind(line.at);
    db.execute(insert).await?;
    Ok(())
}

/// When the room's call was ended by its host, if it was.
pub async fn ended_at(db: &Db, room: &str) -> Result<Option<i64>> {
    let row =
        sqlx::query("SELECT ended_at FROM rooms WHERE id = $1").bind(room).fetch_optional(db.read()).await?;
    Ok(row.map(|r| r.try_get::<Option<i64>, _>("ended_at")).transpose()?.flatten())
}

/// `user_id` came into the call (again): the first arrival is kept, and they are in it now.
pub async fn joined(db: &Db, room: &RoomId, user_id: &str, name: &str, role: &str) -> Result<()> {
    let insert = sqlx::query(
        "INSERT INTO room_attendance (room_id, user_id, name, role, first_joined_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (room_id, user_id) DO UPDATE SET last_left_at = NULL",
    )
    .bind(room.as_str())
    .bind(user_id)
    .bind(name)
    .bind(role)
    .bind(now_ms());
    db.execute(insert).await?;
    Ok(())
}

/// `user_id` left the call.
pub async fn left(db: &Db, room: &RoomId, user_id: &str) -> Result<()> {
    let update =
        sqlx::query("UPDATE room_attendance SET last_left_at = $3 WHERE room_id = $1 AND user_id = $2")
            .bind(room.as_str())
            .bind(user_id)
            .bind(now_ms());
    db.execute(update).await?;
    Ok(())
}

/// The host ended the call: the consultation is over for everyone, and its room says so from
/// now on (the first end is kept).
pub async fn end(db: &Db, room: &RoomId) -> Result<()> {
    let ended = sqlx::query("UPDATE rooms SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL")
        .bind(room.as_str())
        .bind(now_ms());
    db.execute(ended).await?;
    Ok(())
}

/// Whether `case_id` is on the agenda of the review whose room this is.
pub async fn case_in_room(db: &Db, room: &RoomId, case_id: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 AS one FROM review_cases c JOIN reviews r ON r.id = c.review_id WHERE r.room_id = $1 AND c.id = $2",
    )
    .bind(room.as_str())
    .bind(case_id)
    .fetch_optional(db.read())
    .await?;
    Ok(row.is_some())
}
