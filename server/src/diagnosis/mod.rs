//! Diagnosis models: a registry of `models/<name>/` folders (an ONNX file and its manifest),
//! one inference path shared by the server and `consilium diagnose`, explanations (class
//! activation maps or occlusion), and the findings a clinician signs off in the room.
//!
//! A model is loaded once, on first use or by the warm-up at start, then shared by every
//! worker thread ([`workers::Pool`]).

pub mod db;
pub mod engine;
pub mod events;
pub mod findings;
pub mod handlers;
pub mod heatmap;
pub mod manifest;
#[cfg(feature = "ort")]
pub mod ort;
pub mod preprocess;
pub mod service;
pub mod workers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use image::RgbImage;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use engine::{Backend, Session, Tensor};
use manifest::{Explanation, Facts, Manifest, OutputKind};

/// One label's score.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, ToSchema)]
pub struct Prediction {
    pub label: String,
    pub probability: f32,
}

/// What one run of a model says about one image.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// In the manifest's label order.
    pub predictions: Vec<Prediction>,
    /// Class activation maps `[labels, h, w]`, when the model has them.
    pub cam: Option<Tensor>,
    /// The last feature map `[1, h, w, k]` or `[1, k, h, w]`, for Ablation-CAM models.
    pub features: Option<Tensor>,
    /// Tabular fields that were not given (their defaults were used).
    pub defaulted: Vec<String>,
}

impl Outcome {
    /// Index of the most probable label.
    pub fn top(&self) -> usize {
        let mut best = 0;
        for (i, p) in self.predictions.iter().enumerate() {
            if p.probability > self.predictions[best].probability {
                best = i;
            }
        }
        best
    }
}

/// Why a model could not be run.
#[derive(Debug, thiserror::Error)]
pub enum DiagnosisError {
    #[error("no model named {0:?}")]
    UnknownModel(String),
    #[error("{0}")]
    BadFacts(String),
    #[error("the model could not be loaded: {0}")]
    Load(String),
    #[error("inference failed: {0}")]
    Engine(String),
}

struct Loaded {
    session: Arc<dyn Session>,
    /// The network after pooling, for Ablation-CAM.
    head: Option<Arc<dyn Session>>,
    sha256: String,
}

/// A model folder: its manifest, and its runtime session once loaded.
pub struct Model {
    pub manifest: Manifest,
    pub path: PathBuf,
    loaded: OnceLock<Result<Loaded, String>>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("name", &self.manifest.name).finish_non_exhaustive()
    }
}

/// Every model found under the models directory, and the engine that runs them.
pub struct Registry {
    models: BTreeMap<String, Arc<Model>>,
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("models", &self.models.keys())
            .field("engine", &self.backend.name())
            .finish()
    }
}

impl Registry {
    /// Reads every `<dir>/<name>/manifest.json`. A folder with a bad manifest is skipped with
    /// an error in the log, so one broken model does not take the others down. A missing
    /// directory means no models.
    pub fn open(dir: &Path, backend: Arc<dyn Backend>) -> Registry {
        let mut models = BTreeMap::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "no models directory; diagnosis is off");
                return Registry { models, backend };
            }
        };
        for entry in entries.flatten() {
            let folder = entry.path();
            let manifest_path = folder.join("manifest.json");
            if !manifest_path.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let parsed = std::fs::read_to_string(&manifest_path)
                .map_err(|e| e.to_string())
                .and_then(|json| Manifest::parse(&json, &name));
            match parsed {
                Ok(manifest) => {
                    let model = Model { manifest, path: folder.join("model.onnx"), loaded: OnceLock::new() };
                    models.insert(name, Arc::new(model));
                }
                Err(e) => tracing::error!(model = %name, error = %e, "skipping a model with a bad manifest"),
            }
        }
        let names: Vec<&str> = models.keys().map(String::as_str).collect();
        tracing::info!(dir = %dir.display(), models = ?names, "diagnosis models found");
        Registry { models, backend }
    }

    pub fn engine(&self) -> &'static str {
        self.backend.name()
    }

    pub fn models(&self) -> impl Iterator<Item = &Arc<Model>> {
        self.models.values()
    }

    pub fn get(&self, name: &str) -> Result<&Arc<Model>, DiagnosisError> {
        self.models.get(name).ok_or_else(|| DiagnosisError::UnknownModel(name.to_string()))
    }

    /// The name of label `id` of `model` in `lang`. What the registry does not know (a model
    /// since removed, a clinician's own words in an amendment) is shown as it was stored.
    pub fn label_name(&self, model: &str, id: &str, lang: crate::web::i18n::Lang) -> String {
        self.models
            .get(model)
            .and_then(|m| m.manifest.labels.iter().find(|l| l.id == id))
            .map_or_else(|| id.to_string(), |l| l.name_in(lang).to_string())
    }

    /// Every model's label names in `lang`, `{model: {label id: name}}`, as JSON safe inside a
    /// `<script>` element: the room's scripts name labels with it for every role.
    pub fn label_names_json(&self, lang: crate::web::i18n::Lang) -> String {
        let names: BTreeMap<&str, BTreeMap<&str, &str>> = self
            .models
            .iter()
            .map(|(name, m)| {
                (name.as_str(), m.manifest.labels.iter().map(|l| (l.id.as_str(), l.name_in(lang))).collect())
            })
            .collect();
        serde_json::to_string(&names).unwrap_or_default().replace('<', "\\u003c")
    }

    /// Loads every model now (blocking): the warm-up after start, and the command line.
    pub fn load_all(&self) {
        for model in self.models.values() {
            if let Err(e) = self.load(model) {
                tracing::error!(model = %model.manifest.name, error = %e, "model failed to load");
            }
        }
    }

    fn load<'m>(&self, model: &'m Model) -> Result<&'m Loaded, DiagnosisError> {
        let loaded = model.loaded.get_or_init(|| {
            let started = std::time::Instant::now();
            let bytes = std::fs::read(&model.path).map_err(|e| format!("{}: {e}", model.path.display()))?;
            let sha256 = hex(&Sha256::digest(&bytes));
            drop(bytes);
            let mut outputs = vec![model.manifest.output.name.as_str()];
            let mut head = None;
            match &model.manifest.explanation {
                Explanation::Cam { output } => outputs.push(output),
                Explanation::AblationCam { features, head: file, head_output, .. } => {
                    outputs.push(features);
                    let path = model.path.with_file_name(file);
                    head = Some(
                        self.backend
                            .load(&path, &[head_output])
                            .map_err(|e| format!("{}: {e:#}", path.display()))?,
                    );
                }
                Explanation::Occlusion { .. } => {}
            }
            let session = self.backend.load(&model.path, &outputs).map_err(|e| format!("{e:#}"))?;
            tracing::info!(model = %model.manifest.name, engine = self.backend.name(),
                ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), "model loaded");
            Ok(Loaded { session, head, sha256 })
        });
        loaded.as_ref().map_err(|e| DiagnosisError::Load(e.clone()))
    }

    /// Whether `model` is loaded and ready.
    pub fn is_loaded(&self, model: &Model) -> bool {
        matches!(model.loaded.get(), Some(Ok(_)))
    }

    /// sha256 of the model file, once loaded.
    pub fn model_sha256(&self, model: &Model) -> Option<String> {
        model.loaded.get().and_then(|l| l.as_ref().ok()).map(|l| l.sha256.clone())
    }

    /// Runs `model` on `img` (any size: it is resized as the manifest says) with `facts`.
    /// Blocking: call it from a worker thread.
    pub fn infer(&self, model: &Model, img: &RgbImage, facts: &Facts) -> Result<Outcome, DiagnosisError> {
        let (tabular, defaulted) = model.manifest.encode_facts(facts).map_err(DiagnosisError::BadFacts)?;
        let input = preprocess::resize(img, &model.manifest.image);
        let mut outcome = self.infer_prepared(model, &input, &tabular)?;
        outcome.defaulted = defaulted;
        Ok(outcome)
    }

    /// Runs `model` on an image already at its input size with encoded tabular values.
    pub fn infer_prepared(
        &self,
        model: &Model,
        input: &RgbImage,
        tabular: &[f32],
    ) -> Result<Outcome, DiagnosisError> {
        let loaded = self.load(model)?;
        let m = &model.manifest;
        let image = preprocess::tensor(input, &m.image);
        let meta = Tensor::new(vec![1, tabular.len()], tabular.to_vec());
        let mut inputs: Vec<(&str, &Tensor)> = vec![(m.image.input.as_str(), &image)];
        if let Some(t) = &m.tabular {
            inputs.push((t.input.as_str(), &meta));
        }
        let mut outputs =
            loaded.session.run(&inputs).map_err(|e| DiagnosisError::Engine(format!("{e:#}")))?;
        let scores = outputs.remove(0);
        if scores.data.len() != m.labels.len() {
            return Err(DiagnosisError::Engine(format!(
                "the model gives {} scores for {} labels",
                scores.data.len(),
                m.labels.len()
            )));
        }
        let probabilities = match m.output.kind {
            OutputKind::Probabilities => scores.data,
            OutputKind::Logits => softmax(&scores.data),
        };
        let predictions = m
            .labels
            .iter()
            .zip(probabilities)
            .map(|(l, p)| Prediction { label: l.id.clone(), probability: p })
            .collect();
        let extra = outputs.pop();
        let (cam, features) = match &m.explanation {
            Explanation::Cam { .. } => (extra.map(|t| Tensor::new(t.shape[1..].to_vec(), t.data)), None),
            Explanation::AblationCam { .. } => (None, extra),
            Explanation::Occlusion { .. } => (None, None),
        };
        Ok(Outcome { predictions, cam, features, defaulted: Vec::new() })
    }

    /// Runs an Ablation-CAM model's head on a batch of pooled feature rows `[n, k]` with the
    /// tabular row repeated; returns `[n, labels]` scores.
    pub fn run_head(
        &self,
        model: &Model,
        pooled: &Tensor,
        tabular: &[f32],
    ) -> Result<Tensor, DiagnosisError> {
        let loaded = self.load(model)?;
        let Explanation::AblationCam { head_pooled, head_tabular, .. } = &model.manifest.explanation else {
            return Err(DiagnosisError::Engine("this model has no head".into()));
        };
        let head =
            loaded.head.as_ref().ok_or_else(|| DiagnosisError::Engine("this model has no head".into()))?;
        let n = pooled.shape[0];
        let meta = Tensor::new(
            vec![n, tabular.len()],
            tabular.iter().copied().cycle().take(n * tabular.len()).collect(),
        );
        let mut inputs: Vec<(&str, &Tensor)> = vec![(head_pooled.as_str(), pooled)];
        if !tabular.is_empty() {
            inputs.push((head_tabular.as_str(), &meta));
        }
        let mut out = head.run(&inputs).map_err(|e| DiagnosisError::Engine(format!("{e:#}")))?;
        Ok(out.remove(0))
    }
}

fn softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = x.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|v| v / sum).collect()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
