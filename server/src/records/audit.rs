//! The audit log: one row per read or change of patient data and per sign-in event. Every
//! feature calls [`record`] inside the transaction of the change it describes, so a change and
//! its audit row land together or not at all. Rows never hold passwords, tokens or image bytes.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::model::Role;
use crate::auth::CurrentUser;
use crate::db::{Arg, Db, Filters, new_id, now_ms};
use crate::error::Result;

/// Who did it and from where; built from the request.
#[derive(Clone, Debug, Default)]
pub struct Actor {
    pub id: Option<String>,
    pub role: Option<Role>,
    pub client_addr: Option<String>,
    /// For someone without an account: the name they were given and their role in the room.
    pub visitor: Option<(String, &'static str)>,
}

impl Actor {
    pub fn user(user: &CurrentUser, client_addr: &str) -> Actor {
        Actor {
            id: Some(user.id.clone()),
            role: Some(user.role),
            client_addr: Some(client_addr.to_string()),
            visitor: None,
        }
    }

    /// Someone in a room without an account: a guest or patient who came by invite link
    /// (`id` is `guest:<invite id>`) or a device stream (`device:<token id>`), named as they
    /// were named when invited, in their room role (`guest`, `patient`, `device`).
    pub fn visitor(id: String, name: &str, room_role: &'static str, client_addr: &str) -> Actor {
        Actor {
            id: Some(id),
            role: None,
            client_addr: Some(client_addr.to_string()),
            visitor: Some((name.to_string(), room_role)),
        }
    }

    /// The command line acting on the database directly.
    pub fn cli() -> Actor {
        Actor { client_addr: Some("cli".into()), ..Actor::default() }
    }
}

/// One event to record.
#[derive(Clone, Debug)]
pub struct Event<'a> {
    /// Dotted verb, e.g. `user.read`, `user.update`, `auth.login`.
    pub action: &'a str,
    /// The patient whose data was touched, if any.
    pub patient_id: Option<&'a str>,
    pub object_type: Option<&'a str>,
    pub object_id: Option<&'a str>,
    /// Short free text (e.g. which fields changed); never secrets or contents.
    pub detail: Option<String>,
}

impl<'a> Event<'a> {
    pub fn new(action: &'a str) -> Self {
        Event { action, patient_id: None, object_type: None, object_id: None, detail: None }
    }

    pub fn object(mut self, kind: &'a str, id: &'a str) -> Self {
        self.object_type = Some(kind);
        self.object_id = Some(id);
        self
    }

    pub fn patient(mut self, id: Option<&'a str>) -> Self {
        self.patient_id = id;
        self
    }

    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
}

/// Records an event that has no transaction of its own (a read), in a write of its own.
pub async fn record_read(db: &Db, actor: &Actor, e: Event<'_>) -> Result<()> {
    let mut tx = db.write().await?;
    record(&mut tx, actor, e).await?;
    tx.commit().await
}

/// Writes one audit row inside the caller's transaction.
pub async fn record(conn: &mut AnyConnection, actor: &Actor, e: Event<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor_id, actor_role, actor_name, action, patient_id, object_type,
                                object_id, client_addr, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(new_id())
    .bind(now_ms())
    .bind(actor.id.as_deref())
    .bind(actor.role.map(Role::as_str).or(actor.visitor.as_ref().map(|v| v.1)))
    .bind(actor.visitor.as_ref().map(|v| v.0.as_str()))
    .bind(e.action)
    .bind(e.patient_id)
    .bind(e.object_type)
    .bind(e.object_id)
    .bind(actor.client_addr.as_deref())
    .bind(e.detail.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored audit row.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    /// Milliseconds since the Unix epoch (UTC).
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    /// The actor's current display name when the actor is an account, else the name a guest
    /// or device was given.
    pub actor_name: Option<String>,
    pub action: String,
    pub patient_id: Option<String>,
    /// The patient's current display name.
    pub patient_name: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub client_addr: Option<String>,
    pub detail: Option<String>,
}

fn from_row(r: &AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        actor_id: r.try_get("actor_id")?,
        actor_role: r.try_get("actor_role")?,
        actor_name: r.try_get("actor_name")?,
        action: r.try_get("action")?,
        patient_id: r.try_get("patient_id")?,
        patient_name: r.try_get("patient_name")?,
        object_type: r.try_get("object_type")?,
        object_id: r.try_get("object_id")?,
        client_addr: r.try_get("client_addr")?,
        detail: r.try_get("detail")?,
    })
}

/// Filters for browsing the log; all optional, newest first.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only rows by this actor (user id).
    pub actor: Option<String>,
    /// Only rows about this patient (user id).
    pub patient: Option<String>,
    /// Only this action, or actions starting with it when it ends in `.` (e.g. `user.`).
    pub action: Option<String>,
    /// Only rows at or after this time (ms since epoch).
    pub from: Option<i64>,
    /// Only rows before this time (ms since epoch).
    pub to: Option<i64>,
    /// Page size, 1–500 (default 100).
    pub limit: Option<i64>,
    /// Only rows older than this row id (for paging).
    pub before: Option<String>,
}

/// Reads rows matching a filter.
pub async fn search(db: &Db, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(crate::error::AppError::invalid("limit", "limit must be between 1 and 500"));
    }
    if let (Some(f), Some(t)) = (q.from, q.to)
        && f > t
    {
        return Err(crate::error::AppError::invalid("from", "from must not be after to"));
    }
    let action_pattern = q.action.as_deref().map(|a| {
        let exact = crate::db::like_escape(a);
        if a.ends_with('.') { format!("{exact}%") } else { exact }
    });
    let text = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(|s| Arg::Text(s.to_string()));
    let mut w = Filters::default();
    w.add("a.actor_id = ?", text(q.actor.as_deref()));
    w.add("a.patient_id = ?", text(q.patient.as_deref()));
    w.add("a.action LIKE ? ESCAPE '\\'", text(action_pattern.as_deref()));
    w.add("a.at >= ?", q.from.map(Arg::Int));
    w.add("a.at < ?", q.to.map(Arg::Int));
    w.add("a.id < ?", text(q.before.as_deref()));
    let sql = format!(
        "SELECT a.id, a.at, a.actor_id, a.actor_role, COALESCE(ua.name, a.actor_name) AS actor_name, a.action, a.patient_id,
                up.name AS patient_name, a.object_type, a.object_id, a.client_addr, a.detail
         FROM audit_log a
         LEFT JOIN users ua ON ua.id = a.actor_id
         LEFT JOIN users up ON up.id = a.patient_id
         {}
         ORDER BY a.id DESC
         LIMIT ${}",
        w.where_clause(),
        w.next()
    );
    let rows = w.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).bind(limit).fetch_all(db.read()).await?;
    rows.iter().map(from_row).collect()
}
