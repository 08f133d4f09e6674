//! Queries of the `findings` table for the room's list and the sign-off. (Creating a finding
//! and recording its result live with the analysis in `findings.rs`.)

use sqlx::{AnyConnection, Row};

use super::findings::{COLUMNS, FindingStatus, FindingView, view};
use crate::db::{Db, now_ms};
use crate::error::Result;

/// A room's findings, oldest first.
pub async fn in_room(db: &Db, room_id: &str) -> Result<Vec<FindingView>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM findings WHERE room_id = $1 ORDER BY requested_at, id"
    )))
    .bind(room_id)
    .fetch_all(db.read())
    .await?;
    rows.iter().map(view).collect()
}

/// A clinician's decision as stored.
pub struct SignOff<'a> {
    pub status: FindingStatus,
    pub label: Option<&'a str>,
    pub note: Option<&'a str>,
    pub by: &'a str,
    pub by_name: &'a str,
}

/// Records the decision on a finding that is still `ready`; false if it is not (any more).
pub async fn sign_off(conn: &mut AnyConnection, id: &str, s: &SignOff<'_>) -> Result<bool> {
    let changed = sqlx::query(
        "UPDATE findings SET status = $2, decision_label = $3, decision_note = $4, decided_by = $5, decided_by_name = $6, decided_at = $7
         WHERE id = $1 AND status = 'ready'",
    )
    .bind(id)
    .bind(s.status.as_str())
    .bind(s.label)
    .bind(s.note)
    .bind(s.by)
    .bind(s.by_name)
    .bind(now_ms())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// A finding's status as stored.
pub async fn status(conn: &mut AnyConnection, id: &str) -> Result<FindingStatus> {
    let row = sqlx::query("SELECT status FROM findings WHERE id = $1").bind(id).fetch_one(conn).await?;
    FindingStatus::from_stored(&row.try_get::<String, _>("status")?)
}
