//! The inference engine behind a small trait, so the runtime can change without touching
//! the rest: tract (pure Rust, the default) always, onnxruntime with the `ort` feature.
//! A loaded [`Session`] is shared by every worker thread; running it never blocks others.

use std::path::Path;
use std::sync::Arc;

use tract_onnx::prelude::*;

/// A dense float tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor { shape, data }
    }
}

/// A model loaded into one runtime, ready to run from any thread.
pub trait Session: Send + Sync {
    /// Runs once. `inputs` by input name; the result holds the outputs named at load, in order.
    fn run(&self, inputs: &[(&str, &Tensor)]) -> anyhow::Result<Vec<Tensor>>;
}

/// A runtime that loads ONNX files.
pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;
    /// Loads `path`, keeping exactly the outputs named in `outputs`.
    fn load(&self, path: &Path, outputs: &[&str]) -> anyhow::Result<Arc<dyn Session>>;
}

/// tract-onnx: pure Rust, no native library.
#[derive(Debug, Default)]
pub struct Tract;

struct TractSession {
    plan: Arc<TypedSimplePlan>,
    /// Input names in the order the plan takes them.
    inputs: Vec<String>,
}

impl Backend for Tract {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn load(&self, path: &Path, outputs: &[&str]) -> anyhow::Result<Arc<dyn Session>> {
        let mut model = tract_onnx::onnx().model_for_path(path)?;
        let all = model.output_outlets()?.to_vec();
        let mut chosen = Vec::with_capacity(outputs.len());
        for want in outputs {
            let outlet = all
                .iter()
                .find(|o| model.outlet_label(**o) == Some(want) || model.node(o.node).name == *want)
                .ok_or_else(|| anyhow::anyhow!("the model has no output named {want:?}"))?;
            chosen.push(*outlet);
        }
        model.select_output_outlets(&chosen)?;
        let inputs = model.input_outlets()?.iter().map(|o| model.node(o.node).name.clone()).collect();
        let plan = model.into_optimized()?.into_runnable()?;
        Ok(Arc::new(TractSession { plan, inputs }))
    }
}

impl Session for TractSession {
    fn run(&self, inputs: &[(&str, &Tensor)]) -> anyhow::Result<Vec<Tensor>> {
        let mut values = TVec::new();
        for name in &self.inputs {
            let (_, t) = inputs
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| anyhow::anyhow!("no value for input {name:?}"))?;
            let arr = tract_ndarray::ArrayD::from_shape_vec(t.shape.clone(), t.data.clone())?;
            values.push(tract_onnx::prelude::Tensor::from(arr).into_tvalue());
        }
        let out = self.plan.run(values)?;
        out.iter()
            .map(|v| {
                let view = v.to_plain_array_view::<f32>()?;
                Ok(Tensor::new(view.shape().to_vec(), view.iter().copied().collect()))
            })
            .collect()
    }
}

/// The backend named by configuration: `tract`, or `ort` (needs the `ort` feature and the
/// path of `libonnxruntime.so`).
pub fn backend(name: &str, ort_library: Option<&Path>) -> anyhow::Result<Arc<dyn Backend>> {
    match name {
        "tract" => Ok(Arc::new(Tract)),
        #[cfg(feature = "ort")]
        "ort" => Ok(Arc::new(super::ort::Ort::init(ort_library)?)),
        #[cfg(not(feature = "ort"))]
        "ort" => {
            let _ = ort_library;
            anyhow::bail!("this build has no onnxruntime engine: rebuild with `--features ort`")
        }
        other => anyhow::bail!("unknown inference engine {other:?} (tract or ort)"),
    }
}
