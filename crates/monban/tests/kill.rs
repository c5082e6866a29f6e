//! The controller and the server are SIGKILLed repeatedly under traffic; afterwards every event
//! the controller journaled is stored exactly once, with continuous sequence numbers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_monban");

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a process and waits until its stdout shows `ready`; keeps draining stdout after.
fn spawn(args: &[&str], env: &[(&str, String)], ready: &str) -> (Proc, Vec<String>) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("MONBAN_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("{args:?} never printed {ready:?}: {seen:?}"));
        let done = line.contains(ready);
        seen.push(line);
        if done {
            break;
        }
    }
    (Proc(child), seen)
}

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("MONBAN_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status(state: &Path) -> (u64, u64) {
    let out = run(&[
        "controller",
        "status",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    (
        v["journal_head"].as_u64().unwrap(),
        v["acked"].as_u64().unwrap(),
    )
}

#[test]
fn controller_and_server_killed_repeatedly_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("controller");
    let data_s = data.to_str().unwrap().to_string();
    let state_s = state.to_str().unwrap().to_string();
    let http = format!("127.0.0.1:{}", free_port());
    let gw = format!("127.0.0.1:{}", free_port());
    let env = [("MONBAN_GATEWAY_BIND", gw.clone())];
    let server_args = [
        "demo",
        "--bind",
        http.as_str(),
        "--data-dir",
        data_s.as_str(),
        "--interval-ms",
        "60000",
    ];
    let (mut server, _) = spawn(&server_args, &env, "URL: ");

    let out = run(&[
        "controller",
        "add",
        "--data-dir",
        &data_s,
        "--name",
        "kill-test",
        "--doors",
        "1",
        "--gateway",
        &gw,
    ]);
    let id: i64 = out
        .lines()
        .find_map(|l| l.strip_prefix("controller id: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let code = out
        .lines()
        .find_map(|l| l.strip_prefix("code: "))
        .unwrap()
        .trim()
        .to_string();
    run(&[
        "controller",
        "enrol",
        "--state-dir",
        &state_s,
        "--code",
        &code,
    ]);
    let ctl_args = [
        "controller",
        "run",
        "--state-dir",
        state_s.as_str(),
        "--simulate-rate",
        "40",
        "--simulate-cards",
        "011400A000000000,04A1B2C3",
    ];
    let (mut ctl, _) = spawn(&ctl_args, &[], "started");

    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(1500));
        drop(ctl); // SIGKILL the controller mid-traffic
        (ctl, _) = spawn(&ctl_args, &[], "started");
        std::thread::sleep(Duration::from_millis(1500));
        drop(server); // SIGKILL the server mid-ingest
        if round % 2 == 0 {
            // Keep deciding offline for a while.
            std::thread::sleep(Duration::from_millis(1000));
        }
        (server, _) = spawn(&server_args, &env, "URL: ");
    }
    // Stop the traffic, then let the controller deliver everything.
    drop(ctl);
    let (head_before, _) = status(&state);
    assert!(head_before > 100, "too little traffic: {head_before}");
    let (_ctl, _) = spawn(
        &["controller", "run", "--state-dir", &state_s],
        &[],
        "started",
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (head, acked) = status(&state);
        assert_eq!(head, head_before, "no new events without traffic");
        if acked == head {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all delivered: acked {acked} of {head}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(server);
    // Every journaled event is stored exactly once, sequence numbers 1..=head with no gap.
    let db = data.join("monban.sqlite3");
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(','.join(str(r[0]) for r in c.execute('SELECT source_seq FROM access_events WHERE source = ? ORDER BY source_seq', (sys.argv[2],))))",
        ])
        .arg(&db)
        .arg(format!("controller:{id}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seqs: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let expected: Vec<u64> = (1..=head_before).collect();
    assert_eq!(
        seqs.len() as u64,
        head_before,
        "every journaled event stored once"
    );
    assert_eq!(seqs, expected, "continuous sequence numbers, none twice");
}
