//! Two TURN clients with credentials from `welcome` relay data to each other through
//! `ferry serve`'s allocations (relay to relay, the path two symmetric-NAT peers end up on).

mod turn_support;

use turn_support::*;
use webrtc_util::Conn;

#[tokio::test]
async fn two_allocations_relay_data_both_ways() {
    let srv = start(ferry_server::turn::TurnOptions {
        allow_loopback_peers: true,
        ..options()
    })
    .await;
    let (ua, pa) = turn_credentials(srv.http).await;
    let (ub, pb) = turn_credentials(srv.http).await;
    let a = client(srv.turn, &ua, &pa).await;
    let b = client(srv.turn, &ub, &pb).await;
    let relay_a = tokio::time::timeout(WAIT, a.allocate())
        .await
        .unwrap()
        .expect("allocate A");
    let relay_b = tokio::time::timeout(WAIT, b.allocate())
        .await
        .unwrap()
        .expect("allocate B");
    let addr_a = relay_a.local_addr().unwrap();
    let addr_b = relay_b.local_addr().unwrap();
    assert_eq!(addr_a.ip(), srv.turn.ip());
    assert!((50000..=59999).contains(&addr_a.port()), "{addr_a}");

    // B must permit A before A's packets are let in: send B -> A first (dropped by A's side
    // until A permits B), then A -> B, then retry until both directions have carried data.
    // Up to 100 tries of 200 ms: a hang guard of 20 s, not a speed requirement.
    let mut buf = vec![0u8; 1500];
    let mut got_at_b = None;
    for i in 0..100u8 {
        relay_b
            .send_to(&[0xB0, i], addr_a)
            .await
            .expect("B permits A");
        relay_a
            .send_to(&[0xA0, i], addr_b)
            .await
            .expect("A permits B");
        if let Ok(Ok((n, from))) = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            relay_b.recv_from(&mut buf),
        )
        .await
        {
            got_at_b = Some((buf[..n].to_vec(), from));
            break;
        }
    }
    let (data, from) = got_at_b.expect("A's data reached B through the relay");
    assert_eq!(data[0], 0xA0);
    assert_eq!(from, addr_a);

    let payload: Vec<u8> = (0..1200u32).map(|i| (i * 7 % 251) as u8).collect();
    relay_b.send_to(&payload, addr_a).await.unwrap();
    let (n, from) = loop {
        let (n, from) = tokio::time::timeout(WAIT, relay_a.recv_from(&mut buf))
            .await
            .expect("B's data in time")
            .unwrap();
        if n == payload.len() {
            break (n, from);
        }
    };
    assert_eq!(&buf[..n], &payload[..]);
    assert_eq!(from, addr_b);
    a.close().await.unwrap();
    b.close().await.unwrap();
}
