//! Relay and pipe streams whose two ends reached different instances. Redis only says where the
//! other end is; the bytes go instance to instance (docs/architecture.md, "Scale-out"):
//!
//! - HTTP pipe: the first party's instance claims the path in Redis (kept by its heartbeat while
//!   it has parties there). A party arriving at another instance is carried there as one HTTP
//!   request, streamed both ways: the owner's pipe pairs it like a local party, with its bounded
//!   window, and TCP backpressure on both hops paces the sender by the slowest receiver.
//! - WebSocket relay: the session lives on the instance that authorized it (`relay-open`). A
//!   socket arriving elsewhere is carried there frame by frame, one frame in flight per
//!   direction, so the relay's one-frame window holds end to end. Frames are forwarded as they
//!   are: the peers' end-to-end encryption is untouched.
//!
//! A carried request is marked ([`CARRIED`]) and always served where it lands: one hop at most.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::Message as UpMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as UpCloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{DEAD_AFTER, RedisHub};
use crate::AppState;

/// How long a path claim outlives its owner's last heartbeat.
pub const PIPE_CLAIM_TTL: Duration = DEAD_AFTER;
/// Header on requests carried to another instance.
pub const CARRIED: &str = "x-ferry-carried";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a pipe path or relay session is served.
pub enum Owner {
    Here,
    /// Another instance, by the URL it advertised (`--cluster-url`).
    There(String),
}

impl RedisHub {
    /// Claims `path` for this instance unless another holds it. Redis away, or this instance
    /// unreachable for the others: served here.
    pub async fn pipe_owner(&self, path: &str) -> Owner {
        if self.url.is_none() {
            return Owner::Here;
        }
        let ttl = PIPE_CLAIM_TTL.as_millis().to_string();
        match self.call("claim-pipe", &[path, &ttl]).await.as_deref() {
            Ok([other, url]) if other == "other" => Owner::There(url.clone()),
            _ => Owner::Here,
        }
    }

    /// The instance holding relay session `id`, if it is another one.
    pub async fn relay_owner(&self, id: &str) -> Owner {
        match self.call("find-relay", &[id]).await.as_deref() {
            Ok([other, url]) if other == "other" => Owner::There(url.clone()),
            _ => Owner::Here,
        }
    }
}

/// The router's fallback with `--redis`: a pipe party is served here or carried to the
/// instance holding its path.
pub async fn pipe(state: AppState, request: Request) -> Response {
    let pipes = state.pipes.clone();
    let Some(cluster) = state.cluster.clone() else {
        return crate::pipe::handle(pipes, request).await;
    };
    let path = request.uri().path().to_owned();
    let pipe_party = matches!(*request.method(), Method::GET | Method::PUT | Method::POST)
        && !crate::pipe::reserved::is_reserved(&path);
    if !pipe_party {
        return crate::pipe::handle(pipes, request).await;
    }
    if request.headers().contains_key(CARRIED) {
        // Served here whatever Redis says (one hop at most); the claim is renewed if it lapsed,
        // so that later parties come here too.
        let _ = cluster.pipe_owner(&path).await;
        return crate::pipe::handle(pipes, request).await;
    }
    match cluster.pipe_owner(&path).await {
        Owner::Here => crate::pipe::handle(pipes, request).await,
        Owner::There(url) => carry_http(&url, request).await,
    }
}

fn authority(url: &str) -> &str {
    url.trim_start_matches("http://").trim_end_matches('/')
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and `expect`: the hop to the owner is its own.
fn strip_hop_headers(h: &mut HeaderMap) {
    for name in [
        header::CONNECTION,
        header::UPGRADE,
        header::TE,
        header::TRAILER,
        header::EXPECT,
        header::PROXY_AUTHORIZATION,
    ] {
        h.remove(name);
    }
    h.remove("keep-alive");
    h.remove("proxy-connection");
}

/// `X-Forwarded-For` as the owner should see it: what came in, plus the address we saw.
fn forwarded_for(headers: &HeaderMap, remote: Option<SocketAddr>) -> Option<HeaderValue> {
    let seen = remote.map(|r| r.ip().to_string());
    let prior = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let value = match (prior, seen) {
        (Some(p), Some(s)) => format!("{p}, {s}"),
        (Some(p), None) => p,
        (None, Some(s)) => s,
        (None, None) => return None,
    };
    HeaderValue::from_str(&value).ok()
}

fn bad_gateway(what: &str) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        format!("[ERROR] the server instance holding this path is unreachable ({what}); retry\n"),
    )
        .into_response()
}

/// Carries one pipe request to the instance at `url`, streaming the body up and the response
/// down. Each hop is a plain HTTP/1.1 connection of its own, so a client that goes away closes
/// it, and the owner's pipe sees its party leave.
async fn carry_http(url: &str, request: Request) -> Response {
    let authority = authority(url).to_string();
    let stream =
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&authority))
            .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return bad_gateway(&e.to_string()),
            Err(_) => return bad_gateway("connect timed out"),
        };
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(x) => x,
        Err(e) => return bad_gateway(&e.to_string()),
    };
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "carried pipe connection ended");
        }
    });
    let remote = request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (mut parts, body) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    parts.uri = match path_and_query.parse::<Uri>() {
        Ok(u) => u,
        Err(_) => return bad_gateway("bad path"),
    };
    let xff = forwarded_for(&parts.headers, remote);
    strip_hop_headers(&mut parts.headers);
    if let Ok(host) = HeaderValue::from_str(&authority) {
        parts.headers.insert(header::HOST, host);
    }
    if let Some(xff) = xff {
        parts.headers.insert("x-forwarded-for", xff);
    }
    parts.headers.insert(CARRIED, HeaderValue::from_static("1"));
    let upstream = hyper::Request::from_parts(parts, body);
    match sender.send_request(upstream).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            strip_hop_headers(&mut parts.headers);
            parts.headers.remove(header::TRANSFER_ENCODING);
            Response::from_parts(parts, Body::new(body))
        }
        Err(e) => bad_gateway(&e.to_string()),
    }
}

/// Opens the relay socket at the instance holding the session, as the client asked for it here.
/// On refusal, the owner's answer (status and text) is what the client gets.
pub async fn open_relay_upstream(
    url: &str,
    relay_id: &str,
    token: &str,
    headers: &HeaderMap,
    remote: SocketAddr,
    max_frame: usize,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Response,
> {
    let target = format!("ws://{}/relay/{relay_id}?token={token}", authority(url));
    let mut req = target
        .into_client_request()
        .map_err(|e| bad_gateway(&e.to_string()))?;
    if let Some(xff) = forwarded_for(headers, Some(remote)) {
        req.headers_mut().insert("x-forwarded-for", xff);
    }
    req.headers_mut()
        .insert(CARRIED, HeaderValue::from_static("1"));
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_frame))
        .max_frame_size(Some(max_frame));
    let connect = tokio_tungstenite::connect_async_with_config(req, Some(config), true);
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
            let status =
                StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((status, body).into_response())
        }
        Ok(Err(e)) => Err(bad_gateway(&e.to_string())),
        Err(_) => Err(bad_gateway("connect timed out")),
    }
}

/// Pumps frames between the client's socket and the owner's, one frame in flight per
/// direction (each is written and flushed before the next is read). Pings are each hop's own.
pub async fn carry_relay(
    client: WebSocket,
    upstream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) {
    let (mut client_tx, mut client_rx) = client.split();
    let (mut up_tx, mut up_rx) = upstream.split();
    let up = async {
        while let Some(Ok(msg)) = client_rx.next().await {
            let msg = match msg {
                Message::Binary(b) => UpMessage::Binary(b),
                Message::Text(t) => UpMessage::Text(t.as_str().into()),
                Message::Close(c) => {
                    let _ = up_tx
                        .send(UpMessage::Close(c.map(|c| UpCloseFrame {
                            code: c.code.into(),
                            reason: c.reason.as_str().into(),
                        })))
                        .await;
                    break;
                }
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            if up_tx.send(msg).await.is_err() {
                break;
            }
        }
    };
    let down = async {
        while let Some(Ok(msg)) = up_rx.next().await {
            let msg = match msg {
                UpMessage::Binary(b) => Message::Binary(b),
                UpMessage::Text(t) => Message::Text(t.as_str().into()),
                UpMessage::Close(c) => {
                    let _ = client_tx
                        .send(Message::Close(c.map(|c| CloseFrame {
                            code: c.code.into(),
                            reason: c.reason.as_str().into(),
                        })))
                        .await;
                    break;
                }
                _ => continue,
            };
            if client_tx.send(msg).await.is_err() {
                break;
            }
        }
    };
    // Either side ending ends the carried socket; the other side's socket closes with it.
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}
