//! The `images` table: one row per shared image (its blobs live in the store, by sha256).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{ImageView, Kind};
use crate::db::{Db, WriteTx};
use crate::error::{AppError, Result};

const IMAGE_COLUMNS: &str = "id, room_id, case_id, sha256, display_sha256, display_type, kind, width, height, bytes, filename, info, shared_by_name, created_at";

/// A stored image: what clients see, and the blob and type of the picture shown.
pub struct Stored {
    pub view: ImageView,
    pub display_sha256: String,
    pub display_type: String,
}

fn stored(r: &AnyRow) -> Result<Stored> {
    let id: String = r.try_get("id")?;
    let kind = match r.try_get::<String, _>("kind")?.as_str() {
        "png" => Kind::Png,
        "jpeg" => Kind::Jpeg,
        _ => Kind::Dicom,
    };
    let info: String = r.try_get("info")?;
    let view = ImageView {
        url: format!("/api/v1/images/{id}/display"),
        id,
        room_id: r.try_get("room_id")?,
        case_id: r.try_get("case_id")?,
        kind,
        width: u32::try_from(r.try_get::<i32, _>("width")?).unwrap_or(0),
        height: u32::try_from(r.try_get::<i32, _>("height")?).unwrap_or(0),
        bytes: r.try_get("bytes")?,
        filename: r.try_get("filename")?,
        sha256: r.try_get("sha256")?,
        shared_by_name: r.try_get("shared_by_name")?,
        created_at: r.try_get("created_at")?,
        dicom: if kind == Kind::Dicom { serde_json::from_str(&info).ok() } else { None },
    };
    Ok(Stored {
        view,
        display_sha256: r.try_get("display_sha256")?,
        display_type: r.try_get("display_type")?,
    })
}

/// One image, or 404.
pub async fn find(db: &Db, id: &str) -> Result<Stored> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1")))
        .bind(id)
        .fetch_optional(db.read())
        .await?
        .ok_or(AppError::NotFound("image"))?;
    stored(&row)
}

/// A room's images, oldest first.
pub async fn in_room(db: &Db, room_id: &str) -> Result<Vec<ImageView>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {IMAGE_COLUMNS} FROM images WHERE room_id = $1 ORDER BY created_at, id"
    )))
    .bind(room_id)
    .fetch_all(db.read())
    .await?;
    rows.iter().map(|r| stored(r).map(|s| s.view)).collect()
}

/// Whether `case_id` is a case of the review that owns `room_id`.
pub async fn case_in_room(db: &Db, case_id: &str, room_id: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT c.id FROM review_cases c JOIN reviews r ON r.id = c.review_id WHERE c.id = $1 AND r.room_id = $2",
    )
    .bind(case_id)
    .bind(room_id)
    .fetch_optional(db.read())
    .await?;
    Ok(row.is_some())
}

/// Images a room holds.
pub async fn count(db: &Db, room_id: &str) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM images WHERE room_id = $1")
        .bind(room_id)
        .fetch_one(db.read())
        .await?;
    Ok(row.try_get("n")?)
}

/// Images a room holds, counted inside the write that adds one. On PostgreSQL the room's row
/// is locked first (rooms come after doctors and patients in the lock order), so two shares at
/// once cannot both see room for one more.
pub async fn count_for_insert(tx: &mut WriteTx, room_id: &str) -> Result<i64> {
    if tx.locks_rows() {
        sqlx::query("UPDATE rooms SET id = id WHERE id = $1").bind(room_id).execute(&mut **tx).await?;
    }
    let n = sqlx::query("SELECT COUNT(*) AS n FROM images WHERE room_id = $1")
        .bind(room_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
    Ok(n)
}

/// The fields of a new image row.
pub struct NewImage<'a> {
    pub id: &'a str,
    pub room_id: &'a str,
    pub case_id: Option<&'a str>,
    pub sha256: &'a str,
    pub display_sha256: &'a str,
    pub display_type: &'a str,
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
    pub bytes: i64,
    pub filename: &'a str,
    pub info: &'a str,
    pub shared_by: &'a str,
    pub shared_by_name: &'a str,
    pub created_at: i64,
}

pub async fn insert(conn: &mut AnyConnection, i: &NewImage<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO images (id, room_id, case_id, sha256, display_sha256, display_type, kind, width, height, bytes,
                             filename, info, shared_by, shared_by_name, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(i.id)
    .bind(i.room_id)
    .bind(i.case_id)
    .bind(i.sha256)
    .bind(i.display_sha256)
    .bind(i.display_type)
    .bind(i.kind.as_str())
    .bind(i64::from(i.width))
    .bind(i64::from(i.height))
    .bind(i.bytes)
    .bind(i.filename)
    .bind(i.info)
    .bind(i.shared_by)
    .bind(i.shared_by_name)
    .bind(i.created_at)
    .execute(conn)
    .await?;
    Ok(())
}
