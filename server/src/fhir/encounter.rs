//! `Encounter`: a consultation that was held: an appointment whose room someone joined. Its id
//! is the room's; class `VR` (virtual); its period runs from the first join to the last leave
//! (open while someone is still in the call); its participants are the clinicians and guests
//! who joined, the patient its subject. Findings made in the call name it.

use serde::Serialize;
use sqlx::Row;

use super::access::Scope;
use super::model::{CodeableConcept, Coding, Meta, Reference, Resource};
use super::outcome::{FhirError, FhirResult};
use super::search::{self, SearchQuery, Window, instant};
use crate::db::{Arg, Db, Filters};

/// Search parameters besides the common ones.
pub const PARAMS: [&str; 5] = ["patient", "subject", "date", "appointment", "status"];

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Encounter {
    pub id: String,
    pub meta: Meta,
    pub status: &'static str,
    pub class: Coding,
    #[serde(rename = "type", skip_serializing_if = "Vec::is_empty")]
    pub type_: Vec<CodeableConcept>,
    /// The patient; none for a case review's call, which discusses several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    pub participant: Vec<Participant>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub appointment: Vec<Reference>,
    pub period: Period,
}

fn virtual_class() -> Coding {
    Coding {
        system: Some("http://terminology.hl7.org/CodeSystem/v3-ActCode".into()),
        code: Some("VR".into()),
        display: Some("virtual".into()),
    }
}

/// A case review's call (see [`super::care_plan::review_encounter`]).
pub fn of_review(
    room: &str,
    title: &str,
    started: i64,
    ended: Option<i64>,
    participant: Vec<Participant>,
) -> Encounter {
    Encounter {
        id: room.to_string(),
        meta: Meta { version_id: None, last_updated: instant(ended.unwrap_or(started)) },
        status: if ended.is_some() { "finished" } else { "in-progress" },
        class: virtual_class(),
        type_: vec![CodeableConcept::text(format!("Multidisciplinary case review: {title}"))],
        subject: None,
        participant,
        appointment: Vec::new(),
        period: Period { start: instant(started), end: ended.map(instant) },
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Participant {
    #[serde(rename = "type")]
    pub type_: Vec<CodeableConcept>,
    pub period: Period,
    pub individual: Reference,
}

#[derive(Clone, Debug, Serialize)]
pub struct Period {
    pub start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

const FROM: &str = "FROM appointments a JOIN users p ON p.id = a.patient_id
     JOIN (SELECT room_id, MIN(first_joined_at) AS started, MAX(last_left_at) AS ended,
                  SUM(CASE WHEN last_left_at IS NULL THEN 1 ELSE 0 END) AS inside
             FROM room_attendance GROUP BY room_id) t ON t.room_id = a.room_id";
const COLUMNS: &str = "SELECT a.room_id, a.id AS appointment_id, a.patient_id, p.name AS patient_name,
        t.started, t.ended, t.inside";

struct Held {
    room_id: String,
    appointment_id: String,
    patient_id: String,
    patient_name: String,
    started: i64,
    ended: Option<i64>,
    inside: i64,
}

fn participation(code: &str, display: &str) -> CodeableConcept {
    CodeableConcept {
        coding: vec![Coding {
            system: Some("http://terminology.hl7.org/CodeSystem/v3-ParticipationType".into()),
            code: Some(code.into()),
            display: Some(display.into()),
        }],
        text: None,
    }
}

/// The encounters of `held`, with their participants read in one query.
async fn build(db: &Db, held: Vec<Held>) -> FhirResult<Vec<Encounter>> {
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let mut f = Filters::default();
    f.add_any("room_id = ?", held.iter().map(|h| Arg::Text(h.room_id.clone())).collect());
    let sql = format!(
        "SELECT room_id, user_id, name, role, first_joined_at, last_left_at FROM room_attendance {} ORDER BY first_joined_at",
        f.where_clause()
    );
    let rows = f.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&mut *db.acquire().await?).await?;
    let mut out = Vec::with_capacity(held.len());
    for h in held {
        let mut participant = Vec::new();
        for r in rows.iter().filter(|r| r.try_get::<String, _>("room_id").is_ok_and(|id| id == h.room_id)) {
            let role: String = r.try_get("role")?;
            let user: String = r.try_get("user_id")?;
            let name: String = r.try_get("name")?;
            let (type_, individual) = match role.as_str() {
                // The patient is the subject, not a participant.
                "patient" if !user.starts_with("guest:") => continue,
                "host" => (
                    participation("PPRF", "primary performer"),
                    Reference::to("Practitioner", &user, Some(&name)),
                ),
                "expert" => {
                    (participation("CON", "consultant"), Reference::to("Practitioner", &user, Some(&name)))
                }
                // Guests have no account to refer to: named only.
                _ => (
                    participation("PART", "Participation"),
                    Reference { reference: None, display: Some(name) },
                ),
            };
            participant.push(Participant {
                type_: vec![type_],
                period: Period {
                    start: instant(r.try_get("first_joined_at")?),
                    end: r.try_get::<Option<i64>, _>("last_left_at")?.map(instant),
                },
                individual,
            });
        }
        let finished = h.inside == 0;
        out.push(Encounter {
            meta: Meta {
                version_id: None,
                last_updated: instant(h.ended.filter(|_| finished).unwrap_or(h.started)),
            },
            status: if finished { "finished" } else { "in-progress" },
            class: virtual_class(),
            type_: Vec::new(),
            subject: Some(Reference::to("Patient", &h.patient_id, Some(&h.patient_name))),
            participant,
            appointment: vec![Reference::to("Appointment", &h.appointment_id, None)],
            period: Period { start: instant(h.started), end: h.ended.filter(|_| finished).map(instant) },
            id: h.room_id,
        });
    }
    Ok(out)
}

async fn fetch(db: &Db, f: Filters, tail: &str) -> FhirResult<Vec<Held>> {
    let sql = format!("{COLUMNS} {FROM} {} {tail}", f.where_clause());
    let rows = f.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&mut *db.acquire().await?).await?;
    rows.iter()
        .map(|r| {
            Ok(Held {
                room_id: r.try_get("room_id")?,
                appointment_id: r.try_get("appointment_id")?,
                patient_id: r.try_get("patient_id")?,
                patient_name: r.try_get("patient_name")?,
                started: r.try_get("started")?,
                ended: r.try_get("ended")?,
                inside: r.try_get("inside")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(FhirError::from)
}

/// The encounter `id` (a room id) and its patient, if the caller may read it.
pub async fn read(db: &Db, scope: &Scope, id: &str) -> FhirResult<Option<(Encounter, String)>> {
    let mut f = Filters::default();
    scope.patients(&mut f, "a.patient_id");
    f.add("a.room_id = ?", Some(Arg::Text(id.to_string())));
    let held = fetch(db, f, "").await?;
    let patient = held.first().map(|h| h.patient_id.clone());
    Ok(build(db, held).await?.pop().zip(patient))
}

/// One page of an Encounter search, with the patients shown.
pub async fn search(db: &Db, scope: &Scope, q: &SearchQuery) -> FhirResult<(search::Page, Vec<String>)> {
    let narrowed = scope.for_patients(db, &q.patient_ids()?).await?;
    let scope = &narrowed;
    let mut f = Filters::default();
    scope.patients(&mut f, "a.patient_id");
    q.ids(&mut f, "a.room_id")?;
    for name in ["patient", "subject"] {
        for raw in q.values(name) {
            search::alternatives(&mut f, "a.patient_id", raw, |v| search::reference_id("Patient", v))?;
        }
    }
    for raw in q.values("appointment") {
        search::alternatives(&mut f, "a.id", raw, |v| search::reference_id("Appointment", v))?;
    }
    for raw in q.values("status") {
        let mut any = Vec::new();
        for code in raw.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            match code {
                "finished" => any.push("t.inside = 0"),
                "in-progress" => any.push("t.inside > 0"),
                "planned" | "arrived" | "triaged" | "onleave" | "cancelled" | "entered-in-error"
                | "unknown" => any.push("1 = 0"),
                other => {
                    return Err(FhirError::bad_param(
                        "status",
                        format!("{other:?} is not an R4 encounter status"),
                    ));
                }
            }
        }
        if !any.is_empty() {
            f.add_sql(&format!("({})", any.join(" OR ")));
        }
    }
    search::dates(q, &mut f, "date", "t.started")?;
    let total = super::count(db, FROM, &f).await?;
    let window = Window { column: "a.room_id", cursor: q.cursor.as_ref(), count: q.count };
    let held =
        if q.count == 0 { Vec::new() } else { fetch(db, window.filters(&f), &window.order_limit()).await? };
    let (held, has_prev, has_next) = window.finish(held);
    let patients = search::distinct(held.iter().map(|h| h.patient_id.clone()));
    let page = search::Page {
        kind: "Encounter",
        total,
        matches: build(db, held).await?.into_iter().map(Resource::Encounter).collect(),
        includes: Vec::new(),
        has_prev,
        has_next,
    };
    Ok((page, patients))
}
