//! Signed-note and checkpoint tests: the golang.org/x/mod/sumdb/note PeterNeumann example,
//! the C2SP signed-note and tlog-checkpoint spec examples, parser error cases, and the
//! checkpoint issuer's consistency guard.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use monban_audit::checkpoint::{self, Checkpoint, CheckpointError, CheckpointIssuer};
use monban_audit::merkle::{consistency_proof, leaf_hash, MemoryHashStore, EMPTY_ROOT};
use monban_audit::note::{self, key_id, NoteError, Signer, VerifierKey};
use rand::rngs::StdRng;
use rand::SeedableRng;

// From golang.org/x/mod/sumdb/note/note_test.go.
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                          then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter_note() -> String {
    format!("{PETER_TEXT}\n{PETER_SIG}")
}

#[test]
fn peter_neumann_verifies() {
    let v = VerifierKey::parse(PETER_VKEY).unwrap();
    assert_eq!(v.name(), "PeterNeumann");
    assert_eq!(v.key_id(), 0xc74f20a3);
    assert_eq!(v.to_string(), PETER_VKEY);
    let n = note::open(peter_note().as_bytes(), std::slice::from_ref(&v)).unwrap();
    assert_eq!(n.text, PETER_TEXT);
    assert_eq!(n.verified.len(), 1);
    assert_eq!(n.verified[0].name, "PeterNeumann");
    assert_eq!(n.verified[0].key_id, 0xc74f20a3);
    assert!(n.unverified.is_empty());
}

#[test]
fn peter_neumann_signer_reproduces_go_output() {
    let s = Signer::parse(PETER_SKEY).unwrap();
    assert_eq!(s.key_id(), 0xc74f20a3);
    assert_eq!(s.verifier_key().to_string(), PETER_VKEY);
    assert_eq!(s.to_signer_key_string(), PETER_SKEY);
    // Ed25519 is deterministic, so the signature must be byte-identical to Go's.
    assert_eq!(s.sign(PETER_TEXT).unwrap(), peter_note());
    assert!(!format!("{s:?}").contains("AYEKFALV"));
}

#[test]
fn unknown_signatures_are_kept_aside() {
    let peter = VerifierKey::parse(PETER_VKEY).unwrap();
    let enoch = VerifierKey::parse(ENOCH_VKEY).unwrap();
    let msg = format!("{PETER_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let n = note::open(msg.as_bytes(), std::slice::from_ref(&peter)).unwrap();
    assert_eq!(n.verified.len(), 1);
    assert_eq!(n.unverified.len(), 1);
    assert_eq!(n.unverified[0].name, "EnochRoot");
    let n = note::open(msg.as_bytes(), &[peter.clone(), enoch]).unwrap();
    assert_eq!(n.verified.len(), 2);
    // No trusted key at all.
    let e = note::open(msg.as_bytes(), &[]).unwrap_err();
    assert!(matches!(e, NoteError::NoTrustedSignature { .. }), "{e}");
    // Duplicate signature lines are accepted once.
    let msg = format!("{PETER_TEXT}\n{PETER_SIG}{PETER_SIG}");
    assert_eq!(
        note::open(msg.as_bytes(), &[peter]).unwrap().verified.len(),
        1
    );
}

#[test]
fn too_many_signatures() {
    let peter = VerifierKey::parse(PETER_VKEY).unwrap();
    let msg = format!("{PETER_TEXT}\n{}", PETER_SIG.repeat(101));
    assert_eq!(
        note::open(msg.as_bytes(), std::slice::from_ref(&peter)).unwrap_err(),
        NoteError::TooManySignatures
    );
    let msg = format!("{PETER_TEXT}\n{}", PETER_SIG.repeat(100));
    assert!(note::open(msg.as_bytes(), &[peter]).is_ok());
}

#[test]
fn invalid_signature_from_known_key_rejects_note() {
    let peter = VerifierKey::parse(PETER_VKEY).unwrap();
    let bad = format!("{PETER_TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    let e = note::open(bad.as_bytes(), std::slice::from_ref(&peter)).unwrap_err();
    assert!(matches!(e, NoteError::InvalidSignature { .. }), "{e}");
    // Text changed after signing.
    let bad = format!("{}\n{PETER_SIG}", PETER_TEXT.replace("answer", "Answer"));
    let e = note::open(bad.as_bytes(), &[peter]).unwrap_err();
    assert!(matches!(e, NoteError::InvalidSignature { .. }), "{e}");
}

#[test]
fn malformed_notes_from_go_tests() {
    let peter = VerifierKey::parse(PETER_VKEY).unwrap();
    let bad = [
        PETER_TEXT.to_owned(),
        format!("{PETER_TEXT}\n"),
        format!("{PETER_TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{PETER_TEXT}\n{PETER_SIG}"),
        format!("{PETER_TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{PETER_TEXT}\n{PETER_SIG}Unexpected line.\n"),
        format!("{PETER_TEXT}\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"),
        format!("{PETER_TEXT}\n—PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"),
        format!("{PETER_TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM\n"),
        format!("{PETER_TEXT}\n— PeterNeumann AAAA\n"),
        format!("{PETER_TEXT}\n— PeterNeumann \n"),
        format!("{PETER_TEXT}\n— Peter+Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"),
        format!("{}\n{PETER_SIG}", PETER_TEXT.replace('\n', "\r\n")),
    ];
    for msg in &bad {
        assert!(
            note::open(msg.as_bytes(), std::slice::from_ref(&peter)).is_err(),
            "accepted {msg:?}"
        );
    }
    let mut invalid_utf8 = b"\xff".to_vec();
    invalid_utf8.extend_from_slice(peter_note().as_bytes());
    assert_eq!(
        note::open(&invalid_utf8, &[peter]).unwrap_err(),
        NoteError::NotUtf8
    );
}

#[test]
fn verifier_key_parsing() {
    // Examples from note_test.go: wrong-length key and unknown algorithm (with adjusted ids).
    assert!(VerifierKey::parse(
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
    )
    .is_err());
    assert_eq!(
        VerifierKey::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .unwrap_err(),
        NoteError::UnsupportedAlgorithm(0x65)
    );
    assert!(matches!(
        VerifierKey::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .unwrap_err(),
        NoteError::KeyIdMismatch { .. }
    ));
    for bad in [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
        "PeterNeumann+c74f20a3+!Rpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(VerifierKey::parse(bad).is_err(), "accepted {bad:?}");
    }
    assert!(Signer::parse(
        "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    )
    .is_err());
    assert!(Signer::parse(
        "PRIVATE+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    )
    .is_err());
}

#[test]
fn c2sp_signed_note_example() {
    let v =
        VerifierKey::parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
            .unwrap();
    let msg = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let n = note::open(msg.as_bytes(), &[v]).unwrap();
    assert_eq!(n.text, "This is an example message.\n");
}

#[test]
fn c2sp_poem_example_parses_and_keeps_the_last_blank_line_rule() {
    // No verifier key is published for this one: it must parse, but not open without a key.
    let msg = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    let p = note::parse(msg.as_bytes()).unwrap();
    assert_eq!(
        p.text,
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
    );
    assert_eq!(p.signatures.len(), 1);
    assert_eq!(p.signatures[0].name, "quasimodo.example/salvatore");
    assert_eq!(p.signatures[0].signature.len(), 64);
    let peter = VerifierKey::parse(PETER_VKEY).unwrap();
    assert!(matches!(
        note::open(msg.as_bytes(), &[peter]).unwrap_err(),
        NoteError::NoTrustedSignature { .. }
    ));
}

const SOFA: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

#[test]
fn c2sp_checkpoint_example_parses() {
    let cp = checkpoint::parse_unverified(SOFA.as_bytes()).unwrap();
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20852163);
    assert!(cp.extensions.is_empty());
    assert_eq!(
        cp.to_text(),
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    );
    // Its key is not published, so with any other trusted key it must be rejected.
    let peter = VerifierKey::parse(PETER_VKEY).unwrap();
    assert!(checkpoint::open(SOFA.as_bytes(), None, &[peter]).is_err());
}

fn test_signer(name: &str) -> Signer {
    Signer::generate(name, &mut StdRng::seed_from_u64(42)).unwrap()
}

fn line_err(e: CheckpointError) -> usize {
    match e {
        CheckpointError::Line { line, .. } => line,
        other => panic!("expected a line error, got {other}"),
    }
}

#[test]
fn checkpoint_body_errors() {
    let root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let ok = format!("example.com/log\n0\n{root}\n");
    assert_eq!(Checkpoint::parse_text(&ok).unwrap().root, EMPTY_ROOT);
    let with_ext = format!("example.com/log\n5\n{root}\next one\n");
    assert_eq!(
        Checkpoint::parse_text(&with_ext).unwrap().extensions,
        vec!["ext one"]
    );
    assert_eq!(
        Checkpoint::parse_text(&format!("example.com/log\n0\n{root}")).unwrap_err(),
        CheckpointError::NotTerminated
    );
    assert!(matches!(
        Checkpoint::parse_text("example.com/log\n0\n").unwrap_err(),
        CheckpointError::TooFewLines(2)
    ));
    for (text, line) in [
        (format!("\n0\n{root}\n"), 1),
        (format!("o\n\n{root}\n"), 2),
        (format!("o\n01\n{root}\n"), 2),
        (format!("o\n+1\n{root}\n"), 2),
        (format!("o\n-1\n{root}\n"), 2),
        (format!("o\n 1\n{root}\n"), 2),
        (format!("o\n1.0\n{root}\n"), 2),
        (format!("o\nten\n{root}\n"), 2),
        (format!("o\n18446744073709551616\n{root}\n"), 2),
        (
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n".to_owned(),
            3,
        ),
        (
            "o\n1\n47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=\n".to_owned(),
            3,
        ),
        ("o\n1\nAAAA\n".to_owned(), 3),
        ("o\n1\nnot base64!\n".to_owned(), 3),
        (format!("o\n1\n{root}\n\n"), 4),
        (format!("o\n1\n{root}\next\n\nmore\n"), 5),
        (format!("o\t\n1\n{root}\n"), 1),
    ] {
        assert_eq!(
            line_err(Checkpoint::parse_text(&text).unwrap_err()),
            line,
            "{text:?}"
        );
    }
    let e = Checkpoint::parse_text(&format!("o\nten\n{root}\n")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "checkpoint line 2: tree size is not a decimal number"
    );
    assert_eq!(
        Checkpoint::parse_text(&format!("o\n18446744073709551615\n{root}\n"))
            .unwrap()
            .size,
        u64::MAX
    );
}

#[test]
fn signed_checkpoint_errors() {
    let signer = test_signer("monban.example/audit");
    let vkey = signer.verifier_key();
    let cp = Checkpoint {
        origin: "monban.example/audit".to_owned(),
        size: 3,
        root: leaf_hash(b"x"),
        extensions: vec![],
    };
    let note = cp.sign(&signer).unwrap();
    let ok = checkpoint::open(
        note.as_bytes(),
        Some("monban.example/audit"),
        std::slice::from_ref(&vkey),
    )
    .unwrap();
    assert_eq!(ok.checkpoint, cp);

    // Wrong origin.
    assert!(matches!(
        checkpoint::open(
            note.as_bytes(),
            Some("other.example/log"),
            std::slice::from_ref(&vkey)
        )
        .unwrap_err(),
        CheckpointError::WrongOrigin { .. }
    ));
    // Unknown key id (same name, different key).
    let other = Signer::generate("monban.example/audit", &mut StdRng::seed_from_u64(43)).unwrap();
    assert_ne!(other.key_id(), signer.key_id());
    assert!(matches!(
        checkpoint::open(note.as_bytes(), None, &[other.verifier_key()]).unwrap_err(),
        CheckpointError::Note(NoteError::NoTrustedSignature { .. })
    ));
    // Wrong signature: signed by another key but claiming our key id.
    let forged_sig = other.signature_line(&cp.to_text());
    let (_, forged_b64) = forged_sig.trim_end().rsplit_once(' ').unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raw = b64.decode(forged_b64).unwrap();
    raw[..4].copy_from_slice(&signer.key_id().to_be_bytes());
    let forged = format!(
        "{}\n— monban.example/audit {}\n",
        cp.to_text(),
        b64.encode(&raw)
    );
    assert!(matches!(
        checkpoint::open(forged.as_bytes(), None, std::slice::from_ref(&vkey)).unwrap_err(),
        CheckpointError::Note(NoteError::InvalidSignature { .. })
    ));
    // Bad base64 in the signature line.
    let bad = note.replace("— monban.example/audit ", "— monban.example/audit !");
    assert!(matches!(
        checkpoint::open(bad.as_bytes(), None, std::slice::from_ref(&vkey)).unwrap_err(),
        CheckpointError::Note(NoteError::BadSignatureLine { line: 5, .. })
    ));
    // Missing blank line.
    let bad = note.replacen("\n\n", "\n", 1);
    assert!(matches!(
        checkpoint::open(bad.as_bytes(), None, std::slice::from_ref(&vkey)).unwrap_err(),
        CheckpointError::Note(NoteError::MissingBlankLine)
    ));
    // Malformed size inside a validly signed note.
    let text = "monban.example/audit\n007\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let n = signer.sign(text).unwrap();
    assert_eq!(
        line_err(checkpoint::open(n.as_bytes(), None, std::slice::from_ref(&vkey)).unwrap_err()),
        2
    );
    // The key id is the documented hash.
    assert_eq!(
        key_id("monban.example/audit", 0x01, &vkey.public_key()),
        vkey.key_id()
    );
}

#[test]
fn issuer_refuses_inconsistent_checkpoints() {
    let origin = "monban.example/audit";
    let signer = test_signer(origin);
    let vkey = signer.verifier_key();
    let mut issuer = CheckpointIssuer::new(signer, origin, None).unwrap();
    let mut store = MemoryHashStore::new();
    let mut roots = vec![EMPTY_ROOT];
    for i in 0..20u32 {
        store.push(leaf_hash(&i.to_be_bytes()));
        roots.push(store.root());
    }
    // Empty tree first, then 5, then 12.
    let n0 = issuer.issue(0, EMPTY_ROOT, &[]).unwrap();
    assert_eq!(
        checkpoint::open(n0.as_bytes(), Some(origin), std::slice::from_ref(&vkey))
            .unwrap()
            .checkpoint
            .size,
        0
    );
    issuer.issue(5, roots[5], &[]).unwrap();
    let p = consistency_proof(&store, 5, 12).unwrap();
    let n12 = issuer.issue(12, roots[12], &p).unwrap();
    let cp = checkpoint::open(n12.as_bytes(), Some(origin), &[vkey]).unwrap();
    assert_eq!(cp.checkpoint.size, 12);
    assert_eq!(cp.checkpoint.root, roots[12]);

    // Shrinking.
    assert!(matches!(
        issuer.issue(11, roots[11], &[]).unwrap_err(),
        CheckpointError::Shrinks { .. }
    ));
    // A forked tree: leaf 11 rewritten, then grown to 14; no proof connects it to size 12.
    let mut fork = MemoryHashStore::new();
    for i in 0..11u32 {
        fork.push(leaf_hash(&i.to_be_bytes()));
    }
    fork.push(leaf_hash(b"forged"));
    fork.push(leaf_hash(b"new 12"));
    fork.push(leaf_hash(b"new 13"));
    let p = consistency_proof(&fork, 12, 14).unwrap();
    assert!(matches!(
        issuer.issue(14, fork.root(), &p).unwrap_err(),
        CheckpointError::Inconsistent { .. }
    ));
    // A proof for the right tree but the wrong root.
    let p = consistency_proof(&store, 12, 14).unwrap();
    assert!(issuer.issue(14, roots[15], &p).is_err());
    // Same size, different root.
    assert!(issuer.issue(12, roots[13], &[]).is_err());
    // Still works with the right data, and the last checkpoint did not move on failures.
    assert_eq!(issuer.last().unwrap().size, 12);
    issuer.issue(14, roots[14], &p).unwrap();
    issuer.issue(14, roots[14], &[]).unwrap();
    // Loading a previous checkpoint for another origin is refused.
    let prev = issuer.last().cloned();
    assert!(CheckpointIssuer::new(test_signer("x"), "other", prev).is_err());
}
