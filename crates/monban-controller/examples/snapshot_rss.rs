//! Memory a controller holds for a policy snapshot of 100,000 cardholders (1,000 doors, 100
//! zones, 10 access groups: the decision benchmark's policy).
//!
//! Writes a controller state directory (enrolment with an unreachable gateway, signed
//! `snapshot.bin`), then opens an [`Agent`] on it the way `monban controller run` does (verify
//! the signature, parse, index) and prints the process's resident set before and after, and
//! after a first decision. The directory is kept, so a real `monban controller run
//! --state-dir DIR` can be started on it and its `VmRSS` read from `/proc/PID/status`.
//!
//! `cargo run --release -p monban-controller --example snapshot_rss -- [DIR] [PERSONS]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use monban_controller::{enrol, Agent};
use monban_core::{CredentialKind, Direction};
use monban_proto::synthetic::{self, card};
use monban_proto::{Enrolment, SignedSnapshot};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("monban-snapshot-rss"));
    let persons: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    {
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let e = Enrolment {
            // Nothing listens there: the agent keeps retrying and decides offline.
            gateway: "127.0.0.1:9".into(),
            controller_id: 1,
            token: "t".into(),
            cert_sha256: "00".repeat(32),
            snapshot_key: hex::encode(key.verifying_key().to_bytes()),
        };
        enrol(&dir, &e.to_code(), None).unwrap();
        let signed = SignedSnapshot::sign(&synthetic::policy(persons), &key).unwrap();
        signed
            .write_stored(std::fs::File::create(dir.join("snapshot.bin")).unwrap())
            .unwrap();
        std::fs::write(dir.join("doors.json"), b"[1,2,3]").unwrap();
    }
    let before = rss_kib();
    let agent = Agent::open(&dir).unwrap();
    let after = rss_kib();
    assert_eq!(agent.status().snapshot_version, 1);
    let d = agent
        .present(
            2,
            Direction::In,
            CredentialKind::Card,
            &card(1),
            None,
            None,
            Some("2026-11-26T01:00:00Z".parse().unwrap()),
        )
        .unwrap();
    println!(
        "RSS snapshot: {persons} cardholders in {}: VmRSS {before} KiB before Agent::open, {after} KiB after (held for the snapshot: about {} KiB); after one decision ({}) {} KiB",
        dir.display(),
        after.saturating_sub(before),
        d.reason,
        rss_kib()
    );
}
