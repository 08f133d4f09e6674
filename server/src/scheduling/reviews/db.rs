//! Queries on reviews, their experts, specialties and cases.

use sqlx::{AnyConnection, Row};

use super::model::{Review, ReviewCase, ReviewExpert};
use crate::db::{Db, new_id, now_ms};
use crate::error::Result;
use crate::scheduling::model::iso;

pub struct NewReviewRow<'a> {
    pub title: &'a str,
    pub coordinator_id: &'a str,
    pub duration_minutes: i64,
    pub window: (i64, i64),
}

pub async fn insert(
    conn: &mut AnyConnection,
    r: &NewReviewRow<'_>,
    experts: &[String],
    specialties: &[String],
) -> Result<String> {
    let id = new_id();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO reviews (id, title, coordinator_id, duration_minutes, window_start, window_end, status,
                              room_id, sequence, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'planning', $7, 0, $8, $8)",
    )
    .bind(&id)
    .bind(r.title)
    .bind(r.coordinator_id)
    .bind(r.duration_minutes)
    .bind(r.window.0)
    .bind(r.window.1)
    .bind(new_id())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for e in experts {
        add_expert(conn, &id, e).await?;
    }
    for s in specialties {
        sqlx::query("INSERT INTO review_specialties (review_id, specialty) VALUES ($1, $2)")
            .bind(&id)
            .bind(s)
            .execute(&mut *conn)
            .await?;
    }
    Ok(id)
}

pub async fn add_expert(conn: &mut AnyConnection, review_id: &str, expert_id: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO review_experts (review_id, expert_id, response) VALUES ($1, $2, 'pending')
         ON CONFLICT (review_id, expert_id) DO NOTHING",
    )
    .bind(review_id)
    .bind(expert_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn load(conn: &mut AnyConnection, id: &str) -> Result<Option<Review>> {
    let Some(r) = sqlx::query(
        "SELECT r.id, r.title, r.coordinator_id, u.name AS coordinator_name, r.duration_minutes,
                r.window_start, r.window_end, r.status, r.starts_at, r.ends_at, r.room_id, r.sequence, r.updated_at
         FROM reviews r JOIN users u ON u.id = r.coordinator_id WHERE r.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let experts = sqlx::query(
        "SELECT e.expert_id, u.name, u.specialty, u.timezone, e.response, e.comment
         FROM review_experts e JOIN users u ON u.id = e.expert_id WHERE e.review_id = $1 ORDER BY u.name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|e| {
        Ok(ReviewExpert {
            expert_id: e.try_get("expert_id")?,
            name: e.try_get("name")?,
            specialty: e.try_get("specialty")?,
            timezone: e.try_get("timezone")?,
            response: e.try_get("response")?,
            comment: e.try_get("comment")?,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let specialties =
        sqlx::query("SELECT specialty FROM review_specialties WHERE review_id = $1 ORDER BY specialty")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|s| Ok(s.try_get("specialty")?))
            .collect::<Result<Vec<_>>>()?;
    let cases = sqlx::query(
        "SELECT c.id, c.position, c.patient_id, u.name AS patient_name, c.question, c.notes, c.decision
         FROM review_cases c JOIN users u ON u.id = c.patient_id WHERE c.review_id = $1 ORDER BY c.position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|c| {
        Ok(ReviewCase {
            id: c.try_get("id")?,
            position: c.try_get("position")?,
            patient_id: c.try_get("patient_id")?,
            patient_name: c.try_get("patient_name")?,
            question: c.try_get("question")?,
            notes: c.try_get("notes")?,
            decision: c.try_get("decision")?,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let window = (r.try_get("window_start")?, r.try_get("window_end")?);
    let starts: Option<i64> = r.try_get("starts_at")?;
    let ends: Option<i64> = r.try_get("ends_at")?;
    Ok(Some(Review {
        id: r.try_get("id")?,
        title: r.try_get("title")?,
        coordinator_id: r.try_get("coordinator_id")?,
        coordinator_name: r.try_get("coordinator_name")?,
        duration_minutes: r.try_get("duration_minutes")?,
        window_start: iso(window.0),
        window_end: iso(window.1),
        status: r.try_get("status")?,
        starts_at: starts.map(iso),
        ends_at: ends.map(iso),
        room_id: r.try_get("room_id")?,
        sequence: r.try_get("sequence")?,
        experts,
        specialties,
        cases,
        window_ms: window,
        time_ms: starts.zip(ends),
        updated_ms: r.try_get("updated_at")?,
    }))
}

/// Ids of reviews a user coordinates or is invited to (all for `None`), newest first, at most
/// `limit`.
pub async fn ids_for(db: &Db, user_id: Option<&str>, limit: i64) -> Result<Vec<String>> {
    // Two index lookups (coordinated, invited) rather than one scan of every review.
    let rows = match user_id {
        None => sqlx::query("SELECT id FROM reviews ORDER BY id DESC LIMIT $1").bind(limit),
        Some(user) => sqlx::query(
            "SELECT id FROM reviews WHERE coordinator_id = $1
             UNION
             SELECT review_id AS id FROM review_experts WHERE expert_id = $1
             ORDER BY id DESC LIMIT $2",
        )
        .bind(user)
        .bind(limit),
    }
    .fetch_all(db.read())
    .await?;
    rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
}

pub async fn add_case(
    conn: &mut AnyConnection,
    review_id: &str,
    patient_id: &str,
    question: &str,
    notes: Option<&str>,
) -> Result<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO review_cases (id, review_id, position, patient_id, question, notes, created_at)
         VALUES ($1, $2, (SELECT COALESCE(MAX(position), 0) + 1 FROM review_cases WHERE review_id = $2), $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(review_id)
    .bind(patient_id)
    .bind(question)
    .bind(notes)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(id)
}

/// Fixes the time, clears the specialty placeholders, and asks every expert again.
pub async fn set_time(conn: &mut AnyConnection, id: &str, starts: i64, ends: i64) -> Result<()> {
    sqlx::query(
        "UPDATE reviews SET status = 'scheduled', starts_at = $2, ends_at = $3, sequence = sequence + 1, updated_at = $4
         WHERE id = $1",
    )
    .bind(id)
    .bind(starts)
    .bind(ends)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM review_specialties WHERE review_id = $1").bind(id).execute(&mut *conn).await?;
    sqlx::query("UPDATE review_experts SET response = 'pending', comment = NULL, responded_at = NULL WHERE review_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn respond(
    conn: &mut AnyConnection,
    id: &str,
    expert_id: &str,
    response: &str,
    comment: Option<&str>,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE review_experts SET response = $3, comment = $4, responded_at = $5 WHERE review_id = $1 AND expert_id = $2",
    )
    .bind(id)
    .bind(expert_id)
    .bind(response)
    .bind(comment)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn cancel(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE reviews SET status = 'cancelled', sequence = sequence + 1, updated_at = $2 WHERE id = $1 AND status <> 'cancelled'",
    )
    .bind(id)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
