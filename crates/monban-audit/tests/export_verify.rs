//! End-to-end tests of AuditLog + export + offline verifier: clean exports verify, and every
//! single mutation (changed byte, deleted line, inserted line, swapped lines, truncation) is
//! detected and located. Also inclusion/consistency proofs served by the log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Instant;

use monban_audit::checkpoint::CheckpointIssuer;
use monban_audit::leaf::AuditEntry;
use monban_audit::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use monban_audit::note::{Signer, VerifierKey};
use monban_audit::store::{LeafSource, MemoryLogStore};
use monban_audit::verify::{format_export_line, LineProblem};
use monban_audit::{verify_export, AuditLog, VerifyError, VerifyOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ORIGIN: &str = "monban.example/audit";

struct Fixture {
    lines: Vec<String>,
    checkpoints: Vec<String>,
    vkey: VerifierKey,
    log: AuditLog<MemoryLogStore>,
}

/// Appends `n` random entries in random batches, checkpointing after some batches and always
/// at the end.
fn build(rng: &mut StdRng, n: u64) -> Fixture {
    let signer = Signer::generate(ORIGIN, rng).unwrap();
    let vkey = signer.verifier_key();
    let mut issuer = CheckpointIssuer::new(signer, ORIGIN, None).unwrap();
    let mut log = AuditLog::open(MemoryLogStore::new()).unwrap();
    let mut checkpoints = Vec::new();
    while log.size() < n {
        let k = rng.gen_range(1..=(n - log.size()).min(25));
        let mut batch: Vec<AuditEntry> = (0..k).map(|_| common::random_entry(rng, 0)).collect();
        let r = log.append(&mut batch).unwrap();
        assert_eq!(r.end - r.start, k);
        if rng.gen_bool(0.3) {
            checkpoints.push(log.issue_checkpoint(&mut issuer).unwrap());
        }
    }
    checkpoints.push(log.issue_checkpoint(&mut issuer).unwrap());
    let mut out = Vec::new();
    let root = log.export(n, &mut out).unwrap();
    assert_eq!(root, log.root());
    let lines = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    Fixture {
        lines,
        checkpoints,
        vkey,
        log,
    }
}

fn verify(f: &Fixture, lines: &[String]) -> Result<u64, VerifyError> {
    let data = lines.concat();
    let keys = [f.vkey.clone()];
    let mut opts = VerifyOptions::new(&keys);
    opts.origin = Some(ORIGIN);
    verify_export(data.as_bytes(), &f.checkpoints, &opts).map(|r| r.entries)
}

/// Asserts the error points at `seq` (or, for a root mismatch, at a range containing it).
fn assert_located(e: &VerifyError, seq: u64, what: &str) {
    match e {
        VerifyError::RootMismatch {
            from_seq, to_seq, ..
        } => assert!(
            *from_seq <= seq && seq <= *to_seq,
            "{what}: seq {seq} not in reported range: {e}"
        ),
        _ => {
            let (line, s) = e
                .location()
                .unwrap_or_else(|| panic!("{what}: no location: {e}"));
            assert_eq!(line, s + 1);
            assert_eq!(s, seq, "{what}: wrong location: {e}");
        }
    }
}

#[test]
fn clean_exports_verify_and_proofs_work() {
    let mut rng = StdRng::seed_from_u64(11);
    for n in [
        1u64, 2, 3, 4, 5, 7, 8, 9, 16, 31, 64, 100, 255, 256, 257, 300,
    ] {
        let f = build(&mut rng, n);
        assert_eq!(verify(&f, &f.lines).unwrap(), n);
        // Proofs from the log verify against its roots.
        let roots: Vec<_> = (0..=n).map(|s| f.log.root_at(s).unwrap()).collect();
        for _ in 0..50 {
            let size = rng.gen_range(1..=n);
            let seq = rng.gen_range(0..size);
            let leaf = f.log.store().read_leaf(seq).unwrap();
            let p = f.log.inclusion_proof(seq, size).unwrap();
            verify_inclusion(seq, size, &leaf_hash(&leaf), &p, &roots[size as usize]).unwrap();
            let size1 = rng.gen_range(1..=size);
            let c = f.log.consistency_proof(size1, size).unwrap();
            verify_consistency(
                size1,
                size,
                &roots[size1 as usize],
                &roots[size as usize],
                &c,
            )
            .unwrap();
            assert_eq!(f.log.entry(seq).unwrap().seq, seq);
        }
        assert!(f.log.inclusion_proof(0, n + 1).is_err());
        let latest = f
            .log
            .latest_checkpoint(ORIGIN, std::slice::from_ref(&f.vkey))
            .unwrap()
            .unwrap();
        assert_eq!(latest.checkpoint.size, n);
        assert_eq!(latest.checkpoint.root, f.log.root());
    }
}

#[test]
fn every_single_mutation_is_detected() {
    let mut rng = StdRng::seed_from_u64(12);
    for n in [1u64, 2, 3, 5, 8, 13, 40, 99, 128, 200, 300] {
        let f = build(&mut rng, n);
        for _ in 0..25 {
            // Change one byte of a leaf.
            let j = rng.gen_range(0..n) as usize;
            let mut leaf = f.log.store().read_leaf(j as u64).unwrap();
            let pos = rng.gen_range(0..leaf.len());
            leaf[pos] ^= rng.gen_range(1..=255u8);
            let mut lines = f.lines.clone();
            format_export_line(j as u64, &leaf, &mut lines[j]);
            let e = verify(&f, &lines).unwrap_err();
            assert_located(&e, j as u64, "changed byte");

            // Change one character of the line (JSON or base64 text).
            let mut lines = f.lines.clone();
            let mut bytes = lines[j].clone().into_bytes();
            let p = rng.gen_range(0..bytes.len() - 1);
            bytes[p] = if bytes[p] == b'A' { b'B' } else { b'A' };
            lines[j] = String::from_utf8(bytes).unwrap();
            let e = verify(&f, &lines).unwrap_err();
            assert_located(&e, j as u64, "changed character");

            // Delete a line.
            let mut lines = f.lines.clone();
            lines.remove(j);
            let e = verify(&f, &lines).unwrap_err();
            assert_located(&e, j as u64, "deleted line");

            // Insert a line: a copy of another line, or a fresh valid entry claiming seq j.
            let mut lines = f.lines.clone();
            let k = rng.gen_range(0..n) as usize;
            let copy = f.lines[k].clone();
            lines.insert(j, copy);
            let e = verify(&f, &lines).unwrap_err();
            // A copy of line j inserted before it is only wrong from the second copy on.
            let first_bad = if k == j { j + 1 } else { j };
            assert_located(&e, first_bad as u64, "inserted copy");
            let mut lines = f.lines.clone();
            let fresh = common::random_entry(&mut rng, j as u64).encode().unwrap();
            let mut line = String::new();
            format_export_line(j as u64, &fresh, &mut line);
            lines.insert(j, line);
            let e = verify(&f, &lines).unwrap_err();
            let reaches_j = match &e {
                VerifyError::RootMismatch { to_seq, .. } => *to_seq >= j as u64,
                other => other.location().unwrap().1 >= j as u64,
            };
            assert!(reaches_j, "inserted fresh: {e}");

            // Swap two lines.
            if n >= 2 {
                let a = rng.gen_range(0..n - 1) as usize;
                let b = rng.gen_range(a + 1..n as usize);
                let mut lines = f.lines.clone();
                lines.swap(a, b);
                let e = verify(&f, &lines).unwrap_err();
                assert_located(&e, a as u64, "swapped lines");
                // Swap and renumber the lines: the leaves still carry their own seq.
                let mut lines = f.lines.clone();
                let la = f.log.store().read_leaf(a as u64).unwrap();
                let lb = f.log.store().read_leaf(b as u64).unwrap();
                format_export_line(a as u64, &lb, &mut lines[a]);
                format_export_line(b as u64, &la, &mut lines[b]);
                let e = verify(&f, &lines).unwrap_err();
                assert!(
                    matches!(
                        e,
                        VerifyError::Line {
                            problem: LineProblem::LeafSeqMismatch { .. },
                            ..
                        }
                    ),
                    "{e}"
                );
                assert_located(&e, a as u64, "swapped and renumbered");
            }

            // Truncate.
            let keep = rng.gen_range(0..n) as usize;
            let e = verify(&f, &f.lines[..keep]).unwrap_err();
            assert!(matches!(e, VerifyError::Truncated { .. }), "{e}");
            assert_located(&e, keep as u64, "truncated");
        }
    }
}

#[test]
fn rewritten_history_with_consistent_seqs_fails_on_root() {
    // The attacker rewrites entry j completely (valid encoding, right seq).
    let mut rng = StdRng::seed_from_u64(13);
    let f = build(&mut rng, 120);
    for j in [0u64, 1, 59, 119] {
        let mut lines = f.lines.clone();
        let mut e = f.log.entry(j).unwrap();
        e.actor = "operator:999".to_owned();
        format_export_line(j, &e.encode().unwrap(), &mut lines[j as usize]);
        let err = verify(&f, &lines).unwrap_err();
        assert!(matches!(err, VerifyError::RootMismatch { .. }), "{err}");
        assert_located(&err, j, "rewritten entry");
    }
}

#[test]
fn tampered_store_is_caught_by_export_verification() {
    let mut rng = StdRng::seed_from_u64(14);
    let mut f = build(&mut rng, 50);
    let mut e = f.log.entry(17).unwrap();
    e.outcome = monban_audit::Outcome::Ok;
    e.details.insert("note".into(), "edited".into());
    assert_eq!(
        f.log
            .self_check(ORIGIN, std::slice::from_ref(&f.vkey))
            .unwrap(),
        Some(50)
    );
    f.log
        .store_mut()
        .tamper_leaf(17, e.encode().unwrap())
        .unwrap();
    let err = f
        .log
        .self_check(ORIGIN, std::slice::from_ref(&f.vkey))
        .unwrap_err();
    assert!(err.to_string().contains("leaf 17"), "{err}");
    let mut out = Vec::new();
    let root = f.log.export(50, &mut out).unwrap();
    assert_ne!(root, f.log.root());
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<String> = text.lines().map(|l| format!("{l}\n")).collect();
    let err = verify(&f, &lines).unwrap_err();
    assert_located(&err, 17, "tampered store");
}

#[test]
fn checkpoint_and_option_errors() {
    let mut rng = StdRng::seed_from_u64(15);
    let f = build(&mut rng, 30);
    let data = f.lines.concat();
    let keys = [f.vkey.clone()];
    let opts = VerifyOptions::new(&keys);
    // No checkpoints.
    assert_eq!(
        verify_export(data.as_bytes(), &Vec::<String>::new(), &opts).unwrap_err(),
        VerifyError::NoCheckpoints
    );
    // Untrusted key.
    let stranger = Signer::generate(ORIGIN, &mut rng).unwrap().verifier_key();
    let bad_keys = [stranger];
    let e = verify_export(
        data.as_bytes(),
        &f.checkpoints,
        &VerifyOptions::new(&bad_keys),
    )
    .unwrap_err();
    assert!(matches!(e, VerifyError::Checkpoint { index: 0, .. }), "{e}");
    // Wrong origin.
    let mut o = VerifyOptions::new(&keys);
    o.origin = Some("elsewhere.example/log");
    assert!(matches!(
        verify_export(data.as_bytes(), &f.checkpoints, &o).unwrap_err(),
        VerifyError::Checkpoint { .. }
    ));
    // Entries beyond the latest checkpoint: an error unless allowed.
    let only_first = &f.checkpoints[..1];
    let first_size = monban_audit::checkpoint::parse_unverified(only_first[0].as_bytes())
        .unwrap()
        .size;
    if first_size < 30 {
        let e = verify_export(data.as_bytes(), only_first, &opts).unwrap_err();
        assert!(matches!(e, VerifyError::UnsignedTail { .. }), "{e}");
        assert_eq!(e.location().unwrap().1, first_size);
        let mut o = VerifyOptions::new(&keys);
        o.allow_unsigned_tail = true;
        let r = verify_export(data.as_bytes(), only_first, &o).unwrap();
        assert_eq!(r.unsigned_tail, 30 - first_size);
    }
    // Forked checkpoints: same size, different roots, both validly signed.
    let signer2 = Signer::generate("monban.example/audit", &mut rng).unwrap();
    let keys2 = [f.vkey.clone(), signer2.verifier_key()];
    let mut forged =
        monban_audit::checkpoint::parse_unverified(f.checkpoints.last().unwrap().as_bytes())
            .unwrap();
    forged.root[0] ^= 1;
    let mut cps = f.checkpoints.clone();
    cps.push(forged.sign(&signer2).unwrap());
    let e = verify_export(data.as_bytes(), &cps, &VerifyOptions::new(&keys2)).unwrap_err();
    assert!(
        matches!(e, VerifyError::ConflictingCheckpoints { .. }),
        "{e}"
    );
    // Malformed lines.
    for (bad, problem) in [
        ("\n", "empty"),
        ("{\"seq\":0}\n", "json"),
        ("{\"seq\":0,\"leaf\":\"AA\"}\n", "base64"),
        ("{\"seq\":0,\"leaf\":\"AAAA\",\"x\":1}\n", "json"),
        ("{\"seq\":0,\"leaf\":\"AQ==\"}\n", "leaf"),
    ] {
        let mut lines = f.lines.clone();
        lines[0] = bad.to_owned();
        let e = verify(&f, &lines).unwrap_err();
        assert_located(&e, 0, problem);
        let ok = matches!(
            (&e, problem),
            (
                VerifyError::Line {
                    problem: LineProblem::Empty,
                    ..
                },
                "empty"
            ) | (
                VerifyError::Line {
                    problem: LineProblem::BadJson(_),
                    ..
                },
                "json"
            ) | (
                VerifyError::Line {
                    problem: LineProblem::BadBase64,
                    ..
                },
                "base64"
            ) | (
                VerifyError::Line {
                    problem: LineProblem::BadLeaf(_),
                    ..
                },
                "leaf"
            )
        );
        assert!(ok, "{problem}: {e}");
    }
    // A missing final newline is tolerated.
    let mut s = f.lines.concat();
    s.pop();
    assert_eq!(
        verify_export(s.as_bytes(), &f.checkpoints, &opts)
            .unwrap()
            .entries,
        30
    );
}

#[test]
fn append_conflict_is_reported_and_recovers() {
    let mut rng = StdRng::seed_from_u64(16);
    let mut log = AuditLog::open(MemoryLogStore::new()).unwrap();
    log.append_one(common::random_entry(&mut rng, 0)).unwrap();
    // Another writer appends behind the log's back.
    let mut other = AuditLog::open(log.store().clone()).unwrap();
    other.append_one(common::random_entry(&mut rng, 0)).unwrap();
    *log.store_mut() = other.into_store();
    let e = log
        .append_one(common::random_entry(&mut rng, 0))
        .unwrap_err();
    assert!(e.to_string().contains("conflict"), "{e}");
    // After the automatic reload the next append lands at seq 2.
    assert_eq!(
        log.append_one(common::random_entry(&mut rng, 0)).unwrap(),
        2
    );
    assert_eq!(log.size(), 3);
    assert_eq!(
        log.root(),
        monban_audit::merkle::root_at(log.store(), 3).unwrap()
    );
}

/// Throughput of the verifier. Run with
/// `cargo test -p monban-audit --release --test export_verify -- --ignored --nocapture`.
#[test]
#[ignore]
fn verifier_throughput_one_million() {
    let n = 1_000_000u64;
    let mut rng = StdRng::seed_from_u64(17);
    let signer = Signer::generate(ORIGIN, &mut rng).unwrap();
    let template = common::random_entry(&mut rng, 0);
    let mut data = String::with_capacity(n as usize * 300);
    let mut state = monban_audit::TreeState::new();
    let mut line = String::new();
    let mut e = template.clone();
    for seq in 0..n {
        e.seq = seq;
        let leaf = e.encode().unwrap();
        state.push(leaf_hash(&leaf), |_, _| {});
        format_export_line(seq, &leaf, &mut line);
        data.push_str(&line);
    }
    let cp = monban_audit::Checkpoint {
        origin: ORIGIN.to_owned(),
        size: n,
        root: state.root(),
        extensions: vec![],
    }
    .sign(&signer)
    .unwrap();
    let keys = [signer.verifier_key()];
    // Best of three runs: the machine is shared.
    let mut secs = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let r = verify_export(data.as_bytes(), &[&cp], &VerifyOptions::new(&keys)).unwrap();
        secs = secs.min(start.elapsed().as_secs_f64());
        assert_eq!(r.entries, n);
    }
    let rate = n as f64 / secs;
    eprintln!(
        "verified {n} leaves ({} MB) in {secs:.3} s: {rate:.0} leaves/s",
        data.len() / 1_000_000
    );
}
