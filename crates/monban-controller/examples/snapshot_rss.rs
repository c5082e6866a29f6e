//! Memory a controller holds for a policy snapshot of 100,000 cardholders (1,000 doors, 100
//! zones, 10 access groups: `monban_proto::synthetic`).
//!
//! Writes a controller state directory (enrolment with an unreachable gateway, so the agent
//! decides offline; the signed snapshot in its stored form; three doors), then
//! 1. opens an [`Agent`] on it in this process, the way `monban controller run` does (stream,
//!    verify, index), and prints the resident set before and after;
//! 2. runs a real controller process — the binary given, else both `monban-controller` and
//!    `monban controller` from the release target directory, where built — with simulated
//!    card reads at 20 per second across the three doors, twice: on that directory (the
//!    snapshot loaded from disk, offline), and on a fresh directory enrolled with a small
//!    gateway that sends the snapshot over a real TLS link as the server does. Each time,
//!    8 seconds after the snapshot is in use, it prints the process's `VmRSS` (resident now)
//!    and `VmHWM` (highest ever) from `/proc/PID/status` and how many decisions it journaled.
//!
//! `cargo build --release -p monban -p monban-controller && cargo run --release -p
//! monban-controller --example snapshot_rss -- [PERSONS] [DIR] [BINARY]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/fake_gateway.rs"]
mod fake_gateway;

use std::path::PathBuf;

use fake_gateway::Send;

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

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let persons: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("monban-snapshot-rss"));
    let binaries: Vec<PathBuf> = match args.next() {
        Some(b) => vec![PathBuf::from(b)],
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| PathBuf::from("target"), PathBuf::from);
            ["release/monban-controller", "release/monban"]
                .iter()
                .map(|b| target.join(b))
                .filter(|p| p.exists())
                .collect()
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = SigningKey::from_bytes(&[3u8; 32]);
    let signed = SignedSnapshot::sign(&synthetic::policy(persons), &key).unwrap();
    let enrolment = Enrolment {
        // Nothing listens there: the agent keeps retrying and decides offline.
        gateway: "127.0.0.1:9".into(),
        controller_id: 1,
        token: "t".into(),
        cert_sha256: "00".repeat(32),
        snapshot_key: hex::encode(key.verifying_key().to_bytes()),
    };
    enrol(&dir, &enrolment.to_code(), None).unwrap();
    signed
        .write_stored(std::fs::File::create(dir.join("snapshot.bin")).unwrap())
        .unwrap();
    std::fs::write(dir.join("doors.json"), b"[1,2,3]").unwrap();
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
        "RSS in process: {persons} cardholders in {}: VmRSS {before} KiB before Agent::open, {after} KiB after (held for the snapshot: about {} KiB; this process also built and signed the snapshot, so its allocator holds more than a controller's); after one decision ({}) {} KiB",
        dir.display(),
        after.saturating_sub(before),
        d.reason,
        rss_kib()
    );
    drop(agent);
    if binaries.is_empty() {
        println!("(no controller binary given or built in release: skipping the real controller)");
        return;
    }
    let cards: Vec<String> = (1..=persons).step_by(997).map(card).collect();
    // A gateway that sends the snapshot over the link and acknowledges every upload.
    let gateway = fake_gateway::start(&dir.with_extension("gateway"));
    for binary in &binaries {
        // From the stored snapshot, offline.
        measure(binary, &dir, &cards, "stored snapshot, offline", None);
        // From the link: a new state directory without a snapshot.
        let link_dir = dir.with_extension(format!("link-{}", binary_name(binary)));
        let _ = std::fs::remove_dir_all(&link_dir);
        let e = Enrolment {
            gateway: gateway.addr.clone(),
            cert_sha256: gateway.cert_sha256.clone(),
            ..enrolment.clone()
        };
        enrol(&link_dir, &e.to_code(), None).unwrap();
        gateway.tx.send(Send::Snapshot(signed.clone())).unwrap();
        measure(
            binary,
            &link_dir,
            &cards,
            "snapshot received over the link",
            Some(&link_dir.join("snapshot.bin")),
        );
    }
}

fn binary_name(binary: &std::path::Path) -> String {
    binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Runs `binary` as a controller on `dir` with simulated reads; once `wait_for` exists (the
/// snapshot arrived), lets it decide for 8 seconds and prints its memory.
fn measure(
    binary: &std::path::Path,
    dir: &std::path::Path,
    cards: &[String],
    what: &str,
    wait_for: Option<&std::path::Path>,
) {
    let head_before = journal_head(binary, dir);
    let mut child = std::process::Command::new(binary)
        .args(subcommand(binary))
        .args(["run", "--state-dir"])
        .arg(dir)
        .args([
            "--simulate-rate",
            "20",
            "--simulate-cards",
            &cards.join(","),
        ])
        .env("MONBAN_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    if let Some(file) = wait_for {
        while !file.exists() && start.elapsed() < std::time::Duration::from_secs(120) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    let arrived = start.elapsed();
    std::thread::sleep(std::time::Duration::from_secs(8));
    let (rss, hwm) = (
        status_kib(child.id(), "VmRSS:"),
        status_kib(child.id(), "VmHWM:"),
    );
    let _ = child.kill();
    let _ = child.wait();
    let decided = journal_head(binary, dir).saturating_sub(head_before);
    println!(
        "RSS real controller {} ({what}{}): {decided} decisions journaled in 8 s: VmRSS {rss} KiB ({:.1} MiB), VmHWM {hwm} KiB ({:.1} MiB)",
        binary_name(binary),
        if wait_for.is_some() {
            format!(", installed {:.2} s after start", arrived.as_secs_f64())
        } else {
            String::new()
        },
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}

/// `monban` runs the controller as `monban controller …`; `monban-controller` directly.
fn subcommand(binary: &std::path::Path) -> &'static [&'static str] {
    if binary.file_name().is_some_and(|n| n == "monban-controller") {
        &[]
    } else {
        &["controller"]
    }
}

/// The controller's journal head, from `monban controller status`.
fn journal_head(monban: &std::path::Path, dir: &std::path::Path) -> u64 {
    let out = std::process::Command::new(monban)
        .args(subcommand(monban))
        .args(["status", "--state-dir"])
        .arg(dir)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["journal_head"].as_u64().unwrap_or(0)
}
