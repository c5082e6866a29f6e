//! Door events end to end: a simulated door (lock relay, door contact, exit button, reader)
//! run by a real controller agent enrolled with a real server gateway. The door forced open,
//! held open past its limit, tamper, power loss and restore, and a reader going offline and
//! back each become exactly one alarm at the server, naming the door; a door opened after a
//! grant or the exit button is not "forced".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{
    door, employee_with_card, enrolled_agent, group_always, site, start_gateway, wait_for, zone,
};
use monban_controller::{DoorInput, SimDoor};
use monban_core::text::Code;
use monban_core::{Direction, ReaderMode, ZoneClass};
use monban_store::controllers;
use monban_store::testing;

const CARD: &str = "0114000000000001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn door_alarms_reach_the_server_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::sqlite(dir.path()).await.unwrap();
    let mut w = store.begin_write().await.unwrap();
    let site = site(&mut w).await;
    let lobby = zone(&mut w, site, "ロビー", None, ZoneClass::General).await;
    // A door that may stand open for 1 second.
    let door_id = door(
        &mut w,
        site,
        "通用口",
        (None, lobby),
        ReaderMode::Card,
        Some(1),
    )
    .await;
    let p = employee_with_card(&mut w, 1, CARD).await;
    group_always(&mut w, vec![lobby], vec![p]).await;
    w.commit().await.unwrap();

    let state = start_gateway(store.clone(), dir.path(), Duration::from_millis(500)).await;
    let cdir = tempfile::tempdir().unwrap();
    let agent = enrolled_agent(&state, &[door_id], cdir.path()).await;
    tokio::spawn(agent.clone().run_link());
    wait_for("snapshot", || {
        agent.status().snapshot_version > 0 && agent.status().connected
    })
    .await;
    let (sim, h) = SimDoor::new(door_id);
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
            .filter(|a| a.code.code() == code && a.door_id == Some(door_id))
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
