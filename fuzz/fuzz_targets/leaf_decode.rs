//! Fuzz the strict leaf decoder: arbitrary bytes must never panic, and anything accepted must
//! re-encode to exactly the same bytes (the encoding is canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use monban_audit::leaf::{AuditEntry, LeafView};

fuzz_target!(|data: &[u8]| {
    let view_ok = LeafView::parse(data).is_ok();
    match AuditEntry::decode(data) {
        Ok(e) => {
            assert!(view_ok);
            assert_eq!(e.encode().ok().as_deref(), Some(data), "leaf is not canonical");
        }
        Err(_) => assert!(!view_ok, "view accepted what decode rejected"),
    }
});
