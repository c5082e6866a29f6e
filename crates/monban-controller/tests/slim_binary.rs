//! The slim `monban-controller` binary: the same enrol / run / status commands as
//! `monban controller …` (which the kill test drives against a real server), here offline:
//! clear refusals for bad input, and a controller that decides from its stored snapshot and
//! journals every decision with no server reachable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use monban_proto::synthetic::{self, card};
use monban_proto::{Enrolment, SignedSnapshot};

const BIN: &str = env!("CARGO_BIN_EXE_monban-controller");

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn head(dir: &str) -> u64 {
    let (ok, out, err) = run(&["status", "--state-dir", dir]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["journal_head"].as_u64().unwrap()
}

#[test]
fn slim_controller_enrols_refuses_bad_input_and_decides_offline() {
    let (ok, out, _) = run(&["--help"]);
    assert!(ok);
    for word in ["enrol", "run", "status", "コントローラーを動かす"] {
        assert!(out.contains(word), "{word} missing from --help:\n{out}");
    }

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ctl");
    let d = dir.to_str().unwrap();
    // Not enrolled yet: told what to run first.
    let (ok, _, err) = run(&["status", "--state-dir", d]);
    assert!(!ok);
    assert!(err.contains("monban controller enrol"), "{err}");
    // A code that is not one.
    let (ok, _, err) = run(&["enrol", "--state-dir", d, "--code", "mbc1.!!!"]);
    assert!(!ok);
    assert!(err.contains("登録コード"), "{err}");
    assert!(!dir.join("enrolment.json").exists());

    // A real code (its gateway unreachable: the controller works offline).
    let key = SigningKey::from_bytes(&[4u8; 32]);
    let code = Enrolment {
        gateway: "127.0.0.1:9".into(),
        controller_id: 7,
        token: "t".into(),
        cert_sha256: "00".repeat(32),
        snapshot_key: hex::encode(key.verifying_key().to_bytes()),
    }
    .to_code();
    let (ok, out, err) = run(&["enrol", "--state-dir", d, "--code", &code]);
    assert!(ok, "{err}");
    assert!(out.contains("コントローラー 7"), "{out}");
    assert_eq!(head(d), 0);

    // The last snapshot and door list it had, then simulated reads with no server.
    let signed = SignedSnapshot::sign(&synthetic::policy(500), &key).unwrap();
    signed
        .write_stored(std::fs::File::create(dir.join("snapshot.bin")).unwrap())
        .unwrap();
    std::fs::write(dir.join("doors.json"), b"[1,2,3]").unwrap();
    let cards: Vec<String> = (1..=500).step_by(50).map(card).collect();
    let mut child = Command::new(BIN)
        .args(["run", "--state-dir", d, "--simulate-rate", "40"])
        .args(["--simulate-cards", &cards.join(",")])
        .env("MONBAN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut decided = 0;
    while start.elapsed() < Duration::from_secs(60) && decided < 20 {
        std::thread::sleep(Duration::from_millis(300));
        decided = head(d);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(decided >= 20, "only {decided} decisions journaled");
    // Every journaled record is a decision made with the stored snapshot (version 1).
    let journal = std::fs::read(dir.join("journal.log")).unwrap();
    let text = String::from_utf8_lossy(&journal);
    assert!(
        text.matches("\"snapshot_version\":1").count() >= 20,
        "{text}"
    );
    assert!(!text.contains("\"snapshot_version\":0"));
}
