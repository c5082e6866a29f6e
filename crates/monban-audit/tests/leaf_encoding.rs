//! Leaf encoding tests: a pinned byte-exact example (matches docs/audit-log.md), randomised
//! round trips, and strict decoding (bad version, truncation, trailing bytes, bad UTF-8,
//! overlong fields, unsorted details, non-canonical times).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use monban_audit::leaf::{
    keyed_hmac, peek_seq, AuditEntry, DeviceTime, LeafError, LeafView, Outcome, MAX_FIELD_LEN,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn example() -> AuditEntry {
    let mut details = BTreeMap::new();
    details.insert("door".to_owned(), "east-1".to_owned());
    details.insert("credential".to_owned(), "card".to_owned());
    AuditEntry {
        seq: 42,
        server_time: "2025-04-01T00:00:00.5Z".parse().unwrap(),
        device_time: Some(DeviceTime {
            at: "2025-04-01T00:00:00.25Z".parse().unwrap(),
            offset: jiff::tz::Offset::from_hours(9).unwrap(),
        }),
        source: "controller:7".to_owned(),
        actor: "person:ab12".to_owned(),
        action: "door.access".to_owned(),
        target: "door:3".to_owned(),
        outcome: Outcome::Denied("outside_schedule".to_owned()),
        request_id: "r1".to_owned(),
        details,
    }
}

/// The documented example, byte for byte (see docs/audit-log.md).
const EXAMPLE_HEX: &str = concat!(
    "01",
    "000000000000002a",
    "001b",
    "323032352d30342d30315430303a30303a30302e3530303030305a",
    "01",
    "0020",
    "323032352d30342d30315430393a30303a30302e3235303030302b30393a3030",
    "000c",
    "636f6e74726f6c6c65723a37",
    "000b",
    "706572736f6e3a61623132",
    "000b",
    "646f6f722e616363657373",
    "0006",
    "646f6f723a33",
    "0017",
    "64656e6965643a6f7574736964655f7363686564756c65",
    "0002",
    "7231",
    "0002",
    "000a",
    "63726564656e7469616c",
    "0004",
    "63617264",
    "0004",
    "646f6f72",
    "0006",
    "656173742d31",
);

#[test]
fn documented_example_is_byte_exact() {
    let bytes = example().encode().unwrap();
    assert_eq!(hex::encode(&bytes), EXAMPLE_HEX);
    assert_eq!(AuditEntry::decode(&bytes).unwrap(), example());
    assert_eq!(peek_seq(&bytes).unwrap(), 42);
}

#[test]
fn random_round_trips() {
    let mut rng = StdRng::seed_from_u64(0xa0d1);
    for i in 0..2000 {
        let seq = rng.gen();
        let e = common::random_entry(&mut rng, seq);
        let bytes = e
            .encode()
            .unwrap_or_else(|err| panic!("entry {i}: {err}: {e:?}"));
        let back = AuditEntry::decode(&bytes).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.encode().unwrap(), bytes);
        let view = LeafView::parse(&bytes).unwrap();
        assert_eq!(view.details().count(), e.details.len());
    }
}

#[test]
fn every_truncation_and_extension_is_rejected() {
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..50 {
        let bytes = common::random_entry(&mut rng, 1).encode().unwrap();
        for cut in 0..bytes.len() {
            assert!(AuditEntry::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            AuditEntry::decode(&longer).unwrap_err(),
            LeafError::TrailingBytes(1)
        );
    }
}

#[test]
fn single_byte_changes_never_decode_to_the_same_entry() {
    let mut rng = StdRng::seed_from_u64(6);
    let e = common::random_entry(&mut rng, 9);
    let bytes = e.encode().unwrap();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            if let Ok(d) = AuditEntry::decode(&b) {
                assert_ne!(d, e);
                // Canonical: whatever decodes re-encodes to exactly the bytes given.
                assert_eq!(d.encode().unwrap(), b);
            }
        }
    }
}

#[test]
fn strict_decoding_errors() {
    let good = example().encode().unwrap();
    // Version.
    let mut b = good.clone();
    b[0] = 2;
    assert_eq!(
        AuditEntry::decode(&b).unwrap_err(),
        LeafError::UnsupportedVersion(2)
    );
    assert_eq!(AuditEntry::decode(&[]).unwrap_err(), LeafError::Empty);
    // Device time flag.
    let mut b = good.clone();
    b[9 + 2 + 27] = 2;
    assert_eq!(AuditEntry::decode(&b).unwrap_err(), LeafError::BadFlag(2));
    // Bad UTF-8 in the source field (first byte of "controller:7").
    let src = 9 + 2 + 27 + 1 + 2 + 32 + 2;
    let mut b = good.clone();
    b[src] = 0xff;
    assert_eq!(
        AuditEntry::decode(&b).unwrap_err(),
        LeafError::BadUtf8 { field: "source" }
    );
    // Control character.
    let mut b = good.clone();
    b[src] = b'\n';
    assert_eq!(
        AuditEntry::decode(&b).unwrap_err(),
        LeafError::ControlChar { field: "source" }
    );
    // Non-canonical server time (lowercase z).
    let mut b = good.clone();
    b[9 + 2 + 26] = b'z';
    assert!(matches!(
        AuditEntry::decode(&b).unwrap_err(),
        LeafError::BadTime {
            field: "server_time",
            ..
        }
    ));
    // Overlong field: a declared length above the limit is rejected before reading it.
    let mut e = example();
    e.actor = "a".repeat(MAX_FIELD_LEN + 1);
    assert!(matches!(
        e.encode().unwrap_err(),
        LeafError::TooLong { field: "actor", .. }
    ));
    let mut b = good[..src - 2].to_vec();
    b.extend_from_slice(&((MAX_FIELD_LEN + 1) as u16).to_be_bytes());
    b.extend(std::iter::repeat_n(b'a', MAX_FIELD_LEN + 1));
    assert!(matches!(
        AuditEntry::decode(&b).unwrap_err(),
        LeafError::TooLong {
            field: "source",
            ..
        }
    ));
    // Unsorted details: the same two entries in swapped order.
    let details_len = 2 + (2 + 10 + 2 + 4) + (2 + 4 + 2 + 6);
    let mut b = good[..good.len() - details_len].to_vec();
    b.extend_from_slice(&[0, 2, 0, 4]);
    b.extend_from_slice(b"door");
    b.extend_from_slice(&[0, 6]);
    b.extend_from_slice(b"east-1");
    b.extend_from_slice(&[0, 10]);
    b.extend_from_slice(b"credential");
    b.extend_from_slice(&[0, 4]);
    b.extend_from_slice(b"card");
    assert_eq!(b.len(), good.len());
    assert!(matches!(
        AuditEntry::decode(&b).unwrap_err(),
        LeafError::DetailsNotSorted(_)
    ));
    // Empty required field and bad outcome on encode.
    let mut e = example();
    e.action.clear();
    assert_eq!(
        e.encode().unwrap_err(),
        LeafError::EmptyField { field: "action" }
    );
    assert!(Outcome::parse("denied:").is_err());
    assert!(Outcome::parse("OK").is_err());
    assert_eq!(
        Outcome::parse("denied:x").unwrap(),
        Outcome::Denied("x".into())
    );
    // Sub-microsecond time is refused instead of silently truncated.
    let mut e = example();
    e.server_time = "2025-04-01T00:00:00.0000001Z".parse().unwrap();
    assert!(matches!(e.encode().unwrap_err(), LeafError::BadTime { .. }));
}

#[test]
fn hmac_pseudonyms() {
    let a = keyed_hmac(b"site key", "1234-5678");
    assert_eq!(a.len(), 64);
    assert_eq!(a, keyed_hmac(b"site key", "1234-5678"));
    assert_ne!(a, keyed_hmac(b"other key", "1234-5678"));
    // RFC 4231 test case 1.
    assert_eq!(
        keyed_hmac(&[0x0b; 20], "Hi There"),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
}
