//! The onnxruntime engine (cargo feature `ort`), loaded at run time from the library named by
//! `CONSILIUM_ORT_LIB` (the PyPI `onnxruntime` wheel carries one: `onnxruntime/capi/
//! libonnxruntime.so.*`). onnxruntime's `run` needs exclusive use of a session, so each model
//! gets one session per worker thread; a run takes whichever is free.

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::engine::{Backend, Session, Tensor};

/// onnxruntime, initialised once per process.
#[derive(Debug)]
pub struct Ort {
    sessions_per_model: usize,
}

impl Ort {
    pub fn init(library: Option<&Path>) -> anyhow::Result<Ort> {
        let library = library.ok_or_else(|| {
            anyhow::anyhow!("the ort engine needs CONSILIUM_ORT_LIB, the path of libonnxruntime.so")
        })?;
        ort::init_from(library.to_string_lossy().as_ref())
            .map_err(|e| anyhow::anyhow!("loading {}: {e}", library.display()))?
            .with_name("consilium")
            .commit();
        let sessions_per_model = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(Ort { sessions_per_model })
    }
}

struct OrtSession {
    sessions: Vec<Mutex<ort::session::Session>>,
    outputs: Vec<String>,
}

impl Backend for Ort {
    fn name(&self) -> &'static str {
        "ort"
    }

    fn load(&self, path: &Path, outputs: &[&str]) -> anyhow::Result<Arc<dyn Session>> {
        let sessions = (0..self.sessions_per_model)
            .map(|_| -> anyhow::Result<_> {
                let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{}: {e}", path.display());
                let session = ort::session::Session::builder()
                    .map_err(|e| err(&e))?
                    .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Level3)
                    .map_err(|e| err(&e))?
                    .with_intra_threads(1)
                    .map_err(|e| err(&e))?
                    .commit_from_file(path)
                    .map_err(|e| err(&e))?;
                Ok(Mutex::new(session))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Arc::new(OrtSession { sessions, outputs: outputs.iter().map(|s| s.to_string()).collect() }))
    }
}

impl Session for OrtSession {
    fn run(&self, inputs: &[(&str, &Tensor)]) -> anyhow::Result<Vec<Tensor>> {
        // A free session if there is one, else wait for the first.
        let mut guard = self
            .sessions
            .iter()
            .find_map(|s| s.try_lock().ok())
            .unwrap_or_else(|| self.sessions[0].lock().unwrap_or_else(|e| e.into_inner()));
        let mut values = Vec::with_capacity(inputs.len());
        for (name, t) in inputs {
            let value = ort::value::Tensor::from_array((t.shape.clone(), t.data.clone()))?;
            values.push((name.to_string(), value));
        }
        let out = guard.run(values)?;
        self.outputs
            .iter()
            .map(|name| {
                let (shape, data) = out[name.as_str()].try_extract_tensor::<f32>()?;
                // A computed output has concrete (non-negative) dimensions.
                let shape = shape.iter().map(|d| usize::try_from(*d).unwrap_or(0)).collect();
                Ok(Tensor::new(shape, data.to_vec()))
            })
            .collect()
    }
}
