//! The SQL of case outcomes. Changes are conditional on the outcome being unsigned (and the
//! database refuses the rest, migration 0014).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::model::{OutcomeContent, OutcomeStatus, OutcomeView, Recommendation};
use crate::db::{WriteTx, new_id, on_unique};
use crate::error::{AppError, Result};
use crate::records::notes::db::Saver;

const SELECT: &str = "SELECT o.id, o.review_id, o.case_id, o.patient_id, o.version, o.presenter_id, p.name AS presenter,
    o.question, o.discussion, o.recommendation, o.recommendation_text, o.responsible_id, r.name AS responsible,
    o.saved_by_name, o.saved_at, o.signed_by_name, o.signed_at, o.content_sha256
    FROM case_outcomes o LEFT JOIN users p ON p.id = o.presenter_id LEFT JOIN users r ON r.id = o.responsible_id";

fn view(r: &AnyRow) -> Result<OutcomeView> {
    let signed_at: Option<i64> = r.try_get("signed_at")?;
    Ok(OutcomeView {
        id: Some(r.try_get("id")?),
        review_id: r.try_get("review_id")?,
        case_id: r.try_get("case_id")?,
        patient_id: r.try_get("patient_id")?,
        status: if signed_at.is_some() { OutcomeStatus::Signed } else { OutcomeStatus::Draft },
        version: r.try_get("version")?,
        presenter_id: r.try_get("presenter_id")?,
        presenter: r.try_get("presenter")?,
        question: r.try_get("question")?,
        discussion: Some(r.try_get("discussion")?),
        recommendation: r
            .try_get::<Option<String>, _>("recommendation")?
            .map(|s| Recommendation::from_stored(&s))
            .transpose()?,
        recommendation_text: r.try_get("recommendation_text")?,
        responsible_id: r.try_get("responsible_id")?,
        responsible: r.try_get("responsible")?,
        saved_by: Some(r.try_get("saved_by_name")?),
        saved_at: Some(r.try_get("saved_at")?),
        signed_by: r.try_get("signed_by_name")?,
        signed_at,
        content_sha256: r.try_get("content_sha256")?,
    })
}

pub async fn for_case(conn: &mut AnyConnection, case_id: &str) -> Result<Option<OutcomeView>> {
    let sql = format!("{SELECT} WHERE o.case_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(case_id).fetch_optional(conn).await?;
    row.as_ref().map(view).transpose()
}

/// Every saved outcome of a review's cases.
pub async fn for_review(conn: &mut AnyConnection, review_id: &str) -> Result<Vec<OutcomeView>> {
    let sql = format!("{SELECT} WHERE o.review_id = $1");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(review_id).fetch_all(conn).await?;
    rows.iter().map(view).collect()
}

/// Whether `user_id` is an active doctor.
pub async fn is_doctor(conn: &mut AnyConnection, user_id: &str) -> Result<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM users WHERE id = $1 AND role = 'doctor' AND active = 1")
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// Where a new outcome belongs.
pub struct Case<'a> {
    pub review_id: &'a str,
    pub case_id: &'a str,
    pub patient_id: &'a str,
}

/// The first save (version 1); `None` when another save got there first.
pub async fn insert(
    tx: &mut WriteTx,
    case: &Case<'_>,
    c: &OutcomeContent,
    by: &Saver<'_>,
) -> Result<Option<String>> {
    let id = new_id();
    let inserted = sqlx::query(
        "INSERT INTO case_outcomes (id, case_id, review_id, patient_id, version, presenter_id, question, discussion, recommendation, recommendation_text, responsible_id, saved_by, saved_by_name, saved_at, created_at)
         VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
    )
    .bind(&id)
    .bind(case.case_id)
    .bind(case.review_id)
    .bind(case.patient_id)
    .bind(c.presenter_id.as_deref())
    .bind(&c.question)
    .bind(&c.discussion)
    .bind(c.recommendation.map(Recommendation::as_str))
    .bind(&c.recommendation_text)
    .bind(c.responsible_id.as_deref())
    .bind(by.id)
    .bind(by.name)
    .bind(by.at)
    .execute(&mut **tx)
    .await
    .map_err(on_unique("case_outcomes_case_key", "case_outcomes.case_id", || AppError::Conflict(String::new())));
    match inserted {
        Ok(_) => Ok(Some(id)),
        Err(AppError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Saves over version `version` of an unsigned outcome; false when stale or signed.
pub async fn update(
    tx: &mut WriteTx,
    id: &str,
    version: i64,
    c: &OutcomeContent,
    by: &Saver<'_>,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE case_outcomes SET version = version + 1, presenter_id = $3, question = $4, discussion = $5,
             recommendation = $6, recommendation_text = $7, responsible_id = $8, saved_by = $9, saved_by_name = $10, saved_at = $11
         WHERE id = $1 AND version = $2 AND signed_at IS NULL",
    )
    .bind(id)
    .bind(version)
    .bind(c.presenter_id.as_deref())
    .bind(&c.question)
    .bind(&c.discussion)
    .bind(c.recommendation.map(Recommendation::as_str))
    .bind(&c.recommendation_text)
    .bind(c.responsible_id.as_deref())
    .bind(by.id)
    .bind(by.name)
    .bind(by.at)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn sign(tx: &mut WriteTx, id: &str, version: i64, by: &Saver<'_>, hash: &str) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE case_outcomes SET signed_by = $3, signed_by_name = $4, signed_at = $5, content_sha256 = $6
         WHERE id = $1 AND version = $2 AND signed_at IS NULL AND recommendation IS NOT NULL",
    )
    .bind(id)
    .bind(version)
    .bind(by.id)
    .bind(by.name)
    .bind(by.at)
    .bind(hash)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// What the notice of a signed outcome says.
pub struct Notice {
    pub review_id: String,
    pub review_title: String,
    pub case_id: String,
    pub recommendation: Option<Recommendation>,
}

/// The notice of the signed outcome `id`, `None` when it is not signed.
pub async fn notice(conn: &mut AnyConnection, id: &str) -> Result<Option<Notice>> {
    let row = sqlx::query(
        "SELECT o.review_id, r.title, o.case_id, o.recommendation FROM case_outcomes o JOIN reviews r ON r.id = o.review_id
         WHERE o.id = $1 AND o.signed_at IS NOT NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(Notice {
            review_id: r.try_get("review_id")?,
            review_title: r.try_get("title")?,
            case_id: r.try_get("case_id")?,
            recommendation: r
                .try_get::<Option<String>, _>("recommendation")?
                .map(|s| Recommendation::from_stored(&s))
                .transpose()?,
        })
    })
    .transpose()
}

/// The room of review `review_id`.
pub async fn room_of_review(pool: &sqlx::AnyPool, review_id: &str) -> Result<Option<String>> {
    let row =
        sqlx::query("SELECT room_id FROM reviews WHERE id = $1").bind(review_id).fetch_optional(pool).await?;
    Ok(row.map(|r| r.try_get("room_id")).transpose()?)
}
