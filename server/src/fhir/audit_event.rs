//! `AuditEvent`: the audit log, for a hospital's security system (admins' tokens only). Each
//! row is an event: its action as the type (system `urn:consilium:audit-action`), the actor as
//! the requesting agent with their address, the patient and the object as entities.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::model::{Coding, Meta, Reference, Resource};
use super::outcome::FhirResult;
use super::search::{self, SearchQuery, Window, instant};
use crate::db::{Arg, Db, Filters};

/// Search parameters besides the common ones.
pub const PARAMS: [&str; 5] = ["patient", "agent", "date", "type", "_lastUpdated"];

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    pub meta: Meta,
    #[serde(rename = "type")]
    pub type_: Coding,
    pub action: &'static str,
    pub recorded: String,
    pub outcome: &'static str,
    pub agent: Vec<Agent>,
    pub source: Source,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entity: Vec<Entity>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Agent {
    pub who: Reference,
    pub requestor: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Network {
    pub address: String,
    /// `2`: an IP address.
    #[serde(rename = "type")]
    pub type_: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct Source {
    pub observer: Reference,
}

#[derive(Clone, Debug, Serialize)]
pub struct Entity {
    pub what: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// R4 `AuditEventAction` of one of our actions: Create, Read, Update, Delete or Execute.
fn action_code(action: &str) -> &'static str {
    let verb = action.rsplit('.').next().unwrap_or("");
    if verb.starts_with("read") || verb.starts_with("search") || verb == "list" || verb.starts_with("export")
    {
        "R"
    } else if verb.starts_with("create") || verb == "share" || verb == "grant" || verb == "emergency_access" {
        "C"
    } else if verb.starts_with("delete") || verb == "revoke" {
        "D"
    } else if matches!(verb, "login" | "logout" | "login_failed" | "analyse") {
        "E"
    } else {
        "U"
    }
}

const FROM: &str = "FROM audit_log l LEFT JOIN users u ON u.id = l.actor_id";
const COLUMNS: &str =
    "SELECT l.id, l.at, l.actor_id, l.actor_role, COALESCE(u.name, l.actor_name) AS actor_name,
        l.action, l.patient_id, l.object_type, l.object_id, l.client_addr, l.detail";

fn map(r: &AnyRow) -> Result<AuditEvent, sqlx::Error> {
    let action: String = r.try_get("action")?;
    let at: i64 = r.try_get("at")?;
    let actor: Option<String> = r.try_get("actor_id")?;
    let role: Option<String> = r.try_get("actor_role")?;
    let name: Option<String> = r.try_get("actor_name")?;
    let who = match (actor.as_deref(), role.as_deref()) {
        (Some(id), Some("doctor")) => Reference::to("Practitioner", id, name.as_deref()),
        (Some(id), Some("patient")) if !id.contains(':') => Reference::to("Patient", id, name.as_deref()),
        _ => Reference {
            reference: None,
            display: Some(match (&name, &actor) {
                (Some(n), _) => n.clone(),
                (None, Some(a)) => a.clone(),
                (None, None) => "the system".into(),
            }),
        },
    };
    let mut entity = Vec::new();
    if let Some(p) = r.try_get::<Option<String>, _>("patient_id")? {
        entity.push(Entity { what: Reference::to("Patient", &p, None), description: None });
    }
    if let (Some(kind), Some(id)) =
        (r.try_get::<Option<String>, _>("object_type")?, r.try_get::<Option<String>, _>("object_id")?)
    {
        entity.push(Entity {
            what: Reference { reference: None, display: Some(format!("{kind} {id}")) },
            description: r.try_get::<Option<String>, _>("detail")?.filter(|d| !d.is_empty()),
        });
    }
    Ok(AuditEvent {
        id: r.try_get("id")?,
        meta: Meta { version_id: None, last_updated: instant(at) },
        type_: Coding {
            system: Some("urn:consilium:audit-action".into()),
            code: Some(action.clone()),
            display: None,
        },
        action: action_code(&action),
        recorded: instant(at),
        outcome: "0",
        agent: vec![Agent {
            who,
            requestor: true,
            network: r
                .try_get::<Option<String>, _>("client_addr")?
                .filter(|a| a.parse::<std::net::IpAddr>().is_ok())
                .map(|address| Network { address, type_: "2" }),
        }],
        source: Source { observer: Reference { reference: None, display: Some("Consilium".into()) } },
        entity,
    })
}

/// One page of the audit log (admins only: the caller checks).
pub async fn search(db: &Db, q: &SearchQuery) -> FhirResult<search::Page> {
    let mut f = Filters::default();
    q.ids(&mut f, "l.id")?;
    for raw in q.values("patient") {
        search::alternatives(&mut f, "l.patient_id", raw, |v| search::reference_id("Patient", v))?;
    }
    for raw in q.values("agent") {
        let kind = if raw.contains("Practitioner/") { "Practitioner" } else { "Patient" };
        search::alternatives(&mut f, "l.actor_id", raw, |v| search::reference_id(kind, v))?;
    }
    for raw in q.values("type") {
        let codes = raw
            .split(',')
            .map(|t| Arg::Text(t.rsplit('|').next().unwrap_or("").trim().to_string()))
            .collect();
        f.add_any("l.action = ?", codes);
    }
    search::dates(q, &mut f, "date", "l.at")?;
    search::dates(q, &mut f, "_lastUpdated", "l.at")?;
    let total = super::count(db, FROM, &f).await?;
    let window = Window { column: "l.id", cursor: q.cursor.as_ref(), count: q.count };
    let rows = window.rows(&mut *db.acquire().await?, &format!("{COLUMNS} {FROM}"), &f).await?;
    let events = rows.iter().map(map).collect::<Result<Vec<_>, _>>()?;
    let (events, has_prev, has_next) = window.finish(events);
    Ok(search::Page {
        kind: "AuditEvent",
        total,
        matches: events.into_iter().map(Resource::AuditEvent).collect(),
        includes: Vec::new(),
        has_prev,
        has_next,
    })
}
