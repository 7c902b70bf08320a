//! Tests of ferry's patches (FERRY-PATCHES.md): each fails without its patch.

use crate::config::ConfigBuilder;
use crate::crypto::Certificate;
use crate::endpoint::Endpoint;
use crypto::RTCCryptoProvider;
use shared::TransportProtocol;
use shared::error::{Error, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const INITIAL: Duration = Duration::from_millis(200);

fn client_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4444))
}

fn server_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4445))
}

fn provider() -> Result<Arc<dyn RTCCryptoProvider>> {
    crypto::default_provider().map_err(|err| Error::Crypto(err.to_string()))
}

/// A client whose ClientHello left at `now`.
fn client(now: Instant) -> Result<Endpoint> {
    let config = ConfigBuilder::default()
        .with_crypto_provider(provider()?)
        .with_insecure_skip_verify(true)
        .with_flight_interval(INITIAL)
        .build(true, None)?;
    let mut client = Endpoint::new(client_addr(), TransportProtocol::UDP, None);
    client.connect(now, server_addr(), Arc::new(config), None)?;
    Ok(client)
}

fn server() -> Result<Endpoint> {
    let provider = provider()?;
    let certificate =
        Certificate::generate_self_signed(vec!["localhost".to_owned()], provider.crypto())?;
    let config = ConfigBuilder::default()
        .with_crypto_provider(provider)
        .with_certificates(vec![certificate])
        .with_insecure_skip_verify(true)
        .with_flight_interval(INITIAL)
        .build(false, None)?;
    Ok(Endpoint::new(
        server_addr(),
        TransportProtocol::UDP,
        Some(Arc::new(config)),
    ))
}

fn drop_transmits(endpoint: &mut Endpoint) -> usize {
    std::iter::from_fn(|| endpoint.poll_transmit()).count()
}

/// Patch 1: a flight nobody answers is resent after 200, 400, 800, 1600 ms, then every 2 s, and the
/// handshake fails after the seventh retransmission as before.
#[test]
fn an_unanswered_flight_is_resent_with_a_doubling_timer() -> Result<()> {
    let start = Instant::now();
    let mut client = client(start)?;
    assert!(
        drop_transmits(&mut client) > 0,
        "connect sends a ClientHello"
    );
    let mut last = client
        .poll_timeout(&server_addr())
        .expect("the ClientHello arms the retransmission timer");
    let mut intervals = vec![];
    let mut previous = start;
    loop {
        intervals.push(last - previous);
        if client.handle_timeout(server_addr(), last).is_err() {
            break;
        }
        assert!(
            drop_transmits(&mut client) > 0,
            "a timeout resends the flight"
        );
        previous = last;
        last = match client.poll_timeout(&server_addr()) {
            Some(next) => next,
            None => break,
        };
        assert!(intervals.len() < 20, "the handshake never gave up");
    }
    let ms: Vec<u128> = intervals.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [200, 400, 800, 1600, 2000, 2000, 2000, 2000]);
    Ok(())
}

/// Patch 1: the backoff belongs to one flight; the next flight starts again from the initial
/// interval, so one loss early in a handshake does not slow the recovery of a later one.
#[test]
fn every_new_flight_starts_from_the_initial_interval() -> Result<()> {
    let mut client = client(Instant::now())?;
    let mut server = server()?;
    drop_transmits(&mut client);
    let first = client.poll_timeout(&server_addr()).expect("timer armed");
    client.handle_timeout(server_addr(), first)?;
    let second = client.poll_timeout(&server_addr()).expect("timer re-armed");
    assert_eq!(
        second - first,
        2 * INITIAL,
        "the lost ClientHello's timer doubled"
    );

    // The resent ClientHello reaches the server; its answer reaches the client at `answered`.
    let now = second - Duration::from_millis(10);
    while let Some(transmit) = client.poll_transmit() {
        server.read(now, client_addr(), None, transmit.message)?;
    }
    let answered = now + Duration::from_millis(1);
    let mut answers = 0;
    while let Some(transmit) = server.poll_transmit() {
        client.read(answered, server_addr(), None, transmit.message)?;
        answers += 1;
    }
    assert!(answers > 0, "the server answers the ClientHello");
    assert!(
        drop_transmits(&mut client) > 0,
        "the client sends its next flight"
    );
    let next = client
        .poll_timeout(&server_addr())
        .expect("the next flight arms the timer");
    assert_eq!(
        next - answered,
        INITIAL,
        "the next flight's timer starts at {INITIAL:?}"
    );
    Ok(())
}
