//! Wire types of the controller link, versioned, and the two pieces of cryptography both ends
//! must agree on: keyed credential hashes and signed policy snapshots.
//!
//! The link carries length-prefixed JSON frames (a 4-byte big-endian length, then the message)
//! inside TLS. A controller speaks [`ControllerMsg`], the server [`ServerMsg`]. Each controller
//! message after `hello` carries a `msg_id` that must increase; a repeated or older one is
//! refused as a replay. Door records carry the controller's own sequence number (`seq`, from 1,
//! without gaps), on which the server stores each record exactly once.

pub mod synthetic;

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use monban_core::model::Id;
use monban_core::{
    AlarmCode, CredentialHash, CredentialKind, Direction, PolicyData, PolicySnapshot, ReasonCode,
    StreamedSnapshot,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the link protocol. 2: a snapshot's payload travels as a raw frame after
/// [`ServerMsg::Snapshot`].
pub const PROTO_VERSION: u32 = 2;
/// Largest frame a controller may send (a batch of records).
pub const MAX_CONTROLLER_FRAME: usize = 1024 * 1024;
/// Largest frame the server may send (a snapshot of a large deployment).
pub const MAX_SERVER_FRAME: usize = 256 * 1024 * 1024;
/// Most records in one upload batch.
pub const MAX_BATCH: usize = 1000;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("スナップショットの署名が正しくありません。サーバーの公開鍵と登録をご確認ください / the snapshot signature does not verify; check the server key and the enrolment")]
    BadSignature,
    #[error("スナップショットの形式が正しくありません: {0} / malformed snapshot: {0}")]
    Malformed(String),
    #[error("登録コードが正しくありません: {0}。サーバーで新しい登録コードを発行してください / invalid enrolment code: {0}; issue a new one on the server")]
    BadCode(String),
}

/// Computes the keyed hash of a credential value: HMAC-SHA256 under the deployment key over
/// `kind:value` (a card's normalised hex ID, or a face template reference).
pub fn credential_hash(key: &[u8], kind: CredentialKind, value: &str) -> CredentialHash {
    use monban_core::text::Code;
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this arm is never taken.
        Err(_) => return CredentialHash([0; 32]),
    };
    mac.update(kind.code().as_bytes());
    mac.update(b":");
    mac.update(value.as_bytes());
    CredentialHash(mac.finalize().into_bytes().into())
}

/// A policy snapshot as signed: the JSON of a [`PolicyData`], and an Ed25519 signature over
/// exactly those bytes, by the server's snapshot key.
///
/// On the link it travels as a [`ServerMsg::Snapshot`] (version and signature) followed by one
/// raw frame of the payload bytes; a controller streams that frame to disk in the stored form
/// ([`SignedSnapshot::write_stored`]) and indexes it from there ([`read_stored`]), so neither
/// end ever holds the payload as text. The JSON form of this type (payload and signature as
/// base64) is what controllers of the first version stored in `snapshot.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignedSnapshot {
    pub version: u64,
    /// JSON of the [`PolicyData`] (base64 in this type's JSON form).
    #[serde(with = "base64_bytes")]
    pub payload: Vec<u8>,
    /// Ed25519 signature over the payload (base64 in this type's JSON form).
    #[serde(with = "base64_bytes")]
    pub signature: Vec<u8>,
}

/// The first bytes of a stored snapshot: what it is and which layout.
const STORED_MAGIC: &[u8; 8] = b"MBSNAP1\n";
/// The stored snapshot's header: magic (8), version (8, big-endian), signature (64).
pub const STORED_HEADER: usize = 8 + 8 + 64;

impl SignedSnapshot {
    /// Serialises and signs `data`.
    pub fn sign(data: &PolicyData, key: &SigningKey) -> Result<Self, ProtoError> {
        let bytes = serde_json::to_vec(data).map_err(|e| ProtoError::Malformed(e.to_string()))?;
        let sig = key.sign(&bytes);
        Ok(Self {
            version: data.version,
            payload: bytes,
            signature: sig.to_bytes().to_vec(),
        })
    }

    /// Verifies the signature with `key` and returns the policy. Refuses anything unsigned,
    /// wrongly signed, or whose version differs from the signed content.
    pub fn verify(&self, key: &VerifyingKey) -> Result<PolicyData, ProtoError> {
        let sig = ed25519_dalek::Signature::from_slice(&self.signature)
            .map_err(|_| ProtoError::BadSignature)?;
        key.verify(&self.payload, &sig)
            .map_err(|_| ProtoError::BadSignature)?;
        let data: PolicyData = serde_json::from_slice(&self.payload)
            .map_err(|e| ProtoError::Malformed(e.to_string()))?;
        if data.version != self.version {
            return Err(ProtoError::Malformed("version mismatch".into()));
        }
        Ok(data)
    }

    /// The signature as 64 bytes, or a refusal.
    fn signature_bytes(&self) -> Result<[u8; 64], ProtoError> {
        self.signature
            .as_slice()
            .try_into()
            .map_err(|_| ProtoError::BadSignature)
    }

    /// The header of the stored form, before the payload.
    pub fn stored_header(&self) -> Result<[u8; STORED_HEADER], ProtoError> {
        stored_header(self.version, &self.signature_bytes()?)
    }

    /// Writes the snapshot in a controller's stored form: a header (magic, version,
    /// signature), then the payload as it is.
    pub fn write_stored<W: std::io::Write>(&self, mut w: W) -> std::io::Result<()> {
        let header = self
            .stored_header()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        w.write_all(&header)?;
        w.write_all(&self.payload)?;
        w.flush()
    }

    /// The link message announcing this snapshot; its payload follows as one raw frame.
    pub fn announcement(&self) -> ServerMsg {
        ServerMsg::Snapshot {
            version: self.version,
            signature: base64::engine::general_purpose::STANDARD.encode(&self.signature),
        }
    }
}

/// The header of a stored snapshot of `version` signed with `signature`.
pub fn stored_header(
    version: u64,
    signature: &[u8; 64],
) -> Result<[u8; STORED_HEADER], ProtoError> {
    let mut h = [0u8; STORED_HEADER];
    let (magic, rest) = h.split_at_mut(8);
    let (ver, sig) = rest.split_at_mut(8);
    magic.copy_from_slice(STORED_MAGIC);
    ver.copy_from_slice(&version.to_be_bytes());
    sig.copy_from_slice(signature);
    Ok(h)
}

/// Reads a stored snapshot (see [`SignedSnapshot::write_stored`]) and indexes it as it reads,
/// checking the signature over every payload byte on the way: the result is used only if the
/// signature verifies and the signed version is the one in the header. The policy is never
/// held whole, as bytes or as [`PolicyData`]: memory stays near the size of the index.
pub fn read_stored<R: std::io::Read>(
    mut r: R,
    key: &VerifyingKey,
) -> Result<PolicySnapshot, ProtoError> {
    let mut header = [0u8; STORED_HEADER];
    r.read_exact(&mut header)
        .map_err(|e| ProtoError::Malformed(format!("stored snapshot header: {e}")))?;
    let (magic, rest) = header.split_at(8);
    let (ver, sig) = rest.split_at(8);
    if magic != STORED_MAGIC {
        return Err(ProtoError::Malformed("not a stored Monban snapshot".into()));
    }
    let version = u64::from_be_bytes(ver.try_into().map_err(|_| ProtoError::BadSignature)?);
    let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| ProtoError::BadSignature)?;
    let verifier = key
        .verify_stream(&sig)
        .map_err(|_| ProtoError::BadSignature)?;
    // The verifier sees each chunk as it is read from the source; the parser reads from a
    // buffer above it.
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, Verifying { inner: r, verifier });
    let parsed = {
        let mut de = serde_json::Deserializer::from_reader(&mut reader);
        StreamedSnapshot::deserialize(&mut de).and_then(|s| de.end().map(|()| s))
    };
    // Whatever the parser left is hashed too, so the signature covers the whole file.
    std::io::copy(&mut reader, &mut std::io::sink())
        .map_err(|e| ProtoError::Malformed(e.to_string()))?;
    let signed_ok = reader.into_inner().verifier.finalize_and_verify().is_ok();
    if !signed_ok {
        return Err(ProtoError::BadSignature);
    }
    let snap = parsed.map_err(|e| ProtoError::Malformed(e.to_string()))?.0;
    if snap.version() != version {
        return Err(ProtoError::Malformed("version mismatch".into()));
    }
    Ok(snap)
}

/// A reader that feeds every byte it passes on to a signature verifier.
struct Verifying<R> {
    inner: R,
    verifier: ed25519_dalek::StreamVerifier,
}

impl<R: std::io::Read> std::io::Read for Verifying<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.verifier.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Bytes as a base64 string in JSON, decoded without an intermediate copy of the text when the
/// input allows borrowing.
mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("base64: {e}")))
    }
}

/// What a controller journals and uploads: one door record with its sequence number.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DoorRecord {
    /// Per-controller sequence number, from 1, without gaps.
    pub seq: u64,
    /// Controller clock, µs since the Unix epoch.
    pub at_us: i64,
    pub body: RecordBody,
}

/// The content of a [`DoorRecord`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordBody {
    /// An access decision.
    Access {
        door_id: Id,
        direction: Direction,
        person_id: Option<Id>,
        credential_kind: Option<CredentialKind>,
        granted: bool,
        reason: ReasonCode,
        /// An alarm raised with the decision.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alarm: Option<AlarmCode>,
        /// Version of the snapshot that decided.
        snapshot_version: u64,
    },
    /// A door or controller alarm.
    Alarm {
        door_id: Option<Id>,
        code: AlarmCode,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        person_id: Option<Id>,
        #[serde(default)]
        detail: String,
    },
}

/// Where a person is, as the server tells controllers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PresenceEntry {
    pub person_id: Id,
    pub zone_id: Option<Id>,
    pub since_us: i64,
}

/// Messages from a controller.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControllerMsg {
    /// First message: who I am and what I have.
    Hello {
        proto: u32,
        controller_id: Id,
        token: String,
        snapshot_version: u64,
        /// Highest sequence number journaled.
        journal_head: u64,
    },
    /// A batch of journaled records, in sequence order.
    Records {
        msg_id: u64,
        records: Vec<DoorRecord>,
    },
    /// Keep-alive.
    Ping { msg_id: u64 },
}

/// Messages from the server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Hello accepted.
    Welcome {
        proto: u32,
        controller_id: Id,
        doors: Vec<Id>,
        /// Highest sequence number the server has stored for this controller.
        stored_seq: u64,
    },
    /// Hello refused (unknown or revoked controller, bad token, wrong protocol).
    Refused { code: String, message: String },
    /// A new policy snapshot of `version`, signed with `signature` (base64); the signed JSON
    /// follows as the next frame, raw bytes rather than a message.
    Snapshot { version: u64, signature: String },
    /// Every record in the batch `msg_id` is stored (or was stored before).
    Ack { msg_id: u64, upto_seq: u64 },
    /// Presence: everyone's whereabouts (`full`) or changes.
    Presence {
        full: bool,
        entries: Vec<PresenceEntry>,
    },
    /// An operator forgave a person's anti-passback violation.
    Forgive { person_id: Id },
    /// A message was rejected; the link stays up.
    Error {
        msg_id: Option<u64>,
        code: String,
        message: String,
    },
    /// Reply to a ping.
    Pong { msg_id: u64 },
}

/// What a controller needs to join: the gateway, its credential and the server's keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Enrolment {
    /// `host:port` of the controller gateway.
    pub gateway: String,
    pub controller_id: Id,
    /// Secret; the server keeps only its SHA-256.
    pub token: String,
    /// SHA-256 of the gateway's TLS certificate (DER), hex.
    pub cert_sha256: String,
    /// The server's Ed25519 snapshot key, hex.
    pub snapshot_key: String,
}

/// Prefix of enrolment codes.
pub const CODE_PREFIX: &str = "mbc1.";

impl Enrolment {
    /// The code an operator copies to the controller.
    pub fn to_code(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!(
            "{CODE_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
        )
    }

    /// Reads a code made by [`Enrolment::to_code`].
    pub fn from_code(code: &str) -> Result<Self, ProtoError> {
        let body = code
            .trim()
            .strip_prefix(CODE_PREFIX)
            .ok_or_else(|| ProtoError::BadCode(format!("must start with {CODE_PREFIX}")))?;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|e| ProtoError::BadCode(e.to_string()))?;
        serde_json::from_slice(&json).map_err(|e| ProtoError::BadCode(e.to_string()))
    }

    /// The snapshot key.
    pub fn verifying_key(&self) -> Result<VerifyingKey, ProtoError> {
        let b = hex::decode(&self.snapshot_key).map_err(|e| ProtoError::BadCode(e.to_string()))?;
        let arr: [u8; 32] = b
            .try_into()
            .map_err(|_| ProtoError::BadCode("snapshot key must be 32 bytes".into()))?;
        VerifyingKey::from_bytes(&arr).map_err(|e| ProtoError::BadCode(e.to_string()))
    }
}

/// SHA-256 of a controller token, hex: what the server stores.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Reads one frame's length prefix.
pub fn frame_len(prefix: [u8; 4]) -> usize {
    u32::from_be_bytes(prefix) as usize
}

/// The length prefix of a raw frame of `len` bytes (a snapshot's payload).
pub fn raw_frame_prefix(len: usize) -> Result<[u8; 4], ProtoError> {
    u32::try_from(len)
        .ok()
        .filter(|n| *n as usize <= MAX_SERVER_FRAME)
        .map(u32::to_be_bytes)
        .ok_or_else(|| ProtoError::Malformed(format!("frame of {len} bytes is too large")))
}

/// Encodes a message as a frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, serde_json::Error> {
    let body = serde_json::to_vec(msg)?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn data() -> PolicyData {
        PolicyData {
            version: 7,
            time_zone: "Asia/Tokyo".into(),
            credential_key: "00".into(),
            ..PolicyData::default()
        }
    }

    #[test]
    fn signed_snapshot_verifies_and_tampering_is_refused() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let s = SignedSnapshot::sign(&data(), &key).unwrap();
        assert_eq!(s.verify(&key.verifying_key()).unwrap().version, 7);
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert!(matches!(
            s.verify(&other.verifying_key()),
            Err(ProtoError::BadSignature)
        ));
        let mut d = data();
        d.version = 8;
        let forged = SignedSnapshot {
            payload: serde_json::to_vec(&d).unwrap(),
            ..s.clone()
        };
        assert!(forged.verify(&key.verifying_key()).is_err());
        let unsigned = SignedSnapshot {
            signature: Vec::new(),
            ..s.clone()
        };
        assert!(unsigned.verify(&key.verifying_key()).is_err());
        // The wire form is base64 text, and it reads back the same.
        let wire = serde_json::to_string(&s).unwrap();
        assert!(wire.contains(&base64::engine::general_purpose::STANDARD.encode(&s.payload)));
        assert_eq!(serde_json::from_str::<SignedSnapshot>(&wire).unwrap(), s);
        assert!(serde_json::from_str::<SignedSnapshot>(
            r#"{"version":7,"payload":"not base64!","signature":""}"#
        )
        .is_err());
    }

    #[test]
    fn stored_snapshot_reads_back_and_any_damage_is_refused() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let vk = key.verifying_key();
        let s = SignedSnapshot::sign(&data(), &key).unwrap();
        let mut file = Vec::new();
        s.write_stored(&mut file).unwrap();
        assert_eq!(file.len(), s.payload.len() + STORED_HEADER);
        assert_eq!(read_stored(file.as_slice(), &vk).unwrap().version(), 7);
        // Another key's signature, a changed payload byte, a cut-off file: refused.
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        assert!(matches!(
            read_stored(file.as_slice(), &other),
            Err(ProtoError::BadSignature)
        ));
        for i in [STORED_HEADER, STORED_HEADER + 5, file.len() - 1] {
            let mut bent = file.clone();
            bent[i] ^= 1;
            assert!(
                matches!(
                    read_stored(bent.as_slice(), &vk),
                    Err(ProtoError::BadSignature)
                ),
                "byte {i}"
            );
        }
        assert!(read_stored(&file[..file.len() - 1], &vk).is_err());
        assert!(read_stored(&file[..STORED_HEADER - 1], &vk).is_err());
        // Bytes after the policy are covered by the signature too.
        let mut longer = file.clone();
        longer.extend_from_slice(b"   ");
        assert!(read_stored(longer.as_slice(), &vk).is_err());
        // The header's version must be the signed one.
        let mut relabelled = file.clone();
        relabelled[15] = 8;
        assert!(matches!(
            read_stored(relabelled.as_slice(), &vk),
            Err(ProtoError::Malformed(_))
        ));
        // Not a stored snapshot; a correctly signed payload that is not a policy.
        assert!(read_stored(&b"{}"[..], &vk).is_err());
        let junk = SignedSnapshot {
            version: 7,
            payload: br#"{"version":7}"#.to_vec(),
            signature: key.sign(br#"{"version":7}"#).to_bytes().to_vec(),
        };
        let mut junk_file = Vec::new();
        junk.write_stored(&mut junk_file).unwrap();
        let e = read_stored(junk_file.as_slice(), &vk).unwrap_err();
        assert!(e.to_string().contains("missing field"), "{e}");
        // A signature of the wrong length cannot be stored.
        let short = SignedSnapshot {
            signature: vec![0; 10],
            ..s
        };
        assert!(short.write_stored(Vec::new()).is_err());
    }

    #[test]
    fn credential_hashes_are_keyed() {
        let a = credential_hash(b"k1", CredentialKind::Card, "0102");
        assert_eq!(a, credential_hash(b"k1", CredentialKind::Card, "0102"));
        assert_ne!(a, credential_hash(b"k2", CredentialKind::Card, "0102"));
        assert_ne!(a, credential_hash(b"k1", CredentialKind::Face, "0102"));
    }

    #[test]
    fn enrolment_code_round_trips() {
        let e = Enrolment {
            gateway: "127.0.0.1:7443".into(),
            controller_id: 3,
            token: "t".into(),
            cert_sha256: "ab".into(),
            snapshot_key: hex::encode([1u8; 32]),
        };
        assert_eq!(Enrolment::from_code(&e.to_code()).unwrap(), e);
        assert!(Enrolment::from_code("nope").is_err());
    }

    #[test]
    fn unknown_message_fields_are_refused() {
        assert!(serde_json::from_str::<ControllerMsg>(r#"{"type":"ping","msg_id":1}"#).is_ok());
        assert!(
            serde_json::from_str::<ControllerMsg>(r#"{"type":"ping","msg_id":1,"x":2}"#).is_err()
        );
        assert!(serde_json::from_str::<ControllerMsg>(r#"{"type":"nope"}"#).is_err());
    }
}
