//! Snapshots arriving over the link (announcement, then the payload as one raw frame written
//! to disk as it comes): a controller uses one only when it arrived whole, verifies under the
//! server's key over every byte and is not older than the one in use. Otherwise the one in use
//! and the stored file stay as they were, nothing half-received is left on disk, and the link
//! carries on (or reconnects).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::fake_gateway::{self, Send};
use common::wait_for;
use ed25519_dalek::SigningKey;
use monban_controller::{enrol, Agent};
use monban_core::{CredentialKind, Direction, ReasonCode};
use monban_proto::synthetic::{self, card};
use monban_proto::{Enrolment, ServerMsg, SignedSnapshot};

fn snapshot(version: u64, key: &SigningKey) -> SignedSnapshot {
    let mut p = synthetic::policy(200);
    p.version = version;
    SignedSnapshot::sign(&p, key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_over_the_link_are_used_only_whole_signed_and_newer() {
    let gdir = tempfile::tempdir().unwrap();
    let gw = fake_gateway::start(gdir.path());
    let key = SigningKey::from_bytes(&[6u8; 32]);
    let cdir = tempfile::tempdir().unwrap();
    let dir = cdir.path();
    let code = Enrolment {
        gateway: gw.addr.clone(),
        controller_id: 5,
        token: "t".into(),
        cert_sha256: gw.cert_sha256.clone(),
        snapshot_key: hex::encode(key.verifying_key().to_bytes()),
    }
    .to_code();
    enrol(dir, &code, None).unwrap();
    let agent = Agent::open(dir).unwrap();
    tokio::spawn(agent.clone().run_link());
    let decide = |c: &str| {
        agent
            .present(2, Direction::In, CredentialKind::Card, c, None, None, None)
            .unwrap()
            .reason
    };

    // A good snapshot is put in use and stored.
    gw.tx.send(Send::Snapshot(snapshot(1, &key))).ok();
    wait_for("snapshot 1", || agent.status().snapshot_version == 1).await;
    assert_ne!(decide(&card(7)), ReasonCode::UnknownCredential);
    assert_eq!(decide("0114FFFFFFFFFFFF"), ReasonCode::UnknownCredential);
    let stored = std::fs::read(dir.join("snapshot.bin")).unwrap();
    assert!(!dir.join("snapshot.incoming").exists());

    let other_key = SigningKey::from_bytes(&[7u8; 32]);
    let mut bent = snapshot(2, &key);
    bent.payload[100] ^= 1;
    let mut bad_sig = snapshot(2, &key);
    bad_sig.signature[0] ^= 1;
    let mut oversized = monban_proto::encode(&snapshot(2, &key).announcement()).unwrap();
    oversized.extend_from_slice(&u32::MAX.to_be_bytes());
    let cases: Vec<(&str, Vec<Send>)> = vec![
        (
            "signed with another key",
            vec![Send::Snapshot(snapshot(2, &other_key)), Send::Close],
        ),
        (
            "a payload byte changed",
            vec![Send::Snapshot(bent), Send::Close],
        ),
        (
            "a signature bit changed",
            vec![Send::Snapshot(bad_sig), Send::Close],
        ),
        (
            "older",
            vec![Send::Snapshot(snapshot(0, &key)), Send::Close],
        ),
        // The link breaks mid-frame: the gateway closes after 1,000 of the bytes.
        ("cut short", vec![Send::Cut(snapshot(2, &key), 1000)]),
        // A frame longer than any snapshot may be: the controller drops the link.
        ("oversized", vec![Send::Raw(oversized)]),
    ];
    for (what, sends) in cases {
        let before = gw.connections();
        for s in sends {
            gw.tx.send(s).ok();
        }
        // The controller has reconnected: it has dealt with this snapshot, or is finishing its
        // install (which a new receipt waits for).
        wait_for(what, || gw.connections() > before).await;
        wait_for("the incoming file to go", || {
            !dir.join("snapshot.incoming").exists()
        })
        .await;
        assert_eq!(agent.status().snapshot_version, 1, "{what}");
        assert_eq!(
            std::fs::read(dir.join("snapshot.bin")).unwrap(),
            stored,
            "{what}"
        );
        assert_ne!(decide(&card(7)), ReasonCode::UnknownCredential, "{what}");
    }

    // A signature that is not even base64: refused, and the same link goes on to deliver the
    // next snapshot.
    let s3 = snapshot(3, &key);
    let mut garbled = monban_proto::encode(&ServerMsg::Snapshot {
        version: 3,
        signature: "not base64!".into(),
    })
    .unwrap();
    garbled.extend_from_slice(&monban_proto::raw_frame_prefix(s3.payload.len()).unwrap());
    garbled.extend_from_slice(&s3.payload);
    let before = gw.connections();
    gw.tx.send(Send::Raw(garbled)).ok();
    gw.tx.send(Send::Snapshot(s3)).ok();
    wait_for("snapshot 3", || agent.status().snapshot_version == 3).await;
    assert_eq!(gw.connections(), before, "the link should have stayed up");
    assert_ne!(std::fs::read(dir.join("snapshot.bin")).unwrap(), stored);

    // What is stored is what a restarted controller uses.
    let copy = tempfile::tempdir().unwrap();
    for f in ["enrolment.json", "snapshot.bin"] {
        std::fs::copy(dir.join(f), copy.path().join(f)).unwrap();
    }
    assert_eq!(
        Agent::open(copy.path()).unwrap().status().snapshot_version,
        3
    );
}
