//! End-to-end tests against an independent OSDP reader: the Python `libosdp` package runs the
//! readers (tests/osdp/pd.py) on the slave side of a pty; this crate's control panel, the real
//! controller agent and its decision engine run on the master side.
//!
//! Skipped when Python's `osdp` module is missing, unless MONBAN_REQUIRE_OSDP=1 (CI), where
//! that is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use monban_controller::Agent;
use monban_core::{AlarmCode, Direction, ReaderMode};
use monban_osdp::sim::{demo_agent, DemoPerson};
use monban_osdp::transport;
use monban_osdp::{Bus, KeyStore, OsdpDoor, ReaderConfig, Scbk};
use monban_proto::RecordBody;
use serde_json::{json, Value};
use tokio::sync::broadcast;

const CARD_A: &str = "0114000000000001"; // FeliCa IDm, allowed, PIN 4321
const CARD_C: &str = "DEADBEEF"; // MIFARE UID, known but not allowed
const RED: i64 = 1;
const GREEN: i64 = 2;
const AMBER: i64 = 3;

fn python_osdp_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import osdp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("MONBAN_REQUIRE_OSDP").as_deref() == Ok("1") {
            panic!("MONBAN_REQUIRE_OSDP=1 but python3 cannot import osdp; run `python3 -m pip install libosdp==3.2.9`");
        }
        eprintln!("SKIP: python3 `osdp` module missing (pip install libosdp==3.2.9)");
    }
    ok
}

fn pd_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/osdp/pd.py")
}

struct Pd {
    child: Child,
    stdin: ChildStdin,
    rx: mpsc::Receiver<Value>,
}

impl Pd {
    fn spawn(tty: &Path, specs: &[String]) -> Pd {
        let mut cmd = Command::new("python3");
        cmd.arg(pd_script()).arg("--tty").arg(tty);
        for s in specs {
            cmd.arg("--pd").arg(s);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let mut pd = Pd { child, stdin, rx };
        pd.expect("ready", Duration::from_secs(20), |v| v["ev"] == "ready");
        pd
    }

    fn send(&mut self, v: Value) {
        writeln!(self.stdin, "{v}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn drain(&mut self) {
        while self.rx.try_recv().is_ok() {}
    }

    fn wait(&mut self, timeout: Duration, mut f: impl FnMut(&Value) -> bool) -> Option<Value> {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(v) if f(&v) => return Some(v),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    fn expect(&mut self, what: &str, timeout: Duration, f: impl FnMut(&Value) -> bool) -> Value {
        self.wait(timeout, f)
            .unwrap_or_else(|| panic!("reader never reported {what}"))
    }

    fn card(&mut self, addr: u8, data: &str, bits: usize, format: &str) {
        self.send(
            json!({"op": "card", "addr": addr, "data": data, "bits": bits, "format": format}),
        );
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Pd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Next access decision at `door`, skipping other records.
async fn access(
    rx: &mut broadcast::Receiver<monban_proto::DoorRecord>,
    door: i64,
    timeout: Duration,
) -> Option<bool> {
    tokio::time::timeout(timeout, async {
        loop {
            match rx.recv().await {
                Ok(r) => {
                    if let RecordBody::Access {
                        door_id, granted, ..
                    } = r.body
                    {
                        if door_id == door {
                            return granted;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .ok()
}

async fn alarm(
    rx: &mut broadcast::Receiver<monban_proto::DoorRecord>,
    want: AlarmCode,
    timeout: Duration,
) -> bool {
    tokio::time::timeout(timeout, async {
        loop {
            if let Ok(r) = rx.recv().await {
                if let RecordBody::Alarm { code, .. } = r.body {
                    if code == want {
                        return;
                    }
                }
            }
        }
    })
    .await
    .is_ok()
}

fn pin_hash(pin: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(b"monban-osdp-test").unwrap();
    argon2::Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn people() -> Vec<DemoPerson> {
    vec![
        DemoPerson {
            card: CARD_A.into(),
            pin_hash: Some(pin_hash("4321")),
            allowed: true,
        },
        // Wiegand-26 FC 18 / card 12345, as mapped by monban_osdp::card.
        DemoPerson {
            card: "1A123039".into(),
            pin_hash: None,
            allowed: true,
        },
        DemoPerson {
            card: CARD_C.into(),
            pin_hash: None,
            allowed: false,
        },
    ]
}

fn reader(
    name: &str,
    address: u8,
    door_id: i64,
    direction: Direction,
    pin: bool,
    scbk: Scbk,
) -> ReaderConfig {
    ReaderConfig {
        name: name.into(),
        address,
        door_id,
        direction,
        pin,
        scbk,
        install_mode: false,
    }
}

fn start_door(bus: &Bus, agent: &Agent, door: i64) {
    let events = bus.take_door_events(door).unwrap();
    let io = OsdpDoor::new(door, bus.handle(), events, Some(agent.subscribe()));
    tokio::spawn(agent.clone().run_door(io));
}

fn wiegand26(fc: u16, cn: u16) -> String {
    hex::encode(
        monban_osdp::wiegand::encode(monban_osdp::wiegand::WiegandCard {
            bits: 26,
            facility: fc,
            number: cn,
        })
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_readers_secure_channel_decisions_feedback_recovery_and_rotation() {
    if !python_osdp_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let agent = demo_agent(
        &dir.path().join("agent"),
        &[(1, ReaderMode::Card), (2, ReaderMode::CardAndPin)],
        &people(),
    )
    .unwrap();
    let mut out = agent.subscribe();

    // Per-reader keys, sealed at rest.
    let kpath = dir.path().join("osdp-keys.json");
    let mut ks = KeyStore::open_default(&kpath, None).unwrap();
    for name in ["door1-in", "door2-in", "door1-out"] {
        ks.set(name, &Scbk::random()).unwrap();
    }
    let k1 = ks.get("door1-in").unwrap();
    let k2 = ks.get("door2-in").unwrap();
    let k3 = ks.get("door1-out").unwrap();
    let wrong = Scbk::random();

    let pty = transport::open_pty().unwrap();
    let tty = pty.slave_path.clone();
    let bus = Bus::start(
        transport::fd_factory(pty.master, None),
        vec![
            reader("door1-in", 1, 1, Direction::In, false, k1.clone()),
            reader("door2-in", 2, 2, Direction::In, true, k2.clone()),
            // This reader's PD has the wrong key: it must never get a card accepted.
            reader("door1-out", 3, 1, Direction::Out, false, k3.clone()),
        ],
    )
    .unwrap();
    start_door(&bus, &agent, 1);
    start_door(&bus, &agent, 2);
    let h = bus.handle();

    let keyfile = dir.path().join("pd1.key");
    let specs = |k1: &Scbk| {
        vec![
            format!("1:{}:{}", k1.to_hex(), keyfile.display()),
            format!("2:{}", k2.to_hex()),
            format!("3:{}", wrong.to_hex()),
        ]
    };
    let mut pd = Pd::spawn(&tty, &specs(&k1));

    // Secure Channel with each reader's own key, two readers on one bus.
    assert!(
        h.wait_secure(0, Duration::from_secs(30)).await,
        "reader 1: no Secure Channel"
    );
    assert!(
        h.wait_secure(1, Duration::from_secs(30)).await,
        "reader 2: no Secure Channel"
    );
    pd.expect("SC on PD 1", Duration::from_secs(5), |v| {
        v["ev"] == "sc" && v["addr"] == 1 && v["active"] == true
    });
    assert!(
        !h.status(2).secure,
        "wrong-key reader must not have Secure Channel"
    );

    // Card-only door: permitted FeliCa card → granted, green LED, one beep.
    pd.drain();
    pd.card(1, CARD_A, 64, "raw");
    assert_eq!(
        access(&mut out, 1, Duration::from_secs(5)).await,
        Some(true)
    );
    let led = pd.expect("LED", Duration::from_secs(3), |v| {
        v["ev"] == "led" && v["addr"] == 1
    });
    assert_eq!(led["color"], GREEN);
    let bz = pd.expect("buzzer", Duration::from_secs(3), |v| {
        v["ev"] == "buzzer" && v["addr"] == 1
    });
    assert_eq!(bz["reps"], 1);

    // A known card without access → denied, red LED, three beeps.
    pd.card(1, CARD_C, 32, "raw");
    assert_eq!(
        access(&mut out, 1, Duration::from_secs(5)).await,
        Some(false)
    );
    let led = pd.expect("LED", Duration::from_secs(3), |v| {
        v["ev"] == "led" && v["addr"] == 1
    });
    assert_eq!(led["color"], RED);
    let bz = pd.expect("buzzer", Duration::from_secs(3), |v| {
        v["ev"] == "buzzer" && v["addr"] == 1
    });
    assert_eq!(bz["reps"], 3);

    // Wiegand 26-bit, formatted read: decoded with parity and granted.
    pd.card(1, &wiegand26(18, 12345), 26, "wiegand");
    assert_eq!(
        access(&mut out, 1, Duration::from_secs(5)).await,
        Some(true)
    );
    // Bad parity: dropped, no decision at all.
    let before = h.status(0).dropped;
    let mut bad = hex::decode(wiegand26(18, 12345)).unwrap();
    bad[1] ^= 0x04;
    pd.card(1, &hex::encode(bad), 26, "wiegand");
    assert_eq!(access(&mut out, 1, Duration::from_millis(1500)).await, None);
    assert_eq!(h.status(0).dropped, before + 1);

    // Card + PIN door: amber prompt, `*` clears, `#` submits; wrong PIN denied.
    pd.drain();
    pd.card(2, CARD_A, 64, "raw");
    let led = pd.expect("PIN prompt", Duration::from_secs(3), |v| {
        v["ev"] == "led" && v["addr"] == 2
    });
    assert_eq!(led["color"], AMBER);
    pd.send(json!({"op": "keys", "addr": 2, "keys": "12*4321#"}));
    assert_eq!(
        access(&mut out, 2, Duration::from_secs(5)).await,
        Some(true)
    );
    let led = pd.expect("LED", Duration::from_secs(3), |v| {
        v["ev"] == "led" && v["addr"] == 2 && v["color"] != AMBER
    });
    assert_eq!(led["color"], GREEN);
    pd.card(2, CARD_A, 64, "raw");
    pd.expect("PIN prompt", Duration::from_secs(3), |v| {
        v["ev"] == "led" && v["addr"] == 2
    });
    pd.send(json!({"op": "keys", "addr": 2, "keys": "1111#"}));
    assert_eq!(
        access(&mut out, 2, Duration::from_secs(5)).await,
        Some(false)
    );

    // The wrong-key reader: its card is never decided, let alone accepted.
    pd.card(3, CARD_A, 64, "raw");
    assert_eq!(access(&mut out, 1, Duration::from_secs(2)).await, None);
    assert!(!h.status(2).secure);

    // Tamper → door alarm.
    pd.send(json!({"op": "tamper", "addr": 1, "on": true}));
    assert!(
        alarm(&mut out, AlarmCode::Tamper, Duration::from_secs(5)).await,
        "no tamper alarm"
    );

    // A flood of card reads: rate-limited with a warning; never a crash.
    tokio::time::sleep(Duration::from_secs(2)).await;
    pd.send(json!({"op": "flood", "addr": 1, "n": 200, "data": CARD_C, "bits": 32}));
    let dropped_before = h.status(0).dropped;
    let t0 = Instant::now();
    let mut decided = 0u32;
    while access(&mut out, 1, Duration::from_secs(3)).await.is_some() {
        decided += 1;
    }
    // The reader delivers the flood one read per poll; the limit is a burst of CARD_BURST, then
    // CARD_BURST per second. Everything above that is dropped (with a warning), none unlocks.
    let secs = t0.elapsed().as_secs_f64();
    let limit = monban_osdp::bus::CARD_BURST as f64 * (1.0 + secs) + 1.0;
    assert!(
        f64::from(decided) <= limit,
        "{decided} decided in {secs:.1}s (limit {limit:.0})"
    );
    assert!(
        h.status(0).dropped > dropped_before,
        "flood not rate-limited"
    );
    // The reader stays usable: online under Secure Channel (on a loaded machine the control
    // panel may have re-established the session meanwhile).
    assert!(
        h.wait_secure(0, Duration::from_secs(30)).await,
        "reader 1 not back under Secure Channel after the flood"
    );
    assert!(h.status(0).online);

    // Kill the reader process: offline alarm; restart it: back online under Secure Channel.
    pd.kill();
    assert!(
        alarm(&mut out, AlarmCode::ReaderOffline, Duration::from_secs(10)).await,
        "no offline alarm"
    );
    let mut pd = Pd::spawn(&tty, &specs(&k1));
    assert!(
        alarm(&mut out, AlarmCode::ReaderOnline, Duration::from_secs(30)).await,
        "no online alarm"
    );
    assert!(h.wait_secure(0, Duration::from_secs(30)).await);
    pd.card(1, CARD_A, 64, "raw");
    assert_eq!(
        access(&mut out, 1, Duration::from_secs(5)).await,
        Some(true)
    );

    // Key rotation: pending first, KEYSET under Secure Channel, new session, then promoted.
    let new = Scbk::random();
    ks.set_pending("door1-in", &new).unwrap();
    let before = h.status(0);
    if let Err(e) = h.set_key(0, new.clone(), Duration::from_secs(20)).await {
        let mut evs = Vec::new();
        while let Ok(v) = pd.rx.try_recv() {
            evs.push(v);
        }
        panic!(
            "{e}: before {before:?} after {:?}; pd: {evs:?}",
            h.status(0)
        );
    }
    ks.promote_pending("door1-in").unwrap();
    pd.expect("KEYSET", Duration::from_secs(5), |v| {
        v["ev"] == "keyset" && v["addr"] == 1
    });
    assert_eq!(std::fs::read_to_string(&keyfile).unwrap(), new.to_hex());
    assert_eq!(
        KeyStore::open_default(&kpath, None)
            .unwrap()
            .get("door1-in")
            .unwrap(),
        new
    );
    // The reader restarts with its stored new key; the control panel uses the new key.
    pd.kill();
    assert!(alarm(&mut out, AlarmCode::ReaderOffline, Duration::from_secs(10)).await);
    let mut pd = Pd::spawn(&tty, &specs(&new));
    assert!(h.wait_secure(0, Duration::from_secs(30)).await);
    pd.card(1, CARD_A, 64, "raw");
    assert_eq!(
        access(&mut out, 1, Duration::from_secs(5)).await,
        Some(true)
    );
    pd.kill();
}

/// Card presented → decision → LED command, at 9600 and 115200 baud (wire time emulated on
/// the pty). `cargo test -p monban-osdp --release --test python_pd -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_card_to_led() {
    if !python_osdp_available() {
        return;
    }
    let n: usize = std::env::var("MONBAN_OSDP_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    for baud in [9600u32, 115200] {
        let dir = tempfile::tempdir().unwrap();
        let agent = demo_agent(dir.path(), &[(1, ReaderMode::Card)], &people()).unwrap();
        let key = Scbk::random();
        let pty = transport::open_pty().unwrap();
        let tty = pty.slave_path.clone();
        let bus = Bus::start(
            transport::fd_factory(pty.master, Some(baud)),
            vec![reader("r", 1, 1, Direction::In, false, key.clone())],
        )
        .unwrap();
        start_door(&bus, &agent, 1);
        let mut pd = Pd::spawn(&tty, &[format!("1:{}", key.to_hex())]);
        assert!(bus.handle().wait_secure(0, Duration::from_secs(30)).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
        pd.send(json!({"op": "bench", "addr": 1, "n": n, "data": CARD_A, "bits": 64}));
        let mut ms = Vec::new();
        while ms.len() < n {
            let v = pd.expect("bench", Duration::from_secs(10), |v| v["ev"] == "bench");
            assert_eq!(v["color"], GREEN);
            ms.push(v["ms"].as_f64().unwrap());
        }
        ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let p = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "BENCH baud={baud} n={n} p50={:.1}ms p99={:.1}ms max={:.1}ms",
            p(0.5),
            p(0.99),
            ms[ms.len() - 1]
        );
        pd.kill();
    }
}
