//! A face+card door through a real controller agent and server gateway (TLS on loopback,
//! SQLite), without face models: the reader's 1:1 result arrives as face evidence with the card
//! (through the simulated door's hardware path), the decision engine decides, and the refusals
//! reach the server's event store with `face_mismatch` and `face_required`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{
    credential, door, employee_with_card, enrolled_agent, group_always, site, start_gateway,
    wait_for, zone,
};
use monban_controller::{SimDoor, SimDoorHandle};
use monban_core::{CredentialKind, Direction, FaceEvidence, ReaderMode, ReasonCode, ZoneClass};
use monban_store::{events, testing};

const CARD_1: &str = "0114000000000B01";
const CARD_2: &str = "0114000000000B02";

/// Sends a card read with face evidence through the simulated door; the journaled outcome.
async fn read(
    handle: &SimDoorHandle,
    outcomes: &mut tokio::sync::broadcast::Receiver<monban_proto::DoorRecord>,
    card: &str,
    evidence: Option<FaceEvidence>,
) -> (bool, ReasonCode, Option<i64>) {
    assert!(
        handle
            .present_card_with_face(Direction::In, card, evidence)
            .await
    );
    let rec = tokio::time::timeout(Duration::from_secs(10), outcomes.recv())
        .await
        .unwrap()
        .unwrap();
    match rec.body {
        monban_proto::RecordBody::Access {
            granted,
            reason,
            person_id,
            ..
        } => (granted, reason, person_id),
        other => panic!("unexpected record {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn face_and_card_door_decides_on_the_readers_face_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::sqlite(dir.path()).await.unwrap();
    let mut w = store.begin_write().await.unwrap();
    let site = site(&mut w).await;
    let lobby = zone(&mut w, site, "ロビー", None, ZoneClass::General).await;
    let door_id = door(
        &mut w,
        site,
        "玄関（顔＋カード）",
        (None, lobby),
        ReaderMode::FaceAndCard,
        None,
    )
    .await;
    let mut persons = Vec::new();
    for (i, card) in [CARD_1, CARD_2].into_iter().enumerate() {
        let p = employee_with_card(&mut w, i, card).await;
        credential(&mut w, p, CredentialKind::Face, &format!("tmpl-{i}")).await;
        persons.push(p);
    }
    group_always(&mut w, vec![lobby], persons.clone()).await;
    w.commit().await.unwrap();
    let (p1, p2) = (persons[0], persons[1]);

    let state = start_gateway(store.clone(), dir.path(), Duration::from_secs(1)).await;
    let cdir = tempfile::tempdir().unwrap();
    let agent = enrolled_agent(&state, &[door_id], cdir.path()).await;
    // Before any snapshot the agent knows no hashes.
    assert!(agent.face_hashes_for_card(CARD_1).is_empty());
    assert_eq!(agent.credential_hash(CredentialKind::Face, "tmpl-0"), None);
    let link = tokio::spawn(agent.clone().run_link());
    wait_for("snapshot", || agent.status().snapshot_version > 0).await;

    // The reader's view: the card holder's face credentials, as keyed hashes only.
    let face = |r: &str| agent.credential_hash(CredentialKind::Face, r).unwrap();
    let (f1, f2) = (face("tmpl-0"), face("tmpl-1"));
    assert_eq!(agent.face_hashes_for_card(CARD_1), vec![f1]);
    assert_eq!(agent.face_hashes_for_card(CARD_2), vec![f2]);
    // Card IDs are normalised as for a read (lower case is the same card); unknown: nothing.
    assert_eq!(agent.face_hashes_for_card(&CARD_1.to_lowercase()), vec![f1]);
    assert!(agent.face_hashes_for_card("0114000000000FFF").is_empty());
    assert!(agent.face_hashes_for_card("not a card").is_empty());

    // Reads through the door hardware path, as a face+card reader sends them.
    let (sim, handle) = SimDoor::new(door_id);
    let mut outcomes = agent.subscribe();
    tokio::spawn(agent.clone().run_door(sim));
    // Person 2's face with person 1's card.
    assert_eq!(
        read(
            &handle,
            &mut outcomes,
            CARD_1,
            Some(FaceEvidence::Matched(f2))
        )
        .await,
        (false, ReasonCode::FaceMismatch, Some(p1))
    );
    assert_eq!(
        read(&handle, &mut outcomes, CARD_1, Some(FaceEvidence::NoMatch)).await,
        (false, ReasonCode::FaceMismatch, Some(p1))
    );
    assert_eq!(
        read(&handle, &mut outcomes, CARD_1, None).await,
        (false, ReasonCode::FaceRequired, Some(p1))
    );
    assert!(!handle.unlocked());
    // The holder's own face: granted, the lock opens.
    assert_eq!(
        read(
            &handle,
            &mut outcomes,
            CARD_2,
            Some(FaceEvidence::Matched(f2))
        )
        .await,
        (true, ReasonCode::Granted, Some(p2))
    );
    wait_for("unlock", || handle.unlocked()).await;
    // A plain card read (no face) at this door is refused too.
    let d = agent
        .present(
            door_id,
            Direction::In,
            CredentialKind::Card,
            CARD_1,
            None,
            None,
            None,
        )
        .unwrap();
    assert_eq!(d.reason, ReasonCode::FaceRequired);

    // All of it reaches the server with the reason codes.
    wait_for("upload", || {
        let s = agent.status();
        s.acked == s.journal_head && s.journal_head == 5
    })
    .await;
    let mut got: Vec<_> = events::recent_events(&store, 10, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.reason, e.granted, e.person_id))
        .collect();
    got.reverse();
    assert_eq!(
        got,
        vec![
            (ReasonCode::FaceMismatch, false, Some(p1)),
            (ReasonCode::FaceMismatch, false, Some(p1)),
            (ReasonCode::FaceRequired, false, Some(p1)),
            (ReasonCode::Granted, true, Some(p2)),
            (ReasonCode::FaceRequired, false, Some(p1)),
        ]
    );
    link.abort();
}
