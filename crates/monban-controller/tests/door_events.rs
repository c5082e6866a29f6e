//! Door events end to end: a simulated door (lock relay, door contact, exit button, reader)
//! run by a real controller agent enrolled with a real server gateway. The door forced open,
//! held open past its limit, tamper, power loss and restore, and a reader going offline and
//! back each become exactly one alarm at the server, naming the door; a door opened after a
//! grant or the exit button is not "forced".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use monban_controller::{enrol, Agent, DoorInput, SimDoor};
use monban_core::schedule::Schedule;
use monban_core::text::Code;
use monban_core::{
    CardId, CredentialKind, CredentialStatus, Direction, PersonKind, PersonStatus, ReaderMode,
    ZoneClass,
};
use monban_server::{gateway, AppState, ServerConfig};
use monban_store::controllers;
use monban_store::facility::{self, SiteInput, ZoneInput};
use monban_store::people::{self, AccessGroupInput, CredentialInput, PersonInput};
use monban_store::testing;

const CARD: &str = "0114000000000001";

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn door_alarms_reach_the_server_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::sqlite(dir.path()).await.unwrap();
    let mut w = store.begin_write().await.unwrap();
    let site = facility::create_site(
        &mut w,
        &SiteInput {
            name: "本社".into(),
            time_zone: None,
        },
    )
    .await
    .unwrap();
    let lobby = facility::create_zone(
        &mut w,
        &ZoneInput {
            site_id: site.id,
            parent_id: None,
            name: "ロビー".into(),
            class: ZoneClass::General,
            occupancy_limit: None,
        },
    )
    .await
    .unwrap();
    // A door that may stand open for 1 second.
    let door = facility::create_door(
        &mut w,
        &facility::DoorInput {
            site_id: site.id,
            name: "通用口".into(),
            from_zone_id: None,
            to_zone_id: lobby.id,
            reader_mode: ReaderMode::Card,
            held_open_limit_secs: Some(1),
        },
    )
    .await
    .unwrap();
    let p = people::create_person(
        &mut w,
        &PersonInput {
            kind: PersonKind::Employee,
            employee_number: Some("E1".into()),
            name_kanji: "社員".into(),
            name_kana: "シャイン".into(),
            department: None,
            valid_from: None,
            valid_until: None,
            status: PersonStatus::Active,
        },
    )
    .await
    .unwrap();
    people::create_credential(
        &mut w,
        &CredentialInput {
            person_id: p.id,
            kind: CredentialKind::Card,
            card_id: Some(CardId::parse("c", CARD).unwrap()),
            pin_hash: None,
            face_template_ref: None,
            valid_from: None,
            valid_until: None,
            status: CredentialStatus::Active,
        },
    )
    .await
    .unwrap();
    people::create_access_group(
        &mut w,
        &AccessGroupInput {
            name: "全員".into(),
            schedule: Schedule::always(),
            zone_ids: vec![lobby.id],
            person_ids: vec![p.id],
        },
    )
    .await
    .unwrap();
    w.commit().await.unwrap();

    let state = AppState::new(
        store.clone(),
        ServerConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            dir.path().to_path_buf(),
            String::new(),
        ),
    );
    gateway::start(
        state.clone(),
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_millis(500),
    )
    .await
    .unwrap();
    let mut w = store.begin_write().await.unwrap();
    let (c, token) =
        controllers::create_controller(&mut w, "ctl", &[door.id], monban_proto::token_hash)
            .await
            .unwrap();
    w.commit().await.unwrap();
    let cdir = tempfile::tempdir().unwrap();
    let e = state
        .controllers
        .enrolment(&store, cdir.path(), c.id, token, None)
        .await
        .unwrap();
    enrol(cdir.path(), &e.to_code(), None).unwrap();
    let agent = Agent::open(cdir.path()).unwrap();
    tokio::spawn(agent.clone().run_link());
    wait_for("snapshot", || {
        agent.status().snapshot_version > 0 && agent.status().connected
    })
    .await;
    let (sim, h) = SimDoor::new(door.id);
    tokio::spawn(agent.clone().run_door(sim));
    let pause = || tokio::time::sleep(Duration::from_millis(400));

    // Forced open: the contact opens while the lock is held.
    assert!(!h.unlocked());
    h.send(DoorInput::Contact { open: true }).await;
    pause().await;
    h.send(DoorInput::Contact { open: false }).await;
    pause().await;

    // A grant, then the door opened and left open past its 1-second limit: held open, not
    // forced.
    assert!(h.present_card(Direction::In, CARD, None).await);
    wait_for("unlock", || h.unlocked()).await;
    h.send(DoorInput::Contact { open: true }).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    h.send(DoorInput::Contact { open: false }).await;
    pause().await;

    // The exit button, then the door opened and closed in time: no alarm.
    h.send(DoorInput::ExitButton).await;
    wait_for("unlock by exit button", || h.unlocked()).await;
    h.send(DoorInput::Contact { open: true }).await;
    pause().await;
    h.send(DoorInput::Contact { open: false }).await;

    // Tamper, power loss and restore, the reader offline and back.
    for input in [
        DoorInput::Tamper,
        DoorInput::Power { on: false },
        DoorInput::Power { on: true },
        DoorInput::Reader { online: false },
        DoorInput::Reader { online: true },
    ] {
        h.send(input).await;
    }
    pause().await;

    wait_for("upload", || {
        let s = agent.status();
        s.acked == s.journal_head
    })
    .await;
    let alarms = controllers::recent_alarms(&store, 100).await.unwrap();
    let count = |code: &str| {
        alarms
            .iter()
            .filter(|a| a.code.code() == code && a.door_id == Some(door.id))
            .count()
    };
    for (code, n) in [
        ("forced_open", 1),
        ("held_open", 1),
        ("tamper", 1),
        ("power_loss", 1),
        ("power_restored", 1),
        ("reader_offline", 1),
        ("reader_online", 1),
    ] {
        assert_eq!(count(code), n, "{code}: {alarms:?}");
    }
    // Each alarm is in the audit log too.
    let (size, _) = monban_store::audit::head(&store).await.unwrap();
    assert!(size >= 8, "audit log size {size}");
}
