//! The flows of a consultation note: read it, save a draft, sign it, add an addendum.
//!
//! Who: the appointment's doctor writes (the treating clinician); admins read but never write
//! clinical text; the patient reads the note once signed, without its subjective and
//! objective sections; anyone else gets 404, as for the appointment itself.

use super::db::{self, NewAddendum, Saver};
use super::model::{
    AddendumInput, AddendumView, Content, NoteInput, NoteStatus, NoteView, SignInput, Signed, SignedContent,
    check, check_addendum, content_hash,
};
use crate::accounts::model::Role;
use crate::auth::CurrentUser;
use crate::db::{Db, now_ms};
use crate::error::{AppError, Result};
use crate::records::audit::{self, Actor, Event};
use crate::scheduling::model::{Appointment, Status};

/// How the caller stands to an appointment's note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// The appointment's doctor: reads and writes.
    Treating,
    /// Reads everything, writes nothing.
    Admin,
    /// Reads the signed note's patient-facing parts.
    Patient,
}

/// The appointment and the caller's standing; 404 for anyone without one.
async fn standing(db: &Db, user: &CurrentUser, appointment_id: &str) -> Result<(Appointment, Standing)> {
    let appointment = crate::scheduling::db::appointment(&mut *db.acquire().await?, appointment_id).await?;
    let standing = match &appointment {
        Some(a) if user.role == Role::Doctor && a.doctor_id == user.id => Standing::Treating,
        Some(_) if user.role == Role::Admin => Standing::Admin,
        Some(a) if user.role == Role::Patient && a.patient_id == user.id => Standing::Patient,
        _ => return Err(AppError::NotFound("appointment")),
    };
    Ok((appointment.expect("matched Some"), standing))
}

/// The caller may write this appointment's note: its doctor, and not after a cancellation.
async fn writer(db: &Db, user: &CurrentUser, appointment_id: &str) -> Result<Appointment> {
    let (appointment, standing) = standing(db, user, appointment_id).await?;
    if standing != Standing::Treating {
        return Err(AppError::Forbidden);
    }
    if appointment.status == Status::Cancelled {
        return Err(AppError::Conflict("the appointment was cancelled; it has no note".into()));
    }
    Ok(appointment)
}

fn empty(appointment: &Appointment) -> NoteView {
    NoteView {
        id: None,
        appointment_id: appointment.id.clone(),
        patient_id: appointment.patient_id.clone(),
        status: NoteStatus::Empty,
        version: 0,
        subjective: Some(String::new()),
        objective: Some(String::new()),
        assessment: String::new(),
        plan: String::new(),
        instructions: String::new(),
        diagnoses: Vec::new(),
        saved_by: None,
        saved_at: None,
        signed_by: None,
        signed_at: None,
        content_sha256: None,
        addenda: Vec::new(),
    }
}

/// The note as the caller may see it; every read is an audit row.
pub async fn read(db: &Db, user: &CurrentUser, addr: &str, appointment_id: &str) -> Result<NoteView> {
    let (appointment, standing) = standing(db, user, appointment_id).await?;
    let note = db::for_appointment(&mut *db.acquire().await?, appointment_id).await?;
    let view = match (standing, note) {
        (Standing::Patient, Some(mut n)) if n.status == NoteStatus::Signed => {
            // The clinician's working sections stay with the clinicians.
            n.subjective = None;
            n.objective = None;
            n
        }
        // A patient never sees a draft, nor learns that one exists.
        (Standing::Patient, _) => return Err(AppError::NotFound("note")),
        (_, Some(n)) => n,
        (_, None) => empty(&appointment),
    };
    let event = Event::new("note.read")
        .object("appointment", &appointment.id)
        .patient(Some(&appointment.patient_id))
        .detail(format!("version {}", view.version));
    audit::record_read(db, &Actor::user(user, addr), event).await?;
    Ok(view)
}

fn stale(current: &NoteView) -> AppError {
    crate::records::stale("note", current.saved_by.as_deref(), current.saved_at, current.version)
}

fn frozen(current: &NoteView) -> AppError {
    crate::records::frozen("note", current.signed_by.as_deref(), current.signed_at, ": add an addendum")
}

/// Saves a draft over the version it was edited from.
pub async fn save(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    appointment_id: &str,
    input: NoteInput,
) -> Result<NoteView> {
    let appointment = writer(db, user, appointment_id).await?;
    let (version, content) = check(input)?;
    let by = Saver { id: &user.id, name: &user.name, at: now_ms() };
    let mut tx = db.write().await?;
    let current = db::current(&mut tx, appointment_id).await?;
    let note_id = match &current {
        Some(n) if n.status == NoteStatus::Signed => return Err(frozen(n)),
        Some(n) if n.version != version => return Err(stale(n)),
        Some(n) => {
            let id = n.id.clone().unwrap_or_default();
            if !db::update(&mut tx, &id, version, &content, &by).await? {
                // Another save won the race for this version.
                drop(tx);
                return Err(conflict_now(db, appointment_id).await);
            }
            id
        }
        None if version != 0 => {
            return Err(AppError::Conflict("this note has not been saved yet: send version 0".into()));
        }
        None => match db::insert(&mut tx, appointment_id, &appointment.patient_id, &content, &by).await? {
            Some(id) => id,
            None => {
                drop(tx);
                return Err(conflict_now(db, appointment_id).await);
            }
        },
    };
    let event = Event::new("note.save")
        .object("note", &note_id)
        .patient(Some(&appointment.patient_id))
        .detail(format!("appointment {} version {}", appointment.id, version + 1));
    audit::record(&mut tx, &Actor::user(user, addr), event).await?;
    tx.commit().await?;
    found(db, appointment_id).await
}

/// The conflict as the note stands now, after losing a race.
async fn conflict_now(db: &Db, appointment_id: &str) -> AppError {
    match found(db, appointment_id).await {
        Ok(n) if n.status == NoteStatus::Signed => frozen(&n),
        Ok(n) => stale(&n),
        Err(e) => e,
    }
}

async fn found(db: &Db, appointment_id: &str) -> Result<NoteView> {
    db::for_appointment(&mut *db.acquire().await?, appointment_id).await?.ok_or(AppError::NotFound("note"))
}

fn content_of(n: &NoteView) -> Content {
    Content {
        subjective: n.subjective.clone().unwrap_or_default(),
        objective: n.objective.clone().unwrap_or_default(),
        assessment: n.assessment.clone(),
        plan: n.plan.clone(),
        instructions: n.instructions.clone(),
        diagnoses: n.diagnoses.clone(),
    }
}

/// Signs the version the doctor last read: the note is frozen from then on.
pub async fn sign(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    appointment_id: &str,
    input: SignInput,
) -> Result<NoteView> {
    let appointment = writer(db, user, appointment_id).await?;
    let by = Saver { id: &user.id, name: &user.name, at: now_ms() };
    let mut tx = db.write().await?;
    let Some(current) = db::current(&mut tx, appointment_id).await? else {
        return Err(AppError::invalid("version", "there is nothing to sign: the note is empty"));
    };
    if current.status == NoteStatus::Signed {
        return Err(frozen(&current));
    }
    if current.version != input.version {
        return Err(stale(&current));
    }
    let content = content_of(&current);
    if content.is_empty() {
        return Err(AppError::invalid("version", "there is nothing to sign: the note is empty"));
    }
    let note_id = current.id.clone().unwrap_or_default();
    let hash = content_hash(&Signed {
        note_id: &note_id,
        appointment_id,
        patient_id: &appointment.patient_id,
        content: SignedContent::Note(&content),
        signed_by: &user.id,
        signed_at: by.at,
    });
    if !db::sign(&mut tx, &note_id, input.version, &by, &hash).await? {
        drop(tx);
        return Err(conflict_now(db, appointment_id).await);
    }
    let event = Event::new("note.sign")
        .object("note", &note_id)
        .patient(Some(&appointment.patient_id))
        .detail(format!("appointment {} version {} sha256 {hash}", appointment.id, input.version));
    audit::record(&mut tx, &Actor::user(user, addr), event).await?;
    tx.commit().await?;
    found(db, appointment_id).await
}

/// Adds a signed addendum to a signed note.
pub async fn add_addendum(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    appointment_id: &str,
    input: AddendumInput,
) -> Result<AddendumView> {
    let appointment = writer(db, user, appointment_id).await?;
    let text = check_addendum(&input.text)?;
    let by = Saver { id: &user.id, name: &user.name, at: now_ms() };
    let mut tx = db.write().await?;
    let current = db::current(&mut tx, appointment_id).await?;
    let note_id = match &current {
        Some(n) if n.status == NoteStatus::Signed => n.id.clone().unwrap_or_default(),
        _ => {
            return Err(AppError::invalid(
                "text",
                "addenda are added to a signed note; this one is a draft, so edit it instead",
            ));
        }
    };
    db::lock(&mut tx, &note_id).await?;
    let position = db::next_position(&mut tx, &note_id).await?;
    let hash = content_hash(&Signed {
        note_id: &note_id,
        appointment_id,
        patient_id: &appointment.patient_id,
        content: SignedContent::Addendum { position, text: &text },
        signed_by: &user.id,
        signed_at: by.at,
    });
    let id = db::insert_addendum(
        &mut tx,
        &NewAddendum { note_id: &note_id, position, text: &text, hash: &hash },
        &by,
    )
    .await?;
    let event = Event::new("note.addendum")
        .object("note", &note_id)
        .patient(Some(&appointment.patient_id))
        .detail(format!("addendum {position} sha256 {hash}"));
    audit::record(&mut tx, &Actor::user(user, addr), event).await?;
    tx.commit().await?;
    Ok(AddendumView { id, position, text, author: user.name.clone(), signed_at: by.at, content_sha256: hash })
}
