//! Who may enter which room, and in which room role. Appointment rooms: the doctor hosts, the
//! patient waits to be admitted. Review rooms: the coordinator hosts, invited experts enter.
//! Ad-hoc rooms: the clinician who opened one hosts, other clinicians enter as experts. Admins
//! host anywhere. Anyone else gets 404: room ids reveal nothing.

use sqlx::Row;

use crate::accounts::model::Role;
use crate::auth::CurrentUser;
use crate::db::{Db, now_ms};
use crate::error::{AppError, Result};

/// A role inside one room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomRole {
    Host,
    Expert,
    Patient,
    Guest,
    /// A camera streaming in over WHIP, or a viewer over WHEP, on a clinician's authority.
    Device,
}

impl RoomRole {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomRole::Host => "host",
            RoomRole::Expert => "expert",
            RoomRole::Patient => "patient",
            RoomRole::Guest => "guest",
            RoomRole::Device => "device",
        }
    }

    /// Clinicians are in at once and may admit others.
    pub fn is_clinical(self) -> bool {
        matches!(self, RoomRole::Host | RoomRole::Expert)
    }
}

/// The room a user may enter, with their role and the patient whose data the room holds.
#[derive(Clone, Debug)]
pub struct Access {
    pub room_id: String,
    pub role: RoomRole,
    pub patient_id: Option<String>,
}

/// Resolves `room_id` for `user`, creating the room row on first use.
pub async fn resolve(db: &Db, user: &CurrentUser, room_id: &str) -> Result<Access> {
    let admin = user.role == Role::Admin;
    let found = |role: RoomRole, patient_id: Option<String>| Access {
        room_id: room_id.to_string(),
        role,
        patient_id,
    };
    if let Some(r) = sqlx::query(
        "SELECT id, doctor_id, patient_id FROM appointments WHERE room_id = $1 AND status = 'booked'",
    )
    .bind(room_id)
    .fetch_optional(db.read())
    .await?
    {
        let doctor: String = r.try_get("doctor_id")?;
        let patient: String = r.try_get("patient_id")?;
        ensure_row(db, room_id, "appointment", &r.try_get::<String, _>("id")?, &doctor).await?;
        return match () {
            _ if admin || user.id == doctor => Ok(found(RoomRole::Host, Some(patient))),
            _ if user.id == patient => Ok(found(RoomRole::Patient, Some(patient))),
            _ => Err(AppError::NotFound("room")),
        };
    }
    if let Some(r) =
        sqlx::query("SELECT id, coordinator_id FROM reviews WHERE room_id = $1 AND status <> 'cancelled'")
            .bind(room_id)
            .fetch_optional(db.read())
            .await?
    {
        let review: String = r.try_get("id")?;
        let coordinator: String = r.try_get("coordinator_id")?;
        ensure_row(db, room_id, "review", &review, &coordinator).await?;
        if admin || user.id == coordinator {
            return Ok(found(RoomRole::Host, None));
        }
        let invited = sqlx::query("SELECT 1 AS one FROM review_experts WHERE review_id = $1 AND expert_id = $2 AND response <> 'declined'")
            .bind(&review)
            .bind(&user.id)
            .fetch_optional(db.read())
            .await?;
        return if invited.is_some() {
            Ok(found(RoomRole::Expert, None))
        } else {
            Err(AppError::NotFound("room"))
        };
    }
    let adhoc = sqlx::query("SELECT host_id FROM rooms WHERE id = $1 AND kind = 'adhoc'")
        .bind(room_id)
        .fetch_optional(db.read())
        .await?;
    match adhoc {
        Some(r) => {
            let host: String = r.try_get("host_id")?;
            if admin || user.id == host {
                Ok(found(RoomRole::Host, None))
            } else if user.role.is_clinician() {
                Ok(found(RoomRole::Expert, None))
            } else {
                Err(AppError::NotFound("room"))
            }
        }
        None => Err(AppError::NotFound("room")),
    }
}

async fn ensure_row(db: &Db, room_id: &str, kind: &str, object_id: &str, host_id: &str) -> Result<()> {
    db.execute(
        sqlx::query(
            "INSERT INTO rooms (id, kind, object_id, host_id, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(room_id)
        .bind(kind)
        .bind(object_id)
        .bind(host_id)
        .bind(now_ms()),
    )
    .await?;
    Ok(())
}
