//! Static assets compiled into the binary (no build step, no files to deploy beside it).

use crate::web::input::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

const FILES: &[(&str, &str, &[u8])] = &[
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../../web/static/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../../web/static/app.js")),
    ("room.js", "text/javascript; charset=utf-8", include_bytes!("../../../web/static/room.js")),
    ("devices.js", "text/javascript; charset=utf-8", include_bytes!("../../../web/static/devices.js")),
    ("call.js", "text/javascript; charset=utf-8", include_bytes!("../../../web/static/call.js")),
    ("images.js", "text/javascript; charset=utf-8", include_bytes!("../../../web/static/images.js")),
    ("analyse.js", "text/javascript; charset=utf-8", include_bytes!("../../../web/static/analyse.js")),
    ("ui.js", "text/javascript; charset=utf-8", include_bytes!("../../../web/static/ui.js")),
    ("note.js", "text/javascript; charset=utf-8", include_bytes!("../../../web/static/note.js")),
    ("agenda.js", "text/javascript; charset=utf-8", include_bytes!("../../../web/static/agenda.js")),
    ("draft.js", "text/javascript; charset=utf-8", include_bytes!("../../../web/static/draft.js")),
];

/// `GET /static/{file}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
            ],
            *bytes,
        )
            .into_response(),
        None => AppError::NotFound("file").into_response(),
    }
}
