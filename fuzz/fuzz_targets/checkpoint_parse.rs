//! Fuzz the checkpoint parsers: arbitrary bytes as a signed checkpoint note and as a
//! checkpoint body. Must never panic; an accepted body must re-serialise to the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monban_audit::checkpoint::{self, Checkpoint};
use monban_audit::note::VerifierKey;

const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

fuzz_target!(|data: &[u8]| {
    let _ = checkpoint::parse_unverified(data);
    if let Ok(key) = VerifierKey::parse(VKEY) {
        let _ = checkpoint::open(data, Some("example.com/log"), &[key]);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse_text(text) {
            assert_eq!(cp.to_text(), text, "checkpoint body is not canonical");
            assert!(cp.validate().is_ok());
        }
    }
});
