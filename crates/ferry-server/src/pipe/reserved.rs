//! Paths the app itself answers; everything else on the server is a pipe path.
//! The same list is documented in docs/relay.md.

/// Exact paths and path prefixes (an entry ending in `/` reserves itself without the slash
/// and everything below it: `/app/` reserves `/app`, `/app/` and `/app/x/y`).
pub const RESERVED_PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/app/",
    "/ws",
    "/relay/",
    "/api/",
    "/healthz",
    "/version",
    "/help",
    "/favicon.ico",
    "/robots.txt",
    "/noscript",
];

pub fn is_reserved(path: &str) -> bool {
    RESERVED_PATHS.iter().any(|reserved| {
        if reserved.len() > 1
            && let Some(prefix) = reserved.strip_suffix('/')
        {
            path == prefix || path.starts_with(reserved)
        } else {
            path == *reserved
        }
    })
}

#[cfg(test)]
mod tests {
    use super::is_reserved;

    #[test]
    fn app_routes_are_reserved() {
        for path in [
            "/",
            "/index.html",
            "/app",
            "/app/",
            "/app/main.js",
            "/ws",
            "/relay/abc",
            "/relay",
            "/api/x/y",
            "/healthz",
            "/version",
            "/help",
            "/favicon.ico",
            "/robots.txt",
            "/noscript",
        ] {
            assert!(is_reserved(path), "{path} should be reserved");
        }
    }

    #[test]
    fn other_paths_are_pipes() {
        for path in [
            "/mypath",
            "/application",
            "/apps/x",
            "/ws2",
            "/wsx/y",
            "/relayed",
            "/help/me",
            "/version2",
            "/index.htm",
            "//",
            "/a/app/x",
        ] {
            assert!(!is_reserved(path), "{path} should be a pipe path");
        }
    }
}
