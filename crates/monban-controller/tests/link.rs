//! End-to-end tests of a real controller agent against a real server gateway (TLS on
//! loopback, SQLite or PostgreSQL): enrolment, signed snapshots, local decisions, exactly-once
//! upload, a week offline, revocation, refused snapshots and gap alarms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{
    door, employee_with_card, enrolled_agent, group_always, site, start_gateway, wait_for, zone,
};
use jiff::Timestamp;
use monban_controller::{enrol, Agent};
use monban_core::text::Code;
use monban_core::{CredentialKind, Direction, ReaderMode, ReasonCode, ZoneClass};
use monban_proto::{DoorRecord, RecordBody, SignedSnapshot};
use monban_server::{gateway, AppState};
use monban_store::controllers;
use monban_store::facility;
use monban_store::{testing, Store};

struct World {
    state: AppState,
    doors: [i64; 3],
    persons: Vec<i64>,
    _dir: tempfile::TempDir,
}

fn card(i: usize) -> String {
    format!("01140000000000{:02X}", i + 1)
}

async fn world(store: Store) -> World {
    if let Ok(f) = std::env::var("MONBAN_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(f))
            .try_init();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut w = store.begin_write().await.unwrap();
    let site = site(&mut w).await;
    let lobby = zone(&mut w, site, "ロビー", None, ZoneClass::General).await;
    let handling = zone(&mut w, site, "取扱区域", Some(lobby), ZoneClass::Handling).await;
    let mgmt = zone(&mut w, site, "管理区域", Some(lobby), ZoneClass::Management).await;
    let card_door = |name, from, to| (name, (from, to));
    let mut doors = [0; 3];
    for (i, (name, way)) in [
        card_door("玄関", None, lobby),
        card_door("取扱区域扉", Some(lobby), handling),
        card_door("サーバー室扉", Some(lobby), mgmt),
    ]
    .into_iter()
    .enumerate()
    {
        doors[i] = door(&mut w, site, name, way, ReaderMode::Card, None).await;
    }
    let mut persons = Vec::new();
    for i in 0..3 {
        persons.push(employee_with_card(&mut w, i, &card(i)).await);
    }
    group_always(&mut w, vec![lobby, handling, mgmt], persons.clone()).await;
    w.commit().await.unwrap();
    let state = start_gateway(store, dir.path(), Duration::from_secs(1)).await;
    World {
        state,
        doors,
        persons,
        _dir: dir,
    }
}

async fn stored(store: &Store, controller: i64) -> Vec<i64> {
    sqlx::query_scalar("SELECT source_seq FROM access_events WHERE source = $1 ORDER BY source_seq")
        .bind(format!("controller:{controller}"))
        .fetch_all(store.pool())
        .await
        .unwrap()
}

async fn scenario(store: Store) {
    let w = world(store).await;
    let cdir = tempfile::tempdir().unwrap();
    let agent = enrolled_agent(&w.state, &w.doors, cdir.path()).await;
    let id = agent.enrolment().controller_id;
    let link = tokio::spawn(agent.clone().run_link());
    wait_for("snapshot", || {
        agent.status().snapshot_version > 0 && agent.status().connected
    })
    .await;
    let [d1, d2, d3] = w.doors;
    let (p1, p2) = (w.persons[0], w.persons[1]);
    let go = |door, dir, i: usize, at: Option<Timestamp>| {
        agent
            .present(door, dir, CredentialKind::Card, &card(i), None, None, at)
            .unwrap()
    };

    // The tailgater: person 2 slips into the handling area behind person 1 and cannot badge out.
    assert!(go(d1, Direction::In, 0, None).granted);
    assert!(go(d2, Direction::In, 0, None).granted);
    assert!(go(d1, Direction::In, 1, None).granted);
    let d = go(d2, Direction::Out, 1, None);
    assert_eq!(
        (d.granted, d.reason, d.person_id),
        (false, ReasonCode::AntiPassback, Some(p2))
    );
    // Entering the 管理区域 alone is refused.
    assert!(go(d1, Direction::In, 2, None).granted);
    let d = go(d3, Direction::In, 2, None);
    assert_eq!((d.granted, d.reason), (false, ReasonCode::TwoPersonPending));
    // An unknown card.
    assert_eq!(
        go(d1, Direction::In, 9, None).reason,
        ReasonCode::UnknownCredential
    );
    wait_for("upload", || {
        agent.status().acked == agent.status().journal_head
    })
    .await;
    let head = agent.status().journal_head as i64;
    assert_eq!(
        stored(&w.state.store, id).await,
        (1..=head).collect::<Vec<_>>()
    );
    // The alarm names the tailgater and the door.
    let alarms = controllers::recent_alarms(&w.state.store, 50)
        .await
        .unwrap();
    assert!(
        alarms.iter().any(|a| a.code.code() == "anti_passback"
            && a.person_id == Some(p2)
            && a.door_id == Some(d2)),
        "{alarms:?}"
    );
    // Presence on the server follows the events.
    let here = monban_store::events::presence_of(&w.state.store, p1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        here.zone_id,
        facility::get_door(&w.state.store, d2)
            .await
            .unwrap()
            .to_zone_id
            .into()
    );

    // A week offline: the link is cut; the controller keeps deciding from its snapshot.
    link.abort();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Timestamp::now();
    let mut decided = 0;
    for h in 0..(7 * 24) {
        let at = start + jiff::SignedDuration::from_hours(h);
        let i = (h % 3) as usize;
        // In and out of the lobby, once an hour per person in turn.
        for dir in [Direction::In, Direction::Out] {
            let d = go(
                d1,
                dir,
                i,
                Some(
                    at + jiff::SignedDuration::from_secs(if dir == Direction::In { 0 } else { 60 }),
                ),
            );
            decided += 1;
            assert_ne!(d.reason, ReasonCode::UnknownCredential);
        }
    }
    assert_eq!(decided, 336);
    assert!(agent.status().journal_head > agent.status().acked + 300);
    // Back online: everything is delivered exactly once, sequence numbers continuous.
    let link = tokio::spawn(agent.clone().run_link());
    wait_for("catch-up", || {
        let s = agent.status();
        s.connected && s.acked == s.journal_head
    })
    .await;
    let head = agent.status().journal_head as i64;
    assert_eq!(
        stored(&w.state.store, id).await,
        (1..=head).collect::<Vec<_>>()
    );
    assert!(!controllers::recent_alarms(&w.state.store, 500)
        .await
        .unwrap()
        .iter()
        .any(|a| a.code.code() == "sequence_gap"));

    // Uploading the same records again stores nothing twice.
    let c = controllers::get_controller(&w.state.store, id)
        .await
        .unwrap();
    let dup = vec![DoorRecord {
        seq: 1,
        at_us: 0,
        body: RecordBody::Access {
            door_id: d1,
            direction: Direction::In,
            person_id: None,
            credential_kind: None,
            granted: false,
            reason: ReasonCode::UnknownCredential,
            alarm: None,
            snapshot_version: 0,
        },
    }];
    let r = gateway::ingest(&w.state, &c, &dup).await.unwrap();
    assert_eq!((r.events.len(), r.duplicates), (0, 1));
    // A jump in sequence numbers is an alarm.
    let gap = vec![DoorRecord {
        seq: head as u64 + 5,
        ..dup[0].clone()
    }];
    let r = gateway::ingest(&w.state, &c, &gap).await.unwrap();
    assert_eq!(r.events.len(), 1);
    assert!(
        r.alarms.iter().any(|a| a.code.code() == "sequence_gap"),
        "{:?}",
        r.alarms
    );
    // Records for a door the controller does not run are refused.
    let mut tx = w.state.store.begin_write().await.unwrap();
    let (other, _) =
        controllers::create_controller(&mut tx, "other", &[d3], monban_proto::token_hash)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    let mut foreign = dup.clone();
    foreign[0].seq = 1;
    assert!(gateway::ingest(&w.state, &other, &foreign).await.is_err());

    // A snapshot signed by anyone else is refused and the current one kept.
    let v = agent.status().snapshot_version;
    let forged_key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let (good, _, _) = w.state.controllers.build(&w.state.store).await.unwrap();
    let data = good
        .verify(&agent.enrolment().verifying_key().unwrap())
        .unwrap();
    let forged = SignedSnapshot::sign(&data, &forged_key).unwrap();
    assert!(agent.install_snapshot(&forged).is_err());
    assert!(agent
        .install_snapshot(&SignedSnapshot {
            signature: Vec::new(),
            ..good.clone()
        },)
        .is_err());
    assert_eq!(agent.status().snapshot_version, v);
    // The stored snapshot is the one in use: a controller restarted on a copy of the state
    // loads it without the server; a damaged copy is refused, and one from an earlier version
    // (the link's JSON form in snapshot.json) still loads.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(
        cdir.path().join("enrolment.json"),
        copy.path().join("enrolment.json"),
    )
    .unwrap();
    let stored_bin = std::fs::read(cdir.path().join("snapshot.bin")).unwrap();
    assert!(!cdir.path().join("snapshot.json").exists());
    assert!(!cdir.path().join("snapshot.incoming").exists());
    std::fs::write(copy.path().join("snapshot.bin"), &stored_bin).unwrap();
    assert_eq!(
        Agent::open(copy.path()).unwrap().status().snapshot_version,
        v
    );
    let mut damaged = stored_bin.clone();
    // A byte of the policy itself, past the 80-byte header.
    damaged[200] ^= 0x20;
    std::fs::write(copy.path().join("snapshot.bin"), &damaged).unwrap();
    assert_eq!(
        Agent::open(copy.path()).unwrap().status().snapshot_version,
        0
    );
    std::fs::remove_file(copy.path().join("snapshot.bin")).unwrap();
    std::fs::write(
        copy.path().join("snapshot.json"),
        serde_json::to_vec(&good).unwrap(),
    )
    .unwrap();
    assert_eq!(
        Agent::open(copy.path()).unwrap().status().snapshot_version,
        good.version
    );
    // ...and is converted to the stored form once verified.
    assert!(!copy.path().join("snapshot.json").exists());
    assert_eq!(
        Agent::open(copy.path()).unwrap().status().snapshot_version,
        good.version
    );

    // A policy change reaches the controller as a new signed snapshot.
    let mut tx = w.state.store.begin_write().await.unwrap();
    controllers::set_lockdown(
        &mut tx,
        controllers::LockdownScope::Zone(
            facility::get_door(&w.state.store, d1)
                .await
                .unwrap()
                .to_zone_id,
        ),
        true,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    w.state.controllers.refresh(&w.state.store).await.unwrap();
    wait_for("new snapshot", || agent.status().snapshot_version > v).await;
    assert_eq!(go(d1, Direction::In, 2, None).reason, ReasonCode::Lockdown);

    // Revocation: the link is dropped and the controller refused; it still decides locally.
    let mut tx = w.state.store.begin_write().await.unwrap();
    controllers::revoke(&mut tx, id).await.unwrap();
    tx.commit().await.unwrap();
    w.state.controllers.kick(id);
    wait_for("disconnect", || !agent.status().connected).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !agent.status().connected,
        "a revoked controller must stay refused"
    );
    assert!(!w.state.controllers.connected().contains_key(&id));
    go(d1, Direction::Out, 0, None);
    link.abort();
}

#[tokio::test]
async fn controller_scenarios_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scenario(testing::sqlite(dir.path()).await.unwrap()).await;
}

#[tokio::test]
async fn controller_scenarios_on_postgres() {
    scenario(testing::postgres().await.unwrap()).await;
}

#[tokio::test]
async fn unknown_controller_and_wrong_token_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(testing::sqlite(dir.path()).await.unwrap()).await;
    let cdir = tempfile::tempdir().unwrap();
    let agent = enrolled_agent(&w.state, &w.doors[..1], cdir.path()).await;
    // Same gateway and keys, but a made-up token.
    let mut e = agent.enrolment().clone();
    e.token = "0".repeat(64);
    let bad = tempfile::tempdir().unwrap();
    enrol(bad.path(), &e.to_code(), None).unwrap();
    let impostor = Agent::open(bad.path()).unwrap();
    let h = tokio::spawn(impostor.clone().run_link());
    e.controller_id = 999;
    let bad2 = tempfile::tempdir().unwrap();
    enrol(bad2.path(), &e.to_code(), None).unwrap();
    let unknown = Agent::open(bad2.path()).unwrap();
    let h2 = tokio::spawn(unknown.clone().run_link());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!impostor.status().connected && impostor.status().snapshot_version == 0);
    assert!(!unknown.status().connected && unknown.status().snapshot_version == 0);
    // Without a snapshot nothing opens, and the attempt is still journaled.
    let d = impostor
        .present(
            w.doors[0],
            Direction::In,
            CredentialKind::Card,
            &card(0),
            None,
            None,
            None,
        )
        .unwrap();
    assert!(!d.granted);
    assert_eq!(impostor.status().journal_head, 1);
    h.abort();
    h2.abort();
}
