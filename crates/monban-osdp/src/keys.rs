//! Per-reader Secure Channel base keys (SCBK), stored encrypted at rest.
//!
//! The key file (JSON) holds, per reader name, the SCBK sealed with AES-256-GCM under a key
//! encryption key (KEK) with the reader name as associated data, so a sealed key cannot be
//! moved to another reader. The KEK is 32 random bytes, hex, in its own file (created with mode
//! 0600 when missing) or in the `MONBAN_OSDP_KEK` environment variable; keep it off the disk
//! that holds the key file where you can. A rotation first stores the new key as *pending*,
//! and promotes it only after the reader has accepted it and a Secure Channel was established
//! with it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Environment variable that may hold the KEK (64 hex digits).
pub const KEK_ENV: &str = "MONBAN_OSDP_KEK";

/// A 128-bit Secure Channel base key. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Scbk(Zeroizing<[u8; 16]>);

impl std::fmt::Debug for Scbk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scbk(****)")
    }
}

impl Scbk {
    /// A fresh random key.
    pub fn random() -> Self {
        let mut k = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self(Zeroizing::new(k))
    }

    /// A key from its bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(Zeroizing::new(b))
    }

    /// Parses 32 hex digits.
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let v = Zeroizing::new(hex::decode(s.trim()).map_err(|_| KeyError::BadKey)?);
        let b: [u8; 16] = v.as_slice().try_into().map_err(|_| KeyError::BadKey)?;
        Ok(Self::from_bytes(b))
    }

    /// The key bytes.
    pub fn bytes(&self) -> [u8; 16] {
        *self.0
    }

    /// Hex form (for handing to a simulated reader only).
    pub fn to_hex(&self) -> String {
        hex::encode(*self.0)
    }
}

/// Errors of the key store.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("鍵ファイル {path} を読み書きできません: {source}。パスと権限を確認してください / cannot read or write key file {path}: {source}; check the path and permissions")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("鍵ファイル {0} の形式が不正です。バックアップから戻してください / key file {0} is malformed; restore it from a backup")]
    Malformed(PathBuf),
    #[error(
        "鍵は16進数32桁（128ビット）で指定してください / a key must be 32 hex digits (128 bits)"
    )]
    BadKey,
    #[error("鍵暗号化鍵（KEK）が違うか、鍵ファイルが改ざんされています（リーダー {0}）。正しいKEKを指定してください / wrong key encryption key (KEK), or the key file was tampered with (reader {0}); supply the right KEK")]
    Unseal(String),
    #[error("リーダー {0} の鍵がありません。`monban osdp install-key` で設置してください / no key for reader {0}; install one with `monban osdp install-key`")]
    Missing(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Entry {
    /// nonce (12 bytes) ‖ ciphertext, hex.
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending: Option<String>,
    #[serde(default)]
    updated_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileData {
    version: u32,
    readers: BTreeMap<String, Entry>,
}

/// The key store: one file of sealed keys, one KEK.
pub struct KeyStore {
    path: PathBuf,
    kek: Zeroizing<[u8; 32]>,
    data: FileData,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("path", &self.path)
            .field("readers", &self.data.readers.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}

/// Loads the KEK from `MONBAN_OSDP_KEK`, else from `kek_path`, creating that file with a fresh
/// random KEK (mode 0600) when it does not exist.
pub fn load_kek(kek_path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let hex_kek = match std::env::var(KEK_ENV) {
        Ok(v) => Zeroizing::new(v),
        Err(_) if kek_path.exists() => {
            Zeroizing::new(std::fs::read_to_string(kek_path).map_err(io(kek_path))?)
        }
        Err(_) => {
            let mut k = Zeroizing::new([0u8; 32]);
            rand::rngs::OsRng.fill_bytes(&mut *k);
            write_private(kek_path, hex::encode(*k).as_bytes())?;
            return Ok(k);
        }
    };
    let v = Zeroizing::new(hex::decode(hex_kek.trim()).map_err(|_| KeyError::BadKey)?);
    let k: [u8; 32] = v.as_slice().try_into().map_err(|_| KeyError::BadKey)?;
    Ok(Zeroizing::new(k))
}

impl KeyStore {
    /// Opens (or starts) the key file at `path` with the given KEK.
    pub fn open(path: &Path, kek: Zeroizing<[u8; 32]>) -> Result<Self, KeyError> {
        let data = if path.exists() {
            let bytes = std::fs::read(path).map_err(io(path))?;
            serde_json::from_slice(&bytes).map_err(|_| KeyError::Malformed(path.to_path_buf()))?
        } else {
            FileData {
                version: 1,
                readers: BTreeMap::new(),
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            kek,
            data,
        })
    }

    /// Opens the key file with the KEK from [`load_kek`] (`<path>.kek` by default).
    pub fn open_default(path: &Path, kek_path: Option<&Path>) -> Result<Self, KeyError> {
        let kp = kek_path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| path.with_extension("kek"));
        let kek = load_kek(&kp)?;
        Self::open(path, kek)
    }

    fn cipher(&self) -> Result<Aes256Gcm, KeyError> {
        Aes256Gcm::new_from_slice(&*self.kek).map_err(|_| KeyError::BadKey)
    }

    fn seal(&self, reader: &str, key: &Scbk) -> Result<String, KeyError> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = format!("monban-osdp-scbk:v1:{reader}");
        let ct = self
            .cipher()?
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &key.bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Unseal(reader.to_string()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(hex::encode(out))
    }

    fn unseal(&self, reader: &str, sealed: &str) -> Result<Scbk, KeyError> {
        let raw = hex::decode(sealed).map_err(|_| KeyError::Malformed(self.path.clone()))?;
        if raw.len() < 12 {
            return Err(KeyError::Malformed(self.path.clone()));
        }
        let (nonce, ct) = raw.split_at(12);
        let aad = format!("monban-osdp-scbk:v1:{reader}");
        let pt = Zeroizing::new(
            self.cipher()?
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: ct,
                        aad: aad.as_bytes(),
                    },
                )
                .map_err(|_| KeyError::Unseal(reader.to_string()))?,
        );
        let b: [u8; 16] = pt.as_slice().try_into().map_err(|_| KeyError::BadKey)?;
        Ok(Scbk::from_bytes(b))
    }

    fn save(&self) -> Result<(), KeyError> {
        let json = serde_json::to_vec_pretty(&self.data)
            .map_err(|_| KeyError::Malformed(self.path.clone()))?;
        write_private(&self.path, &json)
    }

    /// The reader's current key.
    pub fn get(&self, reader: &str) -> Result<Scbk, KeyError> {
        let e = self
            .data
            .readers
            .get(reader)
            .ok_or_else(|| KeyError::Missing(reader.to_string()))?;
        self.unseal(reader, &e.key)
    }

    /// The reader's pending (rotating-to) key, if any.
    pub fn pending(&self, reader: &str) -> Result<Option<Scbk>, KeyError> {
        match self
            .data
            .readers
            .get(reader)
            .and_then(|e| e.pending.as_ref())
        {
            Some(p) => Ok(Some(self.unseal(reader, p)?)),
            None => Ok(None),
        }
    }

    /// Names of the readers with keys.
    pub fn readers(&self) -> Vec<String> {
        self.data.readers.keys().cloned().collect()
    }

    /// Sets the reader's current key (installation), dropping any pending key; saved at once.
    pub fn set(&mut self, reader: &str, key: &Scbk) -> Result<(), KeyError> {
        let sealed = self.seal(reader, key)?;
        self.data.readers.insert(
            reader.to_string(),
            Entry {
                key: sealed,
                pending: None,
                updated_at: jiff::Timestamp::now().to_string(),
            },
        );
        self.save()
    }

    /// Records a key the reader is being moved to; saved at once.
    pub fn set_pending(&mut self, reader: &str, key: &Scbk) -> Result<(), KeyError> {
        let sealed = self.seal(reader, key)?;
        let e = self
            .data
            .readers
            .get_mut(reader)
            .ok_or_else(|| KeyError::Missing(reader.to_string()))?;
        e.pending = Some(sealed);
        self.save()
    }

    /// Makes the pending key current; saved at once.
    pub fn promote_pending(&mut self, reader: &str) -> Result<(), KeyError> {
        let e = self
            .data
            .readers
            .get_mut(reader)
            .ok_or_else(|| KeyError::Missing(reader.to_string()))?;
        if let Some(p) = e.pending.take() {
            e.key = p;
            e.updated_at = jiff::Timestamp::now().to_string();
        }
        self.save()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_are_sealed_bound_to_reader_and_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("osdp-keys.json");
        let kek = Zeroizing::new([9u8; 32]);
        let k1 = Scbk::random();
        let mut ks = KeyStore::open(&path, kek.clone()).unwrap();
        ks.set("door1-in", &k1).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&k1.to_hex()),
            "key must not be stored in clear"
        );
        assert_eq!(
            KeyStore::open(&path, kek.clone())
                .unwrap()
                .get("door1-in")
                .unwrap(),
            k1
        );
        // Wrong KEK is refused.
        assert!(matches!(
            KeyStore::open(&path, Zeroizing::new([1u8; 32]))
                .unwrap()
                .get("door1-in"),
            Err(KeyError::Unseal(_))
        ));
        // A sealed key moved to another reader does not open.
        let moved = text.replace("door1-in", "door2-in");
        std::fs::write(&path, moved).unwrap();
        assert!(matches!(
            KeyStore::open(&path, kek.clone()).unwrap().get("door2-in"),
            Err(KeyError::Unseal(_))
        ));
        let mut ks = KeyStore::open(&path, kek.clone()).unwrap();
        ks.set("door1-in", &k1).unwrap();
        let k2 = Scbk::random();
        ks.set_pending("door1-in", &k2).unwrap();
        assert_eq!(ks.get("door1-in").unwrap(), k1);
        assert_eq!(ks.pending("door1-in").unwrap(), Some(k2.clone()));
        ks.promote_pending("door1-in").unwrap();
        assert_eq!(
            KeyStore::open(&path, kek).unwrap().get("door1-in").unwrap(),
            k2
        );
        assert!(format!("{k2:?}").contains("****"));
        let mode = std::fs::metadata(&path).unwrap().permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
    }
}
