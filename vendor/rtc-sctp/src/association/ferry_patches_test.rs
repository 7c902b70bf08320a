//! FERRY PATCH tests (FERRY-PATCHES.md): fast retransmit that leaves no lost chunk for T3.

use super::*;
use crate::chunk::chunk_selective_ack::GapAckBlock;

// One 1024-byte chunk per 1191-byte packet, as in a bulk transfer.
const PAYLOAD: &[u8] = &[0x5a; 1024];

fn sent(count: usize) -> Result<(Association, Instant, u32)> {
    let mut a = timed_test_association();
    a.cwnd = 64 * 1024;
    let now = Instant::now();
    let first = a.my_next_tsn;
    let ppi = PayloadProtocolIdentifier::Binary;
    let mut stream = a.open_stream(1, ppi)?;
    for _ in 0..count {
        stream.write_sctp(now, &Bytes::from_static(PAYLOAD), ppi)?;
    }
    assert_eq!(transmitted_data(&a.gather_outbound(now).0).len(), count);
    Ok((a, now, first))
}

/// A SACK acknowledging up to `cum` and, by gap blocks, these (inclusive) ranges of offsets
/// from `cum` (the wire's own numbering).
fn sack_from(cum: u32, blocks: &[(u16, u16)]) -> ChunkSelectiveAck {
    ChunkSelectiveAck {
        cumulative_tsn_ack: cum,
        advertised_receiver_window_credit: 1 << 20,
        gap_ack_blocks: blocks
            .iter()
            .map(|&(start, end)| GapAckBlock { start, end })
            .collect(),
        ..Default::default()
    }
}

/// A SACK with nothing cumulatively acked past `first - 1` and these (inclusive) ranges of
/// offsets from `first` acked by gap blocks.
fn sack(first: u32, acked: &[(u16, u16)]) -> ChunkSelectiveAck {
    let blocks: Vec<(u16, u16)> = acked.iter().map(|&(s, e)| (s + 1, e + 1)).collect();
    sack_from(first.wrapping_sub(1), &blocks)
}

#[test]
fn every_fast_retransmit_candidate_is_sent_not_one_packets_worth() -> Result<()> {
    let (mut a, now, first) = sent(8)?;
    // The first two chunks are lost; three SACKs each acknowledge one more chunk behind them.
    for (i, last) in [2u16, 3, 4].into_iter().enumerate() {
        a.handle_sack(
            &sack(first, &[(2, last)]),
            now + Duration::from_millis(20 + i as u64),
        )?;
    }
    assert!(a.in_fast_recovery);
    let resent: Vec<u32> = transmitted_data(&a.gather_outbound(now + Duration::from_millis(25)).0)
        .iter()
        .map(|c| c.tsn)
        .collect();
    // Upstream sent only `first` (one packet) and left `first + 1` to T3.
    assert_eq!(resent, vec![first, first.wrapping_add(1)]);
    Ok(())
}

#[test]
fn a_chunk_lost_in_fast_recovery_still_collects_miss_indications() -> Result<()> {
    let (mut a, now, first) = sent(12)?;
    let t = |ms| now + Duration::from_millis(ms);
    // Chunk 0 lost: three SACKs put the association into fast recovery.
    for (i, last) in [2u16, 3, 4].into_iter().enumerate() {
        a.handle_sack(&sack(first, &[(1, last)]), t(20 + i as u64))?;
    }
    assert!(a.in_fast_recovery);
    a.gather_outbound(t(23));
    // Chunk 5 lost as well, while chunk 0's retransmission is still on its way: the cumulative
    // ack does not move, but SACKs keep acknowledging chunks beyond chunk 5.
    for (i, last) in [6u16, 7, 8].into_iter().enumerate() {
        a.handle_sack(&sack(first, &[(1, 4), (6, last)]), t(24 + i as u64))?;
    }
    let lost = a.inflight_queue.get(first.wrapping_add(5)).unwrap();
    assert_eq!(
        lost.miss_indicator, 3,
        "upstream left it at 0 until the cumulative ack moved"
    );
    let resent: Vec<u32> = transmitted_data(&a.gather_outbound(t(27)).0)
        .iter()
        .map(|c| c.tsn)
        .collect();
    assert_eq!(resent, vec![first.wrapping_add(5)]);
    Ok(())
}

#[test]
fn a_lost_fast_retransmission_is_sent_again_without_t3() -> Result<()> {
    let (mut a, now, first) = sent(8)?;
    let t = |ms| now + Duration::from_millis(ms);
    // Chunk 0 lost: three SACKs, fast retransmit.
    for (i, last) in [2u16, 3, 4].into_iter().enumerate() {
        a.handle_sack(&sack(first, &[(1, last)]), t(20 + i as u64))?;
    }
    let resent: Vec<u32> = transmitted_data(&a.gather_outbound(t(23)).0)
        .iter()
        .map(|c| c.tsn)
        .collect();
    assert_eq!(resent, vec![first]);
    // SACKs for chunks sent before the retransmission say nothing about it.
    for (i, last) in [5u16, 6, 7].into_iter().enumerate() {
        a.handle_sack(&sack(first, &[(1, last)]), t(24 + i as u64))?;
    }
    assert_eq!(a.inflight_queue.get(first).unwrap().miss_indicator, 0);
    // New data goes out after the retransmission; the retransmission is lost, the new data is
    // acked three times.
    let ppi = PayloadProtocolIdentifier::Binary;
    let mut stream = a.stream(1)?;
    for _ in 0..3 {
        stream.write_sctp(t(28), &Bytes::from_static(PAYLOAD), ppi)?;
    }
    assert_eq!(transmitted_data(&a.gather_outbound(t(28)).0).len(), 3);
    for (i, last) in [8u16, 9, 10].into_iter().enumerate() {
        a.handle_sack(&sack(first, &[(1, last)]), t(48 + i as u64))?;
    }
    let again: Vec<u32> = transmitted_data(&a.gather_outbound(t(51)).0)
        .iter()
        .map(|c| c.tsn)
        .collect();
    assert_eq!(
        again,
        vec![first],
        "upstream fast-retransmitted a chunk once and left a lost retransmission to T3"
    );
    assert_eq!(a.inflight_queue.get(first).unwrap().nsent, 3);
    Ok(())
}

#[test]
fn chunks_beyond_the_last_gap_block_are_in_flight_not_missing() -> Result<()> {
    let (mut a, now, first) = sent(16)?;
    let t = |ms| now + Duration::from_millis(ms);
    // Chunks 0 and 2 lost; three SACKs (chunks 3, 4, 5 arriving) start fast recovery for 0.
    for (i, last) in [3u16, 4, 5].into_iter().enumerate() {
        a.handle_sack(&sack(first, &[(1, 1), (3, last)]), t(20 + i as u64))?;
    }
    assert!(a.in_fast_recovery);
    a.gather_outbound(t(23));
    // Chunk 0's retransmission arrives: the cumulative ack advances to chunk 1 while chunks
    // 3..=6 are acked behind the hole at 2 (offsets from the cumulative ack: 2..=5).
    a.handle_sack(&sack_from(first.wrapping_add(1), &[(2, 5)]), t(30))?;
    assert!(a.in_fast_recovery);
    // Chunks 7..=15 were never reported: in flight, so no indications.
    for offset in 7..16u32 {
        let c = a.inflight_queue.get(first.wrapping_add(offset)).unwrap();
        assert_eq!(
            c.miss_indicator, 0,
            "chunk {offset}: upstream counted every in-flight TSN as missing in fast recovery"
        );
    }
    Ok(())
}

#[test]
fn a_lost_chunk_at_the_tail_is_probed_before_t3() -> Result<()> {
    let (mut a, now, first) = sent(4)?;
    // RTT measurement on (the helper pins the RTO at 1 s).
    a.rto_mgr.no_update = false;
    let t = |ms| now + Duration::from_millis(ms);
    // Chunks 0 and 1 arrive, 2 is lost, 3 arrives: one miss indication, and nothing is left to
    // send that could bring two more.
    a.handle_sack(&sack_from(first.wrapping_add(1), &[(2, 2)]), t(20))?;
    assert!(a.rto_mgr.srtt > 0);
    let probe_at = a
        .timers
        .get(Timer::TailProbe)
        .expect("upstream had no probe: only T3 recovered a tail loss");
    let t3_at = a.timers.get(Timer::T3RTX).unwrap();
    assert!(probe_at < t3_at, "{probe_at:?} vs T3 {t3_at:?}");
    let cwnd = a.cwnd;
    a.handle_timeout(probe_at);
    let resent: Vec<u32> = transmitted_data(&a.gather_outbound(probe_at).0)
        .iter()
        .map(|c| c.tsn)
        .collect();
    assert_eq!(resent, vec![first.wrapping_add(2)]);
    assert_eq!(a.cwnd, cwnd, "a probe is not a congestion signal");
    assert!(!a.in_fast_recovery);
    Ok(())
}

#[test]
fn a_burst_lost_at_the_tail_is_resent_after_one_probe() -> Result<()> {
    let (mut a, now, first) = sent(6)?;
    a.rto_mgr.no_update = false;
    let t = |ms| now + Duration::from_millis(ms);
    // Chunk 0 arrives; 1..=5 are lost together (a full drop-tail queue) and nothing follows them.
    a.handle_sack(&sack_from(first, &[]), t(20))?;
    let probe_at = a.timers.get(Timer::TailProbe).expect("a probe is armed");
    a.handle_timeout(probe_at);
    let probed: Vec<u32> = transmitted_data(&a.gather_outbound(probe_at).0)
        .iter()
        .map(|c| c.tsn)
        .collect();
    assert_eq!(probed, vec![first.wrapping_add(1)]);
    // The probe arrives, the four chunks sent before it still have not: they are lost.
    let acked_at = probe_at + Duration::from_millis(20);
    a.handle_sack(&sack_from(first.wrapping_add(1), &[]), acked_at)?;
    let resent: Vec<u32> = transmitted_data(&a.gather_outbound(acked_at).0)
        .iter()
        .map(|c| c.tsn)
        .collect();
    assert_eq!(
        resent,
        (2..6).map(|i| first.wrapping_add(i)).collect::<Vec<_>>(),
        "upstream of this patch probed again, one chunk per probe interval"
    );
    assert!(a.in_fast_recovery, "a lost burst is a congestion signal");
    Ok(())
}

/// The a_rwnd of each SACK a receiver's gather_outbound produced, in order.
fn sacks(packets: &[Bytes]) -> Vec<u32> {
    packets
        .iter()
        .flat_map(|raw| Packet::unmarshal(raw).unwrap().chunks)
        .filter_map(|c| {
            c.as_any()
                .downcast_ref::<ChunkSelectiveAck>()
                .map(|s| s.advertised_receiver_window_credit)
        })
        .collect()
}

#[test]
fn reading_a_full_receive_buffer_announces_the_reopened_window() -> Result<()> {
    const BUFFER: u32 = 16 * 1024;
    let now = Instant::now();
    let mut sender = timed_test_association();
    sender.cwnd = 64 * 1024;
    let mut receiver =
        create_association(TransportConfig::default().with_max_receive_buffer_size(BUFFER));
    receiver.control_queue.clear();
    receiver.timers.stop(Timer::T1Init);
    receiver.set_state(AssociationState::Established);
    receiver.peer_last_tsn = sender.my_next_tsn.wrapping_sub(1);
    let ppi = PayloadProtocolIdentifier::Binary;
    let mut stream = sender.open_stream(1, ppi)?;
    for _ in 0..16 {
        stream.write_sctp(now, &Bytes::from_static(PAYLOAD), ppi)?;
    }
    // The application does not read: the buffer fills, the SACKs say so.
    for chunk in transmitted_data(&sender.gather_outbound(now).0) {
        receiver.handle_data(&chunk)?;
    }
    receiver.ack_state = AckState::Immediate;
    let full = sacks(&receiver.gather_outbound(now).0);
    assert_eq!(full, vec![0]);

    // Now it reads everything; no DATA is arriving (the sender has no window).
    let mut read = 0;
    while let Some(chunks) = receiver.stream(1)?.read_sctp()? {
        read += chunks.to_payload(PAYLOAD.len())?.len();
    }
    assert_eq!(read, 16 * PAYLOAD.len());
    let update = sacks(&receiver.gather_outbound(now).0);
    assert_eq!(
        update,
        vec![BUFFER],
        "upstream sent nothing until DATA arrived or the delayed-ack timer fired"
    );
    // A small read later does not cost a SACK each.
    assert!(sacks(&receiver.gather_outbound(now).0).is_empty());
    Ok(())
}
