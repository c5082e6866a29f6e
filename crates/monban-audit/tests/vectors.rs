//! Runs every RFC 6962 inclusion and consistency proof vector in shared/testdata/rfc6962
//! (transparency-dev/merkle cases): happy cases must verify, `wantErr` cases must be rejected.
//! Fails if the folder is missing or holds no cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use monban_audit::merkle::{verify_consistency_bytes, verify_inclusion_bytes};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    match std::env::var_os("MONBAN_SHARED_DIR") {
        Some(shared) => PathBuf::from(shared).join("testdata/rfc6962"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/rfc6962"),
    }
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read test vector folder {}: {e}", dir.display()));
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

fn b64(v: &Value, key: &str, file: &Path) -> Vec<u8> {
    let s = v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{}: {key} is not a string", file.display()));
    // Undecodable base64 cannot verify; the empty vector makes the verifier reject it.
    B64.decode(s).unwrap_or_default()
}

fn proof(v: &Value) -> Vec<Vec<u8>> {
    match &v["proof"] {
        Value::Null => Vec::new(),
        Value::Array(a) => a
            .iter()
            .map(|p| B64.decode(p.as_str().unwrap()).unwrap_or_default())
            .collect(),
        other => panic!("proof is neither null nor an array: {other}"),
    }
}

fn run(kind: &str) -> (usize, usize) {
    let dir = vectors_dir().join(kind);
    assert!(
        dir.is_dir(),
        "test vector folder {} is missing (set MONBAN_SHARED_DIR to the shared/ folder)",
        dir.display()
    );
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    files.sort();
    let (mut happy, mut bad) = (0, 0);
    for f in &files {
        let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().expect("wantErr");
        let res = match kind {
            "inclusion" => verify_inclusion_bytes(
                v["leafIdx"].as_u64().unwrap(),
                v["treeSize"].as_u64().unwrap(),
                &b64(&v, "leafHash", f),
                &proof(&v),
                &b64(&v, "root", f),
            ),
            _ => verify_consistency_bytes(
                v["size1"].as_u64().unwrap(),
                v["size2"].as_u64().unwrap(),
                &b64(&v, "root1", f),
                &b64(&v, "root2", f),
                &proof(&v),
            ),
        };
        if want_err {
            assert!(
                res.is_err(),
                "{}: expected rejection, but it verified",
                f.display()
            );
            bad += 1;
        } else {
            assert!(
                res.is_ok(),
                "{}: expected to verify, got {res:?}",
                f.display()
            );
            happy += 1;
        }
    }
    assert!(
        happy + bad > 0,
        "no JSON cases found under {}",
        dir.display()
    );
    (happy, bad)
}

#[test]
fn inclusion_vectors() {
    let (happy, bad) = run("inclusion");
    assert!(happy > 0 && bad > 0, "happy {happy}, bad {bad}");
    eprintln!("inclusion vectors: {happy} happy, {bad} rejected");
}

#[test]
fn consistency_vectors() {
    let (happy, bad) = run("consistency");
    assert!(happy > 0 && bad > 0, "happy {happy}, bad {bad}");
    eprintln!("consistency vectors: {happy} happy, {bad} rejected");
}
