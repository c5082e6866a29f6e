//! Envelope encryption: 256-bit keys that zeroize on drop, AES-256-GCM sealing with associated
//! data that binds each ciphertext to its record, field and key version, key wrapping under the
//! master key, and the keyed-HMAC blind index used to find duplicates without decrypting.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{VaultError, VaultResult};

/// Length of a GCM nonce.
const NONCE_LEN: usize = 12;

/// A 256-bit secret key (master key, data key, index key). `Debug` is redacted; the bytes are
/// zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key32([u8; 32]);

impl std::fmt::Debug for Key32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key32(<redacted>)")
    }
}

impl Key32 {
    /// A fresh random key from the operating system's generator.
    pub fn random() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self(k)
    }

    /// A key from raw bytes (the caller zeroizes its copy).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short public fingerprint, to tell keys apart in messages (not reversible).
    pub fn fingerprint(&self) -> String {
        let mut m = hmac_sha256(&self.0);
        m.update(b"monban-vault/fingerprint/v1");
        hex::encode(&m.finalize().into_bytes()[..8])
    }
}

/// HMAC-SHA256 keyed with a 32-byte key. HMAC pads keys shorter than the 64-byte block with
/// zeros, so building the padded block here is the same function, and cannot fail.
pub(crate) fn hmac_sha256(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut block =
        hmac::digest::generic_array::GenericArray::<u8, hmac::digest::consts::U64>::default();
    block[..32].copy_from_slice(key);
    let m = <Hmac<Sha256> as KeyInit>::new(&block);
    block.zeroize();
    m
}

/// Seals `plaintext` under `key` with associated data `aad`; returns nonce ‖ ciphertext ‖ tag.
pub fn seal(key: &Key32, aad: &[u8], plaintext: &[u8]) -> VaultResult<Vec<u8>> {
    let cipher = Aes256Gcm::new_from_slice(key.bytes())
        .map_err(|_| VaultError::Crypto("key length".into()))?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| VaultError::Crypto("seal".into()))?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens what [`seal`] produced; fails if the key, the associated data or the bytes differ.
pub fn open(key: &Key32, aad: &[u8], sealed: &[u8]) -> VaultResult<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(VaultError::Crypto("ciphertext too short".into()));
    }
    let cipher = Aes256Gcm::new_from_slice(key.bytes())
        .map_err(|_| VaultError::Crypto("key length".into()))?;
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| VaultError::Crypto("authentication failed".into()))
}

/// Associated data for a key wrapped under the master key: what it belongs to and the master
/// key version.
pub fn wrap_aad(owner: &str, kek_version: i64) -> Vec<u8> {
    format!("monban-vault/wrap/v1|{owner}|kek:{kek_version}").into_bytes()
}

/// Associated data for an encrypted field: record id, field name, data-key version.
pub fn field_aad(record_id: i64, field: &str, dek_version: i64) -> Vec<u8> {
    format!("monban-vault/field/v1|record:{record_id}|field:{field}|dek:{dek_version}").into_bytes()
}

/// Wraps `key` under `kek`.
pub fn wrap_key(kek: &Key32, kek_version: i64, owner: &str, key: &Key32) -> VaultResult<Vec<u8>> {
    seal(kek, &wrap_aad(owner, kek_version), key.bytes())
}

/// Unwraps a key wrapped by [`wrap_key`].
pub fn unwrap_key(
    kek: &Key32,
    kek_version: i64,
    owner: &str,
    wrapped: &[u8],
) -> VaultResult<Key32> {
    let raw = open(kek, &wrap_aad(owner, kek_version), wrapped)?;
    let arr: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| VaultError::Crypto("wrapped key length".into()))?;
    Ok(Key32::from_bytes(arr))
}

/// The blind index of a number: HMAC-SHA256 under the vault's index key, hex.
pub fn blind_index(index_key: &Key32, digits: &[u8]) -> String {
    let mut m = hmac_sha256(index_key.bytes());
    m.update(b"monban-vault/blind-index/v1|");
    m.update(digits);
    hex::encode(m.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let k = Key32::random();
        let aad = field_aad(7, "my_number", 1);
        let ct = seal(&k, &aad, b"secret").unwrap();
        assert_eq!(&open(&k, &aad, &ct).unwrap()[..], b"secret");
        // Moving the ciphertext to another record, field or version fails.
        assert!(open(&k, &field_aad(8, "my_number", 1), &ct).is_err());
        assert!(open(&k, &field_aad(7, "other", 1), &ct).is_err());
        assert!(open(&k, &field_aad(7, "my_number", 2), &ct).is_err());
        assert!(open(&Key32::random(), &aad, &ct).is_err());
        let mut bad = ct.clone();
        bad[20] ^= 1;
        assert!(open(&k, &aad, &bad).is_err());
    }

    #[test]
    fn wrap_unwrap() {
        let kek = Key32::random();
        let dek = Key32::random();
        let w = wrap_key(&kek, 3, "record:1", &dek).unwrap();
        assert_eq!(
            unwrap_key(&kek, 3, "record:1", &w).unwrap().bytes(),
            dek.bytes()
        );
        assert!(unwrap_key(&kek, 4, "record:1", &w).is_err());
        assert!(unwrap_key(&kek, 3, "record:2", &w).is_err());
    }

    #[test]
    fn padded_hmac_equals_standard_hmac() {
        let k = [7u8; 32];
        let mut a = hmac_sha256(&k);
        a.update(b"x");
        let mut b = <Hmac<Sha256> as Mac>::new_from_slice(&k).unwrap();
        b.update(b"x");
        assert_eq!(a.finalize().into_bytes(), b.finalize().into_bytes());
    }

    #[test]
    fn blind_index_is_keyed_and_stable() {
        let k1 = Key32::random();
        let k2 = Key32::random();
        assert_eq!(blind_index(&k1, b"1"), blind_index(&k1, b"1"));
        assert_ne!(blind_index(&k1, b"1"), blind_index(&k2, b"1"));
        assert!(!format!("{k1:?}").contains(&hex::encode(k1.bytes())));
    }
}
