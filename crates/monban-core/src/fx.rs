//! A small, fast, non-cryptographic hasher for the decision engine's maps (the "Fx" hash used
//! by rustc and Firefox): one rotate, xor and multiply per word.
//!
//! The keys it hashes are database ids and keyed credential hashes (HMAC outputs under a
//! per-deployment key), which an attacker cannot choose, so the HashDoS resistance of the
//! standard library's SipHash buys nothing here and costs a large part of each decision.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// `HashMap` with [`FxHasher`].
pub(crate) type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
/// `HashSet` with [`FxHasher`].
pub(crate) type FxHashSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The Fx hasher. Not for untrusted keys; see the [module documentation](self).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.add(i as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // hashbrown takes the top 7 bits for its control bytes and the low bits for the
        // bucket: fold the well-mixed high half into the low half.
        self.hash ^ (self.hash >> 32)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn h<T: Hash>(t: &T) -> u64 {
        BuildHasherDefault::<FxHasher>::default().hash_one(t)
    }

    #[test]
    fn equal_keys_hash_equal_and_nearby_ids_spread() {
        assert_eq!(h(&42i64), h(&42i64));
        assert_ne!(h(&1i64), h(&2i64));
        assert_ne!(h(&[1u8; 32]), h(&[2u8; 32]));
        // Sequential ids fill distinct buckets of a 1024-bucket table well enough.
        let mut used = std::collections::HashSet::new();
        for i in 0..1024i64 {
            used.insert(h(&i) & 1023);
        }
        assert!(used.len() > 600, "{}", used.len());
        let mut m: FxHashMap<i64, i64> = FxHashMap::default();
        for i in 0..10_000 {
            m.insert(i, i * 2);
        }
        assert_eq!(m.get(&4321), Some(&8642));
    }
}
