//! The HTTP pipe speaks piping-server 1.12: status codes, headers and `[INFO]`/`[ERROR]` lines,
//! checked with curl against the real server.

mod http_pipe_support;

use http_pipe_support::*;

const SENT_AFTER_RECEIVER: &str = "[INFO] Waiting for 1 receiver(s)...\n\
[INFO] 1 receiver(s) has/have been connected.\n\
[INFO] Start sending to 1 receiver(s)!\n\
[INFO] Sent successfully!\n\
[INFO] All receiver(s) was/were received successfully.\n";

const SENT_BEFORE_RECEIVER: &str = "[INFO] Waiting for 1 receiver(s)...\n\
[INFO] A receiver was connected.\n\
[INFO] Start sending to 1 receiver(s)!\n\
[INFO] Sent successfully!\n\
[INFO] All receiver(s) was/were received successfully.\n";

#[tokio::test]
async fn sender_first_then_receiver_with_headers_passed_through() {
    let server = start_server().await;
    let dir = temp_dir("compat");
    let file = pattern_file(&dir, "data.bin", 1, 300_000);
    let url = format!("{}/some/path", server.url);
    let sender = spawn(curl(&[
        "-T",
        &file,
        "-H",
        "Content-Type: application/x-ferry-test; charset=x",
        "-H",
        "Content-Disposition: attachment; filename=\"data.bin\"",
        "-H",
        "X-Piping: one",
        "-H",
        "X-Piping: two",
        &url,
    ]));
    server.wait_for("/some/path", true, 0).await;
    let receiver = run(&["-i", &url]).await;
    let sent = finish(sender).await;
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    assert_eq!(sent.text(), SENT_BEFORE_RECEIVER);

    let (status, headers, body) = split_response(&receiver.stdout);
    assert_eq!(status, 200);
    assert_eq!(body, std::fs::read(&file).unwrap());
    assert_eq!(header(&headers, "content-length"), Some("300000"));
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/x-ferry-test; charset=x")
    );
    assert_eq!(
        header(&headers, "content-disposition"),
        Some("attachment; filename=\"data.bin\"")
    );
    assert_eq!(headers_named(&headers, "x-piping"), vec!["one", "two"]);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        header(&headers, "access-control-expose-headers"),
        Some("X-Piping")
    );
    assert_eq!(header(&headers, "x-robots-tag"), Some("none"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&headers, "content-security-policy"), Some("sandbox"));
}

#[tokio::test]
async fn receiver_first_then_sender() {
    let server = start_server().await;
    let url = format!("{}/receiver-first", server.url);
    let receiver = spawn(curl(&["-i", &url]));
    server.wait_for("/receiver-first", false, 1).await;
    let mut sender = curl(&["-T", "-", &url]);
    sender.stdin(std::process::Stdio::piped());
    let mut sender = spawn(sender);
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = sender.stdin.take().unwrap();
        stdin.write_all(b"hello from stdin\n").await.unwrap();
    }
    let sent = finish(sender).await;
    assert_eq!(sent.text(), SENT_AFTER_RECEIVER);
    let received = finish(receiver).await;
    let (status, headers, body) = split_response(&received.stdout);
    assert_eq!(status, 200);
    assert_eq!(body, b"hello from stdin\n");
    // A chunked upload has no length to pass on; no X-Piping means nothing to expose.
    assert_eq!(header(&headers, "content-length"), None);
    assert_eq!(header(&headers, "access-control-expose-headers"), None);
}

#[tokio::test]
async fn every_one_of_n_receivers_gets_the_same_bytes() {
    let server = start_server().await;
    let dir = temp_dir("n3");
    let file = pattern_file(&dir, "data.bin", 3, 2_000_000);
    let url = format!("{}/fan?n=3", server.url);
    let client = reqwest::Client::new();
    let mut receivers = Vec::new();
    for _ in 0..2 {
        let (client, url) = (client.clone(), url.clone());
        receivers.push(tokio::spawn(async move {
            client.get(url).send().await.unwrap().bytes().await.unwrap()
        }));
    }
    server.wait_for("/fan", false, 2).await;
    let sender = spawn(curl(&["-T", &file, &url]));
    server.wait_for("/fan", true, 2).await;
    receivers.push(tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move { client.get(url).send().await.unwrap().bytes().await.unwrap() }
    }));
    let sent = finish(sender).await;
    assert_eq!(
        sent.text(),
        "[INFO] Waiting for 3 receiver(s)...\n\
         [INFO] 2 receiver(s) has/have been connected.\n\
         [INFO] A receiver was connected.\n\
         [INFO] Start sending to 3 receiver(s)!\n\
         [INFO] Sent successfully!\n\
         [INFO] All receiver(s) was/were received successfully.\n"
    );
    let want = std::fs::read(&file).unwrap();
    for r in receivers {
        assert!(r.await.unwrap() == want, "a receiver got different bytes");
    }
}

#[tokio::test]
async fn html_is_served_as_plain_text() {
    let server = start_server().await;
    let url = format!("{}/page", server.url);
    let sender = spawn(curl(&[
        "--data-binary",
        "<script>alert(1)</script>",
        "-H",
        "Content-Type: Text/HTML; charset=utf-8",
        &url,
    ]));
    let received = run(&["-i", &url]).await;
    finish(sender).await;
    let (_, headers, body) = split_response(&received.stdout);
    assert_eq!(body, b"<script>alert(1)</script>");
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/plain; charset=utf-8")
    );
}

#[tokio::test]
async fn multipart_forwards_the_first_part_only() {
    let server = start_server().await;
    let dir = temp_dir("multipart");
    let file = pattern_file(&dir, "first.bin", 4, 200_000);
    let url = format!("{}/form", server.url);
    let sender = spawn(curl(&[
        "-F",
        &format!("input_file=@{file};type=text/html"),
        "-F",
        "second=should not arrive",
        &url,
    ]));
    let received = run(&["-i", &url]).await;
    let sent = finish(sender).await;
    assert!(sent.text().ends_with(
        "[INFO] Sent successfully!\n[INFO] All receiver(s) was/were received successfully.\n"
    ));
    let (status, headers, body) = split_response(&received.stdout);
    assert_eq!(status, 200);
    assert!(body == std::fs::read(&file).unwrap(), "first part differs");
    assert_eq!(header(&headers, "content-type"), Some("text/plain"));
    assert_eq!(
        header(&headers, "content-disposition"),
        Some("form-data; name=\"input_file\"; filename=\"first.bin\"")
    );
}

#[tokio::test]
async fn cors_preflight_and_private_network_access() {
    let server = start_server().await;
    let url = format!("{}/cors", server.url);
    let plain = run(&["-i", "-X", "OPTIONS", &url]).await;
    let (status, headers, body) = split_response(&plain.stdout);
    assert_eq!(status, 200);
    assert!(body.is_empty());
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        header(&headers, "access-control-allow-methods"),
        Some("GET, HEAD, POST, PUT, OPTIONS")
    );
    assert_eq!(
        header(&headers, "access-control-allow-headers"),
        Some("Content-Type, Content-Disposition, X-Piping")
    );
    assert_eq!(
        header(&headers, "access-control-expose-headers"),
        Some("Access-Control-Allow-Headers")
    );
    assert_eq!(header(&headers, "access-control-max-age"), Some("86400"));
    assert_eq!(
        header(&headers, "access-control-allow-private-network"),
        None
    );

    let pna = run(&[
        "-i",
        "-X",
        "OPTIONS",
        "-H",
        "Access-Control-Request-Private-Network: true",
        &url,
    ])
    .await;
    let (_, headers, _) = split_response(&pna.stdout);
    assert_eq!(
        header(&headers, "access-control-allow-private-network"),
        Some("true")
    );
}

#[tokio::test]
async fn help_and_version() {
    let server = start_server().await;
    let help = run(&["-i", &format!("{}/help", server.url)]).await;
    let (status, headers, body) = split_response(&help.stdout);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("text/plain"));
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.contains(&format!("curl -T myfile {}/mypath", server.url)),
        "{body}"
    );

    let proxied = run(&[
        "-H",
        "Host: files.example.org",
        "-H",
        "X-Forwarded-Proto: https",
        &format!("{}/help", server.url),
    ])
    .await;
    assert!(
        proxied
            .text()
            .contains("curl https://files.example.org/mypath\n")
    );

    let version = run(&[&format!("{}/version", server.url)]).await;
    assert_eq!(version.text(), format!("ferry {}\n", ferry_server::VERSION));
}

#[tokio::test]
async fn reserved_paths_refuse_sending() {
    let server = start_server().await;
    for path in [
        "/",
        "/index.html",
        "/app/x.js",
        "/ws",
        "/relay/abc",
        "/api/x",
        "/healthz",
        "/version",
        "/help",
        "/favicon.ico",
        "/robots.txt",
        "/noscript",
    ] {
        for method in ["POST", "PUT"] {
            let out = run(&[
                "-i",
                "-X",
                method,
                "--data-binary",
                "x",
                &format!("{}{path}", server.url),
            ])
            .await;
            let (status, _, body) = split_response(&out.stdout);
            assert_eq!(status, 400, "{method} {path}");
            assert_eq!(
                String::from_utf8(body).unwrap(),
                format!("[ERROR] Cannot send to the reserved path '{path}'. (e.g. '/mypath123')\n")
            );
        }
    }
    let favicon = run(&["-i", &format!("{}/favicon.ico", server.url)]).await;
    assert_eq!(split_response(&favicon.stdout).0, 204);
    // The app's own pages are still served.
    let health = run(&[&format!("{}/healthz", server.url)]).await;
    assert_eq!(health.text(), "ok\n");
}

async fn status_and_body(args: &[&str]) -> (u16, String) {
    let out = run(&[&["-i"], args].concat()).await;
    let (status, headers, body) = split_response(&out.stdout);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    (status, String::from_utf8(body).unwrap())
}

#[tokio::test]
async fn refusals_are_4xx_with_one_error_line() {
    let server = start_server().await;
    let u = |p: &str| format!("{}{p}", server.url);

    assert_eq!(
        status_and_body(&["-T", "/dev/null", &u("/e?n=abc")]).await,
        (400, "[ERROR] Invalid \"n\" query parameter\n".into())
    );
    assert_eq!(
        status_and_body(&[&u("/e?n=abc")]).await,
        (400, "[ERROR] Invalid query parameter \"n\"\n".into())
    );
    assert_eq!(
        status_and_body(&["-T", "/dev/null", &u("/e?n=0")]).await,
        (400, "[ERROR] n should > 0, but n = 0.\n".into())
    );
    assert_eq!(
        status_and_body(&[&u("/e?n=-2")]).await,
        (400, "[ERROR] n should > 0, but n = -2.\n".into())
    );
    assert_eq!(
        status_and_body(&["-H", "Service-Worker: script", &u("/e")]).await,
        (
            400,
            "[ERROR] Service Worker registration is rejected.\n".into()
        )
    );
    assert_eq!(
        status_and_body(&[
            "-T",
            "/dev/null",
            "-H",
            "Content-Range: bytes 0-0/1",
            &u("/e")
        ])
        .await,
        (
            400,
            "[ERROR] Content-Range is not supported for now in PUT\n".into()
        )
    );
    for method in ["DELETE", "PATCH"] {
        let out = run(&["-i", "-X", method, &u("/e")]).await;
        let (status, headers, body) = split_response(&out.stdout);
        assert_eq!(status, 405);
        assert_eq!(
            header(&headers, "allow"),
            Some("GET, HEAD, POST, PUT, OPTIONS")
        );
        assert_eq!(
            body,
            format!("[ERROR] Unsupported method: {method}.\n").as_bytes()
        );
    }

    // A waiting sender for 2 receivers: a second sender, and parties with another n.
    let waiting = spawn(curl(&["-T", "-", &u("/busy?n=2")]));
    server.wait_for("/busy", true, 0).await;
    assert_eq!(
        status_and_body(&["-T", "/dev/null", &u("/busy?n=2")]).await,
        (
            400,
            "[ERROR] Another sender has been connected on '/busy'.\n".into()
        )
    );
    assert_eq!(
        status_and_body(&[&u("/busy?n=3")]).await,
        (
            400,
            "[ERROR] The number of receivers should be 2 but 3.\n".into()
        )
    );
    drop(waiting);

    // Waiting receivers fill the path: one too many, and a sender with another n.
    let r1 = spawn(curl(&[&u("/full")]));
    server.wait_for("/full", false, 1).await;
    assert_eq!(
        status_and_body(&[&u("/full")]).await,
        (
            400,
            "[ERROR] The number of receivers has reached limits.\n".into()
        )
    );
    assert_eq!(
        status_and_body(&["-T", "/dev/null", &u("/full?n=2")]).await,
        (
            400,
            "[ERROR] The number of receivers should be 1 but 2.\n".into()
        )
    );

    // While a transfer runs, nobody else gets on its path.
    let mut sender = curl(&["-T", "-", &u("/full")]);
    sender.stdin(std::process::Stdio::piped());
    let mut sender = spawn(sender);
    let pipes = server.state.pipes.clone();
    eventually("the transfer runs", || {
        let running = pipes.is_established("/full");
        async move { running }
    })
    .await;
    assert_eq!(
        status_and_body(&[&u("/full")]).await,
        (
            400,
            "[ERROR] Connection on '/full' has been established already.\n".into()
        )
    );
    assert_eq!(
        status_and_body(&["-T", "/dev/null", &u("/full")]).await,
        (
            400,
            "[ERROR] Connection on '/full' has been established already.\n".into()
        )
    );
    drop(sender.stdin.take());
    finish(sender).await;
    finish(r1).await;
}

#[tokio::test]
async fn sender_gets_200_and_first_line_before_any_receiver() {
    let server = start_server().await;
    let mut raw = Raw::connect(&server).await;
    raw.send(b"PUT /early HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await;
    let (status, headers) = raw.head().await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("text/plain"));
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        raw.chunk().await.unwrap(),
        b"[INFO] Waiting for 1 receiver(s)...\n"
    );
}
