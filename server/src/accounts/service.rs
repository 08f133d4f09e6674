//! Account changes shared by the API and the admin pages: validation, hashing, the write and
//! its audit row in one transaction.

use super::db::{self, Changes};
use super::model::{
    NewUser, Role, User, UserPatch, parse_locale, parse_name, parse_specialty, parse_timezone,
};
use crate::auth::password;
use crate::db::Db;
use crate::error::{AppError, Result};
use crate::records::audit::{self, Actor, Event};

fn patient_of(u: &User) -> Option<&str> {
    (u.role == Role::Patient).then_some(u.id.as_str())
}

/// Creates an account. Duplicate email → 409; invalid fields → 422 naming the field.
pub async fn create(db: &Db, actor: &Actor, input: NewUser) -> Result<User> {
    let valid = input.validate()?;
    let hash = password::hash(valid.password.clone()).await?;
    let mut tx = db.write().await?;
    let user = db::insert(&mut tx, &valid, &hash).await?;
    if user.role == Role::Doctor {
        crate::scheduling::db::ensure_doctor(&mut tx, &user.id).await?;
    }
    audit::record(
        &mut tx,
        actor,
        Event::new("user.create")
            .object("user", &user.id)
            .patient(patient_of(&user))
            .detail(format!("role={}", user.role.as_str())),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Reads one account; a patient's account read is audited.
pub async fn get(db: &Db, actor: &Actor, id: &str) -> Result<User> {
    let user = db::find(&mut *db.acquire().await?, id).await?.ok_or(AppError::NotFound("user"))?;
    if user.role == Role::Patient {
        audit::record_read(
            db,
            actor,
            Event::new("user.read").object("user", &user.id).patient(Some(&user.id)),
        )
        .await?;
    }
    Ok(user)
}

/// Applies an admin's patch. An admin cannot deactivate or demote their own account, so a
/// clinic is never locked out by a slip.
pub async fn update(db: &Db, actor: &Actor, id: &str, patch: UserPatch) -> Result<User> {
    let is_self = actor.id.as_deref() == Some(id);
    let role = patch.role.as_deref().map(Role::parse).transpose()?;
    if is_self && patch.active == Some(false) {
        return Err(AppError::Conflict("you cannot deactivate your own account".into()));
    }
    if is_self && role.is_some_and(|r| r != Role::Admin) {
        return Err(AppError::Conflict("you cannot remove your own admin role".into()));
    }
    let password_hash = match patch.password.filter(|p| !p.is_empty()) {
        Some(p) => {
            password::validate(&p)?;
            Some(password::hash(p).await?)
        }
        None => None,
    };
    let changes = Changes {
        name: patch.name.as_deref().map(parse_name).transpose()?,
        role,
        timezone: patch.timezone.as_deref().map(parse_timezone).transpose()?,
        specialty: patch.specialty.as_deref().map(|s| parse_specialty(Some(s))).transpose()?,
        locale: match patch.locale.as_deref() {
            Some(l) => Some(parse_locale(Some(l))?.map(|l| l.code().to_string())),
            None => None,
        },
        active: patch.active,
        password_hash,
    };
    let mut fields = Vec::new();
    for (name, set) in [
        ("name", changes.name.is_some()),
        ("role", changes.role.is_some()),
        ("timezone", changes.timezone.is_some()),
        ("specialty", changes.specialty.is_some()),
        ("locale", changes.locale.is_some()),
        ("active", changes.active.is_some()),
        ("password", changes.password_hash.is_some()),
    ] {
        if set {
            fields.push(name);
        }
    }
    let mut tx = db.write().await?;
    let user = db::update(&mut tx, id, &changes).await?.ok_or(AppError::NotFound("user"))?;
    if user.role == Role::Doctor {
        crate::scheduling::db::ensure_doctor(&mut tx, &user.id).await?;
    }
    let action = match changes.active {
        Some(false) => "user.deactivate",
        Some(true) => "user.reactivate",
        None => "user.update",
    };
    audit::record(
        &mut tx,
        actor,
        Event::new(action)
            .object("user", &user.id)
            .patient(patient_of(&user))
            .detail(format!("fields={}", fields.join(","))),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Lists accounts; listing patients is a read of patient data and is audited.
pub async fn list(db: &Db, actor: &Actor, filter: &db::ListFilter) -> Result<Vec<User>> {
    let users = db::list(db, filter).await?;
    if users.iter().any(|u| u.role == Role::Patient) {
        let detail = format!(
            "role={} q={} n={}",
            filter.role.map(Role::as_str).unwrap_or("any"),
            filter.query.as_deref().unwrap_or(""),
            users.len()
        );
        audit::record_read(db, actor, Event::new("user.list").detail(detail)).await?;
    }
    Ok(users)
}

/// Active patients as (id, "Name (email)") for a clinician's picker; audited like any list.
pub async fn patient_choices(db: &Db, actor: &Actor) -> Result<Vec<(String, String)>> {
    let filter = db::ListFilter { role: Some(Role::Patient), limit: 500, ..Default::default() };
    Ok(list(db, actor, &filter)
        .await?
        .into_iter()
        .map(|u| (u.id, format!("{} ({})", u.name, u.email)))
        .collect())
}
