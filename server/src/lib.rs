//! Consilium: a self-hostable telemedicine consultation platform.
//!
//! Layout (data flows edge → domain → storage):
//! - [`config`]: settings from the environment; [`error`]: the one error type.
//! - [`db`]: the one way to storage: a read pool that refuses writes, and [`db::Db::write`],
//!   the only way to open a writing transaction (SQLite: writers queued in process, group
//!   commit; PostgreSQL: pooled writers, one row-lock order, contention retried); migrations.
//! - [`auth`]: passwords, tokens, sign-in, extractors; [`accounts`]: user administration.
//! - [`scheduling`]: availability, slots, appointments, iCalendar;
//! - [`consult`]: rooms, who is in one ([`consult::admission`]: the `RoomMember` and
//!   `RoomClinician` extractors), waiting room, signalling WebSocket, chat. One task per live
//!   room ([`consult::hub`]) owns its participants; in-room domains send it their own events
//!   through sinks ([`consult::events`]) and never build its wire messages.
//! - [`media`]: the SFU behind the `MediaPlane` trait; it stands alone (no storage, axum or
//!   SQL) and takes typed ids ([`ids`]: `RoomId`, `PeerId`, `UserId`).
//! - [`imaging`]: shared images (PNG, JPEG, DICOM) and the blob store;
//! - [`diagnosis`]: ONNX models, inference workers, explanations, findings and their sign-off;
//! - [`records`]: the clinical record: the audit log, consultation notes (SOAP drafts with
//!   versions, signing, addenda), case-review outcomes, attendance and report, the patient's
//!   chart with emergency access, and what a call leaves behind. Signed rows are frozen by
//!   database triggers.
//! - [`fhir`]: FHIR R4 at `/fhir/r4` over the record and scheduling (it reads their tables;
//!   they never import it).
//! - [`web`]: pages, i18n, static files, printable PDFs ([`web::pdf`]), and the edge's input
//!   checks ([`web::input`]); [`ops`]: probes, metrics, admission control, security
//!   middleware; [`seed`]: the demo clinic; [`cli`]: the command line.
//!
//! Domain folders take scheduling's shape: `handlers.rs` (or `pages.rs`) parses and answers,
//! `service.rs` owns the flow (checks, one write, audit rows, announcements), `db.rs` owns the
//! SQL, with named constraints mapped to 409/422 where the query is written
//! ([`db::on_unique`]). Statuses are enums (`scheduling::model::Status`,
//! `diagnosis::findings::FindingStatus`). Consult keeps the queries of room access, invites and
//! device tokens beside those flows; the room task's go through `consult::db`.
//!
//! Background work ends with the process: on SIGTERM [`App::run_until`] finishes the HTTP
//! requests, then closes every room (sockets close with 1012, "service restart"), then the
//! media rooms, then stops the reminder worker.
//!
//! [`App::build`] wires these into one axum `Router` behind one listener.

pub mod accounts;
pub mod auth;
pub mod cli;
pub mod config;
pub mod consult;
pub mod db;
pub mod diagnosis;
pub mod error;
pub mod fhir;
pub mod ids;
pub mod imaging;
pub mod media;
pub mod ops;
pub mod records;
pub mod scheduling;
pub mod seed;
pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::auth::throttle::LoginThrottle;
use crate::auth::token::{TokenKeys, load_or_create_secret};
use crate::config::Config;
use crate::db::Db;
use crate::error::AppError;

/// Shared, cheaply cloned state handed to every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub keys: Arc<TokenKeys>,
    pub throttle: Arc<LoginThrottle>,
    /// Live consultation rooms.
    pub hub: Arc<consult::hub::Hub>,
    /// The SFU that carries the rooms' audio and video.
    pub media: Arc<dyn media::MediaPlane>,
    /// Shared images and heatmaps, by sha256.
    pub blobs: Arc<imaging::store::Blobs>,
    /// Bounds how many images are decoded at once.
    pub decode_slots: Arc<imaging::slots::DecodeSlots>,
    /// Diagnosis models and their worker threads.
    pub diagnosis: Arc<diagnosis::findings::Diagnosis>,
    /// Requests in flight per class.
    pub admission: Arc<ops::admission::Admission>,
    /// Where diagnosis and imaging send a room's news (the hub delivers it).
    pub events: RoomEvents,
}

/// The sinks the in-room domains send their events to; built by the room hub.
#[derive(Clone)]
pub struct RoomEvents {
    pub diagnosis: diagnosis::events::Sink,
    pub imaging: imaging::EventSink,
    pub outcomes: records::outcomes::EventSink,
}

impl std::fmt::Debug for RoomEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomEvents")
    }
}

impl AppState {
    /// Opens storage (migrating it) and prepares keys and throttles.
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
        let db = Db::connect(&config.effective_database_url(), config.db).await?;
        let secret = load_or_create_secret(config.jwt_secret.as_deref(), &config.data_dir)?;
        let keys = Arc::new(TokenKeys::new(&secret, config.token_ttl));
        let throttle = Arc::new(LoginThrottle::new(&config));
        web::set_body_limit(config.max_body_bytes);
        let media: Arc<dyn media::MediaPlane> = Arc::new(media::Sfu::new(config.media.clone()));
        let hub = Arc::new(consult::hub::Hub::new(db.clone(), media.clone()));
        let blobs = Arc::new(imaging::store::Blobs::new(config.data_dir.join("blobs")));
        let backend = diagnosis::engine::backend(&config.inference_engine, config.ort_library.as_deref())?;
        let registry = Arc::new(diagnosis::Registry::open(&config.models_dir_found(), backend));
        let pool = diagnosis::workers::Pool::new(
            config.inference_workers,
            config.inference_queue,
            config.inference_timeout,
        );
        let diagnosis = Arc::new(diagnosis::findings::Diagnosis { registry, pool });
        let decode_slots =
            Arc::new(imaging::slots::DecodeSlots::new(config.image_decoders, config.image_decode_queue));
        let admission = Arc::new(ops::admission::Admission::new(config.admission));
        let events = RoomEvents {
            diagnosis: hub.diagnosis_sink(),
            imaging: hub.imaging_sink(),
            outcomes: hub.outcomes_sink(),
        };
        Ok(AppState {
            events,
            admission,
            db,
            config: Arc::new(config),
            keys,
            throttle,
            hub,
            media,
            blobs,
            decode_slots,
            diagnosis,
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Consilium API", description = "Telemedicine consultations: accounts, scheduling, video rooms, diagnosis."),
    modifiers(&BearerAuth),
    tags((name = "auth", description = "Sign-in and one's own profile"),
         (name = "users", description = "Account administration (admins)"),
         (name = "audit", description = "Audit log (admins)"),
         (name = "scheduling", description = "Availability, slots, appointments"),
         (name = "reviews", description = "Multi-expert case reviews"),
         (name = "consult", description = "Consultation rooms"),
         (name = "imaging", description = "Images shared in a room"),
         (name = "diagnosis", description = "Diagnosis models and their findings"),
         (name = "meta", description = "This description"))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
    }
}

/// Every `/api` route, each registered with its OpenAPI description in the same call.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(utoipa_axum::routes!(openapi_json))
        .merge(auth::api_router())
        .merge(accounts::api_router())
        .merge(records::api_router())
        .merge(scheduling::api_router())
        .merge(consult::api_router())
        .merge(imaging::api_router())
        .merge(diagnosis::handlers::api_router())
}

/// The generated OpenAPI 3.1 document, built once.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(|| api_routes().split_for_parts().1)
}

/// This API's OpenAPI 3.1 description.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json() -> axum::Json<&'static utoipa::openapi::OpenApi> {
    axum::Json(openapi())
}

/// Browser pages; their errors are rendered as HTML.
fn page_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(web::pages::dashboard))
        .route("/login", get(auth::pages::login_page).post(auth::pages::login_submit))
        .route("/logout", post(auth::pages::logout))
        .route("/settings", get(web::pages::settings).post(web::pages::save_settings))
        .route("/settings/calendar", post(web::pages::create_feed))
        .route("/settings/password", post(web::pages::change_password))
        .route("/settings/calendar/revoke", post(web::pages::revoke_feed))
        .route("/lang/{code}", get(web::pages::set_language))
        .route("/admin/users", get(accounts::pages::list).post(accounts::pages::create))
        .route("/admin/users/{id}", get(accounts::pages::edit).post(accounts::pages::save))
        .route("/admin/users/{id}/active", post(accounts::pages::set_active))
        .route("/admin/audit", get(records::handlers::page))
        .route("/admin/emergency-access", get(records::chart::pages::report))
        .route("/patients/{id}", get(records::chart::pages::page))
        .route("/record", get(records::chart::pages::own))
        .route("/record/fhir", get(fhir::own_record))
        .route("/patients/{id}/emergency", post(records::chart::pages::emergency))
        .route("/patients/{id}/demographics", post(records::chart::pages::demographics))
        .route("/admin/schedule", get(scheduling::pages::grid))
        .route("/join/{token}", get(consult::invites::redeem))
        .route("/book", get(scheduling::pages::doctors))
        .route("/book/{doctor_id}", get(scheduling::pages::slots).post(scheduling::pages::submit))
        .route("/book/{doctor_id}/confirm", get(scheduling::pages::confirm))
        .route("/reviews", get(scheduling::reviews::pages::list).post(scheduling::reviews::pages::create))
        .route("/reviews/{id}", get(scheduling::reviews::pages::detail))
        .route("/reviews/{id}/cases", post(scheduling::reviews::pages::add_case))
        .route("/reviews/{id}/cases/{case_id}/outcome", post(records::outcomes::pages::submit))
        .route("/reviews/{id}/schedule", post(scheduling::reviews::pages::schedule))
        .route("/reviews/{id}/rsvp", post(scheduling::reviews::pages::rsvp))
        .route("/reviews/{id}/cancel", post(scheduling::reviews::pages::cancel))
        .route("/reviews/{id}/attendance", post(records::attendance::submit))
        .route("/reviews/{id}/report", get(records::report::page))
        .route("/rooms", post(consult::create_room_page))
        .route("/rooms/{id}", get(consult::page))
        .route("/appointments", get(scheduling::pages::list))
        .route("/appointments/{id}", get(scheduling::pages::detail))
        .route("/appointments/{id}/cancel", post(scheduling::pages::cancel))
        .route("/appointments/{id}/status", post(scheduling::pages::mark))
        .route("/schedule/{doctor_id}/exceptions", post(scheduling::pages::add_exception))
        .route(
            "/schedule/{doctor_id}/exceptions/{exception_id}/delete",
            post(scheduling::pages::delete_exception),
        )
        .route(
            "/schedule/{doctor_id}/availability",
            get(scheduling::pages::availability).post(scheduling::pages::save_availability),
        )
        .layer(from_fn(web::html_errors))
}

/// The complete application router.
pub fn router(state: AppState) -> Router {
    let (api, _) = api_routes().split_for_parts();
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(api)
        .merge(page_routes())
        .merge(fhir::router())
        .route("/static/{file}", get(web::statics::serve))
        .route("/calendar/{file}", get(scheduling::feed::serve))
        .route("/rooms/{id}/ws", get(consult::ws::upgrade))
        .route("/whip/rooms/{id}", axum::routing::post(consult::devices::whip))
        .route("/whep/rooms/{id}", axum::routing::post(consult::devices::whep))
        .route("/whip/rooms/{id}/{session}", axum::routing::delete(consult::devices::stop).patch(consult::devices::patch))
        .route("/whep/rooms/{id}/{session}", axum::routing::delete(consult::devices::stop).patch(consult::devices::patch))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics::render))
        .fallback(not_found)
        .route_layer(from_fn(ops::metrics::track))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(from_fn(web::input::refuse_control_characters))
        .layer(from_fn_with_state(state.admission.clone(), ops::admission::admit))
        .layer(from_fn(web::edge_errors))
        .layer(from_fn(ops::security::cross_site_guard))
        .layer(from_fn(ops::security::headers))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            // The path only: query strings may one day carry tokens.
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        })
        .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Unknown paths: JSON under `/api`, an HTML page elsewhere.
async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        return AppError::NotFound("route").into_response();
    }
    if fhir::is_fhir_path(req.uri().path()) {
        return fhir::outcome::convert(AppError::NotFound("route").into_response());
    }
    let (parts, _) = req.into_parts();
    web::error_page(web::negotiate(&parts, None), StatusCode::NOT_FOUND, "page not found".into())
}

/// A bound, ready-to-serve application.
pub struct App {
    pub state: AppState,
    listener: TcpListener,
    mailer: scheduling::reminders::Mailer,
}

impl App {
    /// Opens storage and binds the configured address.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let bind = config.bind;
        let state = AppState::open(config).await?;
        ops::metrics::handle();
        let mailer = scheduling::reminders::Mailer::from_config(&state.config)?;
        let listener = TcpListener::bind(bind).await.with_context(|| format!("binding {bind}"))?;
        Ok(App { state, listener, mailer })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        self.state.throttle.clone().spawn_pruner();
        if self.state.config.models_preload {
            // Load the models in the background: the server is healthy at once, and the first
            // analysis does not pay for loading.
            let registry = self.state.diagnosis.registry.clone();
            std::thread::Builder::new().name("model-preload".into()).spawn(move || registry.load_all())?;
        }
        // Background work ends with the server: told to stop once the last request is answered.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let reminders = scheduling::reminders::spawn_worker(self.state.clone(), self.mailer, stopped);
        let (hub, media) = (self.state.hub.clone(), self.state.media.clone());
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await;
        // Upgraded sockets outlive the HTTP drain: the rooms close them, then their media.
        hub.shutdown().await;
        media.shutdown().await;
        let _ = stop.send(true);
        let _ = reminders.await;
        served?;
        Ok(())
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
