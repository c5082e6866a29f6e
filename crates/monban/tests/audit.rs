//! End-to-end tests of the audit log through the `monban` binary: export and offline verify,
//! detection of every kind of tampering with an export, fsck of the live database, and a process
//! killed in the middle of appends losing nothing it had committed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_monban");

fn monban(args: &[&str], data: &Path) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("MONBAN_DATABASE_URL")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn verify(dir: &Path, key: &str) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .arg(dir)
        .args(["--key", key])
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Fills a log with operator actions via the admin CLI and the append-test command.
fn seeded(data: &Path) {
    for i in 0..5 {
        let (ok, _, err) = monban(
            &[
                "person",
                "add",
                "--name",
                &format!("試験 {i}"),
                "--kana",
                "シケン",
                "--employee-number",
                &format!("T{i}"),
            ],
            data,
        );
        assert!(ok, "{err}");
    }
    let (ok, _, err) = monban(&["audit", "append-test", "--count", "40"], data);
    assert!(ok, "{err}");
}

#[test]
fn export_verifies_and_every_tampering_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seeded(&data);
    let (ok, _, err) = monban(&["audit", "checkpoint"], &data);
    assert!(ok, "{err}");
    let (ok, _, err) = monban(
        &[
            "person",
            "add",
            "--name",
            "後から",
            "--kana",
            "アトカラ",
            "--employee-number",
            "T9",
        ],
        &data,
    );
    assert!(ok, "{err}");
    let export = dir.path().join("export");
    let (ok, out, err) = monban(
        &["audit", "export", "--out", export.to_str().unwrap()],
        &data,
    );
    assert!(ok, "{err}");
    let key = out
        .lines()
        .find_map(|l| l.strip_prefix("検証鍵 / verifier key: "))
        .unwrap()
        .trim()
        .to_string();
    let (ok, out) = verify(&export, &key);
    assert!(ok, "{out}");
    assert!(out.contains("46 件"), "{out}");
    // Two checkpoints (the one issued before the last change, and the export's), consistent.
    assert!(out.contains("2 チェックポイント"), "{out}");
    let (ok, out, err) = monban(&["audit", "fsck"], &data);
    assert!(ok && out.contains("正常"), "{out}{err}");

    let entries = std::fs::read_to_string(export.join("entries.jsonl")).unwrap();
    let lines: Vec<&str> = entries.lines().collect();
    let tampered = |name: &str, new: Vec<String>| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(d.join("checkpoints")).unwrap();
        for e in std::fs::read_dir(export.join("checkpoints")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), d.join("checkpoints").join(e.file_name())).unwrap();
        }
        std::fs::write(d.join("entries.jsonl"), new.join("\n") + "\n").unwrap();
        let (ok, out) = verify(&d, &key);
        assert!(!ok, "{name}: tampering not detected");
        assert!(out.contains("検証に失敗しました"), "{name}: {out}");
        assert!(!out.contains("panicked"), "{name}: {out}");
        out
    };
    let owned: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    // Modified: one base64 character of entry 10's leaf changed.
    let mut m = owned.clone();
    let pos = m[10].len() - 6;
    let c = if &m[10][pos..pos + 1] == "A" {
        "B"
    } else {
        "A"
    };
    m[10].replace_range(pos..pos + 1, c);
    tampered("modified", m);
    // Deleted.
    let mut m = owned.clone();
    m.remove(7);
    let out = tampered("deleted", m);
    assert!(
        out.contains("項目 7") || out.contains("entry 7") || out.contains("8行目"),
        "names the first bad entry: {out}"
    );
    // Inserted (a copy of another line).
    let mut m = owned.clone();
    m.insert(3, owned[20].clone());
    tampered("inserted", m);
    // Reordered.
    let mut m = owned.clone();
    m.swap(4, 5);
    tampered("reordered", m);
    // Truncated.
    let m = owned[..owned.len() - 2].to_vec();
    tampered("truncated", m);
    // A wrong key.
    let (ok, out) = verify(
        &export,
        "someone+deadbeef+AUlY6FZTSsmBYUyWDUsTmgQTrV6UCT8Ie6KIiBDtR7Kq",
    );
    assert!(!ok && !out.contains("panicked"), "{out}");

    // Tampering with the live database is found by fsck and named.
    let db = data.join("monban.sqlite3");
    let status = Command::new("python3")
        .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('DELETE FROM audit_leaves WHERE seq = 12'); c.commit()"])
        .arg(&db)
        .status()
        .unwrap();
    assert!(status.success());
    let (ok, out, err) = monban(&["audit", "fsck"], &data);
    assert!(!ok, "{out}");
    assert!(err.contains("12"), "{err}");
}

#[test]
fn killed_in_the_middle_of_appends_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut committed: Vec<u64> = Vec::new();
    for round in 0..3 {
        let mut child = Command::new(BIN)
            .args(["audit", "append-test", "--count", "100000", "--data-dir"])
            .arg(&data)
            .env_remove("MONBAN_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let stop_after = 150 + round * 37;
        let mut n = 0;
        while let Some(Ok(line)) = lines.next() {
            let seq: u64 = line.strip_prefix("committed ").unwrap().parse().unwrap();
            committed.push(seq);
            n += 1;
            if n == stop_after {
                break;
            }
        }
        // SIGKILL, mid-stream.
        child.kill().unwrap();
        child.wait().unwrap();
        let (ok, out, err) = monban(&["audit", "fsck"], &data);
        assert!(ok, "round {round}: fsck failed after kill: {out}{err}");
        let size: u64 = out
            .split("audit log OK: ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let max = *committed.iter().max().unwrap();
        assert!(
            size > max,
            "round {round}: committed entry {max} lost (size {size})"
        );
    }
    // Sequence numbers continue without gaps across restarts.
    let mut sorted = committed.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), committed.len(), "no sequence number reused");
}
