//! Seeded stand-in for the fuzz targets in fuzz/: feeds randomly mutated valid inputs and raw
//! random bytes to the note, checkpoint, leaf and proof parsers. Nothing may panic, and what
//! is accepted must re-serialise canonically.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use monban_audit::checkpoint::{self, Checkpoint};
use monban_audit::leaf::{AuditEntry, LeafView};
use monban_audit::merkle::{
    self, consistency_proof, inclusion_proof, leaf_hash, MemoryHashStore, EMPTY_ROOT,
};
use monban_audit::note::{self, Signer, VerifierKey};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn mutate(rng: &mut StdRng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..rng.gen_range(1..4) {
        match rng.gen_range(0..4) {
            0 if !b.is_empty() => {
                let i = rng.gen_range(0..b.len());
                b[i] = rng.gen();
            }
            1 if !b.is_empty() => {
                let i = rng.gen_range(0..b.len());
                b.remove(i);
            }
            2 => {
                let i = rng.gen_range(0..=b.len());
                let c = *[b'\n', b' ', b'+', b'0', b'=', 0xe2, 0x80, 0x94]
                    .get(rng.gen_range(0..8))
                    .unwrap();
                b.insert(i, c);
            }
            _ => {
                let i = rng.gen_range(0..=b.len());
                b.truncate(i);
            }
        }
    }
    b
}

#[test]
fn notes_and_checkpoints_never_panic() {
    let mut rng = StdRng::seed_from_u64(21);
    let signer = Signer::generate("example.com/log", &mut rng).unwrap();
    let vkey = signer.verifier_key();
    let cp = Checkpoint {
        origin: "example.com/log".into(),
        size: 12345,
        root: leaf_hash(b"r"),
        extensions: vec!["ext".into()],
    };
    let good = cp.sign(&signer).unwrap().into_bytes();
    let keys = [vkey.clone()];
    let mut accepted = 0;
    for _ in 0..20_000 {
        let m = mutate(&mut rng, &good);
        let _ = note::parse(&m);
        if let Ok(c) = checkpoint::open(&m, Some("example.com/log"), &keys) {
            accepted += 1;
            // Only mutations of the signature block that keep our signature can pass.
            assert_eq!(c.checkpoint, cp);
        }
        if let Ok(c) = checkpoint::parse_unverified(&m) {
            let text = note::parse(&m).unwrap().text;
            assert_eq!(c.to_text(), text);
        }
        if let Ok(s) = std::str::from_utf8(&m) {
            if let Ok(k) = VerifierKey::parse(s) {
                assert_eq!(k.to_string(), s);
            }
        }
        let raw: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect();
        assert!(note::open(&raw, &keys).is_err());
    }
    assert!(accepted > 0);
    let vk = vkey.to_string().into_bytes();
    for _ in 0..5_000 {
        let m = mutate(&mut rng, &vk);
        if let Ok(s) = std::str::from_utf8(&m) {
            if let Ok(k) = VerifierKey::parse(s) {
                assert_eq!(k.to_string(), s);
            }
        }
    }
}

#[test]
fn leaves_never_panic_and_stay_canonical() {
    let mut rng = StdRng::seed_from_u64(22);
    for _ in 0..200 {
        let good = common::random_entry(&mut rng, 5).encode().unwrap();
        for _ in 0..50 {
            let m = mutate(&mut rng, &good);
            let view_ok = LeafView::parse(&m).is_ok();
            match AuditEntry::decode(&m) {
                Ok(e) => {
                    assert!(view_ok);
                    assert_eq!(e.encode().unwrap(), m);
                }
                Err(_) => assert!(!view_ok),
            }
        }
    }
}

#[test]
fn proof_verifiers_never_panic() {
    let mut rng = StdRng::seed_from_u64(23);
    let mut store = MemoryHashStore::new();
    for i in 0..100u32 {
        store.push(leaf_hash(&i.to_be_bytes()));
    }
    let sizes = [
        0u64,
        1,
        2,
        3,
        63,
        64,
        65,
        u64::MAX,
        u64::MAX - 1,
        1 << 63,
        (1 << 63) + 1,
    ];
    for _ in 0..20_000 {
        let pick = |rng: &mut StdRng| {
            if rng.gen_bool(0.3) {
                sizes[rng.gen_range(0..sizes.len())]
            } else {
                rng.gen_range(0..200)
            }
        };
        let (a, b) = (pick(&mut rng), pick(&mut rng));
        let n = rng.gen_range(0..70);
        let proof: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                let len = if rng.gen_bool(0.9) {
                    32
                } else {
                    rng.gen_range(0..40)
                };
                (0..len).map(|_| rng.gen()).collect()
            })
            .collect();
        let h: Vec<u8> = (0..32).map(|_| rng.gen()).collect();
        let _ = merkle::verify_inclusion_bytes(a, b, &h, &proof, &h);
        let _ = merkle::verify_consistency_bytes(a, b, &h, &EMPTY_ROOT, &proof);
        let _ = merkle::inclusion_plan(a, b);
        let _ = merkle::consistency_plan(a, b);
        if b <= 100 {
            let _ = inclusion_proof(&store, a, b);
            let _ = consistency_proof(&store, a, b);
        }
    }
    // Asking a store for more than it holds is an error, not a panic.
    assert!(inclusion_proof(&store, 0, 101).is_err());
    assert!(consistency_proof(&store, 5, 1000).is_err());
}
