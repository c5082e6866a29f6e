//! End to end through a door controller: the server (store + gateway) signs a policy snapshot
//! holding the face credentials, a controller agent installs it over its TLS link, and a face
//! reader with an image-sequence camera turns frames into credential reads.
//!
//! * Face-only door: 1:N identification → the template reference is presented as a `face`
//!   credential → the decision engine grants or denies with its usual reason codes.
//! * Face+card door: the card names the holder. The reader asks the agent for the keyed hashes
//!   of that holder's face credentials, compares the live face (1:1) only with the gallery
//!   templates whose hashed references are among them, and presents the card together with the
//!   face evidence. The decision engine decides: the holder's own face is granted, someone
//!   else's face is `face_mismatch`, no face check is `face_required`; every one of these is
//!   journaled, uploaded and stored at the server with its reason code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use monban_controller::{enrol, Agent, Presentation};
use monban_core::schedule::Schedule;
use monban_core::{
    CardId, CredentialKind, CredentialStatus, Decision, Direction, FaceEvidence, ReaderMode,
    ReasonCode, ZoneClass,
};
use monban_face::camera::{Camera, ImageSequenceCamera};
use monban_face::templates::{self, Enrollment, TemplateKey};
use monban_face::{FaceMatcher, FacePolicy, FaceRead};
use monban_server::{gateway, AppState, ServerConfig};
use monban_store::facility::{self, DoorInput, SiteInput, ZoneInput};
use monban_store::people::{self, AccessGroupInput, CredentialInput, PersonInput};
use monban_store::testing;
use monban_store::{controllers, events};

const CARD_A: &str = "0114000000000A01";

/// Writes frames as numbered files: the camera plays them in order.
fn sequence(dir: &std::path::Path, name: &str, frames: &[&str]) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for (i, f) in frames.iter().enumerate() {
        std::fs::copy(photos_dir().join(f), d.join(format!("{i:03}.jpg"))).unwrap();
    }
    d
}

/// What the face reader of a face-only door does with the camera.
fn face_only_read(
    agent: &Agent,
    m: &FaceMatcher,
    door: i64,
    cam: &mut dyn Camera,
) -> (FaceRead, Option<monban_core::Decision>) {
    let read = m.identify(cam).unwrap();
    let d = match &read {
        FaceRead::Matched { owner, .. } => Some(
            agent
                .present(
                    door,
                    Direction::In,
                    CredentialKind::Face,
                    &owner.template_ref,
                    None,
                    None,
                    None,
                )
                .unwrap(),
        ),
        _ => None,
    };
    (read, d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn face_only_and_face_and_card_doors_through_a_controller() {
    if !assets_present("door_e2e") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = testing::sqlite(dir.path()).await.unwrap();
    templates::migrate(&store).await.unwrap();
    let key = TemplateKey::load_or_create(&TemplateKey::path_in(dir.path())).unwrap();

    // The office: a lobby behind a face-only door, a handling area behind a face+card door.
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
    let z = |name: &str, parent, class| ZoneInput {
        site_id: site.id,
        parent_id: parent,
        name: name.into(),
        class,
        occupancy_limit: None,
    };
    let lobby = facility::create_zone(&mut w, &z("ロビー", None, ZoneClass::General))
        .await
        .unwrap();
    let handling =
        facility::create_zone(&mut w, &z("取扱区域", Some(lobby.id), ZoneClass::Handling))
            .await
            .unwrap();
    let d = |name: &str, from, to, mode| DoorInput {
        site_id: site.id,
        name: name.into(),
        from_zone_id: from,
        to_zone_id: to,
        reader_mode: mode,
        held_open_limit_secs: None,
    };
    let front = facility::create_door(&mut w, &d("玄関（顔）", None, lobby.id, ReaderMode::Face))
        .await
        .unwrap();
    let inner = facility::create_door(
        &mut w,
        &d(
            "取扱区域扉（顔＋カード）",
            Some(lobby.id),
            handling.id,
            ReaderMode::FaceAndCard,
        ),
    )
    .await
    .unwrap();
    let mut ids = Vec::new();
    for name in ["person_a", "person_b"] {
        let p = people::create_person(
            &mut w,
            &PersonInput::employee(format!("E-{name}"), name, "テスト"),
        )
        .await
        .unwrap();
        ids.push(p.id);
    }
    let (pa, pb) = (ids[0], ids[1]);
    people::create_credential(
        &mut w,
        &CredentialInput {
            person_id: pa,
            kind: CredentialKind::Card,
            card_id: Some(CardId::parse("c", CARD_A).unwrap()),
            pin_hash: None,
            face_template_ref: None,
            valid_from: None,
            valid_until: None,
            status: CredentialStatus::Active,
        },
    )
    .await
    .unwrap();
    // Person A may enter both zones, person B only the lobby.
    people::create_access_group(
        &mut w,
        &AccessGroupInput {
            name: "A".into(),
            schedule: Schedule::always(),
            zone_ids: vec![lobby.id, handling.id],
            person_ids: vec![pa],
        },
    )
    .await
    .unwrap();
    people::create_access_group(
        &mut w,
        &AccessGroupInput {
            name: "B".into(),
            schedule: Schedule::always(),
            zone_ids: vec![lobby.id],
            person_ids: vec![pb],
        },
    )
    .await
    .unwrap();
    w.commit().await.unwrap();

    // Enrollment from one photo each (the *_1 photos); the doors see the *_2 photos.
    let eng = engine();
    for (pid, photo) in [(pa, "person_a_1.jpg"), (pb, "person_b_1.jpg")] {
        let bytes = std::fs::read(photos_dir().join(photo)).unwrap();
        let e = eng
            .embed_bytes(&bytes, FacePolicy::Single)
            .unwrap()
            .embedding;
        templates::enroll(
            &store,
            &key,
            &Enrollment {
                person_id: pid,
                embeddings: &[e],
                keep_photos: None,
                source: "cli".into(),
                actor: "cli".into(),
                request_id: None,
            },
        )
        .await
        .unwrap();
    }

    // Server gateway and an enrolled controller agent that fetches the signed snapshot.
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
    let (c, token) = controllers::create_controller(
        &mut tx,
        "face-ctl",
        &[front.id, inner.id],
        monban_proto::token_hash,
    )
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
    let link = tokio::spawn(agent.clone().run_link());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while agent.status().snapshot_version == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no snapshot from the gateway"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The face reader's templates (decrypted at the reader) and matcher.
    let gallery = Arc::new(templates::load_gallery(&store, &key).await.unwrap());
    assert_eq!(gallery.len(), 2);
    let matcher = FaceMatcher::new(eng.clone(), gallery);
    let frames = tempfile::tempdir().unwrap();
    let f = frames.path();

    // Face-only door, person A walking up (pose changes between frames): granted by face.
    let mut cam = ImageSequenceCamera::open(&sequence(
        f,
        "a_walks",
        &["person_a_2.jpg", "person_a_1.jpg", "person_a_2.jpg"],
    ))
    .unwrap();
    let (read, dec) =
        tokio::task::block_in_place(|| face_only_read(&agent, &matcher, front.id, &mut cam));
    let dec = dec.unwrap_or_else(|| panic!("no match: {read:?}"));
    assert!(dec.granted, "{dec:?}");
    assert_eq!(
        (dec.person_id, dec.credential_kind),
        (Some(pa), Some(CredentialKind::Face))
    );

    // Person B, same door: granted too.
    let mut cam = ImageSequenceCamera::open(&sequence(
        f,
        "b_walks",
        &["person_b_2.jpg", "person_b_1.jpg", "person_b_2.jpg"],
    ))
    .unwrap();
    let (_, dec) =
        tokio::task::block_in_place(|| face_only_read(&agent, &matcher, front.id, &mut cam));
    let dec = dec.unwrap();
    assert!(dec.granted);
    assert_eq!(dec.person_id, Some(pb));

    // Someone not enrolled: no credential to present — the reader reports an unknown face.
    let mut cam = ImageSequenceCamera::open(&sequence(
        f,
        "stranger",
        &["impostor_2.jpg", "impostor_2.jpg", "impostor_2.jpg"],
    ))
    .unwrap();
    let mut no_live = matcher.clone();
    no_live.liveness = None;
    let (read, dec) =
        tokio::task::block_in_place(|| face_only_read(&agent, &no_live, front.id, &mut cam));
    assert!(matches!(read, FaceRead::Unknown { .. }), "{read:?}");
    assert!(dec.is_none());

    // A still photo of person A held to the camera: refused by the liveness check.
    let mut cam = ImageSequenceCamera::open(&sequence(
        f,
        "photo_attack",
        &["person_a_2.jpg", "person_a_2.jpg", "person_a_2.jpg"],
    ))
    .unwrap();
    let (read, dec) =
        tokio::task::block_in_place(|| face_only_read(&agent, &matcher, front.id, &mut cam));
    assert!(matches!(read, FaceRead::NotLive(_)), "{read:?}");
    assert!(dec.is_none());

    // Face+card door. The reader reads person A's card and asks the controller which face
    // templates belong to its holder: keyed hashes only, as the snapshot holds them.
    let holder_faces = agent.face_hashes_for_card(CARD_A);
    assert_eq!(holder_faces.len(), 1, "{holder_faces:?}");
    let a_ref = &matcher.gallery().of_person(pa).next().unwrap().template_ref;
    assert_eq!(
        agent.credential_hash(CredentialKind::Face, a_ref),
        Some(holder_faces[0])
    );
    let hash_ref = |r: &str| agent.credential_hash(CredentialKind::Face, r);
    let face_card = |face: Option<FaceEvidence>| -> Decision {
        agent
            .present_with(&Presentation {
                door_id: inner.id,
                direction: Direction::In,
                kind: CredentialKind::Card,
                value: CARD_A,
                pin: None,
                face,
                temperature_dc: None,
                at: None,
            })
            .unwrap()
    };

    // Person A's card held up by person B: the 1:1 check against A's templates fails, and the
    // decision engine refuses with `face_mismatch` (naming the card holder).
    let mut cam =
        ImageSequenceCamera::open(&sequence(f, "b_with_a_card", &["person_b_2.jpg"])).unwrap();
    let (read, evidence) =
        tokio::task::block_in_place(|| no_live.verify_against(&mut cam, &holder_faces, hash_ref))
            .unwrap();
    assert!(
        matches!(read, FaceRead::Unknown { best_score: Some(s) } if s < eng.threshold()),
        "{read:?}"
    );
    assert_eq!(evidence, Some(FaceEvidence::NoMatch));
    let dec = face_card(evidence);
    assert!(!dec.granted);
    assert_eq!(
        (dec.reason, dec.person_id),
        (ReasonCode::FaceMismatch, Some(pa))
    );
    // B's face really is enrolled (B passed the face-only door): matching B's face 1:N and
    // handing B's template as the evidence for A's card is refused the same way.
    let b_ref = &matcher.gallery().of_person(pb).next().unwrap().template_ref;
    let b_hash = agent.credential_hash(CredentialKind::Face, b_ref).unwrap();
    assert!(!holder_faces.contains(&b_hash));
    assert_eq!(
        face_card(Some(FaceEvidence::Matched(b_hash))).reason,
        ReasonCode::FaceMismatch
    );
    // The card alone, no face check: `face_required`, also through the plain `present`.
    assert_eq!(face_card(None).reason, ReasonCode::FaceRequired);
    let dec = agent
        .present(
            inner.id,
            Direction::In,
            CredentialKind::Card,
            CARD_A,
            None,
            None,
            None,
        )
        .unwrap();
    assert_eq!((dec.granted, dec.reason), (false, ReasonCode::FaceRequired));
    // A camera that sees nobody gives no evidence either.
    let empty = frames.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    image::RgbImage::from_pixel(320, 240, image::Rgb([40, 40, 40]))
        .save(empty.join("000.png"))
        .unwrap();
    let mut cam = ImageSequenceCamera::open(&empty).unwrap();
    let (read, evidence) =
        tokio::task::block_in_place(|| no_live.verify_against(&mut cam, &holder_faces, hash_ref))
            .unwrap();
    assert_eq!((read, evidence), (FaceRead::NoFace, None));

    // Person A's card with person A's face: 1:1 matches A's template, granted.
    let mut cam = ImageSequenceCamera::open(&sequence(f, "a_card", &["person_a_2.jpg"])).unwrap();
    let (read, evidence) =
        tokio::task::block_in_place(|| no_live.verify_against(&mut cam, &holder_faces, hash_ref))
            .unwrap();
    assert!(
        matches!(read, FaceRead::Matched { ref owner, .. } if owner.person_id == pa),
        "{read:?}"
    );
    assert_eq!(evidence, Some(FaceEvidence::Matched(holder_faces[0])));
    let dec = face_card(evidence);
    assert!(dec.granted, "{dec:?}");
    assert_eq!(
        (dec.person_id, dec.credential_kind),
        (Some(pa), Some(CredentialKind::Card))
    );

    // Every decision at the face+card door was journaled and uploaded: the server stores them
    // with their reason codes, in order.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = agent.status();
        if s.acked == s.journal_head {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not uploaded: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut stored: Vec<_> = events::recent_events(&store, 100, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.door_id == inner.id)
        .collect();
    stored.reverse();
    let got: Vec<_> = stored
        .iter()
        .map(|e| (e.reason, e.granted, e.person_id, e.credential_kind))
        .collect();
    let card = Some(CredentialKind::Card);
    assert_eq!(
        got,
        vec![
            (ReasonCode::FaceMismatch, false, Some(pa), card),
            (ReasonCode::FaceMismatch, false, Some(pa), card),
            (ReasonCode::FaceRequired, false, Some(pa), card),
            (ReasonCode::FaceRequired, false, Some(pa), card),
            (ReasonCode::Granted, true, Some(pa), card),
        ]
    );
    assert_eq!(stored[4].zone_after, Some(handling.id));
    link.abort();
}
