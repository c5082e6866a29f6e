//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 signatures: verifier keys
//! (`<name>+<hex id>+<base64(0x01 || pubkey)>`), signer keys
//! (`PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`, as golang.org/x/mod/sumdb/note),
//! strict parsing, verification and signing.

use std::collections::HashSet;
use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Signature type byte for Ed25519.
pub const ALG_ED25519: u8 = 0x01;
/// Most signature lines accepted in one note.
pub const MAX_SIGNATURES: usize = 100;
/// Largest note accepted, in bytes.
pub const MAX_NOTE_LEN: usize = 1 << 20;

const SIG_PREFIX: &str = "\u{2014} ";

/// Why a key or note was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("note is {0} bytes; the limit is 1 MiB")]
    TooLarge(usize),
    #[error("note is not valid UTF-8")]
    NotUtf8,
    #[error("note line {line}: control character U+{code:04X} is not allowed")]
    ControlChar { line: usize, code: u32 },
    #[error("note has no blank line separating the text from the signatures")]
    MissingBlankLine,
    #[error("note has no signature lines after the blank line")]
    NoSignatureLines,
    #[error("note does not end with a newline")]
    MissingFinalNewline,
    #[error("note text must end with a newline")]
    TextNotTerminated,
    #[error("note line {line}: signature line must start with an em dash (U+2014) and a space")]
    SignatureLinePrefix { line: usize },
    #[error("note line {line}: {reason}")]
    BadSignatureLine { line: usize, reason: &'static str },
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("note signature by known key {name}+{key_id:08x} does not verify")]
    InvalidSignature { name: String, key_id: u32 },
    #[error("note has no valid signature from a trusted key (signed by: {signers})")]
    NoTrustedSignature { signers: String },
    #[error("two trusted keys share the name and id {name}+{key_id:08x}")]
    AmbiguousKey { name: String, key_id: u32 },
    #[error("key name {0:?} is invalid: it must be non-empty and contain no spaces or '+'")]
    BadKeyName(String),
    #[error("verifier key is malformed: {0}")]
    BadVerifierKey(&'static str),
    #[error("signer key is malformed: {0}")]
    BadSignerKey(&'static str),
    #[error("key id {found:08x} in the key does not match the computed id {computed:08x}")]
    KeyIdMismatch { found: u32, computed: u32 },
    #[error("key algorithm {0:#04x} is not supported (only 0x01, Ed25519)")]
    UnsupportedAlgorithm(u8),
}

/// Whether `name` is a valid key name: non-empty, no Unicode white space, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// Key id: the first four bytes (big-endian) of SHA-256(name || 0x0A || alg || public key).
pub fn key_id(name: &str, alg: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', alg]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn parse_hex_id(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// A trusted Ed25519 verifier key.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl fmt::Display for VerifierKey {
    /// The vkey text form `<name>+<hex id>+<base64(0x01 || pubkey)>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut k = [0u8; 33];
        k[0] = ALG_ED25519;
        k[1..].copy_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, B64.encode(k))
    }
}

impl VerifierKey {
    /// Parses a vkey `<name>+<hex id>+<base64(0x01 || 32-byte pubkey)>`.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(key64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadVerifierKey(
                "expected <name>+<hex key id>+<base64 key>",
            ));
        };
        if !is_valid_key_name(name) {
            return Err(NoteError::BadKeyName(name.to_owned()));
        }
        let id =
            parse_hex_id(id).ok_or(NoteError::BadVerifierKey("key id must be 8 hex digits"))?;
        let key = B64
            .decode(key64)
            .map_err(|_| NoteError::BadVerifierKey("key is not standard base64"))?;
        let Some((&alg, pk)) = key.split_first() else {
            return Err(NoteError::BadVerifierKey("key is empty"));
        };
        let computed = key_id(name, alg, pk);
        if computed != id {
            return Err(NoteError::KeyIdMismatch {
                found: id,
                computed,
            });
        }
        if alg != ALG_ED25519 {
            return Err(NoteError::UnsupportedAlgorithm(alg));
        }
        let pk: [u8; 32] = pk
            .try_into()
            .map_err(|_| NoteError::BadVerifierKey("Ed25519 public key must be 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&pk)
            .map_err(|_| NoteError::BadVerifierKey("not a valid Ed25519 public key"))?;
        Ok(VerifierKey {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// Builds a verifier key from a name and a raw Ed25519 public key.
    pub fn from_public_key(name: &str, public_key: &[u8; 32]) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::BadKeyName(name.to_owned()));
        }
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|_| NoteError::BadVerifierKey("not a valid Ed25519 public key"))?;
        Ok(VerifierKey {
            name: name.to_owned(),
            id: key_id(name, ALG_ED25519, public_key),
            key,
        })
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// Raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Checks an Ed25519 signature over `msg` (strict RFC 8032 verification).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(sig) else {
            return false;
        };
        self.key.verify_strict(msg, &sig).is_ok()
    }
}

/// An Ed25519 note signer. Its `Debug` output never shows the secret.
#[derive(Clone)]
pub struct Signer {
    name: String,
    id: u32,
    key: SigningKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({}+{:08x})", self.name, self.id)
    }
}

impl Signer {
    /// Parses a signer key `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || 32-byte seed)>`.
    pub fn parse(skey: &str) -> Result<Self, NoteError> {
        let mut parts = skey.splitn(5, '+');
        let (Some("PRIVATE"), Some("KEY"), Some(name), Some(id), Some(key64)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(NoteError::BadSignerKey(
                "expected PRIVATE+KEY+<name>+<hex key id>+<base64 key>",
            ));
        };
        if !is_valid_key_name(name) {
            return Err(NoteError::BadKeyName(name.to_owned()));
        }
        let id = parse_hex_id(id).ok_or(NoteError::BadSignerKey("key id must be 8 hex digits"))?;
        let key = B64
            .decode(key64)
            .map_err(|_| NoteError::BadSignerKey("key is not standard base64"))?;
        let Some((&alg, seed)) = key.split_first() else {
            return Err(NoteError::BadSignerKey("key is empty"));
        };
        if alg != ALG_ED25519 {
            return Err(NoteError::UnsupportedAlgorithm(alg));
        }
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| NoteError::BadSignerKey("Ed25519 seed must be 32 bytes"))?;
        let s = Self::from_seed(name, &seed)?;
        if s.id != id {
            return Err(NoteError::KeyIdMismatch {
                found: id,
                computed: s.id,
            });
        }
        Ok(s)
    }

    /// Builds a signer from a name and a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::BadKeyName(name.to_owned()));
        }
        let key = SigningKey::from_bytes(seed);
        let id = key_id(name, ALG_ED25519, key.verifying_key().as_bytes());
        Ok(Signer {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// Generates a fresh key named `name`.
    pub fn generate<R: rand::RngCore + rand::CryptoRng>(
        name: &str,
        rng: &mut R,
    ) -> Result<Self, NoteError> {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self::from_seed(name, &seed)
    }

    /// The secret key in `PRIVATE+KEY+…` form. Keep it secret.
    pub fn to_signer_key_string(&self) -> String {
        let mut k = [0u8; 33];
        k[0] = ALG_ED25519;
        k[1..].copy_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            B64.encode(k)
        )
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The matching verifier key.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// The signature line `— <name> <base64(id || sig)>\n` for `text`.
    pub fn signature_line(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(68);
        raw.extend_from_slice(&self.id.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }

    /// Signs `text` into a complete note (text, blank line, one signature line).
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        sign(text, &[self])
    }
}

/// Signs `text` with every signer. `text` must be valid note text: UTF-8 without control
/// characters other than newline, ending with a newline.
pub fn sign(text: &str, signers: &[&Signer]) -> Result<String, NoteError> {
    check_chars(text.as_bytes())?;
    if !text.ends_with('\n') {
        return Err(NoteError::TextNotTerminated);
    }
    if signers.is_empty() {
        return Err(NoteError::NoSignatureLines);
    }
    if signers.len() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures);
    }
    let mut out = String::with_capacity(text.len() + 1 + signers.len() * 110);
    out.push_str(text);
    out.push('\n');
    for s in signers {
        out.push_str(&s.signature_line(text));
    }
    Ok(out)
}

/// One parsed signature line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id (first four bytes of the decoded signature).
    pub key_id: u32,
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
}

/// A syntactically valid note, signatures not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedNote {
    /// Note text, including its final newline.
    pub text: String,
    /// All signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

/// A note with at least one valid signature from a trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Note text, including its final newline.
    pub text: String,
    /// Signatures from trusted keys, all verified (duplicates removed).
    pub verified: Vec<NoteSignature>,
    /// Signatures from keys not in the trusted list (not checked; duplicates removed).
    pub unverified: Vec<NoteSignature>,
}

fn check_chars(msg: &[u8]) -> Result<&str, NoteError> {
    if msg.len() > MAX_NOTE_LEN {
        return Err(NoteError::TooLarge(msg.len()));
    }
    let s = std::str::from_utf8(msg).map_err(|_| NoteError::NotUtf8)?;
    let mut line = 1usize;
    for c in s.chars() {
        if c == '\n' {
            line += 1;
        } else if (c as u32) < 0x20 {
            return Err(NoteError::ControlChar {
                line,
                code: c as u32,
            });
        }
    }
    Ok(s)
}

/// Parses a note without checking signatures: UTF-8, no control characters but newline, text
/// separated from signature lines by the last blank line, each line `— <name> <base64>` with a
/// valid name and at least 5 decoded bytes, at most [`MAX_SIGNATURES`] lines, final newline.
pub fn parse(msg: &[u8]) -> Result<ParsedNote, NoteError> {
    let s = check_chars(msg)?;
    let split = s.rfind("\n\n").ok_or(NoteError::MissingBlankLine)?;
    let text = &s[..=split];
    let sigs = &s[split + 2..];
    if sigs.is_empty() {
        return Err(NoteError::NoSignatureLines);
    }
    if !sigs.ends_with('\n') {
        return Err(NoteError::MissingFinalNewline);
    }
    let first_sig_line = text.matches('\n').count() + 2;
    let mut signatures = Vec::new();
    for (i, line) in sigs[..sigs.len() - 1].split('\n').enumerate() {
        let line_no = first_sig_line + i;
        if signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or(NoteError::SignatureLinePrefix { line: line_no })?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::BadSignatureLine {
            line: line_no,
            reason: "expected a key name, a space and a base64 signature",
        })?;
        if !is_valid_key_name(name) {
            return Err(NoteError::BadSignatureLine {
                line: line_no,
                reason: "key name is empty or contains a space or '+'",
            });
        }
        let raw = B64.decode(b64).map_err(|_| NoteError::BadSignatureLine {
            line: line_no,
            reason: "signature is not standard base64",
        })?;
        if raw.len() < 5 {
            return Err(NoteError::BadSignatureLine {
                line: line_no,
                reason: "signature is shorter than a key id plus one byte",
            });
        }
        signatures.push(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            signature: raw[4..].to_vec(),
        });
    }
    Ok(ParsedNote {
        text: text.to_owned(),
        signatures,
    })
}

/// Parses and verifies a note against trusted keys. Signatures from unknown keys (name or id
/// not matching any trusted key) are ignored; a signature from a trusted key that fails to
/// verify rejects the note; at least one trusted signature must verify.
pub fn open(msg: &[u8], trusted: &[VerifierKey]) -> Result<Note, NoteError> {
    let parsed = parse(msg)?;
    let mut verified: Vec<NoteSignature> = Vec::new();
    let mut unverified: Vec<NoteSignature> = Vec::new();
    let mut seen: HashSet<(String, u32)> = HashSet::new();
    for sig in parsed.signatures {
        let mut matches = trusted
            .iter()
            .filter(|k| k.name == sig.name && k.id == sig.key_id);
        let Some(key) = matches.next() else {
            if !unverified.contains(&sig) {
                unverified.push(sig);
            }
            continue;
        };
        if matches.any(|k| k != key) {
            return Err(NoteError::AmbiguousKey {
                name: sig.name,
                key_id: sig.key_id,
            });
        }
        if !seen.insert((sig.name.clone(), sig.key_id)) {
            continue;
        }
        if !key.verify(parsed.text.as_bytes(), &sig.signature) {
            return Err(NoteError::InvalidSignature {
                name: sig.name,
                key_id: sig.key_id,
            });
        }
        verified.push(sig);
    }
    if verified.is_empty() {
        let signers = unverified
            .iter()
            .map(|s| format!("{}+{:08x}", s.name, s.key_id))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(NoteError::NoTrustedSignature { signers });
    }
    Ok(Note {
        text: parsed.text,
        verified,
        unverified,
    })
}
