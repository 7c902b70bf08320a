//! The shapes of the pipe's HTTP responses.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc::UnboundedReceiver;

pub const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, OPTIONS";

/// A one-line `[INFO]`/`[ERROR]` answer, as piping-server sends them.
pub fn message(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

/// The sender's `[INFO]` lines as a streamed response body.
pub fn info_body(mut lines: UnboundedReceiver<Bytes>) -> Body {
    Body::from_stream(futures_util::stream::poll_fn(move |cx| {
        lines
            .poll_recv(cx)
            .map(|line| line.map(Ok::<_, Infallible>))
    }))
}

/// The head of the sender's own response; the body is its stream of `[INFO]` lines.
pub fn sender_response(body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

/// A receiver's response: the sender's headers (already filtered) plus CORS and the headers
/// that keep piped content from running as a page of this origin.
pub fn receiver_response(mut headers: HeaderMap, body: Body) -> Response {
    let expose_x_piping = headers.contains_key("x-piping");
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if expose_x_piping {
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("X-Piping"),
        );
    }
    headers.insert("x-robots-tag", HeaderValue::from_static("none"));
    // ferry serves its web app on the same origin as the pipes, so piped data must never run as
    // a document of this origin (piping-server only renames text/html).
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    let mut response = Response::new(body);
    *response.headers_mut() = headers;
    response
}

/// `text/html` is served as `text/plain` (keeping parameters), like piping-server; unlike it,
/// the comparison ignores case and surrounding spaces, as browsers do.
pub fn defang_content_type(value: &HeaderValue) -> HeaderValue {
    let Ok(text) = value.to_str() else {
        return value.clone();
    };
    let (mime, params) = match text.find(';') {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    if mime.trim().eq_ignore_ascii_case("text/html") {
        HeaderValue::from_str(&format!("text/plain{params}")).unwrap_or_else(|_| value.clone())
    } else {
        value.clone()
    }
}

/// CORS preflight, including Private Network Access.
pub fn preflight(request_headers: &HeaderMap) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, Content-Disposition, X-Piping"),
    );
    if request_headers
        .get("access-control-request-private-network")
        .is_some_and(|v| v == "true")
    {
        headers.insert(
            "access-control-allow-private-network",
            HeaderValue::from_static("true"),
        );
    }
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Access-Control-Allow-Headers"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

pub fn method_not_allowed(method: &str, allow: &'static str) -> Response {
    let mut response = message(
        StatusCode::METHOD_NOT_ALLOWED,
        super::messages::unsupported_method(method),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(s: &str) -> String {
        defang_content_type(&HeaderValue::from_str(s).unwrap())
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn html_becomes_plain_text() {
        assert_eq!(ct("text/html"), "text/plain");
        assert_eq!(ct("text/html; charset=utf-8"), "text/plain; charset=utf-8");
        assert_eq!(ct("TEXT/HTML ;charset=x"), "text/plain;charset=x");
        assert_eq!(ct("image/png"), "image/png");
        assert_eq!(ct("text/htmlx"), "text/htmlx");
    }
}
