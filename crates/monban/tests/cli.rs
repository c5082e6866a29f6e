//! End-to-end tests of the `monban` binary as a user runs it: the demo (login over HTTP and
//! live events over SSE), first start of `serve`, bad settings, and the admin subcommands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_monban");

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `monban ARGS`, reads stdout until every `wanted` prefix has appeared, and returns the
/// process with the matching lines.
fn start(args: &[&str], wanted: &[&str]) -> (Running, Vec<String>) {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("MONBAN_DATABASE_URL")
        .env_remove("MONBAN_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut found = vec![String::new(); wanted.len()];
    while found.iter().any(String::is_empty) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("monban {args:?} did not print {wanted:?}"));
        for (i, w) in wanted.iter().enumerate() {
            if let Some(pos) = line.find(w) {
                found[i] = line[pos + w.len()..].trim().to_string();
            }
        }
    }
    (running, found)
}

#[tokio::test]
async fn demo_serves_login_and_live_events_over_sse() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let (_demo, found) = start(
        &[
            "demo",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--interval-ms",
            "200",
        ],
        &["URL: ", "login: "],
    );
    let url = found[0].trim_end_matches('/').to_string();
    let (user, pw) = found[1].split_once(" / ").unwrap();
    assert_eq!(user, "admin");

    let http = reqwest::Client::new();
    let r = http
        .post(format!("{url}/api/auth/login"))
        .json(&json!({"username": user, "password": pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();

    // The demo office is there: four zones of the three classes, thirty employees.
    let zones: Vec<Value> = http
        .get(format!("{url}/api/zones"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let classes: Vec<&str> = zones.iter().map(|z| z["class"].as_str().unwrap()).collect();
    assert!(
        classes.contains(&"handling") && classes.contains(&"management"),
        "{classes:?}"
    );
    let persons: Vec<Value> = http
        .get(format!("{url}/api/persons?limit=500"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(persons.len(), 30);

    // Live events arrive over SSE.
    let resp = http
        .get(format!("{url}/api/events/stream"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let mut events: Vec<Value> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while events.len() < 3 {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("no SSE events within 60 s")
            .unwrap()
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if block.lines().any(|l| l == "event: access") {
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap();
                events.push(serde_json::from_str(data).unwrap());
            }
        }
    }
    for e in &events {
        assert!(
            e["door_name"].as_str().is_some_and(|n| !n.is_empty()),
            "{e}"
        );
        assert!(
            ["in", "out"].contains(&e["direction"].as_str().unwrap()),
            "{e}"
        );
        assert!(e["reason_ja"].as_str().is_some(), "{e}");
    }
    assert!(
        events
            .windows(2)
            .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()),
        "ids increase"
    );
    // The events were stored, not just streamed.
    let stored: Vec<Value> = http
        .get(format!("{url}/api/events?limit=500"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for e in &events {
        assert!(
            stored.iter().any(|s| s["id"] == e["id"]),
            "event {} not stored",
            e["id"]
        );
    }
}

#[tokio::test]
async fn serve_first_start_creates_admin_with_one_time_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_srv, found) = start(
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &["one-time password: ", "URL: "],
    );
    let pw = found[0].clone();
    let url = found[1].trim_end_matches('/').to_string();
    assert!(data.join("monban.sqlite3").exists());
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{url}/api/auth/login"))
        .json(&json!({"username": "admin", "password": pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["operator"]["must_change_password"], true);
    // Until the password is changed, nothing else is allowed.
    let r = http
        .get(format!("{url}/api/persons"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[test]
fn bad_database_and_settings_stop_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    // A database path under a regular file cannot be opened.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            file.join("sub").to_str().unwrap(),
        ])
        .env_remove("MONBAN_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("データディレクトリ") && err.contains("--data-dir"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    // An unknown database scheme.
    let out = Command::new(BIN)
        .args(["serve", "--database-url", "mysql://x/y"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("postgres://"), "{err}");

    // A database that is not a database.
    let junk = dir.path().join("junk.sqlite3");
    std::fs::write(&junk, vec![0x42u8; 8192]).unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &format!("sqlite://{}", junk.display()),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("データベース") && !err.contains("panicked"),
        "{err}"
    );

    // A settings file with an unknown key; environment overrides the file.
    let cfg = dir.path().join("monban.toml");
    std::fs::write(&cfg, "bind = \"127.0.0.1:0\"\ncolour = \"blue\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("colour"));
    std::fs::write(&cfg, "bind = \"not an address\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .env("MONBAN_BIND", "also bad")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("also bad"),
        "environment wins over the file"
    );
}

#[test]
fn admin_subcommands_manage_people_and_operators() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .args(["--data-dir", d])
            .env_remove("MONBAN_DATABASE_URL")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, out, err) = run(&[
        "person",
        "add",
        "--name",
        "鈴木 一郎",
        "--kana",
        "スズキ イチロウ",
        "--employee-number",
        "E77",
        "--department",
        "経理部",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("id=1"), "{out}");
    let (ok, _, err) = run(&[
        "credential",
        "add-card",
        "--person-id",
        "1",
        "--card-id",
        "0114A00000000077",
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&[
        "credential",
        "add-card",
        "--person-id",
        "1",
        "--card-id",
        "0114a00000000077",
    ]);
    assert!(!ok && err.contains("既に"), "duplicate card refused: {err}");
    let (ok, _, err) = run(&[
        "person",
        "add",
        "--name",
        "x",
        "--kana",
        "漢字",
        "--employee-number",
        "E78",
    ]);
    assert!(!ok && err.contains("カタカナ"), "{err}");
    let (_, out, _) = run(&["person", "list"]);
    assert!(out.contains("鈴木 一郎") && out.contains("経理部"), "{out}");
    let (_, out, _) = run(&["credential", "list"]);
    assert!(out.contains("0114A00000000077"), "{out}");
    let (ok, out, err) = run(&[
        "operator",
        "add",
        "--username",
        "tanaka",
        "--display-name",
        "田中",
        "--role",
        "auditor",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("one-time password: "), "{out}");
    let (ok, _, err) = run(&[
        "operator",
        "add",
        "--username",
        "x2",
        "--display-name",
        "x",
        "--role",
        "boss",
    ]);
    assert!(!ok && err.contains("auditor"), "{err}");
    let (_, out, _) = run(&["operator", "list"]);
    assert!(out.contains("tanaka") && out.contains("監査"), "{out}");
    let (ok, out, _) = run(&["operator", "reset-password", "--username", "tanaka"]);
    assert!(ok && out.contains("one-time password: "));
    let out = Command::new(BIN).arg("version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("monban "));
}
