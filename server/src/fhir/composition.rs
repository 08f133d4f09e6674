//! `Composition`: a signed consultation note, one section per SOAP part (LOINC section codes),
//! attested by its signer, identified by the hash it was signed with. Each signed addendum is
//! a Composition of its own that `appends` the note (`relatesTo`), as nothing signed is edited.
//!
//! Composition, not DocumentReference: the note is structured clinical content written here
//! (sections, author, legal attester), which is what Composition carries; DocumentReference
//! indexes a document kept elsewhere (a PDF, a scan). Drafts are not served. A patient reads
//! the note without its subjective and objective sections, as on their record page.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::access::Scope;
use super::finding::{NAMED_HASH_SYSTEM, named_hash};
use super::model::{CodeableConcept, Coding, Identifier, Meta, Reference, Resource};
use super::outcome::FhirResult;
use super::search::{self, SearchQuery, Window, instant};
use crate::db::{Arg, Db, Filters};

/// Search parameters besides the common ones.
pub const PARAMS: [&str; 5] = ["patient", "subject", "date", "encounter", "_lastUpdated"];

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Composition {
    pub id: String,
    pub meta: Meta,
    pub identifier: Identifier,
    pub status: &'static str,
    #[serde(rename = "type")]
    pub type_: CodeableConcept,
    pub subject: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// A `dateTime`: when it was signed.
    pub date: String,
    pub author: Vec<Reference>,
    pub title: String,
    pub attester: Vec<Attester>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relates_to: Vec<RelatesTo>,
    pub section: Vec<Section>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Attester {
    pub mode: &'static str,
    pub time: String,
    pub party: Reference,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelatesTo {
    pub code: &'static str,
    pub target_reference: Reference,
}

#[derive(Clone, Debug, Serialize)]
pub struct Section {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeableConcept>,
    pub text: Narrative,
}

#[derive(Clone, Debug, Serialize)]
pub struct Narrative {
    pub status: &'static str,
    /// XHTML: the text, escaped, a paragraph per line.
    pub div: String,
}

fn narrative(text: &str) -> Narrative {
    let escaped: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("<p>{}</p>", l.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")))
        .collect();
    Narrative {
        status: "generated",
        div: format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>", escaped.concat()),
    }
}

fn loinc(code: &str, display: &str) -> CodeableConcept {
    CodeableConcept {
        coding: vec![Coding {
            system: Some("http://loinc.org".into()),
            code: Some(code.into()),
            display: Some(display.into()),
        }],
        text: None,
    }
}

const FROM: &str =
    "FROM notes n JOIN appointments a ON a.id = n.appointment_id JOIN users p ON p.id = n.patient_id
     JOIN users au ON au.id = n.author_id";
const COLUMNS: &str =
    "SELECT n.id, n.patient_id, p.name AS patient_name, n.author_id, au.name AS author_name,
        n.signed_by, n.signed_by_name, n.signed_at, n.content_sha256, n.subjective, n.objective, n.assessment,
        n.plan, n.instructions, n.diagnoses, a.room_id,
        (SELECT COUNT(*) FROM room_attendance x WHERE x.room_id = a.room_id) AS held";

/// The note as Compositions: the note first, then its addenda in order.
fn map(r: &AnyRow, addenda: &[AnyRow], for_patient: bool) -> Result<Vec<Composition>, sqlx::Error> {
    let id: String = r.try_get("id")?;
    let subject = Reference::to(
        "Patient",
        &r.try_get::<String, _>("patient_id")?,
        Some(&r.try_get::<String, _>("patient_name")?),
    );
    let held: i64 = r.try_get("held")?;
    let encounter = (held > 0)
        .then(|| r.try_get::<String, _>("room_id"))
        .transpose()?
        .map(|room| Reference::to("Encounter", &room, None));
    let signed_at: i64 = r.try_get("signed_at")?;
    let signer = Reference::to(
        "Practitioner",
        &r.try_get::<String, _>("signed_by")?,
        r.try_get::<Option<String>, _>("signed_by_name")?.as_deref(),
    );
    let diagnoses: Vec<serde_json::Value> =
        serde_json::from_str(&r.try_get::<String, _>("diagnoses")?).unwrap_or_default();
    let diagnoses: Vec<String> = diagnoses
        .iter()
        .map(|d| {
            let text = d["text"].as_str().unwrap_or("");
            match (d["system"].as_str(), d["code"].as_str()) {
                (Some(system), Some(code)) => format!("{text} ({} {code})", system.to_uppercase()),
                _ => text.to_string(),
            }
        })
        .collect();
    let mut parts: Vec<(&str, &str, &str, String)> = Vec::new();
    if !for_patient {
        parts.push(("Subjective", "61150-9", "Subjective Narrative", r.try_get("subjective")?));
        parts.push(("Objective", "61149-1", "Objective Narrative", r.try_get("objective")?));
    }
    parts.push(("Assessment", "51848-0", "Evaluation note", r.try_get("assessment")?));
    parts.push(("Diagnoses", "29548-5", "Diagnosis Narrative", diagnoses.join("\n")));
    parts.push(("Plan", "18776-5", "Plan of care note", r.try_get("plan")?));
    parts.push(("Patient instructions", "69730-0", "Instructions", r.try_get("instructions")?));
    let section = parts
        .into_iter()
        .filter(|(_, _, _, text)| !text.trim().is_empty())
        .map(|(title, code, display, text)| Section {
            title: title.into(),
            code: Some(loinc(code, display)),
            text: narrative(&text),
        })
        .collect();
    let consult_note = || loinc("11488-4", "Consult note");
    let mut out = vec![Composition {
        id: id.clone(),
        meta: Meta { version_id: None, last_updated: instant(signed_at) },
        identifier: Identifier {
            use_: Some("official"),
            type_: None,
            system: NAMED_HASH_SYSTEM.into(),
            value: named_hash(&r.try_get::<String, _>("content_sha256")?),
        },
        status: "final",
        type_: consult_note(),
        subject: subject.clone(),
        encounter: encounter.clone(),
        date: instant(signed_at),
        author: vec![Reference::to(
            "Practitioner",
            &r.try_get::<String, _>("author_id")?,
            Some(&r.try_get::<String, _>("author_name")?),
        )],
        title: "Consultation note".into(),
        attester: vec![Attester { mode: "legal", time: instant(signed_at), party: signer }],
        relates_to: Vec::new(),
        section,
    }];
    for a in addenda.iter().filter(|a| a.try_get::<String, _>("note_id").is_ok_and(|n| n == id)) {
        let position: i64 = a.try_get("position")?;
        let at: i64 = a.try_get("signed_at")?;
        let author = Reference::to(
            "Practitioner",
            &a.try_get::<String, _>("author_id")?,
            Some(&a.try_get::<String, _>("author_name")?),
        );
        out.push(Composition {
            id: addendum_id(&id, position),
            meta: Meta { version_id: None, last_updated: instant(at) },
            identifier: Identifier {
                use_: Some("official"),
                type_: None,
                system: NAMED_HASH_SYSTEM.into(),
                value: named_hash(&a.try_get::<String, _>("content_sha256")?),
            },
            status: "final",
            type_: consult_note(),
            subject: subject.clone(),
            encounter: encounter.clone(),
            date: instant(at),
            author: vec![author.clone()],
            title: format!("Addendum {position} to the consultation note"),
            attester: vec![Attester { mode: "legal", time: instant(at), party: author }],
            relates_to: vec![RelatesTo {
                code: "appends",
                target_reference: Reference::to("Composition", &id, None),
            }],
            section: vec![Section {
                title: "Addendum".into(),
                code: None,
                text: narrative(&a.try_get::<String, _>("body")?),
            }],
        });
    }
    Ok(out)
}

/// The id of a note's addendum.
pub fn addendum_id(note: &str, position: i64) -> String {
    format!("{note}-a{position}")
}

fn scoped(scope: &Scope) -> Filters {
    let mut f = Filters::default();
    f.add_sql("n.signed_at IS NOT NULL");
    scope.patients(&mut f, "n.patient_id");
    f
}

/// The signed notes matching `f`, each with its addenda, as Compositions.
async fn fetch(
    db: &Db,
    f: Filters,
    tail: &str,
    for_patient: bool,
) -> FhirResult<(Vec<Vec<Composition>>, Vec<String>)> {
    let mut conn = db.acquire().await?;
    let sql = format!("{COLUMNS} {FROM} {} {tail}", f.where_clause());
    let rows = f.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&mut *conn).await?;
    if rows.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut a = Filters::default();
    a.add_any(
        "note_id = ?",
        rows.iter().map(|r| r.try_get::<String, _>("id").map(Arg::Text)).collect::<Result<_, _>>()?,
    );
    let sql = format!(
        "SELECT note_id, position, body, author_id, author_name, signed_at, content_sha256 FROM note_addenda {} ORDER BY position",
        a.where_clause()
    );
    let addenda = a.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&mut *conn).await?;
    drop(conn);
    let mut patients = Vec::new();
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        patients.push(r.try_get::<String, _>("patient_id")?);
        out.push(map(r, &addenda, for_patient)?);
    }
    patients.sort();
    patients.dedup();
    Ok((out, patients))
}

/// The Composition `id` (a note, or `{note}-a{n}` for its addendum), if the caller may read it.
pub async fn read(db: &Db, scope: &Scope, id: &str) -> FhirResult<Option<(Composition, String)>> {
    let note = id.rsplit_once("-a").filter(|(_, n)| n.parse::<u32>().is_ok()).map_or(id, |(note, _)| note);
    let mut f = scoped(scope);
    f.add("n.id = ?", Some(Arg::Text(note.to_string())));
    let (found, patients) = fetch(db, f, "", matches!(scope, Scope::Own(_))).await?;
    let found = found.into_iter().flatten().find(|c| c.id == id);
    Ok(found.zip(patients.into_iter().next()))
}

/// One page of a Composition search (notes; their addenda come along as included entries).
pub async fn search(db: &Db, scope: &Scope, q: &SearchQuery) -> FhirResult<(search::Page, Vec<String>)> {
    let narrowed = scope.for_patients(db, &q.patient_ids()?).await?;
    let scope = &narrowed;
    let mut f = scoped(scope);
    q.ids(&mut f, "n.id")?;
    for name in ["patient", "subject"] {
        for raw in q.values(name) {
            search::alternatives(&mut f, "n.patient_id", raw, |v| search::reference_id("Patient", v))?;
        }
    }
    for raw in q.values("encounter") {
        search::alternatives(&mut f, "a.room_id", raw, |v| search::reference_id("Encounter", v))?;
    }
    search::dates(q, &mut f, "date", "n.signed_at")?;
    search::dates(q, &mut f, "_lastUpdated", "n.signed_at")?;
    let total = super::count(db, FROM, &f).await?;
    let window = Window { column: "n.id", cursor: q.cursor.as_ref(), count: q.count };
    let notes = if q.count == 0 {
        Vec::new()
    } else {
        fetch(db, window.filters(&f), &window.order_limit(), matches!(scope, Scope::Own(_))).await?.0
    };
    let (notes, has_prev, has_next) = window.finish(notes);
    let mut patients: Vec<String> = notes
        .iter()
        .filter_map(|n| n.first()?.subject.reference.as_deref()?.strip_prefix("Patient/").map(str::to_string))
        .collect();
    patients.sort();
    patients.dedup();
    let mut matches = Vec::new();
    let mut includes = Vec::new();
    for mut parts in notes {
        let rest = parts.split_off(1);
        matches.extend(parts.into_iter().map(Resource::Composition));
        includes.extend(rest.into_iter().map(Resource::Composition));
    }
    Ok((search::Page { kind: "Composition", total, matches, includes, has_prev, has_next }, patients))
}
