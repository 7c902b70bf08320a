//! The web app, compiled into the binary so `ferry` runs from any directory.
//! `/` serves `web/index.html`; everything else under `web/app/` is served at `/app/…`.

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

fn asset(path: &str) -> Response {
    match WebAssets::get(path) {
        Some(file) => {
            let mime = file.metadata.mimetype().to_string();
            (
                [
                    (header::CONTENT_TYPE, mime),
                    // Assets change with the binary; revalidate rather than serve stale code.
                    (header::CACHE_CONTROL, "no-cache".to_string()),
                ],
                file.data.into_owned(),
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}
