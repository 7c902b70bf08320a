//! `--http-redirect-port`: plain HTTP that sends every request to the same path over HTTPS, so
//! that `http://host/` typed by hand still lands on the secure origin.

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

pub fn router(https_port: u16) -> Router {
    Router::new().fallback(move |headers: HeaderMap, uri: Uri| async move {
        redirect(&headers, &uri, https_port)
    })
}

fn redirect(headers: &HeaderMap, uri: &Uri, https_port: u16) -> Response {
    // The client's own Host header: the redirect only ever sends the client to the name it asked
    // for, so a forged one misleads no one else.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<axum::http::uri::Authority>().ok());
    let Some(host) = host else {
        return (StatusCode::BAD_REQUEST, "a Host header is needed\n").into_response();
    };
    let port = match https_port {
        443 => String::new(),
        p => format!(":{p}"),
    };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let location = format!("https://{}{port}{path}", host.host());
    (
        StatusCode::MOVED_PERMANENTLY,
        [(header::LOCATION, location)],
        "moved to HTTPS\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(host: Option<&str>, path: &str, port: u16) -> (StatusCode, Option<String>) {
        let mut headers = HeaderMap::new();
        if let Some(h) = host {
            headers.insert(header::HOST, h.parse().unwrap());
        }
        let r = redirect(&headers, &path.parse().unwrap(), port);
        let loc = r
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_string());
        (r.status(), loc)
    }

    #[test]
    fn keeps_host_and_path_and_swaps_the_port() {
        assert_eq!(
            location(Some("phone.lan:8080"), "/?room=ABC123", 8443),
            (
                StatusCode::MOVED_PERMANENTLY,
                Some("https://phone.lan:8443/?room=ABC123".into())
            )
        );
        assert_eq!(
            location(Some("[::1]:80"), "/app/x.js", 443).1.as_deref(),
            Some("https://[::1]/app/x.js")
        );
    }

    #[test]
    fn no_or_bad_host_is_a_400() {
        assert_eq!(location(None, "/", 443).0, StatusCode::BAD_REQUEST);
        assert_eq!(location(Some("a b"), "/", 443).0, StatusCode::BAD_REQUEST);
    }
}
