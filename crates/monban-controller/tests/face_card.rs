//! A face+card door through a real controller agent and server gateway (TLS on loopback,
//! SQLite), without face models: the reader's 1:1 result arrives as face evidence with the card
//! (through the simulated door's hardware path), the decision engine decides, and the refusals
//! reach the server's event store with `face_mismatch` and `face_required`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use monban_controller::{enrol, Agent, SimDoor, SimDoorHandle};
use monban_core::schedule::Schedule;
use monban_core::{
    CardId, CredentialKind, CredentialStatus, Direction, FaceEvidence, PersonKind, PersonStatus,
    ReaderMode, ReasonCode, ZoneClass,
};
use monban_server::{gateway, AppState, ServerConfig};
use monban_store::facility::{self, DoorInput, SiteInput, ZoneInput};
use monban_store::people::{self, AccessGroupInput, CredentialInput, PersonInput};
use monban_store::{controllers, events, testing};

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
async fn face_and_card_door_decides_on_the_readers_face_evidence() {
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
    let door = facility::create_door(
        &mut w,
        &DoorInput {
            site_id: site.id,
            name: "玄関（顔＋カード）".into(),
            from_zone_id: None,
            to_zone_id: lobby.id,
            reader_mode: ReaderMode::FaceAndCard,
            held_open_limit_secs: None,
        },
    )
    .await
    .unwrap();
    let mut persons = Vec::new();
    for (i, card) in [CARD_1, CARD_2].into_iter().enumerate() {
        let p = people::create_person(
            &mut w,
            &PersonInput {
                kind: PersonKind::Employee,
                employee_number: Some(format!("F{i}")),
                name_kanji: format!("社員{i}"),
                name_kana: "シャイン".into(),
                department: None,
                valid_from: None,
                valid_until: None,
                status: PersonStatus::Active,
            },
        )
        .await
        .unwrap();
        let cred = |kind, card_id, face_template_ref, status| CredentialInput {
            person_id: p.id,
            kind,
            card_id,
            pin_hash: None,
            face_template_ref,
            valid_from: None,
            valid_until: None,
            status,
        };
        people::create_credential(
            &mut w,
            &cred(
                CredentialKind::Card,
                Some(CardId::parse("c", card).unwrap()),
                None,
                CredentialStatus::Active,
            ),
        )
        .await
        .unwrap();
        people::create_credential(
            &mut w,
            &cred(
                CredentialKind::Face,
                None,
                Some(format!("tmpl-{i}")),
                CredentialStatus::Active,
            ),
        )
        .await
        .unwrap();
        persons.push(p.id);
    }
    people::create_access_group(
        &mut w,
        &AccessGroupInput {
            name: "全員".into(),
            schedule: Schedule::always(),
            zone_ids: vec![lobby.id],
            person_ids: persons.clone(),
        },
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
    let (p1, p2) = (persons[0], persons[1]);

    let cfg = ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
        String::new(),
    );
    let state = AppState::new(store.clone(), cfg);
    gateway::start(
        state.clone(),
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    let mut tx = store.begin_write().await.unwrap();
    let (c, token) =
        controllers::create_controller(&mut tx, "ctl", &[door.id], monban_proto::token_hash)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    let cdir = tempfile::tempdir().unwrap();
    let e = state
        .controllers
        .enrolment(&store, dir.path(), c.id, token, None)
        .await
        .unwrap();
    enrol(cdir.path(), &e.to_code(), None).unwrap();
    let agent = Agent::open(cdir.path()).unwrap();
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
    let (sim, handle) = SimDoor::new(door.id);
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
            door.id,
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
