//! Fuzz the signed-note parser and key parsers with arbitrary bytes. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monban_audit::note::{self, Signer, VerifierKey};

const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = note::parse(data) {
        assert!(parsed.text.ends_with('\n'));
        assert!(!parsed.signatures.is_empty());
        assert!(parsed.signatures.len() <= note::MAX_SIGNATURES);
    }
    if let Ok(key) = VerifierKey::parse(VKEY) {
        let _ = note::open(data, &[key]);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(k) = VerifierKey::parse(s) {
            assert_eq!(k.to_string(), s, "vkey did not round-trip");
        }
        let _ = Signer::parse(s);
    }
});
