//! Admission control: at most so many requests of each class in flight at once. A request
//! past the limit waits for a turn, at most `CONSILIUM_ADMISSION_WAIT_MS`, and is then answered
//! 503 with `Retry-After`, so a burst becomes a queue and then polite refusals instead of
//! timeouts deep inside the server. Probes, metrics and static files are never held back.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::AppError;

/// Limits per class (`CONSILIUM_MAX_IN_FLIGHT_*`, `CONSILIUM_ADMISSION_WAIT_MS`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// JSON API, FHIR, WHIP/WHEP and calendar feeds (`CONSILIUM_MAX_IN_FLIGHT_API`, 512).
    pub api: usize,
    /// HTML pages and their form posts (`CONSILIUM_MAX_IN_FLIGHT_PAGES`, 256).
    pub pages: usize,
    /// Image uploads (`CONSILIUM_MAX_IN_FLIGHT_UPLOADS`, 8): each may hold 20 MiB in memory.
    pub uploads: usize,
    /// WebSocket upgrades being set up (`CONSILIUM_MAX_IN_FLIGHT_WEBSOCKETS`, 128).
    pub websockets: usize,
    /// Longest wait for a turn before 503 (`CONSILIUM_ADMISSION_WAIT_MS`, 2000).
    pub wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { api: 512, pages: 256, uploads: 8, websockets: 128, wait: Duration::from_secs(2) }
    }
}

/// What kind of work a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Api,
    Pages,
    Uploads,
    WebSockets,
    /// Probes, metrics, static files: cheap and needed most when the server is busy.
    Exempt,
}

impl Class {
    pub fn of(req: &Request) -> Class {
        let path = req.uri().path();
        if matches!(path, "/healthz" | "/readyz" | "/metrics") || path.starts_with("/static/") {
            return Class::Exempt;
        }
        if req.headers().get(header::UPGRADE).is_some() || path.ends_with("/ws") {
            return Class::WebSockets;
        }
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("multipart/"));
        if req.method() == Method::POST && multipart {
            return Class::Uploads;
        }
        if crate::web::is_machine_path(path) { Class::Api } else { Class::Pages }
    }

    fn label(self) -> &'static str {
        match self {
            Class::Api => "api",
            Class::Pages => "pages",
            Class::Uploads => "uploads",
            Class::WebSockets => "websockets",
            Class::Exempt => "exempt",
        }
    }
}

/// One semaphore per class.
#[derive(Debug)]
pub struct Admission {
    api: Arc<Semaphore>,
    pages: Arc<Semaphore>,
    uploads: Arc<Semaphore>,
    websockets: Arc<Semaphore>,
    wait: Duration,
}

impl Admission {
    pub fn new(limits: Limits) -> Admission {
        let sem = |n: usize| Arc::new(Semaphore::new(n.max(1)));
        Admission {
            api: sem(limits.api),
            pages: sem(limits.pages),
            uploads: sem(limits.uploads),
            websockets: sem(limits.websockets),
            wait: limits.wait,
        }
    }

    fn semaphore(&self, class: Class) -> Option<&Arc<Semaphore>> {
        match class {
            Class::Api => Some(&self.api),
            Class::Pages => Some(&self.pages),
            Class::Uploads => Some(&self.uploads),
            Class::WebSockets => Some(&self.websockets),
            Class::Exempt => None,
        }
    }
}

/// Middleware: holds a permit of the request's class while the handler runs.
pub async fn admit(State(admission): State<Arc<Admission>>, req: Request, next: Next) -> Response {
    let class = Class::of(&req);
    let Some(sem) = admission.semaphore(class) else { return next.run(req).await };
    let permit = match sem.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => match tokio::time::timeout(admission.wait, sem.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                metrics::counter!("http_overload_total", "class" => class.label()).increment(1);
                return AppError::Unavailable("the server is busy; try again shortly".into()).into_response();
            }
        },
    };
    let resp = next.run(req).await;
    drop(permit);
    resp
}
