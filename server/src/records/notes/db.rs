//! The SQL of consultation notes. Every change of a note is conditional on it being unsigned
//! (and the database refuses the rest, migration 0012).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::model::{AddendumView, Content, NoteStatus, NoteView};
use crate::db::{WriteTx, new_id, on_unique};
use crate::error::{AppError, Result};

const COLUMNS: &str = "id, appointment_id, patient_id, version, subjective, objective, assessment, plan, instructions, diagnoses, saved_by_name, saved_at, signed_by_name, signed_at, content_sha256";

fn view(r: &AnyRow) -> Result<NoteView> {
    let signed_at: Option<i64> = r.try_get("signed_at")?;
    Ok(NoteView {
        id: Some(r.try_get("id")?),
        appointment_id: r.try_get("appointment_id")?,
        patient_id: r.try_get("patient_id")?,
        status: if signed_at.is_some() { NoteStatus::Signed } else { NoteStatus::Draft },
        version: r.try_get("version")?,
        subjective: Some(r.try_get("subjective")?),
        objective: Some(r.try_get("objective")?),
        assessment: r.try_get("assessment")?,
        plan: r.try_get("plan")?,
        instructions: r.try_get("instructions")?,
        diagnoses: serde_json::from_str(&r.try_get::<String, _>("diagnoses")?)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("a note's diagnoses are not JSON: {e}")))?,
        saved_by: Some(r.try_get("saved_by_name")?),
        saved_at: Some(r.try_get("saved_at")?),
        signed_by: r.try_get("signed_by_name")?,
        signed_at,
        content_sha256: r.try_get("content_sha256")?,
        addenda: Vec::new(),
    })
}

/// The note of an appointment without its addenda: what a writing flow checks (version,
/// signature) and signs.
pub async fn current(conn: &mut AnyConnection, appointment_id: &str) -> Result<Option<NoteView>> {
    let sql = format!("SELECT {COLUMNS} FROM notes WHERE appointment_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(appointment_id).fetch_optional(conn).await?;
    row.as_ref().map(view).transpose()
}

/// The note of an appointment with its addenda, if one was saved.
pub async fn for_appointment(conn: &mut AnyConnection, appointment_id: &str) -> Result<Option<NoteView>> {
    let Some(mut note) = current(&mut *conn, appointment_id).await? else { return Ok(None) };
    let id = note.id.clone().unwrap_or_default();
    note.addenda = addenda(conn, &id).await?;
    Ok(Some(note))
}

/// A patient's signed notes with their addenda, oldest first.
pub async fn signed_for_patient(conn: &mut AnyConnection, patient_id: &str) -> Result<Vec<NoteView>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM notes WHERE patient_id = $1 AND signed_at IS NOT NULL ORDER BY signed_at, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(patient_id).fetch_all(&mut *conn).await?;
    let mut notes = rows.iter().map(view).collect::<Result<Vec<_>>>()?;
    for n in &mut notes {
        let id = n.id.clone().unwrap_or_default();
        n.addenda = addenda(conn, &id).await?;
    }
    Ok(notes)
}

async fn addenda(conn: &mut AnyConnection, note_id: &str) -> Result<Vec<AddendumView>> {
    let rows = sqlx::query(
        "SELECT id, position, body, author_name, signed_at, content_sha256 FROM note_addenda
         WHERE note_id = $1 ORDER BY position",
    )
    .bind(note_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AddendumView {
                id: r.try_get("id")?,
                position: r.try_get("position")?,
                text: r.try_get("body")?,
                author: r.try_get("author_name")?,
                signed_at: r.try_get("signed_at")?,
                content_sha256: r.try_get("content_sha256")?,
            })
        })
        .collect()
}

/// Who saves, and when.
pub struct Saver<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub at: i64,
}

/// The first save of an appointment's note (version 1). `None` when another save got there
/// first: the caller's version 0 is stale.
pub async fn insert(
    tx: &mut WriteTx,
    appointment_id: &str,
    patient_id: &str,
    content: &Content,
    by: &Saver<'_>,
) -> Result<Option<String>> {
    let id = new_id();
    let inserted = sqlx::query(
        "INSERT INTO notes (id, appointment_id, patient_id, author_id, version, subjective, objective, assessment, plan, instructions, diagnoses, saved_by, saved_by_name, saved_at, created_at)
         VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10, $4, $11, $12, $12)",
    )
    .bind(&id)
    .bind(appointment_id)
    .bind(patient_id)
    .bind(by.id)
    .bind(&content.subjective)
    .bind(&content.objective)
    .bind(&content.assessment)
    .bind(&content.plan)
    .bind(&content.instructions)
    .bind(diagnoses_json(content))
    .bind(by.name)
    .bind(by.at)
    .execute(&mut **tx)
    .await
    .map_err(on_unique("notes_appointment_key", "notes.appointment_id", || AppError::Conflict(String::new())));
    match inserted {
        Ok(_) => Ok(Some(id)),
        Err(AppError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn diagnoses_json(content: &Content) -> String {
    serde_json::to_string(&content.diagnoses).expect("diagnoses serialize")
}

/// Saves over version `version` of an unsigned note; false when that is not the current
/// version or the note is signed.
pub async fn update(
    tx: &mut WriteTx,
    note_id: &str,
    version: i64,
    content: &Content,
    by: &Saver<'_>,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE notes SET version = version + 1, subjective = $3, objective = $4, assessment = $5, plan = $6,
             instructions = $7, diagnoses = $8, saved_by = $9, saved_by_name = $10, saved_at = $11
         WHERE id = $1 AND version = $2 AND signed_at IS NULL",
    )
    .bind(note_id)
    .bind(version)
    .bind(&content.subjective)
    .bind(&content.objective)
    .bind(&content.assessment)
    .bind(&content.plan)
    .bind(&content.instructions)
    .bind(diagnoses_json(content))
    .bind(by.id)
    .bind(by.name)
    .bind(by.at)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Signs version `version` of an unsigned note; false when that is not the current version or
/// it is signed already.
pub async fn sign(tx: &mut WriteTx, note_id: &str, version: i64, by: &Saver<'_>, hash: &str) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE notes SET signed_by = $3, signed_by_name = $4, signed_at = $5, content_sha256 = $6
         WHERE id = $1 AND version = $2 AND signed_at IS NULL",
    )
    .bind(note_id)
    .bind(version)
    .bind(by.id)
    .bind(by.name)
    .bind(by.at)
    .bind(hash)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The position the next addendum of a note takes. On PostgreSQL the caller holds the note's
/// row lock ([`lock`]), so two addenda never take one position.
pub async fn next_position(tx: &mut WriteTx, note_id: &str) -> Result<i64> {
    let row =
        sqlx::query("SELECT COALESCE(MAX(position), 0) + 1 AS next FROM note_addenda WHERE note_id = $1")
            .bind(note_id)
            .fetch_one(&mut **tx)
            .await?;
    Ok(row.try_get("next")?)
}

/// Takes the note's row lock on PostgreSQL (a signed note's row cannot be updated, so this
/// reads it `FOR UPDATE`).
pub async fn lock(tx: &mut WriteTx, note_id: &str) -> Result<()> {
    if tx.locks_rows() {
        sqlx::query("SELECT id FROM notes WHERE id = $1 FOR UPDATE")
            .bind(note_id)
            .fetch_optional(&mut **tx)
            .await?;
    }
    Ok(())
}

/// A new addendum's fields.
pub struct NewAddendum<'a> {
    pub note_id: &'a str,
    pub position: i64,
    pub text: &'a str,
    pub hash: &'a str,
}

pub async fn insert_addendum(tx: &mut WriteTx, a: &NewAddendum<'_>, by: &Saver<'_>) -> Result<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO note_addenda (id, note_id, position, body, author_id, author_name, signed_at, content_sha256)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(a.note_id)
    .bind(a.position)
    .bind(a.text)
    .bind(by.id)
    .bind(by.name)
    .bind(by.at)
    .bind(a.hash)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}
