//! Findings: one model run on one shared image, its explanation, and a clinician's decision.
//! A finding is a suggestion (`running` → `ready` or `failed`) seen by clinicians only, until a
//! clinician accepts, amends or rejects it; then everyone in the room sees it and it belongs
//! to the consultation record. Each step writes an audit row.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::events::Event as RoomEvent;
use super::manifest::{Explanation, Facts};
use super::workers::{Pool, PoolError};
use super::{Prediction, Registry, heatmap};
use crate::AppState;
use crate::db::now_ms;
use crate::error::{AppError, Result};
use crate::ids::RoomId;
use crate::imaging::{ImageView, Kind, decode};
use crate::records::audit::{self, Actor, Event};

/// Models and the threads that run them.
#[derive(Debug)]
pub struct Diagnosis {
    pub registry: Arc<Registry>,
    pub pool: Pool,
}

/// Where a finding is in its life: analysed, then signed off once by a clinician.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    /// The model is running.
    Running,
    /// Analysed, waiting for a clinician's decision (seen by clinicians only).
    Ready,
    /// The analysis failed; there is nothing to decide.
    Failed,
    /// Signed off as the model said.
    Accepted,
    /// Signed off with another label.
    Amended,
    /// Signed off as wrong.
    Rejected,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Running => "running",
            FindingStatus::Ready => "ready",
            FindingStatus::Failed => "failed",
            FindingStatus::Accepted => "accepted",
            FindingStatus::Amended => "amended",
            FindingStatus::Rejected => "rejected",
        }
    }

    /// The status as stored; anything else is a corrupt row.
    pub fn from_stored(s: &str) -> Result<FindingStatus> {
        Ok(match s {
            "running" => FindingStatus::Running,
            "ready" => FindingStatus::Ready,
            "failed" => FindingStatus::Failed,
            "accepted" => FindingStatus::Accepted,
            "amended" => FindingStatus::Amended,
            "rejected" => FindingStatus::Rejected,
            other => {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "a finding has the unknown status {other:?}"
                )));
            }
        })
    }

    /// Whether a clinician has decided it (then patients and guests see it too).
    pub fn signed_off(self) -> bool {
        matches!(self, FindingStatus::Accepted | FindingStatus::Amended | FindingStatus::Rejected)
    }
}

/// A clinician's sign-off.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Decision {
    /// `accepted`, `amended` or `rejected`.
    pub outcome: FindingStatus,
    /// The label settled on (none when rejected).
    pub label: Option<String>,
    pub note: Option<String>,
    pub by: String,
    /// Milliseconds since the epoch.
    pub at: i64,
}

/// What to run on an image.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyseRequest {
    pub model: String,
    /// Facts the model takes beside the image (see its manifest's `tabular`), e.g.
    /// `{"age": 54, "sex": "female", "site": "trunk"}`. Missing ones take the model's defaults
    /// and the finding says so.
    #[serde(default)]
    pub facts: Facts,
    /// Which frame of a multi-frame DICOM file, from 0 (default 0).
    #[serde(default)]
    pub frame: u32,
}

/// A finding as the room sees it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct FindingView {
    pub id: String,
    pub image_id: String,
    pub room_id: String,
    pub model: String,
    pub model_version: String,
    /// sha256 of the model file and of the analysed upload, so the result can be reproduced.
    pub model_sha256: Option<String>,
    pub input_sha256: String,
    /// The frame analysed, from 0 (multi-frame DICOM; 0 otherwise).
    pub frame: u32,
    pub status: FindingStatus,
    /// The facts given with the image (age, sex, body site).
    pub facts: Facts,
    /// Facts that were not known: the model used its defaults for them.
    pub defaulted: Vec<String>,
    /// Every label's probability, in the model's order.
    pub predictions: Option<Vec<Prediction>>,
    pub heatmap_url: Option<String>,
    pub error: Option<String>,
    pub requested_at: i64,
    pub completed_at: Option<i64>,
    pub decision: Option<Decision>,
}

impl FindingView {
    /// Whether patients and guests may see it.
    pub fn signed_off(&self) -> bool {
        self.decision.is_some()
    }

    /// What a patient or guest is shown of a signed-off finding: the clinician's decision and,
    /// unless it was rejected, the heatmap. The model's internals (probabilities, the facts it
    /// assumed, hashes, errors) stay with clinicians.
    pub fn for_patients(mut self) -> FindingView {
        self.predictions = None;
        self.defaulted.clear();
        self.facts.clear();
        self.model_sha256 = None;
        self.error = None;
        if !self.shows_heatmap_to_patients() {
            self.heatmap_url = None;
        }
        self
    }

    /// A rejected finding's explanation explains nothing a clinician stands behind.
    pub fn shows_heatmap_to_patients(&self) -> bool {
        self.decision.as_ref().is_some_and(|d| d.outcome != FindingStatus::Rejected)
    }
}

pub const COLUMNS: &str = "id, image_id, room_id, model, model_version, model_sha256, input_sha256, frame, facts, defaulted, status, predictions, heatmap_sha256, error, requested_at, completed_at, decided_by_name, decided_at, decision_label, decision_note";

pub fn view(r: &AnyRow) -> Result<FindingView> {
    let id: String = r.try_get("id")?;
    let status = FindingStatus::from_stored(&r.try_get::<String, _>("status")?)?;
    let heatmap: Option<String> = r.try_get("heatmap_sha256")?;
    let predictions: Option<String> = r.try_get("predictions")?;
    let decision = if status.signed_off() {
        Some(Decision {
            outcome: status,
            label: r.try_get("decision_label")?,
            note: r.try_get("decision_note")?,
            by: r.try_get::<Option<String>, _>("decided_by_name")?.unwrap_or_default(),
            at: r.try_get::<Option<i64>, _>("decided_at")?.unwrap_or_default(),
        })
    } else {
        None
    };
    Ok(FindingView {
        heatmap_url: heatmap.map(|_| format!("/api/v1/findings/{id}/heatmap")),
        id,
        image_id: r.try_get("image_id")?,
        room_id: r.try_get("room_id")?,
        model: r.try_get("model")?,
        model_version: r.try_get("model_version")?,
        model_sha256: r.try_get("model_sha256")?,
        input_sha256: r.try_get("input_sha256")?,
        frame: u32::try_from(r.try_get::<i64, _>("frame")?).unwrap_or(0),
        status,
        facts: serde_json::from_str(&r.try_get::<String, _>("facts")?).unwrap_or_default(),
        defaulted: serde_json::from_str(&r.try_get::<String, _>("defaulted")?).unwrap_or_default(),
        predictions: predictions.and_then(|p| serde_json::from_str(&p).ok()),
        error: r.try_get("error")?,
        requested_at: r.try_get("requested_at")?,
        completed_at: r.try_get("completed_at")?,
        decision,
    })
}

pub async fn find(state: &AppState, id: &str) -> Result<(FindingView, Option<String>)> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM findings WHERE id = $1")))
        .bind(id)
        .fetch_optional(state.db.read())
        .await?
        .ok_or(AppError::NotFound("finding"))?;
    Ok((view(&row)?, row.try_get("heatmap_sha256")?))
}

/// What the worker thread hands back.
struct Done {
    predictions: Vec<Prediction>,
    defaulted: Vec<String>,
    heatmap_png: Vec<u8>,
    model_sha256: Option<String>,
}

/// Queues the analysis of a shared `image` with `model_name` and returns at once; progress and
/// the result reach the room's clinicians over signalling. Refuses with 422 a model that is not
/// made for this kind of image, and with 503 when the queue is full, writing nothing.
pub async fn start(
    state: &AppState,
    actor: &Actor,
    requested_by: &str,
    image: &ImageView,
    request: AnalyseRequest,
    patient: Option<&str>,
) -> Result<FindingView> {
    let AnalyseRequest { model: model_name, facts, frame } = request;
    let diagnosis = state.diagnosis.clone();
    let model =
        diagnosis.registry.get(&model_name).map_err(|e| AppError::invalid("model", e.to_string()))?.clone();
    let modality = image.dicom.as_ref().map(|d| d.modality.as_str());
    model.manifest.suits(image.kind, modality).map_err(|e| AppError::invalid("model", e))?;
    crate::imaging::service::check_frame(image, frame)?;
    let (image_id, room_id, kind) = (image.id.as_str(), image.room_id.as_str(), image.kind);
    let (tabular, defaulted) =
        model.manifest.encode_facts(&facts).map_err(|e| AppError::invalid("facts", e))?;
    let id = crate::db::new_id();
    let (progress_tx, mut progress_rx) = tokio::sync::mpsc::channel::<f32>(8);
    let blobs = state.blobs.clone();
    let limits = state.config.image_limits;
    let sha = image.sha256.clone();
    let registry = diagnosis.registry.clone();
    let job = {
        let model = model.clone();
        let defaulted = defaulted.clone();
        move || -> std::result::Result<Done, String> {
            let raw = blobs.get(&sha).map_err(|e| format!("the image could not be read: {e}"))?;
            let img = match kind {
                Kind::Dicom => decode::dicom(&raw, limits, None, frame).map_err(|e| e.to_string())?.0,
                _ => decode::decode(&raw, limits).map_err(|e| e.to_string())?.image,
            };
            let input = super::preprocess::resize(&img, &model.manifest.image);
            let outcome = registry.infer_prepared(&model, &input, &tabular).map_err(|e| e.to_string())?;
            let top = outcome.top();
            let heat = match (&model.manifest.explanation, &outcome.cam) {
                (Explanation::Cam { .. }, Some(cam)) => heatmap::from_cam(cam, top),
                (Explanation::AblationCam { .. }, _) => {
                    let features = outcome.features.as_ref().ok_or("the model gave no feature map")?;
                    heatmap::ablation_cam(&registry, &model, features, &tabular, top)
                        .map_err(|e| e.to_string())?
                }
                (Explanation::Occlusion { patch, stride }, _) => {
                    let mut report = |p: f32| {
                        let _ = progress_tx.try_send(p);
                    };
                    heatmap::occlusion(
                        &registry,
                        &model,
                        &input,
                        &tabular,
                        (*patch, *stride),
                        top,
                        &mut report,
                    )
                    .map_err(|e| e.to_string())?
                }
                (Explanation::Cam { .. }, None) => return Err("the model gave no activation map".into()),
            };
            let (w, h) = (input.width().max(224), input.height().max(224));
            Ok(Done {
                predictions: outcome.predictions,
                defaulted,
                heatmap_png: heatmap::overlay_png(&heat, w, h),
                model_sha256: registry.model_sha256(&model),
            })
        }
    };
    let pending = diagnosis.pool.submit(job).map_err(|e| {
        metrics::counter!("diagnosis_refused_total").increment(1);
        match e {
            PoolError::Busy => {
                AppError::Unavailable("the diagnosis queue is full; try again in a few seconds".into())
            }
            other => AppError::Unavailable(other.to_string()),
        }
    })?;
    let queued_at = std::time::Instant::now();
    let now = now_ms();
    let mut tx = state.db.write().await?;
    sqlx::query(
        "INSERT INTO findings (id, image_id, room_id, model, model_version, input_sha256, frame, facts, defaulted, status, requested_by, requested_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'running', $10, $11)",
    )
    .bind(&id)
    .bind(image_id)
    .bind(room_id)
    .bind(&model.manifest.name)
    .bind(&model.manifest.version)
    .bind(&image.sha256)
    .bind(i64::from(frame))
    .bind(serde_json::to_string(&facts).unwrap_or_default())
    .bind(serde_json::to_string(&defaulted).unwrap_or_default())
    .bind(requested_by)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let event = Event::new("finding.request")
        .object("finding", &id)
        .patient(patient)
        .detail(format!("{} {} on image {image_id}", model.manifest.name, model.manifest.version));
    audit::record(&mut tx, actor, event).await?;
    tx.commit().await?;
    let (started, _) = find(state, &id).await?;
    (state.events.diagnosis)(RoomId::new(room_id), RoomEvent::Finding { finding: Box::new(started.clone()) })
        .await;

    let state = state.clone();
    let room = RoomId::new(room_id);
    let timeout = diagnosis.pool.timeout();
    let patient = patient.map(str::to_string);
    let model_name = model.manifest.name.clone();
    tokio::spawn(async move {
        let result = {
            let wait = tokio::time::timeout(timeout, pending);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    r = &mut wait => break r,
                    Some(p) = progress_rx.recv() => {
                        (state.events.diagnosis)(room.clone(), RoomEvent::Progress { id: id.clone(), progress: p }).await;
                    }
                }
            }
        };
        let outcome = match result {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err("the inference worker stopped".into()),
            Err(_) => Err(format!("the analysis took longer than {} s", timeout.as_secs())),
        };
        let labels = [
            ("model", model_name.clone()),
            ("outcome", if outcome.is_ok() { "ready" } else { "failed" }.to_string()),
        ];
        metrics::counter!("diagnosis_analyses_total", &labels).increment(1);
        metrics::histogram!("diagnosis_analysis_seconds", &labels).record(queued_at.elapsed().as_secs_f64());
        if let Err(e) = finish(&state, &id, outcome, patient.as_deref()).await {
            tracing::error!(finding = %id, error = %e, "recording a finding");
        }
        if let Ok((done, _)) = find(&state, &id).await {
            (state.events.diagnosis)(room.clone(), RoomEvent::Finding { finding: Box::new(done) }).await;
        }
    });
    Ok(started)
}

async fn finish(
    state: &AppState,
    id: &str,
    outcome: std::result::Result<Done, String>,
    patient: Option<&str>,
) -> Result<()> {
    let now = now_ms();
    let heatmap = match &outcome {
        Ok(done) => {
            let blobs = state.blobs.clone();
            let png = done.heatmap_png.clone();
            Some(
                tokio::task::spawn_blocking(move || blobs.put(&png))
                    .await
                    .map_err(anyhow::Error::from)?
                    .map_err(anyhow::Error::from)?,
            )
        }
        Err(_) => None,
    };
    let mut tx = state.db.write().await?;
    let actor = Actor { client_addr: Some("inference".into()), ..Actor::default() };
    match outcome {
        Ok(done) => {
            sqlx::query(
                "UPDATE findings SET status = 'ready', predictions = $2, defaulted = $3, heatmap_sha256 = $4, model_sha256 = $5, completed_at = $6
                 WHERE id = $1 AND status = 'running'",
            )
            .bind(id)
            .bind(serde_json::to_string(&done.predictions).unwrap_or_default())
            .bind(serde_json::to_string(&done.defaulted).unwrap_or_default())
            .bind(heatmap)
            .bind(done.model_sha256)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            audit::record(
                &mut tx,
                &actor,
                Event::new("finding.ready").object("finding", id).patient(patient),
            )
            .await?;
        }
        Err(message) => {
            tracing::warn!(finding = %id, error = %message, "analysis failed");
            sqlx::query("UPDATE findings SET status = 'failed', error = $2, completed_at = $3 WHERE id = $1 AND status = 'running'")
                .bind(id)
                .bind(&message)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            audit::record(&mut tx, &actor, Event::new("finding.fail").object("finding", id).patient(patient))
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A signed-off finding as the consultation record and the case review show it.
#[derive(Clone, Debug)]
pub struct RecordEntry {
    /// The image's file name, with the review case's number when it belongs to one.
    pub image: String,
    /// The number of the review case the image belongs to, if any.
    pub case: Option<i64>,
    /// The frame analysed, counted from 1 for people; 0 for a single picture.
    pub frame: u32,
    pub model: String,
    pub outcome: String,
    /// The label settled on, named in the reader's language.
    pub label: String,
    pub note: String,
    pub by: String,
    /// When it was signed off, in the reader's time zone, the zone named.
    pub at: String,
}

/// The signed-off findings of a room, oldest first (the record never shows unsigned ones),
/// with times in `tz`.
pub async fn record_for_room(
    state: &AppState,
    room_id: &str,
    tz: &jiff::tz::TimeZone,
    tr: &crate::web::i18n::Tr,
) -> Result<Vec<RecordEntry>> {
    let rows = sqlx::query(
        "SELECT i.filename, c.position, f.frame, i.info, f.model, f.model_version, f.status, f.decision_label, f.decision_note, f.decided_by_name, f.decided_at
         FROM findings f JOIN images i ON i.id = f.image_id LEFT JOIN review_cases c ON c.id = i.case_id
         WHERE f.room_id = $1 AND f.status IN ('accepted', 'amended', 'rejected') ORDER BY f.decided_at, f.id",
    )
    .bind(room_id)
    .fetch_all(state.db.read())
    .await?;
    let registry = &state.diagnosis.registry;
    rows.iter()
        .map(|r| {
            let at: i64 = r.try_get::<Option<i64>, _>("decided_at")?.unwrap_or_default();
            let at = jiff::Timestamp::from_millisecond(at)
                .map(|t| crate::web::time::moment(t, tz, tr))
                .unwrap_or_default();
            let filename: String = r.try_get("filename")?;
            let case = r.try_get::<Option<i64>, _>("position")?;
            let image = match case {
                Some(case) => format!("{filename} (#{case})"),
                None => filename,
            };
            // Frames are named only where there is more than one.
            let info: String = r.try_get("info")?;
            let frames = serde_json::from_str::<crate::imaging::DicomInfo>(&info).map_or(1, |d| d.frames);
            let frame = u32::try_from(r.try_get::<i64, _>("frame")?).unwrap_or(0);
            let model: String = r.try_get("model")?;
            let label = r.try_get::<Option<String>, _>("decision_label")?.unwrap_or_default();
            Ok(RecordEntry {
                image,
                case,
                frame: if frames > 1 { frame + 1 } else { 0 },
                label: if label.is_empty() { label } else { registry.label_name(&model, &label, tr.0) },
                model: format!("{model} {}", r.try_get::<String, _>("model_version")?),
                outcome: r.try_get("status")?,
                note: r.try_get::<Option<String>, _>("decision_note")?.unwrap_or_default(),
                by: r.try_get::<Option<String>, _>("decided_by_name")?.unwrap_or_default(),
                at,
            })
        })
        .collect()
}
