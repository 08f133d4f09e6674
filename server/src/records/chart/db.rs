//! The SQL of the chart: who has a care relationship, emergency access, and the timeline's
//! entries, each read through an index on the patient.

use sqlx::{AnyConnection, Row};

use super::model::{ChartEntry, ChartPatient, Demographics, EmergencyGrant, EntryKind, Sex};
use crate::db::{WriteTx, new_id};
use crate::error::Result;

/// The patient, if `id` is a patient's account.
pub async fn patient(conn: &mut AnyConnection, id: &str) -> Result<Option<ChartPatient>> {
    let row =
        sqlx::query("SELECT id, name, email, timezone, locale FROM users WHERE id = $1 AND role = 'patient'")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    row.map(|r| {
        Ok(ChartPatient {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            email: r.try_get("email")?,
            timezone: r.try_get("timezone")?,
            locale: r.try_get("locale")?,
        })
    })
    .transpose()
}

/// The patient's demographics (all unknown when none were recorded).
pub async fn demographics(conn: &mut AnyConnection, patient: &str) -> Result<Demographics> {
    let row = sqlx::query(
        "SELECT birth_date, sex, phone, record_number, preferred_language FROM patient_profiles WHERE patient_id = $1",
    )
    .bind(patient)
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(Demographics::default()) };
    let sex: Option<String> = r.try_get("sex")?;
    Ok(Demographics {
        birth_date: r.try_get("birth_date")?,
        sex: sex.as_deref().and_then(Sex::parse),
        phone: r.try_get("phone")?,
        record_number: r.try_get("record_number")?,
        preferred_language: r.try_get("preferred_language")?,
    })
}

/// Replaces the patient's demographics.
pub async fn save_demographics(
    tx: &mut WriteTx,
    patient: &str,
    d: &Demographics,
    by: &str,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO patient_profiles (patient_id, birth_date, sex, phone, record_number, preferred_language, updated_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (patient_id) DO UPDATE SET birth_date = excluded.birth_date, sex = excluded.sex, phone = excluded.phone,
             record_number = excluded.record_number, preferred_language = excluded.preferred_language,
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(patient)
    .bind(d.birth_date.as_deref())
    .bind(d.sex.map(Sex::as_str))
    .bind(d.phone.as_deref())
    .bind(d.record_number.as_deref())
    .bind(d.preferred_language.as_deref())
    .bind(by)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether `doctor` treats `patient`: an appointment with them (any status), or a case review
/// they coordinate or were invited to (not declined) with the patient on its agenda.
pub async fn cares_for(conn: &mut AnyConnection, doctor: &str, patient: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 AS one FROM appointments WHERE doctor_id = $1 AND patient_id = $2
         UNION ALL
         SELECT 1 AS one FROM review_cases c JOIN reviews r ON r.id = c.review_id
          WHERE c.patient_id = $2 AND r.status <> 'cancelled'
            AND (r.coordinator_id = $1 OR EXISTS (SELECT 1 FROM review_experts e
                 WHERE e.review_id = r.id AND e.expert_id = $1 AND e.response <> 'declined'))
         LIMIT 1",
    )
    .bind(doctor)
    .bind(patient)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// The reason of an unexpired emergency access of `user` to `patient`.
pub async fn emergency(
    conn: &mut AnyConnection,
    user: &str,
    patient: &str,
    now: i64,
) -> Result<Option<String>> {
    let row = sqlx::query(
        "SELECT reason FROM emergency_access WHERE user_id = $1 AND patient_id = $2 AND expires_at > $3
         ORDER BY expires_at DESC LIMIT 1",
    )
    .bind(user)
    .bind(patient)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get("reason")).transpose()?)
}

pub struct NewGrant<'a> {
    pub user_id: &'a str,
    pub patient_id: &'a str,
    pub reason: &'a str,
    pub granted_at: i64,
    pub expires_at: i64,
    pub client_addr: &'a str,
}

pub async fn grant(tx: &mut WriteTx, g: &NewGrant<'_>) -> Result<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO emergency_access (id, user_id, patient_id, reason, granted_at, expires_at, client_addr)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(g.user_id)
    .bind(g.patient_id)
    .bind(g.reason)
    .bind(g.granted_at)
    .bind(g.expires_at)
    .bind(g.client_addr)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Emergency accesses granted since `since`, newest first (the admin report).
pub async fn grants(conn: &mut AnyConnection, since: i64, limit: i64) -> Result<Vec<EmergencyGrant>> {
    let rows = sqlx::query(
        "SELECT g.id, g.user_id, u.name AS user_name, g.patient_id, p.name AS patient_name, g.reason, g.granted_at, g.expires_at
         FROM emergency_access g JOIN users u ON u.id = g.user_id JOIN users p ON p.id = g.patient_id
         WHERE g.granted_at >= $1 ORDER BY g.granted_at DESC, g.id DESC LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EmergencyGrant {
                id: r.try_get("id")?,
                user_id: r.try_get("user_id")?,
                user_name: r.try_get("user_name")?,
                patient_id: r.try_get("patient_id")?,
                patient_name: r.try_get("patient_name")?,
                reason: r.try_get("reason")?,
                granted_at: r.try_get("granted_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .collect()
}

fn text(r: &sqlx::any::AnyRow, column: &str) -> Result<String> {
    Ok(r.try_get::<Option<String>, _>(column)?.unwrap_or_default())
}

/// Every entry of the patient's record of the given kinds, unordered.
pub async fn entries(
    conn: &mut AnyConnection,
    patient: &str,
    kinds: &[EntryKind],
) -> Result<Vec<ChartEntry>> {
    let mut out = Vec::new();
    for kind in kinds {
        let (sql, build): (&str, fn(&sqlx::any::AnyRow) -> Result<ChartEntry>) = match kind {
            EntryKind::Appointment => (
                "SELECT a.id, a.starts_at, a.status, a.reason, u.name AS doctor FROM appointments a
                 JOIN users u ON u.id = a.doctor_id WHERE a.patient_id = $1",
                |r| {
                    Ok(ChartEntry {
                        kind: EntryKind::Appointment,
                        at: r.try_get("starts_at")?,
                        by: r.try_get("doctor")?,
                        title: r.try_get("status")?,
                        detail: text(r, "reason")?,
                        link: Some(format!("/appointments/{}", r.try_get::<String, _>("id")?)),
                    })
                },
            ),
            EntryKind::Note => (
                "SELECT appointment_id, signed_at, signed_by_name, assessment, plan FROM notes
                 WHERE patient_id = $1 AND signed_at IS NOT NULL",
                |r| {
                    let (assessment, plan) = (text(r, "assessment")?, text(r, "plan")?);
                    Ok(ChartEntry {
                        kind: EntryKind::Note,
                        at: r.try_get("signed_at")?,
                        by: text(r, "signed_by_name")?,
                        title: assessment,
                        detail: plan,
                        link: Some(format!("/appointments/{}", r.try_get::<String, _>("appointment_id")?)),
                    })
                },
            ),
            EntryKind::Addendum => (
                "SELECT n.appointment_id, d.position, d.body, d.author_name, d.signed_at FROM notes n
                 JOIN note_addenda d ON d.note_id = n.id WHERE n.patient_id = $1",
                |r| {
                    Ok(ChartEntry {
                        kind: EntryKind::Addendum,
                        at: r.try_get("signed_at")?,
                        by: r.try_get("author_name")?,
                        title: format!("#{}", r.try_get::<i64, _>("position")?),
                        detail: r.try_get("body")?,
                        link: Some(format!("/appointments/{}", r.try_get::<String, _>("appointment_id")?)),
                    })
                },
            ),
            EntryKind::Outcome => (
                "SELECT o.review_id, o.recommendation, o.recommendation_text, o.signed_at, o.signed_by_name, r.title
                 FROM case_outcomes o JOIN reviews r ON r.id = o.review_id
                 WHERE o.patient_id = $1 AND o.signed_at IS NOT NULL",
                |r| {
                    Ok(ChartEntry {
                        kind: EntryKind::Outcome,
                        at: r.try_get("signed_at")?,
                        by: text(r, "signed_by_name")?,
                        title: format!("{}: {}", r.try_get::<String, _>("title")?, text(r, "recommendation")?),
                        detail: r.try_get("recommendation_text")?,
                        link: Some(format!("/reviews/{}", r.try_get::<String, _>("review_id")?)),
                    })
                },
            ),
            EntryKind::Finding => (
                "SELECT f.model, f.model_version, f.status, f.decision_label, f.decision_note, f.decided_at, f.decided_by_name, i.filename, a.id AS appointment_id, NULL AS review_id
                 FROM appointments a JOIN findings f ON f.room_id = a.room_id JOIN images i ON i.id = f.image_id
                 WHERE a.patient_id = $1 AND f.status IN ('accepted', 'amended', 'rejected')
                 UNION ALL
                 SELECT f.model, f.model_version, f.status, f.decision_label, f.decision_note, f.decided_at, f.decided_by_name, i.filename, NULL AS appointment_id, c.review_id
                 FROM review_cases c JOIN images i ON i.case_id = c.id JOIN findings f ON f.image_id = i.id
                 WHERE c.patient_id = $1 AND f.status IN ('accepted', 'amended', 'rejected')",
                |r| {
                    Ok(ChartEntry {
                        kind: EntryKind::Finding,
                        at: r.try_get::<Option<i64>, _>("decided_at")?.unwrap_or_default(),
                        by: text(r, "decided_by_name")?,
                        title: format!("{} {} ({})", text(r, "decision_label")?, text(r, "status")?, text(r, "filename")?),
                        detail: format!("{} {} {}", text(r, "model")?, text(r, "model_version")?, text(r, "decision_note")?)
                            .trim()
                            .to_string(),
                        link: link_of(r)?,
                    })
                },
            ),
            EntryKind::Image => (
                "SELECT i.filename, i.kind, i.created_at, i.shared_by_name, a.id AS appointment_id, NULL AS review_id
                 FROM appointments a JOIN images i ON i.room_id = a.room_id WHERE a.patient_id = $1
                 UNION ALL
                 SELECT i.filename, i.kind, i.created_at, i.shared_by_name, NULL AS appointment_id, c.review_id
                 FROM review_cases c JOIN images i ON i.case_id = c.id WHERE c.patient_id = $1",
                |r| {
                    Ok(ChartEntry {
                        kind: EntryKind::Image,
                        at: r.try_get("created_at")?,
                        by: r.try_get("shared_by_name")?,
                        title: r.try_get("filename")?,
                        detail: r.try_get("kind")?,
                        link: link_of(r)?,
                    })
                },
            ),
        };
        let rows = sqlx::query(sql).bind(patient).fetch_all(&mut *conn).await?;
        for r in &rows {
            out.push(build(r)?);
        }
    }
    Ok(out)
}

fn link_of(r: &sqlx::any::AnyRow) -> Result<Option<String>> {
    Ok(
        match (
            r.try_get::<Option<String>, _>("appointment_id")?,
            r.try_get::<Option<String>, _>("review_id")?,
        ) {
            (Some(a), _) => Some(format!("/appointments/{a}")),
            (None, Some(v)) => Some(format!("/reviews/{v}")),
            (None, None) => None,
        },
    )
}
