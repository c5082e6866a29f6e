//! Monban's My Number vault (個人番号の保管庫).
//!
//! Personal numbers of employees and their dependents are validated ([`number`]), encrypted each
//! under its own data key with AES-256-GCM, the data keys wrapped by a master key from a
//! [`keys::KeyProvider`] ([`crypto`]), and found for duplicate checks through a keyed-HMAC blind
//! index. A number is revealed only to a handler or security officer, for a lawful purpose the
//! record is registered for, with a fresh TOTP code ([`totp`]), while present in a 取扱区域 or
//! 管理区域 ([`vault`]). Deletion is crypto-shredding confirmed by the security officer; export
//! needs the officer's approval and produces an `age`-encrypted file ([`lifecycle`]). The
//! 取扱状況 ledger and the due-for-deletion list come out as rows or CSV ([`report`]).
//!
//! Every access and every refusal is written to the audit log and the vault's access log, never
//! with the number. Plaintext lives only in zeroizing buffers whose `Debug` is redacted.

pub mod crypto;
pub mod error;
pub mod keys;
pub mod lifecycle;
pub mod number;
pub mod policy;
pub mod report;
pub mod schema;
pub mod totp;
pub mod vault;

pub use error::{Refusal, VaultError, VaultResult};
pub use keys::{KeyFileProvider, KeyProvider, PassphraseProvider, StaticKeyProvider};
pub use lifecycle::{DeletionRecord, ExportFile, ExportInput, ExportRecipient, ExportRecord};
pub use number::MyNumber;
pub use policy::{DocType, IdentityCheckDoc, NumberCheckDoc, Purpose, Relation};
pub use vault::{
    Actor, Clock, ManualClock, NewRecord, OperatorLink, RecordMeta, Revealed, RotationReport,
    SettingsChange, SystemClock, TotpEnrollment, Vault, VaultSettings, VaultStatus,
};
