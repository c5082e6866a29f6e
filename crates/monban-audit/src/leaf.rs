//! Canonical, versioned byte encoding of one audit entry (the Merkle leaf data), its strict
//! decoder, and [`keyed_hmac`] for pseudonymising personal identifiers before they enter a leaf.
//!
//! The layout is documented byte by byte in `docs/audit-log.md`. In short (version 1):
//! `0x01 | seq u64 | str server_time | u8 has_device_time [str device_time] | str source |
//! str actor | str action | str target | str outcome | str request_id | u16 n | n × (str key,
//! str value)`, where `str` is a big-endian u16 byte length followed by UTF-8 bytes, and detail
//! keys are strictly ascending bytewise. Every value has exactly one encoding, so equal entries
//! hash equally and any re-encoding is detected.

use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, Mac};
use jiff::civil::DateTime;
use jiff::tz::Offset;
use jiff::Timestamp;
use sha2::Sha256;

/// Current leaf encoding version (the first byte of every leaf).
pub const LEAF_VERSION: u8 = 1;
/// Longest identifier-like field (source, actor, action, target, request id, outcome), in bytes.
pub const MAX_FIELD_LEN: usize = 512;
/// Most detail entries in one leaf.
pub const MAX_DETAILS: usize = 64;
/// Longest detail key, in bytes.
pub const MAX_DETAIL_KEY_LEN: usize = 128;
/// Longest detail value, in bytes.
pub const MAX_DETAIL_VALUE_LEN: usize = 4096;
/// Longest encoded leaf, in bytes.
pub const MAX_LEAF_LEN: usize = 65_536;

/// Length of an encoded server time, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
const SERVER_TIME_LEN: usize = 27;
/// Length of an encoded device time, `YYYY-MM-DDTHH:MM:SS.ffffff+HH:MM`.
const DEVICE_TIME_LEN: usize = 32;

/// Why a leaf could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    #[error("leaf is empty")]
    Empty,
    #[error("leaf version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u8),
    #[error("leaf ends early while reading {field} (byte offset {offset})")]
    Truncated { field: &'static str, offset: usize },
    #[error("leaf has {0} trailing bytes after the last field")]
    TrailingBytes(usize),
    #[error("leaf field {field} is not valid UTF-8")]
    BadUtf8 { field: &'static str },
    #[error("leaf field {field} is {len} bytes long; the limit is {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("leaf field {field} must not be empty")]
    EmptyField { field: &'static str },
    #[error("leaf field {field} contains a control character")]
    ControlChar { field: &'static str },
    #[error("leaf field {field}: {reason}")]
    BadTime {
        field: &'static str,
        reason: &'static str,
    },
    #[error("leaf device-time flag is {0}; it must be 0 (absent) or 1 (present)")]
    BadFlag(u8),
    #[error("leaf outcome {0:?} is not \"ok\", \"error\" or \"denied:<reason>\"")]
    BadOutcome(String),
    #[error("leaf has {0} detail entries; the limit is 64")]
    TooManyDetails(usize),
    #[error("leaf detail keys are not strictly ascending at key {0:?}")]
    DetailsNotSorted(String),
    #[error("encoded leaf is {0} bytes; the limit is 65536")]
    LeafTooLong(usize),
}

/// Result of an audited action.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// `ok`
    Ok,
    /// `denied:<reason>`, e.g. `denied:outside_schedule`.
    Denied(String),
    /// `error`
    Error,
}

impl Outcome {
    /// Parses the canonical text form.
    pub fn parse(s: &str) -> Result<Self, LeafError> {
        match s {
            "ok" => Ok(Outcome::Ok),
            "error" => Ok(Outcome::Error),
            _ => match s.strip_prefix("denied:") {
                Some(r) if !r.is_empty() => Ok(Outcome::Denied(r.to_owned())),
                _ => Err(LeafError::BadOutcome(s.to_owned())),
            },
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Denied(r) => write!(f, "denied:{r}"),
            Outcome::Error => f.write_str("error"),
        }
    }
}

/// A time reported by a controller or device, with the UTC offset it reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceTime {
    /// The instant.
    pub at: Timestamp,
    /// The device's UTC offset (whole minutes).
    pub offset: Offset,
}

/// One audit entry: what a leaf records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Sequence number = leaf index in the tree (assigned by the log on append).
    pub seq: u64,
    /// Server time, UTC, microsecond precision.
    pub server_time: Timestamp,
    /// Controller/device time, if the event came from a device.
    pub device_time: Option<DeviceTime>,
    /// Where the event came from: `api`, `controller:<id>`, `system`.
    pub source: String,
    /// Who acted: `operator:<id>`, `person:<hmac>`, `controller:<id>`, `system`.
    pub actor: String,
    /// What happened: `person.create`, `door.access`, `auth.login_failed`.
    pub action: String,
    /// What it happened to, e.g. `person:42`; may be empty.
    pub target: String,
    /// Result.
    pub outcome: Outcome,
    /// Request id for correlation; may be empty.
    pub request_id: String,
    /// Extra facts, sorted by key. Never put personal numbers or names here in clear.
    pub details: BTreeMap<String, String>,
}

/// Truncates a timestamp to whole microseconds (what a leaf can carry).
pub fn truncate_to_micros(t: Timestamp) -> Timestamp {
    let sub = t.subsec_nanosecond().rem_euclid(1000);
    t.checked_sub(jiff::SignedDuration::from_nanos(i64::from(sub)))
        .unwrap_or(t)
}

fn push_digits(out: &mut Vec<u8>, v: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut v = v;
    for i in (0..width).rev() {
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

fn push_datetime(out: &mut Vec<u8>, field: &'static str, dt: DateTime) -> Result<(), LeafError> {
    let year = dt.year();
    if !(0..=9999).contains(&year) {
        return Err(LeafError::BadTime {
            field,
            reason: "year must be between 0000 and 9999",
        });
    }
    let nanos = dt.subsec_nanosecond();
    if nanos % 1000 != 0 {
        return Err(LeafError::BadTime {
            field,
            reason: "time has sub-microsecond precision; truncate it to microseconds first",
        });
    }
    push_digits(out, year as u32, 4);
    out.push(b'-');
    push_digits(out, dt.month() as u32, 2);
    out.push(b'-');
    push_digits(out, dt.day() as u32, 2);
    out.push(b'T');
    push_digits(out, dt.hour() as u32, 2);
    out.push(b':');
    push_digits(out, dt.minute() as u32, 2);
    out.push(b':');
    push_digits(out, dt.second() as u32, 2);
    out.push(b'.');
    push_digits(out, (nanos / 1000) as u32, 6);
    Ok(())
}

/// Formats a server time canonically: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn format_server_time(t: Timestamp) -> Result<String, LeafError> {
    let mut out = Vec::with_capacity(SERVER_TIME_LEN);
    push_datetime(&mut out, "server_time", Offset::UTC.to_datetime(t))?;
    out.push(b'Z');
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn device_offset_minutes(field: &'static str, offset: Offset) -> Result<i32, LeafError> {
    let secs = offset.seconds();
    if secs % 60 != 0 || secs.abs() > 23 * 3600 + 59 * 60 {
        return Err(LeafError::BadTime {
            field,
            reason: "UTC offset must be whole minutes within ±23:59",
        });
    }
    Ok(secs / 60)
}

/// Formats a device time canonically: `YYYY-MM-DDTHH:MM:SS.ffffff±HH:MM` (UTC is `+00:00`).
pub fn format_device_time(t: DeviceTime) -> Result<String, LeafError> {
    let mut out = Vec::with_capacity(DEVICE_TIME_LEN);
    push_device_time(&mut out, t)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn push_device_time(out: &mut Vec<u8>, t: DeviceTime) -> Result<(), LeafError> {
    let field = "device_time";
    let mins = device_offset_minutes(field, t.offset)?;
    push_datetime(out, field, t.offset.to_datetime(t.at))?;
    out.push(if mins < 0 { b'-' } else { b'+' });
    let m = mins.unsigned_abs();
    push_digits(out, m / 60, 2);
    out.push(b':');
    push_digits(out, m % 60, 2);
    Ok(())
}

fn digits(field: &'static str, b: &[u8]) -> Result<u32, LeafError> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return Err(LeafError::BadTime {
                field,
                reason: "expected a digit",
            });
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Ok(v)
}

/// Parses the fixed `YYYY-MM-DDTHH:MM:SS.ffffff` prefix (26 bytes).
fn parse_datetime(field: &'static str, b: &[u8]) -> Result<DateTime, LeafError> {
    let bad = |reason| LeafError::BadTime { field, reason };
    if b.len() < 26
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
    {
        return Err(bad("not in the form YYYY-MM-DDTHH:MM:SS.ffffff"));
    }
    let y = digits(field, &b[0..4])? as i16;
    let mo = digits(field, &b[5..7])? as i8;
    let d = digits(field, &b[8..10])? as i8;
    let h = digits(field, &b[11..13])? as i8;
    let mi = digits(field, &b[14..16])? as i8;
    let s = digits(field, &b[17..19])? as i8;
    let us = digits(field, &b[20..26])? as i32;
    DateTime::new(y, mo, d, h, mi, s, us * 1000)
        .map_err(|_| bad("not a valid calendar date and time"))
}

/// Parses a canonical server time (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
pub fn parse_server_time(s: &str) -> Result<Timestamp, LeafError> {
    let field = "server_time";
    let b = s.as_bytes();
    if b.len() != SERVER_TIME_LEN || b[26] != b'Z' {
        return Err(LeafError::BadTime {
            field,
            reason: "must be UTC in the form YYYY-MM-DDTHH:MM:SS.ffffffZ",
        });
    }
    let dt = parse_datetime(field, b)?;
    Offset::UTC
        .to_timestamp(dt)
        .map_err(|_| LeafError::BadTime {
            field,
            reason: "out of the supported range",
        })
}

/// Parses a canonical device time (`YYYY-MM-DDTHH:MM:SS.ffffff±HH:MM`).
pub fn parse_device_time(s: &str) -> Result<DeviceTime, LeafError> {
    let field = "device_time";
    let bad = |reason| LeafError::BadTime { field, reason };
    let b = s.as_bytes();
    if b.len() != DEVICE_TIME_LEN || !(b[26] == b'+' || b[26] == b'-') || b[29] != b':' {
        return Err(bad("must be in the form YYYY-MM-DDTHH:MM:SS.ffffff+HH:MM"));
    }
    let dt = parse_datetime(field, b)?;
    let oh = digits(field, &b[27..29])?;
    let om = digits(field, &b[30..32])?;
    if oh > 23 || om > 59 {
        return Err(bad("UTC offset must be within ±23:59"));
    }
    let mut secs = (oh * 3600 + om * 60) as i32;
    if b[26] == b'-' {
        if secs == 0 {
            return Err(bad("UTC offset zero must be written +00:00"));
        }
        secs = -secs;
    }
    let offset = Offset::from_seconds(secs).map_err(|_| bad("UTC offset out of range"))?;
    let at = offset
        .to_timestamp(dt)
        .map_err(|_| bad("out of the supported range"))?;
    Ok(DeviceTime { at, offset })
}

/// Whether `s` contains a Unicode control character (C0, DEL or C1), by a byte scan of the
/// UTF-8: C1 controls U+0080..U+009F are encoded as 0xC2 0x80..0x9F.
fn has_control_char(s: &str) -> bool {
    let b = s.as_bytes();
    // Fast pass without early exit per byte (vectorises); only text with C0/DEL bytes or 0xC2
    // lead bytes needs the exact check.
    let suspicious = b.chunks(32).any(|chunk| {
        chunk
            .iter()
            .fold(false, |m, &c| m | (c < 0x20) | (c == 0x7f) | (c == 0xc2))
    });
    if !suspicious {
        return false;
    }
    b.iter().enumerate().any(|(i, &c)| {
        c < 0x20
            || c == 0x7f
            || (c == 0xc2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
    })
}

fn check_text(
    field: &'static str,
    s: &str,
    max: usize,
    allow_empty: bool,
) -> Result<(), LeafError> {
    if s.len() > max {
        return Err(LeafError::TooLong {
            field,
            len: s.len(),
            max,
        });
    }
    if !allow_empty && s.is_empty() {
        return Err(LeafError::EmptyField { field });
    }
    if has_control_char(s) {
        return Err(LeafError::ControlChar { field });
    }
    Ok(())
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    // Lengths are checked against limits below u16::MAX before this is called.
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl AuditEntry {
    /// Encodes the entry canonically. Fails if a field breaks the limits or rules that
    /// [`AuditEntry::decode`] enforces, so every encoded leaf decodes back to the same entry.
    pub fn encode(&self) -> Result<Vec<u8>, LeafError> {
        let mut out = Vec::with_capacity(256);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Like [`AuditEntry::encode`], appending to `out` (which is cleared first).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), LeafError> {
        out.clear();
        out.push(LEAF_VERSION);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&(SERVER_TIME_LEN as u16).to_be_bytes());
        push_datetime(
            out,
            "server_time",
            Offset::UTC.to_datetime(self.server_time),
        )?;
        out.push(b'Z');
        match &self.device_time {
            None => out.push(0),
            Some(t) => {
                out.push(1);
                out.extend_from_slice(&(DEVICE_TIME_LEN as u16).to_be_bytes());
                push_device_time(out, *t)?;
            }
        }
        let outcome = self.outcome.to_string();
        let fields: [(&'static str, &str, bool); 6] = [
            ("source", &self.source, false),
            ("actor", &self.actor, false),
            ("action", &self.action, false),
            ("target", &self.target, true),
            ("outcome", &outcome, false),
            ("request_id", &self.request_id, true),
        ];
        for (name, value, allow_empty) in fields {
            check_text(name, value, MAX_FIELD_LEN, allow_empty)?;
            push_str(out, value);
        }
        if self.details.len() > MAX_DETAILS {
            return Err(LeafError::TooManyDetails(self.details.len()));
        }
        out.extend_from_slice(&(self.details.len() as u16).to_be_bytes());
        for (k, v) in &self.details {
            check_text("detail key", k, MAX_DETAIL_KEY_LEN, false)?;
            check_text("detail value", v, MAX_DETAIL_VALUE_LEN, true)?;
            push_str(out, k);
            push_str(out, v);
        }
        if out.len() > MAX_LEAF_LEN {
            return Err(LeafError::LeafTooLong(out.len()));
        }
        Ok(())
    }

    /// Strictly decodes a leaf: rejects unknown versions, truncation, trailing bytes, bad UTF-8,
    /// over-long or empty fields, non-canonical times and unsorted or duplicate detail keys.
    pub fn decode(bytes: &[u8]) -> Result<Self, LeafError> {
        let v = LeafView::parse(bytes)?;
        Ok(AuditEntry {
            seq: v.seq,
            server_time: v.server_time,
            device_time: v.device_time,
            source: v.source.to_owned(),
            actor: v.actor.to_owned(),
            action: v.action.to_owned(),
            target: v.target.to_owned(),
            outcome: Outcome::parse(v.outcome)?,
            request_id: v.request_id.to_owned(),
            details: v
                .details()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        })
    }
}

/// A validated, borrowed view of an encoded leaf. Parsing allocates nothing, so the export
/// verifier can check every leaf's encoding cheaply.
#[derive(Debug, Clone, Copy)]
pub struct LeafView<'a> {
    pub seq: u64,
    pub server_time: Timestamp,
    pub device_time: Option<DeviceTime>,
    pub source: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    pub request_id: &'a str,
    details_count: u16,
    details_raw: &'a [u8],
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], LeafError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(LeafError::Truncated {
                field,
                offset: self.pos,
            })?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, LeafError> {
        Ok(self.take(1, field)?[0])
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, LeafError> {
        let s = self.take(2, field)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, LeafError> {
        let s = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_be_bytes(a))
    }
    fn str(&mut self, field: &'static str, max: usize) -> Result<&'a str, LeafError> {
        let len = usize::from(self.u16(field)?);
        if len > max {
            return Err(LeafError::TooLong { field, len, max });
        }
        let s = self.take(len, field)?;
        std::str::from_utf8(s).map_err(|_| LeafError::BadUtf8 { field })
    }
    fn text(
        &mut self,
        field: &'static str,
        max: usize,
        allow_empty: bool,
    ) -> Result<&'a str, LeafError> {
        let s = self.str(field, max)?;
        check_text(field, s, max, allow_empty)?;
        Ok(s)
    }
}

/// Reads the sequence number of an encoded leaf without decoding the rest.
pub fn peek_seq(bytes: &[u8]) -> Result<u64, LeafError> {
    let mut r = Reader { b: bytes, pos: 0 };
    let v = r.u8("version").map_err(|_| LeafError::Empty)?;
    if v != LEAF_VERSION {
        return Err(LeafError::UnsupportedVersion(v));
    }
    r.u64("seq")
}

impl<'a> LeafView<'a> {
    /// Parses and validates an encoded leaf (same rules as [`AuditEntry::decode`]).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, LeafError> {
        if bytes.len() > MAX_LEAF_LEN {
            return Err(LeafError::LeafTooLong(bytes.len()));
        }
        let mut r = Reader { b: bytes, pos: 0 };
        let version = r.u8("version").map_err(|_| LeafError::Empty)?;
        if version != LEAF_VERSION {
            return Err(LeafError::UnsupportedVersion(version));
        }
        let seq = r.u64("seq")?;
        let st = r.str("server_time", SERVER_TIME_LEN)?;
        let server_time = parse_server_time(st)?;
        let device_time = match r.u8("device_time flag")? {
            0 => None,
            1 => Some(parse_device_time(r.str("device_time", DEVICE_TIME_LEN)?)?),
            f => return Err(LeafError::BadFlag(f)),
        };
        let source = r.text("source", MAX_FIELD_LEN, false)?;
        let actor = r.text("actor", MAX_FIELD_LEN, false)?;
        let action = r.text("action", MAX_FIELD_LEN, false)?;
        let target = r.text("target", MAX_FIELD_LEN, true)?;
        let outcome = r.text("outcome", MAX_FIELD_LEN, false)?;
        if !(outcome == "ok"
            || outcome == "error"
            || outcome
                .strip_prefix("denied:")
                .is_some_and(|x| !x.is_empty()))
        {
            return Err(LeafError::BadOutcome(outcome.to_owned()));
        }
        let request_id = r.text("request_id", MAX_FIELD_LEN, true)?;
        let details_count = r.u16("details count")?;
        if usize::from(details_count) > MAX_DETAILS {
            return Err(LeafError::TooManyDetails(usize::from(details_count)));
        }
        let start = r.pos;
        let mut prev: Option<&str> = None;
        for _ in 0..details_count {
            let k = r.text("detail key", MAX_DETAIL_KEY_LEN, false)?;
            r.text("detail value", MAX_DETAIL_VALUE_LEN, true)?;
            if prev.is_some_and(|p| p.as_bytes() >= k.as_bytes()) {
                return Err(LeafError::DetailsNotSorted(k.to_owned()));
            }
            prev = Some(k);
        }
        let details_raw = &bytes[start..r.pos];
        if r.pos != bytes.len() {
            return Err(LeafError::TrailingBytes(bytes.len() - r.pos));
        }
        Ok(LeafView {
            seq,
            server_time,
            device_time,
            source,
            actor,
            action,
            target,
            outcome,
            request_id,
            details_count,
            details_raw,
        })
    }

    /// Detail entries in key order.
    pub fn details(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let mut r = Reader {
            b: self.details_raw,
            pos: 0,
        };
        let n = self.details_count;
        (0..n).map_while(move |_| {
            let k = r.str("detail key", MAX_DETAIL_KEY_LEN).ok()?;
            let v = r.str("detail value", MAX_DETAIL_VALUE_LEN).ok()?;
            Some((k, v))
        })
    }
}

/// HMAC-SHA256 of `value` under `key`, as lowercase hex: a stable pseudonym for a personal
/// identifier (e.g. `person:<keyed_hmac(k, card_number)>`) that cannot be reversed without `key`.
pub fn keyed_hmac(key: &[u8], value: &str) -> String {
    // HMAC accepts keys of any length, so this constructor cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(value.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn control_chars_match_char_is_control() {
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let s = format!("a{c}b");
            assert_eq!(has_control_char(&s), c.is_control(), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn hmac_rfc4231_case2() {
        assert_eq!(
            keyed_hmac(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn times_round_trip() {
        let t: Timestamp = "2024-05-01T00:00:00.123456Z".parse().unwrap();
        assert_eq!(
            format_server_time(t).unwrap(),
            "2024-05-01T00:00:00.123456Z"
        );
        assert_eq!(parse_server_time("2024-05-01T00:00:00.123456Z").unwrap(), t);
        let d = parse_device_time("2024-05-01T09:00:00.123456+09:00").unwrap();
        assert_eq!(d.at, t);
        assert_eq!(
            format_device_time(d).unwrap(),
            "2024-05-01T09:00:00.123456+09:00"
        );
        assert!(parse_device_time("2024-05-01T09:00:00.123456-00:00").is_err());
        assert!(parse_server_time("2024-02-30T00:00:00.000000Z").is_err());
        assert!(parse_server_time("2024-05-01T00:00:00.12345Z").is_err());
        let ns: Timestamp = "2024-05-01T00:00:00.123456789Z".parse().unwrap();
        assert!(format_server_time(ns).is_err());
        assert_eq!(
            format_server_time(truncate_to_micros(ns)).unwrap(),
            "2024-05-01T00:00:00.123456Z"
        );
    }
}
