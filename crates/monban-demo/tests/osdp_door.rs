//! The demo's OSDP door end to end: the demo office is seeded, its controllers start as real
//! agents enrolled with the gateway, and 取扱区域扉 is read by simulated OSDP readers under
//! Secure Channel. A card held to the entry reader and a PIN typed on its keypad reach the
//! agent through the OSDP control panel; the decision is shown on the reader (LED, buzzer) and
//! stored once at the server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use monban_core::text::Code;
use monban_core::{AccessEvent, Direction, ReasonCode};
use monban_demo::{DemoDoor, OSDP_DOOR};
use monban_server::{gateway, AppState, ServerConfig};
use monban_store::{events, facility, people, testing, Store};

async fn wait_event(store: &Store, door: i64, after: i64) -> AccessEvent {
    for _ in 0..200 {
        let evs = events::recent_events(store, 50, None).await.unwrap();
        if let Some(e) = evs.iter().find(|e| e.door_id == door && e.id > after) {
            return e.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no event stored for door {door}");
}

async fn last_id(store: &Store) -> i64 {
    events::recent_events(store, 1, None)
        .await
        .unwrap()
        .first()
        .map_or(0, |e| e.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_one_door_with_simulated_osdp_readers() {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::sqlite(dir.path()).await.unwrap();
    assert!(monban_demo::seed(&store).await.unwrap());
    let cfg = ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
        String::new(),
    );
    let state = AppState::new(store.clone(), cfg);
    gateway::start(
        state.clone(),
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_millis(500),
    )
    .await
    .unwrap();
    let doors = monban_demo::start_controllers(&state, dir.path())
        .await
        .unwrap();
    let all = facility::list_doors(&store, None).await.unwrap();
    let osdp_id = all.iter().find(|d| d.name == OSDP_DOOR).unwrap().id;
    let osdp = doors
        .iter()
        .find_map(|d| match d {
            DemoDoor::Osdp(o) => Some(o),
            DemoDoor::Sim(_) => None,
        })
        .expect("one door runs with OSDP readers");
    assert_eq!(osdp.door_id, osdp_id);
    assert_eq!(
        doors
            .iter()
            .filter(|d| matches!(d, DemoDoor::Osdp(_)))
            .count(),
        1
    );
    assert!(
        osdp.wait_secure(Duration::from_secs(30)).await,
        "both readers under Secure Channel"
    );

    // A handler (employee 0, 総務部) walks to the office through the simulated doors.
    let persons = people::list_persons(&store, None, 100, 0).await.unwrap();
    let handler = &persons[0];
    assert_eq!(handler.department.as_deref(), Some("総務部"));
    let card = monban_demo::demo_card(0);
    for name in ["正面玄関", "執務室入口"] {
        let id = all.iter().find(|d| d.name == name).unwrap().id;
        let before = last_id(&store).await;
        let door = doors.iter().find(|d| d.door_id() == id).unwrap();
        door.present_card(Direction::In, &card, None).await;
        let ev = wait_event(&store, id, before).await;
        assert!(ev.granted, "{name}: {:?}", ev.reason);
    }

    // An unknown card at the OSDP entry reader: refused, red LED and buzzer on that reader.
    osdp.take_feedback();
    let before = last_id(&store).await;
    osdp.present_card(Direction::In, "04A1B2C3", Some("1234"))
        .await;
    let ev = wait_event(&store, osdp_id, before).await;
    assert!(!ev.granted);
    assert_eq!(ev.reason, ReasonCode::UnknownCredential);
    assert_eq!(ev.direction, Direction::In);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fb = osdp.take_feedback();
    assert!(
        fb.iter()
            .any(|f| f.address == monban_osdp::sim::ENTRY_READER && f.what.contains("Red")),
        "red LED on the entry reader: {fb:?}"
    );

    // The right card with a wrong PIN typed on the keypad.
    let before = last_id(&store).await;
    osdp.present_card(Direction::In, &card, Some("0000")).await;
    let ev = wait_event(&store, osdp_id, before).await;
    assert_eq!(ev.reason, ReasonCode::WrongPin, "{}", ev.reason.code());
    assert_eq!(ev.person_id, Some(handler.id));

    // The right card and PIN: the PIN check passes; the handling area's hours (weekdays
    // 7:00–21:00 JST) decide the rest, so at night the refusal names the schedule.
    let before = last_id(&store).await;
    osdp.take_feedback();
    osdp.present_card(Direction::In, &card, Some(&monban_demo::demo_pin(0)))
        .await;
    let ev = wait_event(&store, osdp_id, before).await;
    assert!(
        matches!(
            ev.reason,
            ReasonCode::Granted | ReasonCode::OutsideSchedule | ReasonCode::Holiday
        ),
        "{}",
        ev.reason.code()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fb = osdp.take_feedback();
    let colour = if ev.granted { "Green" } else { "Red" };
    assert!(
        fb.iter()
            .any(|f| f.address == monban_osdp::sim::ENTRY_READER && f.what.contains(colour)),
        "{colour} LED on the entry reader: {fb:?}"
    );
    // Stored exactly once.
    let n = events::recent_events(&store, 200, None)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.door_id == osdp_id)
        .count();
    assert_eq!(n, 3);
}
