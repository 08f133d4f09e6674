//! Queries on `users`. Every function takes the pool or an open transaction.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::model::{Role, User, ValidNewUser};
use crate::db::{Db, flag, new_id, now_ms, on_unique};
use crate::error::{AppError, Result};

const COLUMNS: &str = "id, email, name, role, timezone, specialty, locale, active, token_version, created_at";

fn from_row(row: &AnyRow) -> Result<User> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: Role::parse(&role).map_err(|_| anyhow::anyhow!("stored role {role:?} is unknown"))?,
        timezone: row.try_get("timezone")?,
        specialty: row.try_get("specialty")?,
        locale: row.try_get("locale")?,
        active: row.try_get::<i64, _>("active")? != 0,
        token_version: row.try_get("token_version")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts an account whose password is already hashed. A taken email is a 409.
pub async fn insert(conn: &mut AnyConnection, u: &ValidNewUser, password_hash: &str) -> Result<User> {
    let id = new_id();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO users (id, email, name, role, password_hash, timezone, specialty, locale,
                            active, token_version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, 0, $9, $9)",
    )
    .bind(&id)
    .bind(u.email.as_str())
    .bind(&u.name)
    .bind(u.role.as_str())
    .bind(password_hash)
    .bind(&u.timezone)
    .bind(u.specialty.as_deref())
    .bind(u.locale.map(|l| l.code()))
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(on_unique("users_email_key", "users.email", || {
        AppError::Conflict("a user with this email already exists".into())
    }))?;
    find(&mut *conn, &id).await?.ok_or(AppError::NotFound("user"))
}

pub async fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// The account and its password hash, for sign-in.
pub async fn find_for_login(db: &Db, email: &str) -> Result<Option<(User, String)>> {
    let sql = format!("SELECT {COLUMNS}, password_hash FROM users WHERE email = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(email).fetch_optional(db.read()).await?;
    match row {
        Some(r) => Ok(Some((from_row(&r)?, r.try_get("password_hash")?))),
        None => Ok(None),
    }
}

/// Filter for the admin listing.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub role: Option<Role>,
    /// Case-insensitive substring of name or email.
    pub query: Option<String>,
    pub include_inactive: bool,
    pub limit: i64,
    pub offset: i64,
}

pub async fn list(db: &Db, f: &ListFilter) -> Result<Vec<User>> {
    let pattern = f.query.as_ref().map(|q| format!("%{}%", crate::db::like_escape(&q.to_lowercase())));
    let sql = format!(
        "SELECT {COLUMNS} FROM users
         WHERE ($1 IS NULL OR role = $1)
           AND ($2 IS NULL OR lower(name) LIKE $2 ESCAPE '\\' OR lower(email) LIKE $2 ESCAPE '\\')
           AND ($3 = 1 OR active = 1)
         ORDER BY role, name, id
         LIMIT $4 OFFSET $5"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(f.role.map(Role::as_str))
        .bind(pattern)
        .bind(flag(f.include_inactive))
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(db.read())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Active accounts per role, and the number of inactive accounts.
pub async fn counts(db: &Db) -> Result<(Vec<(Role, i64)>, i64)> {
    let rows = sqlx::query("SELECT role, active, COUNT(*) AS n FROM users GROUP BY role, active")
        .fetch_all(db.read())
        .await?;
    let mut per_role: Vec<(Role, i64)> = Role::ALL.iter().map(|r| (*r, 0)).collect();
    let mut inactive = 0;
    for r in rows {
        let n: i64 = r.try_get("n")?;
        if r.try_get::<i64, _>("active")? == 0 {
            inactive += n;
        } else if let Ok(role) = Role::parse(&r.try_get::<String, _>("role")?) {
            per_role.iter_mut().filter(|(x, _)| *x == role).for_each(|(_, c)| *c += n);
        }
    }
    Ok((per_role, inactive))
}

pub async fn count(db: &Db) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(db.read()).await?.try_get("n")?)
}

/// Field values after a patch was validated; `None` leaves a column unchanged.
#[derive(Default)]
pub struct Changes {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub timezone: Option<String>,
    pub specialty: Option<Option<String>>,
    pub locale: Option<Option<String>>,
    pub active: Option<bool>,
    pub password_hash: Option<String>,
}

/// Applies changes in one statement. Deactivation and password changes bump `token_version`,
/// which ends every token issued before.
pub async fn update(conn: &mut AnyConnection, id: &str, c: &Changes) -> Result<Option<User>> {
    let ends_sessions = c.password_hash.is_some() || c.active == Some(false);
    let result = sqlx::query(
        "UPDATE users SET
            name = COALESCE($2, name),
            role = COALESCE($3, role),
            timezone = COALESCE($4, timezone),
            specialty = CASE WHEN $5 = 1 THEN $6 ELSE specialty END,
            locale = CASE WHEN $7 = 1 THEN $8 ELSE locale END,
            active = COALESCE($9, active),
            password_hash = COALESCE($10, password_hash),
            token_version = token_version + $11,
            updated_at = $12
         WHERE id = $1",
    )
    .bind(id)
    .bind(c.name.as_deref())
    .bind(c.role.map(Role::as_str))
    .bind(c.timezone.as_deref())
    .bind(flag(c.specialty.is_some()))
    .bind(c.specialty.clone().flatten())
    .bind(flag(c.locale.is_some()))
    .bind(c.locale.clone().flatten())
    .bind(c.active.map(flag))
    .bind(c.password_hash.as_deref())
    .bind(flag(ends_sessions))
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    if result.rows_affected() == 0 {
        return Ok(None);
    }
    find(conn, id).await
}
