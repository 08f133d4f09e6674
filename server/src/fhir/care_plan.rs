//! `CarePlan`: a case review's signed recommendation for one patient, modelled as the
//! Medizininformatik-Initiative's molecular tumour board module models a board's decision
//! (`MII_PR_MTB_Therapieplan`, a CarePlan with intent `plan`): the patient as subject, the
//! review's call as encounter, the coordinator who signed as author, the clinicians present as
//! contributors, the recommendation as an activity with the doctor responsible for the next
//! step, the question and discussion as notes. Drafts are not served.
//!
//! The review's call is an `Encounter` too (its id is the review's room), read by id: it has
//! no single patient, so patient searches do not list it.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::access::Scope;
use super::encounter::{Encounter, Participant, Period};
use super::finding::{NAMED_HASH_SYSTEM, named_hash};
use super::model::{CodeableConcept, Coding, Identifier, Meta, Reference, Resource};
use super::outcome::FhirResult;
use super::search::{self, SearchQuery, Window, instant};
use crate::db::{Arg, Db, Filters};

/// Search parameters besides the common ones.
pub const PARAMS: [&str; 5] = ["patient", "subject", "encounter", "date", "_lastUpdated"];

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CarePlan {
    pub id: String,
    pub meta: Meta,
    pub identifier: Vec<Identifier>,
    pub status: &'static str,
    pub intent: &'static str,
    pub category: Vec<CodeableConcept>,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub subject: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// A `dateTime`: when it was signed.
    pub created: String,
    pub author: Reference,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contributor: Vec<Reference>,
    pub activity: Vec<Activity>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Activity {
    pub detail: ActivityDetail,
}

#[derive(Clone, Debug, Serialize)]
pub struct ActivityDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub code: CodeableConcept,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Annotation {
    pub text: String,
}

const FROM: &str =
    "FROM case_outcomes o JOIN reviews r ON r.id = o.review_id JOIN users p ON p.id = o.patient_id
     LEFT JOIN users rs ON rs.id = o.responsible_id";
const COLUMNS: &str =
    "SELECT o.id, o.review_id, r.title, r.room_id, o.patient_id, p.name AS patient_name, o.question,
        o.discussion, o.recommendation, o.recommendation_text, o.responsible_id, rs.name AS responsible_name,
        o.signed_by, o.signed_by_name, o.signed_at, o.content_sha256,
        (SELECT COUNT(*) FROM room_attendance x WHERE x.room_id = r.room_id) AS held";

/// What a recommendation asks for: its activity kind (R4 `CarePlanActivityKind`) and words.
fn recommendation(code: &str) -> (Option<&'static str>, &'static str) {
    match code {
        "surgery" => (Some("ServiceRequest"), "Surgery"),
        "systemic_therapy" => (Some("MedicationRequest"), "Systemic therapy"),
        "radiotherapy" => (Some("ServiceRequest"), "Radiotherapy"),
        "further_investigation" => (Some("ServiceRequest"), "Further investigation"),
        "surveillance" => (Some("ServiceRequest"), "Surveillance"),
        "clinical_trial" => (Some("ServiceRequest"), "Referral to a clinical trial"),
        _ => (None, "Other"),
    }
}

fn map(r: &AnyRow, present: &[AnyRow], for_patient: bool) -> Result<(CarePlan, String), sqlx::Error> {
    let review: String = r.try_get("review_id")?;
    let room: String = r.try_get("room_id")?;
    let held: i64 = r.try_get("held")?;
    let signed_at: i64 = r.try_get("signed_at")?;
    let patient: String = r.try_get("patient_id")?;
    let code: String = r.try_get::<Option<String>, _>("recommendation")?.unwrap_or_default();
    let (kind, words) = recommendation(&code);
    let text: String = r.try_get("recommendation_text")?;
    let text = Some(text).filter(|t| !t.trim().is_empty());
    let contributor = present
        .iter()
        .filter(|a| a.try_get::<String, _>("review_id").is_ok_and(|id| id == review))
        .filter_map(|a| {
            let user: String = a.try_get("user_id").ok()?;
            let name: String = a.try_get("name").ok()?;
            (!user.starts_with("guest:")).then(|| Reference::to("Practitioner", &user, Some(&name)))
        })
        .collect();
    let mut note = Vec::new();
    // The patient reads the recommendation, not the panel's discussion (as on the API).
    let notes: &[(&str, &str)] = if for_patient {
        &[("Question", "question")]
    } else {
        &[("Question", "question"), ("Discussion", "discussion")]
    };
    for (label, column) in notes.iter().copied() {
        let t: String = r.try_get(column)?;
        if !t.trim().is_empty() {
            note.push(Annotation { text: format!("{label}: {}", t.trim()) });
        }
    }
    let plan = CarePlan {
        id: r.try_get("id")?,
        meta: Meta { version_id: None, last_updated: instant(signed_at) },
        identifier: vec![Identifier {
            use_: Some("official"),
            type_: None,
            system: NAMED_HASH_SYSTEM.into(),
            value: named_hash(&r.try_get::<String, _>("content_sha256")?),
        }],
        status: "active",
        intent: "plan",
        category: vec![CodeableConcept::text("Multidisciplinary case review (tumour board) recommendation")],
        title: r.try_get("title")?,
        description: text.clone(),
        subject: Reference::to("Patient", &patient, Some(&r.try_get::<String, _>("patient_name")?)),
        encounter: (held > 0).then(|| Reference::to("Encounter", &room, None)),
        created: instant(signed_at),
        author: Reference::to(
            "Practitioner",
            &r.try_get::<String, _>("signed_by")?,
            r.try_get::<Option<String>, _>("signed_by_name")?.as_deref(),
        ),
        contributor,
        activity: vec![Activity {
            detail: ActivityDetail {
                kind,
                code: CodeableConcept {
                    coding: vec![Coding {
                        system: Some("urn:consilium:case-review-recommendation".into()),
                        code: Some(code.clone()),
                        display: Some(words.into()),
                    }],
                    text: Some(words.into()),
                },
                status: "not-started",
                performer: r
                    .try_get::<Option<String>, _>("responsible_id")?
                    .map(|id| -> Result<Reference, sqlx::Error> {
                        let name: Option<String> = r.try_get("responsible_name")?;
                        Ok(Reference::to("Practitioner", &id, name.as_deref()))
                    })
                    .transpose()?
                    .into_iter()
                    .collect(),
                description: text,
            },
        }],
        note,
    };
    Ok((plan, patient))
}

fn scoped(scope: &Scope) -> Filters {
    let mut f = Filters::default();
    f.add_sql("o.signed_at IS NOT NULL");
    scope.patients(&mut f, "o.patient_id");
    f
}

/// The signed outcomes matching `f` as CarePlans, with their patients.
async fn fetch(db: &Db, f: Filters, tail: &str, for_patient: bool) -> FhirResult<Vec<(CarePlan, String)>> {
    let mut conn = db.acquire().await?;
    let sql = format!("{COLUMNS} {FROM} {} {tail}", f.where_clause());
    let rows = f.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&mut *conn).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut a = Filters::default();
    a.add_sql("present = 1");
    a.add_any(
        "review_id = ?",
        rows.iter().map(|r| r.try_get::<String, _>("review_id").map(Arg::Text)).collect::<Result<_, _>>()?,
    );
    let sql =
        format!("SELECT review_id, user_id, name FROM review_attendance {} ORDER BY name", a.where_clause());
    let present = a.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&mut *conn).await?;
    Ok(rows.iter().map(|r| map(r, &present, for_patient)).collect::<Result<_, _>>()?)
}

/// The CarePlan `id`, if the caller may read it, with its patient.
pub async fn read(db: &Db, scope: &Scope, id: &str) -> FhirResult<Option<(CarePlan, String)>> {
    let mut f = scoped(scope);
    f.add("o.id = ?", Some(Arg::Text(id.to_string())));
    Ok(fetch(db, f, "", matches!(scope, Scope::Own(_))).await?.pop())
}

/// One page of a CarePlan search, with the patients shown.
pub async fn search(db: &Db, scope: &Scope, q: &SearchQuery) -> FhirResult<(search::Page, Vec<String>)> {
    let narrowed = scope.for_patients(db, &q.patient_ids()?).await?;
    let scope = &narrowed;
    let mut f = scoped(scope);
    q.ids(&mut f, "o.id")?;
    for name in ["patient", "subject"] {
        for raw in q.values(name) {
            search::alternatives(&mut f, "o.patient_id", raw, |v| search::reference_id("Patient", v))?;
        }
    }
    for raw in q.values("encounter") {
        search::alternatives(&mut f, "r.room_id", raw, |v| search::reference_id("Encounter", v))?;
    }
    search::dates(q, &mut f, "date", "o.signed_at")?;
    search::dates(q, &mut f, "_lastUpdated", "o.signed_at")?;
    let total = super::count(db, FROM, &f).await?;
    let window = Window { column: "o.id", cursor: q.cursor.as_ref(), count: q.count };
    let rows = if q.count == 0 {
        Vec::new()
    } else {
        fetch(db, window.filters(&f), &window.order_limit(), matches!(scope, Scope::Own(_))).await?
    };
    let (rows, has_prev, has_next) = window.finish(rows);
    let patients = search::distinct(rows.iter().map(|(_, p)| p.clone()));
    let matches = rows.into_iter().map(|(c, _)| Resource::CarePlan(c)).collect();
    Ok((
        search::Page { kind: "CarePlan", total, matches, includes: Vec::new(), has_prev, has_next },
        patients,
    ))
}

/// A case review's call as an Encounter (id: the review's room): for admins and the review's
/// doctors (its coordinator and the experts who did not decline), once someone joined it.
pub async fn review_encounter(db: &Db, scope: &Scope, room: &str) -> FhirResult<Option<Encounter>> {
    let mut conn = db.acquire().await?;
    let review = sqlx::query("SELECT id, title, coordinator_id FROM reviews WHERE room_id = $1")
        .bind(room)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(review) = review else { return Ok(None) };
    let id: String = review.try_get("id")?;
    let allowed = match scope {
        Scope::All => true,
        Scope::Own(_) => false,
        Scope::CareOf(doctor) => {
            review.try_get::<String, _>("coordinator_id")? == *doctor
                || sqlx::query(
                    "SELECT 1 AS one FROM review_experts WHERE review_id = $1 AND expert_id = $2 AND response <> 'declined'",
                )
                .bind(&id)
                .bind(doctor)
                .fetch_optional(&mut *conn)
                .await?
                .is_some()
        }
    };
    if !allowed {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT user_id, name, role, first_joined_at, last_left_at FROM room_attendance WHERE room_id = $1
         ORDER BY first_joined_at",
    )
    .bind(room)
    .fetch_all(&mut *conn)
    .await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let started: i64 = first.try_get("first_joined_at")?;
    let mut ended = Some(started);
    let mut participant = Vec::new();
    for r in &rows {
        let left: Option<i64> = r.try_get("last_left_at")?;
        ended = match (ended, left) {
            (Some(e), Some(l)) => Some(e.max(l)),
            _ => None,
        };
        let user: String = r.try_get("user_id")?;
        let name: String = r.try_get("name")?;
        let role: String = r.try_get("role")?;
        let (code, display) =
            if role == "host" { ("PPRF", "primary performer") } else { ("CON", "consultant") };
        participant.push(Participant {
            type_: vec![CodeableConcept {
                coding: vec![Coding {
                    system: Some("http://terminology.hl7.org/CodeSystem/v3-ParticipationType".into()),
                    code: Some(code.into()),
                    display: Some(display.into()),
                }],
                text: None,
            }],
            period: Period { start: instant(r.try_get("first_joined_at")?), end: left.map(instant) },
            individual: if user.starts_with("guest:") {
                Reference { reference: None, display: Some(name) }
            } else {
                Reference::to("Practitioner", &user, Some(&name))
            },
        });
    }
    Ok(Some(super::encounter::of_review(
        room,
        &review.try_get::<String, _>("title")?,
        started,
        ended,
        participant,
    )))
}
