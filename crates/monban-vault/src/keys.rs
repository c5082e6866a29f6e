//! Where the master key comes from: a [`KeyProvider`] trait (so a KMS or HSM can be added later)
//! with two providers, a key file in the data directory (created with mode 0600 on first start)
//! and a passphrase stretched with Argon2id.
//!
//! The master key never touches the database: only keys wrapped under it, and a public
//! fingerprint to tell a wrong key from a right one, are stored.

use std::io::Write;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::crypto::Key32;
use crate::error::{VaultError, VaultResult};

/// What a provider may need to know about the vault it unlocks.
#[derive(Debug, Clone, Copy)]
pub struct KeyContext<'a> {
    /// The vault's random salt (for passphrase stretching).
    pub salt: &'a [u8],
    /// Whether the vault already holds keys wrapped under some master key. A provider must not
    /// invent a new key for an initialised vault.
    pub initialised: bool,
}

/// A source of the master key.
pub trait KeyProvider: Send + Sync {
    /// A short kind name for messages and the vault's metadata (`key_file`, `passphrase`, …).
    fn kind(&self) -> &'static str;
    /// A description for messages (never the key).
    fn describe(&self) -> String;
    /// The master key.
    fn master_key(&self, ctx: &KeyContext<'_>) -> VaultResult<Key32>;
    /// A second candidate (e.g. a rotation that stopped half-way); `None` by default.
    fn alternate_key(&self, _ctx: &KeyContext<'_>) -> VaultResult<Option<Key32>> {
        Ok(None)
    }
    /// Makes the alternate key the main one after it proved right.
    fn promote_alternate(&self) -> VaultResult<()> {
        Ok(())
    }
}

/// The master key in a file: 64 hex digits and a newline, mode 0600.
#[derive(Debug, Clone)]
pub struct KeyFileProvider {
    path: PathBuf,
}

/// File name of the key file in the data directory.
pub const KEY_FILE_NAME: &str = "vault.key";

impl KeyFileProvider {
    /// A provider for the key file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// A provider for `vault.key` in `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join(KEY_FILE_NAME))
    }

    /// The key file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn staged_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".new");
        PathBuf::from(p)
    }

    fn err(&self, reason: impl Into<String>) -> VaultError {
        VaultError::KeyFile {
            path: self.path.display().to_string(),
            reason: reason.into(),
        }
    }

    fn read(&self, path: &Path) -> VaultResult<Key32> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| self.err(format!("読めません（{e}） / cannot read ({e})")))?,
        );
        let mut raw = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), raw.as_mut()).map_err(|_| {
            self.err("内容が64桁の16進数ではありません / the file does not hold 64 hex digits")
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(m) = std::fs::metadata(path) {
                if m.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), "vault key file is readable by others; chmod 600 it");
                }
            }
        }
        Ok(Key32::from_bytes(*raw))
    }

    fn write(path: &Path, key: &Key32) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path)?;
        let mut text = Zeroizing::new(hex::encode(key.bytes()));
        text.push('\n');
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        Ok(())
    }

    /// Writes a fresh key beside the current one (`vault.key.new`) for a rotation, and returns
    /// it. [`KeyProvider::promote_alternate`] moves it into place once the vault is re-wrapped.
    pub fn stage_new_key(&self) -> VaultResult<Key32> {
        let staged = self.staged_path();
        if staged.exists() {
            return Err(self.err(format!(
                "前回の鍵更新の途中のファイル {} があります。サーバーを一度起動して整合させるか、不要なら削除してください / a staged key {} from an unfinished rotation exists; start the server once to settle it, or remove it if unused",
                staged.display(),
                staged.display()
            )));
        }
        let key = Key32::random();
        Self::write(&staged, &key).map_err(|e| {
            self.err(format!(
                "新しい鍵を書けません（{e}） / cannot write the new key ({e})"
            ))
        })?;
        Ok(key)
    }

    /// Removes a staged key after a failed rotation.
    pub fn discard_staged(&self) {
        let _ = std::fs::remove_file(self.staged_path());
    }
}

impl KeyProvider for KeyFileProvider {
    fn kind(&self) -> &'static str {
        "key_file"
    }

    fn describe(&self) -> String {
        format!("鍵ファイル / key file {}", self.path.display())
    }

    fn master_key(&self, ctx: &KeyContext<'_>) -> VaultResult<Key32> {
        if self.path.exists() {
            return self.read(&self.path);
        }
        if ctx.initialised {
            return Err(self.err(
                "ファイルがありません。保管庫は別の鍵で暗号化されています。バックアップから鍵ファイルを戻してください / the file is missing but the vault is sealed with a key; restore the key file from your backup",
            ));
        }
        let key = Key32::random();
        Self::write(&self.path, &key)
            .map_err(|e| self.err(format!("作成できません（{e}） / cannot create it ({e})")))?;
        tracing::info!(path = %self.path.display(), "created a new vault master key file (mode 0600); back it up apart from the database");
        Ok(key)
    }

    fn alternate_key(&self, _ctx: &KeyContext<'_>) -> VaultResult<Option<Key32>> {
        let staged = self.staged_path();
        if staged.exists() {
            self.read(&staged).map(Some)
        } else {
            Ok(None)
        }
    }

    fn promote_alternate(&self) -> VaultResult<()> {
        std::fs::rename(self.staged_path(), &self.path).map_err(|e| {
            self.err(format!(
                "新しい鍵に置き換えられません（{e}） / cannot move the new key into place ({e})"
            ))
        })
    }
}

/// The master key stretched from a passphrase with Argon2id and the vault's salt.
pub struct PassphraseProvider {
    passphrase: Zeroizing<String>,
    params: argon2::Params,
}

impl std::fmt::Debug for PassphraseProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassphraseProvider(<redacted>)")
    }
}

/// Shortest accepted passphrase, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

impl PassphraseProvider {
    /// A provider with Argon2id at 64 MiB, 3 passes, 1 lane.
    pub fn new(passphrase: Zeroizing<String>) -> VaultResult<Self> {
        let params = argon2::Params::new(64 * 1024, 3, 1, Some(32))
            .map_err(|e| VaultError::Crypto(e.to_string()))?;
        Self::with_params(passphrase, params)
    }

    /// A provider with chosen Argon2id parameters (lighter ones for tests).
    pub fn with_params(passphrase: Zeroizing<String>, params: argon2::Params) -> VaultResult<Self> {
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(VaultError::Invalid(monban_core::text::FieldError::new(
                "passphrase",
                format!("パスフレーズは{MIN_PASSPHRASE_CHARS}文字以上にしてください / the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters"),
            )));
        }
        Ok(Self { passphrase, params })
    }
}

impl KeyProvider for PassphraseProvider {
    fn kind(&self) -> &'static str {
        "passphrase"
    }

    fn describe(&self) -> String {
        "パスフレーズ / passphrase (Argon2id)".into()
    }

    fn master_key(&self, ctx: &KeyContext<'_>) -> VaultResult<Key32> {
        let a = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            self.params.clone(),
        );
        let mut out = Zeroizing::new([0u8; 32]);
        a.hash_password_into(self.passphrase.as_bytes(), ctx.salt, out.as_mut())
            .map_err(|e| VaultError::Crypto(format!("argon2: {e}")))?;
        Ok(Key32::from_bytes(*out))
    }
}

/// A provider that hands out a fixed key (for tests, benchmarks and rotation).
pub struct StaticKeyProvider(pub Key32);

impl KeyProvider for StaticKeyProvider {
    fn kind(&self) -> &'static str {
        "static"
    }

    fn describe(&self) -> String {
        "固定鍵 / static key".into()
    }

    fn master_key(&self, _ctx: &KeyContext<'_>) -> VaultResult<Key32> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn key_file_is_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let p = KeyFileProvider::in_data_dir(dir.path());
        let ctx = KeyContext {
            salt: b"0123456789abcdef",
            initialised: false,
        };
        let k1 = p.master_key(&ctx).unwrap();
        let k2 = p.master_key(&ctx).unwrap();
        assert_eq!(k1.bytes(), k2.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(p.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn missing_key_file_for_initialised_vault_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = KeyFileProvider::in_data_dir(dir.path());
        let ctx = KeyContext {
            salt: b"0123456789abcdef",
            initialised: true,
        };
        assert!(matches!(
            p.master_key(&ctx),
            Err(VaultError::KeyFile { .. })
        ));
        assert!(!p.path().exists());
    }

    #[test]
    fn passphrase_is_deterministic_per_salt() {
        let params = argon2::Params::new(1024, 1, 1, Some(32)).unwrap();
        let p =
            PassphraseProvider::with_params(Zeroizing::new("correct horse battery".into()), params)
                .unwrap();
        let c1 = KeyContext {
            salt: b"0123456789abcdef",
            initialised: true,
        };
        let c2 = KeyContext {
            salt: b"fedcba9876543210",
            initialised: true,
        };
        assert_eq!(
            p.master_key(&c1).unwrap().bytes(),
            p.master_key(&c1).unwrap().bytes()
        );
        assert_ne!(
            p.master_key(&c1).unwrap().bytes(),
            p.master_key(&c2).unwrap().bytes()
        );
        assert!(PassphraseProvider::new(Zeroizing::new("short".into())).is_err());
    }
}
