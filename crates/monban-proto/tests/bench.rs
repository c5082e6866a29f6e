//! Benchmarks (run once, in release mode, with `--ignored`): decisions per second and latency
//! with 100,000 cardholders and 1,000 doors; building, signing, verifying and indexing a
//! snapshot of that size, on the server's path and on the controller's streamed one. Memory of
//! a controller holding it: `crates/monban-controller/examples/snapshot_rss.rs`.
//!
//! `cargo test --release -p monban-proto --test bench -- --ignored --nocapture --test-threads 1`
//!
//! Instructions per decision, repeatably on a loaded machine (callgrind counts, it does not
//! time): build the test binary with `CARGO_PROFILE_RELEASE_DEBUG=true`, then run it under
//! `valgrind --tool=callgrind --toggle-collect='*decide*'` with `MONBAN_BENCH_DECISIONS=100000`
//! and divide the collected instructions by the 120,000 decisions made.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use ed25519_dalek::SigningKey;
use monban_core::{
    decide, AccessRequest, CredentialKind, Direction, PolicyData, PolicySnapshot, PresenceState,
};
use monban_proto::synthetic::{self, card, DOORS, KEY};
use monban_proto::{credential_hash, read_stored, SignedSnapshot};

const HOLDERS: i64 = 100_000;

fn data() -> PolicyData {
    synthetic::policy(HOLDERS)
}

#[test]
#[ignore]
fn decisions_per_second_100k_cardholders_1000_doors() {
    let snap = PolicySnapshot::build(data()).unwrap();
    let mut presence = PresenceState::new();
    // Half the people are somewhere, so anti-passback has state to check.
    for p in (1..=HOLDERS).step_by(2) {
        presence.set(p, Some(1), jiff::Timestamp::UNIX_EPOCH);
    }
    let at: jiff::Timestamp = "2026-11-26T01:00:00Z".parse().unwrap();
    let reqs: Vec<AccessRequest> = (0..100_000i64)
        .map(|i| {
            let p = (i * 7919) % HOLDERS + 1;
            AccessRequest {
                door_id: (i * 31) % DOORS + 1,
                direction: if i % 2 == 0 {
                    Direction::In
                } else {
                    Direction::Out
                },
                credential: Some(credential_hash(KEY, CredentialKind::Card, &card(p))),
                pin_ok: None,
                temperature_dc: None,
            }
        })
        .collect();
    // Throughput. `MONBAN_BENCH_DECISIONS` makes the run shorter (e.g. under callgrind).
    let n: usize = std::env::var("MONBAN_BENCH_DECISIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let t = Instant::now();
    let mut granted = 0usize;
    for i in 0..n {
        let d = decide(&snap, &presence, &reqs[i % reqs.len()], at);
        granted += usize::from(d.granted);
    }
    let secs = t.elapsed().as_secs_f64();
    // Latency of single decisions.
    let m = (n / 5).max(1);
    let mut lat = Vec::with_capacity(m);
    for i in 0..m {
        let r = &reqs[i % reqs.len()];
        let t = Instant::now();
        let d = decide(&snap, &presence, r, at);
        lat.push(t.elapsed().as_nanos() as u64);
        std::hint::black_box(d);
    }
    lat.sort_unstable();
    let p = |q: f64| lat[((lat.len() as f64) * q) as usize];
    println!(
        "BENCH decisions: {:.0}/s on one thread ({n} decisions, {granted} granted); latency p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
        n as f64 / secs,
        p(0.50),
        p(0.99),
        p(0.999),
        lat[lat.len() - 1]
    );
}

#[test]
#[ignore]
fn snapshot_build_sign_verify_and_index_100k() {
    let key = SigningKey::from_bytes(&[3u8; 32]);
    let t = Instant::now();
    let d = data();
    let t_data = t.elapsed();
    let t = Instant::now();
    let signed = SignedSnapshot::sign(&d, &key).unwrap();
    let t_sign = t.elapsed();
    drop(d);
    // The server's path: verify, parse into PolicyData, index.
    let t = Instant::now();
    let verified = signed.verify(&key.verifying_key()).unwrap();
    let t_verify = t.elapsed();
    let t = Instant::now();
    let snap = PolicySnapshot::build(verified).unwrap();
    let t_index = t.elapsed();
    // The controller's path: the stored form read as a stream, verified and indexed at once.
    let mut stored = Vec::new();
    signed.write_stored(&mut stored).unwrap();
    let t = Instant::now();
    let streamed = read_stored(stored.as_slice(), &key.verifying_key()).unwrap();
    let t_stream = t.elapsed();
    assert_eq!(streamed.credential_count(), snap.credential_count());
    println!(
        "BENCH snapshot: {} cardholders, payload {} bytes; make data {:?}, serialise+sign {:?}; server: verify+parse {:?}, index {:?}; controller: streamed verify+index {:?} (memory: see the snapshot_rss example)",
        snap.credential_count(),
        signed.payload.len(),
        t_data,
        t_sign,
        t_verify,
        t_index,
        t_stream,
    );
}
