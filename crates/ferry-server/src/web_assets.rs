//! The web app, compiled into the binary so `ferry` runs from any directory.
//! `/` serves `web/index.html`; everything else under `web/app/` is served at `/app/…`.
//! The app shell's service worker lives under `/app/` with the other assets but controls the whole
//! origin (offline page, share target at `/`), which `Service-Worker-Allowed: /` permits.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../../web"]
struct WebAssets;

pub async fn index() -> Response {
    asset("index.html")
}

pub async fn app_file(Path(path): Path<String>) -> Response {
    asset(&format!("app/{path}"))
}

/// The one worker whose scope is wider than its folder.
const SHELL_WORKER: &str = "app/shell-sw.js";

fn asset(path: &str) -> Response {
    match WebAssets::get(path) {
        Some(file) => {
            let mime = file.metadata.mimetype().to_string();
            let mut response = (
                [
                    (header::CONTENT_TYPE, mime),
                    // Assets change with the binary; revalidate rather than serve stale code.
                    (header::CACHE_CONTROL, "no-cache".to_string()),
                ],
                file.data.into_owned(),
            )
                .into_response();
            if path == SHELL_WORKER {
                response.headers_mut().insert(
                    "service-worker-allowed",
                    header::HeaderValue::from_static("/"),
                );
            }
            response
        }
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}
