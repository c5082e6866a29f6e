//! Fuzz inclusion and consistency proof verification with arbitrary sizes, indices, roots and
//! proofs (including wrong-length hashes). Must never panic.
//!
//! Input layout: 1 mode byte, two big-endian u64 numbers, then length-prefixed byte strings
//! (one length byte each): leaf/root1, root/root2, then proof elements.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monban_audit::merkle;

fn split(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let n = usize::from(len).min(rest.len());
        out.push(&rest[..n]);
        data = &rest[n..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 17 {
        return;
    }
    let mode = data[0];
    let mut a = [0u8; 8];
    a.copy_from_slice(&data[1..9]);
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[9..17]);
    let (x, y) = (u64::from_be_bytes(a), u64::from_be_bytes(b));
    // Mostly small numbers, so the verifiers get past the cheap checks.
    let (x, y) = if mode & 0x80 == 0 { (x % 4096, y % 4096) } else { (x, y) };
    let parts = split(&data[17..]);
    let empty: &[u8] = &[];
    let first = parts.first().copied().unwrap_or(empty);
    let second = parts.get(1).copied().unwrap_or(empty);
    let proof: &[&[u8]] = parts.get(2..).unwrap_or(&[]);
    if mode & 1 == 0 {
        let _ = merkle::verify_inclusion_bytes(x, y, first, proof, second);
        let _ = merkle::inclusion_plan(x, y);
    } else {
        let _ = merkle::verify_consistency_bytes(x, y, first, second, proof);
        let _ = merkle::consistency_plan(x, y);
    }
});
