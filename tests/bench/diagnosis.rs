//! Inference benchmarks, through the server's own path (decode → resize → tensor → engine),
//! printed beside onnxruntime (Python) on the same model and input in the same run:
//!
//!     scripts/bench-diagnosis.sh            # builds, runs this and the Python baseline
//!     cargo bench -p consilium-tests --bench diagnosis -- [--ort-lib PATH] [--iterations N]
//!
//! Per model: one request at a time (p50/p99 latency), 8 concurrent clients through the worker
//! pool (throughput), and the explanation (CAM overlay or occlusion).

use std::sync::Arc;
use std::time::{Duration, Instant};

use consilium::diagnosis::engine::{Backend, backend};
use consilium::diagnosis::manifest::{Explanation, Facts};
use consilium::diagnosis::workers::Pool;
use consilium::diagnosis::{Registry, heatmap, preprocess};
use consilium_tests::models_dir;

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "an index within the slice")]
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let iterations: usize = arg("--iterations").and_then(|v| v.parse().ok()).unwrap_or(30);
    let only = arg("--model");
    let mut engines: Vec<Arc<dyn Backend>> = vec![backend("tract", None).unwrap()];
    if let Some(lib) = arg("--ort-lib") {
        match backend("ort", Some(std::path::Path::new(&lib))) {
            Ok(b) => engines.push(b),
            Err(e) => println!("ort engine unavailable: {e:#}"),
        }
    }
    // onnxruntime (Python) figures from models/bench_onnxruntime.py, one JSON object a line.
    let baseline: Vec<serde_json::Value> = arg("--baseline")
        .map(|p| std::fs::read_to_string(p).unwrap())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let ort_python = |model: &str, threads: u64| {
        baseline
            .iter()
            .find(|b| b["model"].as_str().is_some_and(|m| m.ends_with(model)) && b["threads"] == threads)
            .cloned()
    };
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    println!("cores {workers}; {iterations} iterations per figure");
    for engine in engines {
        let registry = Arc::new(Registry::open(&models_dir(), engine.clone()));
        for model in registry.models() {
            if only.as_deref().is_some_and(|m| m != model.manifest.name) {
                continue;
            }
            let name = &model.manifest.name;
            let sample = std::fs::read_dir(models_dir().join(name).join("samples"))
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .min()
                .unwrap();
            let bytes = std::fs::read(&sample).unwrap();
            let img = consilium::imaging::decode::decode(&bytes, Default::default()).unwrap().image;
            let (tabular, _) = model.manifest.encode_facts(&Facts::new()).unwrap();
            let input = preprocess::resize(&img, &model.manifest.image);
            let started = Instant::now();
            registry.infer_prepared(model, &input, &tabular).unwrap();
            let load = started.elapsed();
            for _ in 0..3 {
                registry.infer_prepared(model, &input, &tabular).unwrap();
            }
            let mut one = Vec::with_capacity(iterations);
            for _ in 0..iterations {
                let t = Instant::now();
                registry.infer_prepared(model, &input, &tabular).unwrap();
                one.push(t.elapsed());
            }
            one.sort();
            let seq_rate = 1.0 / one.iter().map(Duration::as_secs_f64).sum::<f64>() * iterations as f64;
            let versus = ort_python(name, 1)
                .map(|b| {
                    let ratio = ms(percentile(&one, 0.5)) / b["p50_ms"].as_f64().unwrap();
                    format!("  = {ratio:.2}× onnxruntime-python (1 thread, p50 {} ms)", b["p50_ms"])
                })
                .unwrap_or_default();
            println!(
                "{:<6} {name:<13} one at a time   p50 {:>8.2} ms  p99 {:>8.2} ms  {:>7.1}/s  (first run incl. load {:.0} ms){versus}",
                engine.name(),
                ms(percentile(&one, 0.5)),
                ms(percentile(&one, 0.99)),
                seq_rate,
                ms(load)
            );
            // 8 clients, each sending its next request when the last one returns.
            let pool = Arc::new(Pool::new(workers, 64, Duration::from_secs(60)));
            let per_client = iterations.div_ceil(8).max(2);
            let t = Instant::now();
            let mut clients = Vec::new();
            for _ in 0..8 {
                let (pool, registry, model, input, tabular) =
                    (pool.clone(), registry.clone(), model.clone(), input.clone(), tabular.clone());
                clients.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    for _ in 0..per_client {
                        let (r, m, i, tb) = (registry.clone(), model.clone(), input.clone(), tabular.clone());
                        let s = Instant::now();
                        pool.run(move || r.infer_prepared(&m, &i, &tb).map(|_| ())).await.unwrap().unwrap();
                        lat.push(s.elapsed());
                    }
                    lat
                }));
            }
            let mut all = Vec::new();
            for c in clients {
                all.extend(c.await.unwrap());
            }
            let wall = t.elapsed();
            all.sort();
            let rate = all.len() as f64 / wall.as_secs_f64();
            let versus: String = [1u64, 2]
                .iter()
                .filter_map(|t| {
                    let b = ort_python(name, *t)?;
                    let base = b["throughput_per_s"].as_f64()?;
                    Some(format!("  = {:.2}× onnxruntime-python sequential {t} thr ({base}/s)", rate / base))
                })
                .collect();
            println!(
                "{:<6} {name:<13} 8 clients       p50 {:>8.2} ms  p99 {:>8.2} ms  {:>7.1}/s  ({:.2}× one at a time){versus}",
                engine.name(),
                ms(percentile(&all, 0.5)),
                ms(percentile(&all, 0.99)),
                rate,
                rate / seq_rate
            );
            // The explanation, as a finding makes it.
            let t = Instant::now();
            let outcome = registry.infer_prepared(model, &input, &tabular).unwrap();
            let heat = match (&model.manifest.explanation, &outcome.cam) {
                (Explanation::Cam { .. }, Some(cam)) => heatmap::from_cam(cam, outcome.top()),
                (Explanation::AblationCam { .. }, _) => heatmap::ablation_cam(
                    &registry,
                    model,
                    outcome.features.as_ref().unwrap(),
                    &tabular,
                    outcome.top(),
                )
                .unwrap(),
                (Explanation::Occlusion { patch, stride }, _) => heatmap::occlusion(
                    &registry,
                    model,
                    &input,
                    &tabular,
                    (*patch, *stride),
                    outcome.top(),
                    &mut |_| {},
                )
                .unwrap(),
                _ => panic!("no explanation"),
            };
            let png = heatmap::overlay_png(&heat, 224.max(input.width()), 224.max(input.height()));
            let kind = match model.manifest.explanation {
                Explanation::Cam { .. } => "CAM",
                Explanation::AblationCam { .. } => "Ablation-CAM",
                Explanation::Occlusion { .. } => "occlusion",
            };
            println!(
                "{:<6} {name:<13} heatmap ({kind}, inference + overlay {} B)  {:>8.1} ms",
                engine.name(),
                png.len(),
                ms(t.elapsed())
            );
        }
    }
}
