//! `/help`: piping-server's help page, with this server's URL and ferry's extras.

use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

/// The URL clients reached this server by. The Host header is only echoed when it looks like a
/// host, so the page cannot be made to print arbitrary text. `X-Forwarded-Proto` is believed
/// without checking the proxy: it only changes what this page shows to the one who sent it.
fn base_url(headers: &HeaderMap) -> String {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("https"));
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b))
        })
        .unwrap_or("hostname");
    format!("{}://{host}", if https { "https" } else { "http" })
}

pub fn help_text(url: &str) -> String {
    let version = crate::VERSION;
    format!(
        "Help for ferry {version} (HTTP pipe, compatible with Piping Server 1.12)
(Web app: {url}/ , Repository: https://github.com/ferry-p2p/ferry)

======= Get  =======
curl {url}/mypath

======= Send =======
# Send a file
curl -T myfile {url}/mypath

# Send a text
echo 'hello!' | curl -T - {url}/mypath

# Send a directory (zip)
zip -q -r - ./mydir | curl -T - {url}/mypath

# Send a directory (tar.gz)
tar zfcp - ./mydir | curl -T - {url}/mypath

# Encryption
## Send
cat myfile | openssl aes-256-cbc | curl -T - {url}/mypath
## Get
curl {url}/mypath | openssl aes-256-cbc -d

======= Several receivers =======
# Every receiver gets the same bytes; the transfer starts when all 3 are there
curl -T myfile '{url}/mypath?n=3'
curl '{url}/mypath?n=3'   # on each of the 3 receivers

======= Notes =======
Either side may come first. Nothing is stored: the sender waits for the
receivers, and the slowest receiver sets the pace.
Reserved paths (not pipes): / /index.html /app/ /ws /relay/ /api/ /healthz
/version /help /favicon.ico /robots.txt /noscript
"
    )
}

pub async fn help(headers: HeaderMap) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        help_text(&base_url(&headers)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn url_comes_from_host_and_forwarded_proto() {
        assert_eq!(
            base_url(&headers(&[("host", "ex.org:8080")])),
            "http://ex.org:8080"
        );
        assert_eq!(
            base_url(&headers(&[
                ("host", "ex.org"),
                ("x-forwarded-proto", "https")
            ])),
            "https://ex.org"
        );
        assert_eq!(
            base_url(&headers(&[("host", "[::1]:80")])),
            "http://[::1]:80"
        );
        assert_eq!(
            base_url(&headers(&[("host", "a b/<x>")])),
            "http://hostname"
        );
        assert_eq!(base_url(&HeaderMap::new()), "http://hostname");
    }
}
