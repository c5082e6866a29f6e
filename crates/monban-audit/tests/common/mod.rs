//! Shared helpers for the integration tests: random but valid audit entries.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use jiff::tz::Offset;
use jiff::Timestamp;
use monban_audit::leaf::{AuditEntry, DeviceTime, Outcome};
use rand::rngs::StdRng;
use rand::Rng;

const WORDS: &[&str] = &[
    "door",
    "east",
    "3F",
    "受付",
    "サーバ室",
    "gate-7",
    "",
    "x",
    "operator",
    "管理区域",
    "ok",
];

fn word(rng: &mut StdRng) -> String {
    let n = rng.gen_range(1..4);
    (0..n)
        .map(|_| WORDS[rng.gen_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join("_")
}

pub fn random_entry(rng: &mut StdRng, seq: u64) -> AuditEntry {
    let micros: i64 = rng.gen_range(0..4_000_000_000_000_000);
    let server_time = Timestamp::from_microsecond(micros).unwrap();
    let device_time = if rng.gen_bool(0.5) {
        let offset = Offset::from_seconds(rng.gen_range(-(23 * 60)..=(23 * 60)) * 60).unwrap();
        let skew: i64 = rng.gen_range(-5_000_000..5_000_000);
        Some(DeviceTime {
            at: Timestamp::from_microsecond(micros + skew).unwrap(),
            offset,
        })
    } else {
        None
    };
    let outcome = match rng.gen_range(0..3) {
        0 => Outcome::Ok,
        1 => Outcome::Denied(format!("reason_{}", rng.gen_range(0..9))),
        _ => Outcome::Error,
    };
    let mut details = BTreeMap::new();
    for _ in 0..rng.gen_range(0..6) {
        details.insert(format!("k{}", word(rng)), word(rng));
    }
    AuditEntry {
        seq,
        server_time,
        device_time,
        source: ["api", "system", "controller:12"][rng.gen_range(0..3)].to_owned(),
        actor: format!("operator:{}", rng.gen_range(0..100)),
        action: ["person.create", "door.access", "auth.login_failed"][rng.gen_range(0..3)]
            .to_owned(),
        target: if rng.gen_bool(0.2) {
            String::new()
        } else {
            format!("person:{}", rng.gen_range(0..1000))
        },
        outcome,
        request_id: format!("req-{:x}", rng.gen::<u64>()),
        details,
    }
}
