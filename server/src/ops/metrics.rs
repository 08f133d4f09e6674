//! Prometheus metrics: `http_requests_total` and `http_request_duration_seconds`, labelled
//! by method, matched route (never the raw path, which may carry ids) and status.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The process-wide recorder; installed once, shared by every app in the process (tests).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
                )
                .expect("bucket list is not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// Middleware that counts and times each request.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    let labels = [("method", method), ("route", route), ("status", resp.status().as_u16().to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    resp
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render(axum::extract::State(state): axum::extract::State<crate::AppState>) -> impl IntoResponse {
    // The SFU keeps its own totals (no lock or registry lookup per packet); copied in at scrape.
    state.db.report_metrics();
    let sfu = state.media.stats();
    metrics::counter!("sfu_forwarded_packets_total").absolute(sfu.forwarded);
    metrics::counter!("sfu_dropped_packets_total").absolute(sfu.dropped);
    metrics::counter!("sfu_keyframe_requests_total").absolute(sfu.keyframe_requests);
    metrics::gauge!("sfu_rooms").set(sfu.rooms as f64);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle().render())
}
