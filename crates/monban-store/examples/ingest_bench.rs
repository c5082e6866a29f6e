//! Controller → server ingest benchmark: batches of access events stored with durable commit
//! (dedup on controller + sequence, presence, one audit leaf per event), as the gateway does.
//!
//! `cargo run --release -p monban-store --example ingest_bench -- sqlite 50000 1000`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use monban_core::{CredentialKind, Direction, ReaderMode, ReasonCode, ZoneClass};
use monban_store::controllers::{self, IngestBody, IngestRecord};
use monban_store::facility::{self, DoorInput, SiteInput, ZoneInput};
use monban_store::people::{self, PersonInput};
use monban_store::testing;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite");
    let total: i64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50_000);
    let batch: i64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let store = match backend {
        "postgres" => testing::postgres().await.unwrap(),
        _ => testing::sqlite(dir.path()).await.unwrap(),
    };
    controllers::migrate(&store).await.unwrap();
    let mut w = store.begin_write().await.unwrap();
    let site = facility::create_site(
        &mut w,
        &SiteInput {
            name: "bench".into(),
            time_zone: None,
        },
    )
    .await
    .unwrap();
    let zone = facility::create_zone(
        &mut w,
        &ZoneInput {
            site_id: site.id,
            parent_id: None,
            name: "z".into(),
            class: ZoneClass::General,
            occupancy_limit: None,
        },
    )
    .await
    .unwrap();
    let door = facility::create_door(
        &mut w,
        &DoorInput {
            site_id: site.id,
            name: "d".into(),
            from_zone_id: None,
            to_zone_id: zone.id,
            reader_mode: ReaderMode::Card,
            held_open_limit_secs: None,
        },
    )
    .await
    .unwrap();
    let mut persons = Vec::new();
    for i in 0..100 {
        let p = people::create_person(
            &mut w,
            &PersonInput::employee(format!("B{i}"), "試験", "シケン"),
        )
        .await
        .unwrap();
        persons.push(p.id);
    }
    let (c, _) = controllers::create_controller(&mut w, "bench", &[door.id], |t| t.to_string())
        .await
        .unwrap();
    w.commit().await.unwrap();
    let start = Instant::now();
    let mut seq = 1i64;
    while seq <= total {
        let n = batch.min(total - seq + 1);
        let records: Vec<IngestRecord> = (seq..seq + n)
            .map(|s| IngestRecord {
                seq: s,
                at: jiff::Timestamp::now(),
                body: IngestBody::Access {
                    door_id: door.id,
                    direction: if (s / 100) % 2 == 0 {
                        Direction::In
                    } else {
                        Direction::Out
                    },
                    person_id: Some(persons[(s % 100) as usize]),
                    credential_kind: Some(CredentialKind::Card),
                    granted: true,
                    reason: ReasonCode::Granted,
                    alarm: None,
                },
            })
            .collect();
        let mut w = store.begin_write().await.unwrap();
        controllers::ingest(&mut w, c.id, &[door.id], &records)
            .await
            .unwrap();
        w.commit().await.unwrap();
        seq += n;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{backend}: ingested {total} events in batches of {batch}: {secs:.2} s, {:.0} events/s",
        total as f64 / secs
    );
}
