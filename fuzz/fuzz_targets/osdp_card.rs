//! Fuzzes the OSDP card-read parsers that are ours: Wiegand 26/34-bit decoding with parity,
//! and the mapping of raw and Wiegand reads to card IDs. They must never panic, and anything
//! they accept must re-encode to the same bits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monban_osdp::card::{card_id, CardFormat};
use monban_osdp::wiegand;

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let bits = usize::from(head);
    let fmt = if head & 1 == 0 { CardFormat::Raw } else { CardFormat::Wiegand };
    let _ = card_id(fmt, bits, rest);
    if let Ok(c) = wiegand::decode(bits, rest) {
        let enc = wiegand::encode(c).expect("decoded cards re-encode");
        assert_eq!(wiegand::decode(bits, &enc).ok(), Some(c));
    }
});
