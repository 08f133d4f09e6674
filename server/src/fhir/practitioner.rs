//! `Practitioner` and `PractitionerRole`: the clinic's doctors. Each doctor has one role, with
//! the same id as the practitioner, carrying their specialty.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::model::{
    CodeableConcept, ContactPoint, ContactSystem, HumanName, Meta, Practitioner, PractitionerRole, Reference,
    Resource,
};
use super::outcome::FhirResult;
use super::search::{self, SearchQuery, Window, instant};
use crate::db::{Arg, Db, Filters, like_escape};

/// Search parameters of `Practitioner` besides the common ones.
pub const PARAMS: [&str; 4] = ["identifier", "name", "email", "_lastUpdated"];
/// Search parameters of `PractitionerRole` besides the common ones.
pub const ROLE_PARAMS: [&str; 2] = ["practitioner", "specialty"];

const SELECT: &str = "SELECT u.id, u.name, u.email, u.active, u.specialty, u.updated_at FROM users u";

struct Doctor {
    id: String,
    name: String,
    email: String,
    active: bool,
    specialty: Option<String>,
    updated_at: i64,
}

fn doctor(r: &AnyRow) -> Result<Doctor, sqlx::Error> {
    let active: i64 = r.try_get("active")?;
    Ok(Doctor {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        email: r.try_get("email")?,
        active: active != 0,
        specialty: r.try_get("specialty")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn practitioner(d: Doctor, identifier: Vec<super::model::Identifier>) -> Resource {
    Resource::Practitioner(Practitioner {
        identifier,
        meta: Meta { version_id: None, last_updated: instant(d.updated_at) },
        active: d.active,
        name: vec![HumanName { text: d.name }],
        telecom: vec![ContactPoint { system: ContactSystem::Email, value: d.email }],
        id: d.id,
    })
}

fn role(d: Doctor) -> Resource {
    Resource::PractitionerRole(PractitionerRole {
        meta: Meta { version_id: None, last_updated: instant(d.updated_at) },
        active: d.active,
        practitioner: Reference::to("Practitioner", &d.id, Some(&d.name)),
        specialty: d.specialty.into_iter().map(CodeableConcept::text).collect(),
        id: d.id,
    })
}

/// The doctor `id` as a `Practitioner` (`role: false`) or `PractitionerRole`.
pub async fn read(conn: &mut AnyConnection, id: &str, as_role: bool) -> FhirResult<Option<Resource>> {
    let sql = format!("{SELECT} WHERE u.role = 'doctor' AND u.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *conn).await?;
    let Some(d) = row.as_ref().map(doctor).transpose()? else { return Ok(None) };
    if as_role {
        return Ok(Some(role(d)));
    }
    let mut ids = super::identifiers::of(conn, &[id]).await?;
    Ok(Some(practitioner(d, ids.remove(id).unwrap_or_default())))
}

/// One page of a `Practitioner` (`as_role: false`) or `PractitionerRole` search.
pub async fn search(db: &Db, q: &SearchQuery, as_role: bool) -> FhirResult<search::Page> {
    let mut f = Filters::default();
    f.add("u.role = ?", Some(Arg::Text("doctor".into())));
    q.ids(&mut f, "u.id")?;
    for raw in q.values("name") {
        let pattern = format!("%{}%", like_escape(&raw.trim().to_lowercase()));
        f.add("LOWER(u.name) LIKE ? ESCAPE '\\'", Some(Arg::Text(pattern)));
    }
    for raw in q.values("email") {
        f.add("LOWER(u.email) = ?", Some(Arg::Text(raw.trim().to_lowercase())));
    }
    for raw in q.values("identifier") {
        f.add_or(super::identifiers::condition(raw, "u.id", None)?);
    }
    for raw in q.values("practitioner") {
        search::alternatives(&mut f, "u.id", raw, |v| search::reference_id("Practitioner", v))?;
    }
    for raw in q.values("specialty") {
        // The specialty is free text: matched whole, without regard to case.
        let values = raw.split(',').map(|s| Arg::Text(s.trim().to_lowercase())).collect();
        f.add_any("LOWER(u.specialty) = ?", values);
    }
    if !as_role {
        search::dates(q, &mut f, "_lastUpdated", "u.updated_at")?;
    }
    let total = super::count(db, "FROM users u", &f).await?;
    let window = Window { column: "u.id", cursor: q.cursor.as_ref(), count: q.count };
    let mut conn = db.acquire().await?;
    let rows = window.rows(&mut conn, SELECT, &f).await?;
    let doctors = rows.iter().map(doctor).collect::<Result<Vec<_>, _>>()?;
    let (doctors, has_prev, has_next) = window.finish(doctors);
    let ids: Vec<&str> = doctors.iter().map(|d| d.id.as_str()).collect();
    let mut identifiers =
        if as_role { Default::default() } else { super::identifiers::of(&mut conn, &ids).await? };
    drop(conn);
    Ok(search::Page {
        kind: if as_role { "PractitionerRole" } else { "Practitioner" },
        total,
        matches: doctors
            .into_iter()
            .map(|d| {
                if as_role {
                    role(d)
                } else {
                    let ids = identifiers.remove(&d.id).unwrap_or_default();
                    practitioner(d, ids)
                }
            })
            .collect(),
        includes: Vec::new(),
        has_prev,
        has_next,
    })
}
