//! The controller's streamed snapshot reader indexes a policy exactly as the server's
//! `PolicySnapshot::build` does: same decisions for everyone at every door, same PINs, faces
//! and visitors, on a policy with every kind of entry (validity dates, suspended and
//! future credentials, repeated holders, credentials of unknown persons, PINs, faces,
//! interlocks, lockdown).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use monban_core::snapshot::{CredentialPolicy, HolderPolicy};
use monban_core::{
    decide_with_face, AccessRequest, CredentialKind, CredentialStatus, Direction, FaceEvidence,
    PersonKind, PolicyData, PolicySnapshot, PresenceState, ReaderMode,
};
use monban_proto::synthetic::{self, card, KEY};
use monban_proto::{credential_hash, read_stored, SignedSnapshot};

const PERSONS: i64 = 400;

fn date(s: &str) -> jiff::civil::Date {
    s.parse().unwrap()
}

fn varied_policy() -> PolicyData {
    let mut p = synthetic::policy(PERSONS);
    p.version = 42;
    for h in p.holders.iter_mut() {
        match h.id % 7 {
            0 => h.pin_hash = Some(format!("$argon2id$pin-of-{}", h.id)),
            1 => h.valid_until = Some(date("2026-06-30")),
            2 => h.valid_from = Some(date("2027-01-01")),
            3 => h.active = false,
            4 => h.kind = PersonKind::Visitor,
            _ => {}
        }
    }
    // Person 5 appears twice: the later entry (no PIN, a visitor) counts.
    p.holders.push(HolderPolicy {
        id: 5,
        kind: PersonKind::Visitor,
        active: true,
        valid_from: None,
        valid_until: None,
        pin_hash: None,
    });
    // Person 14 (a PIN holder) appears again with a new PIN.
    p.holders.push(HolderPolicy {
        pin_hash: Some("$argon2id$new-pin".into()),
        ..p.holders[13].clone()
    });
    for c in p.credentials.iter_mut() {
        match c.id % 11 {
            0 => c.status = CredentialStatus::Suspended,
            1 => c.valid_until = Some(date("2026-01-31")),
            2 => c.valid_from = Some(date("2026-12-01")),
            _ => {}
        }
    }
    // Faces for some, and a card of a person the snapshot does not know.
    for id in (1..=PERSONS).step_by(9) {
        p.credentials.push(CredentialPolicy {
            hash: credential_hash(KEY, CredentialKind::Face, &format!("face-{id}")),
            id: 10_000 + id,
            person_id: id,
            kind: CredentialKind::Face,
            status: if id % 2 == 0 {
                CredentialStatus::Active
            } else {
                CredentialStatus::Suspended
            },
            valid_from: None,
            valid_until: None,
        });
    }
    p.credentials.push(CredentialPolicy {
        hash: credential_hash(KEY, CredentialKind::Card, "ORPHAN"),
        id: 99_999,
        person_id: 77_777,
        kind: CredentialKind::Card,
        status: CredentialStatus::Active,
        valid_from: None,
        valid_until: None,
    });
    // Doors of every reader mode, an interlock pair, a zone under lockdown.
    for d in p.doors.iter_mut() {
        d.reader_mode = match d.id % 4 {
            0 => ReaderMode::Card,
            1 => ReaderMode::CardAndPin,
            2 => ReaderMode::FaceAndCard,
            _ => ReaderMode::Face,
        };
        if d.id == 3 || d.id == 4 {
            d.interlock_group = Some(1);
        }
    }
    p.lockdown_zones = vec![37];
    p
}

fn stream(signed: &SignedSnapshot, key: &SigningKey) -> PolicySnapshot {
    let mut file = Vec::new();
    signed.write_stored(&mut file).unwrap();
    read_stored(file.as_slice(), &key.verifying_key()).unwrap()
}

#[test]
fn streamed_and_built_snapshots_decide_alike() {
    let key = SigningKey::from_bytes(&[5u8; 32]);
    let data = varied_policy();
    let signed = SignedSnapshot::sign(&data, &key).unwrap();
    let built = PolicySnapshot::build(data).unwrap();
    let streamed = stream(&signed, &key);
    assert_eq!(streamed.version(), 42);
    assert_eq!(streamed.credential_count(), built.credential_count());
    assert_eq!(streamed.credential_key(), built.credential_key());

    let mut presence = PresenceState::new();
    for p in (1..=PERSONS).step_by(3) {
        presence.set(p, Some(1), jiff::Timestamp::UNIX_EPOCH);
    }
    let times: Vec<jiff::Timestamp> = ["2026-03-02T01:00:00Z", "2026-11-26T12:30:00Z"]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    let mut decided = 0;
    let mut granted = 0;
    let mut reasons = std::collections::BTreeSet::new();
    for person in (1..=PERSONS).chain([77_777]) {
        assert_eq!(
            streamed.pin_hash_of(person),
            built.pin_hash_of(person),
            "{person}"
        );
        assert_eq!(streamed.is_visitor(person), built.is_visitor(person));
        assert_eq!(
            streamed.face_hashes_of(person),
            built.face_hashes_of(person)
        );
        let credential = if person == 77_777 {
            credential_hash(KEY, CredentialKind::Card, "ORPHAN")
        } else {
            credential_hash(KEY, CredentialKind::Card, &card(person))
        };
        assert_eq!(
            streamed.person_of(&credential),
            built.person_of(&credential)
        );
        let face = streamed
            .face_hashes_of(person)
            .first()
            .map(|h| FaceEvidence::Matched(*h));
        for door_id in [1, 2, 3, 4, 10, 36, 37, 50, 1000, 5000] {
            for direction in [Direction::In, Direction::Out] {
                for at in &times {
                    let req = AccessRequest {
                        door_id,
                        direction,
                        credential: Some(credential),
                        pin_ok: Some(person % 2 == 0),
                        temperature_dc: None,
                    };
                    let a = decide_with_face(&built, &presence, &req, face, *at);
                    let b = decide_with_face(&streamed, &presence, &req, face, *at);
                    assert_eq!(a, b, "person {person} door {door_id} {direction:?} {at}");
                    decided += 1;
                    granted += usize::from(a.granted);
                    reasons.insert(format!("{:?}", a.reason));
                }
            }
        }
    }
    assert!(decided > 16_000 && granted > 100, "{decided} {granted}");
    // The comparison covered refusals of many kinds, not one.
    assert!(reasons.len() >= 8, "{reasons:?}");
}

/// Any JSON, signed as version 1: what a broken (or future) server could send.
fn signed_json(v: &serde_json::Value, key: &SigningKey) -> SignedSnapshot {
    let payload = serde_json::to_vec(v).unwrap();
    SignedSnapshot {
        version: 1,
        signature: ed25519_dalek::Signer::sign(key, &payload)
            .to_bytes()
            .to_vec(),
        payload,
    }
}

#[test]
fn malformed_policies_are_refused_by_the_stream_as_by_the_parser() {
    let key = SigningKey::from_bytes(&[5u8; 32]);
    let good = serde_json::to_value(synthetic::policy(3)).unwrap();
    let mut cases: Vec<serde_json::Value> = Vec::new();
    for field in ["version", "holders", "credentials", "groups", "time_zone"] {
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove(field);
        cases.push(v);
    }
    let mut v = good.clone();
    v["holders"][0]["kind"] = "alien".into();
    cases.push(v);
    let mut v = good.clone();
    v["credentials"][1]["hash"] = "xyz".into();
    cases.push(v);
    let mut v = good.clone();
    v["time_zone"] = "Mars/Olympus".into();
    cases.push(v);
    cases.push(serde_json::json!([1, 2, 3]));
    for (i, v) in cases.iter().enumerate() {
        let signed = signed_json(v, &key);
        let mut file = Vec::new();
        signed.write_stored(&mut file).unwrap();
        let streamed = read_stored(file.as_slice(), &key.verifying_key());
        assert!(streamed.is_err(), "case {i} accepted");
        // The plain path refuses it too (parsing or indexing).
        let plain = signed
            .verify(&key.verifying_key())
            .map_err(|e| e.to_string())
            .and_then(|d| PolicySnapshot::build(d).map_err(|e| e.to_string()));
        assert!(plain.is_err(), "case {i}: plain path accepted it");
    }
    // Unknown extra fields are ignored by both, as serde does for PolicyData.
    let mut v = good.clone();
    v["future_field"] = serde_json::json!({"a": [1, 2]});
    assert_eq!(stream(&signed_json(&v, &key), &key).credential_count(), 3);
}
