//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1, 30-second steps,
//! six digits, the form every authenticator app understands. Replay is refused by the vault,
//! which remembers the last step each operator used.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use zeroize::Zeroizing;

use crate::error::Refusal;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps of clock drift accepted either side of now.
pub const SKEW_STEPS: i64 = 1;

/// The step that contains `unix_secs`.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The HOTP value of `secret` at counter `step`, as six digits.
pub fn code_at(secret: &[u8], step: i64) -> String {
    // HMAC accepts any key length; an empty secret is rejected earlier.
    let Ok(mut m) = <Hmac<Sha1> as Mac>::new_from_slice(secret) else {
        return String::new();
    };
    m.update(&(step as u64).to_be_bytes());
    let h = m.finalize().into_bytes();
    let off = usize::from(h[19] & 0x0f);
    let bin = (u32::from(h[off] & 0x7f) << 24)
        | (u32::from(h[off + 1]) << 16)
        | (u32::from(h[off + 2]) << 8)
        | u32::from(h[off + 3]);
    format!("{:06}", bin % 10u32.pow(DIGITS))
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks `code` against the steps around `unix_secs`; returns the matching step. The caller
/// must still refuse a step not newer than the last one used.
pub fn verify(secret: &[u8], code: &str, unix_secs: i64) -> Result<i64, Refusal> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::TotpMalformed);
    }
    let now = step_of(unix_secs);
    let mut found = None;
    for s in (now - SKEW_STEPS)..=(now + SKEW_STEPS) {
        if ct_eq(code_at(secret, s).as_bytes(), code.as_bytes()) && found.is_none() {
            found = Some(s);
        }
    }
    found.ok_or(Refusal::TotpInvalid)
}

/// A fresh 160-bit secret.
pub fn generate_secret() -> Zeroizing<Vec<u8>> {
    let mut s = Zeroizing::new(vec![0u8; 20]);
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

/// The secret in base32 without padding, as authenticator apps take it.
pub fn to_base32(secret: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(data_encoding::BASE32_NOPAD.encode(secret))
}

/// Parses a base32 secret (spaces and padding allowed, case-insensitive).
pub fn from_base32(s: &str) -> Option<Zeroizing<Vec<u8>>> {
    let clean: Zeroizing<String> = Zeroizing::new(
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    );
    data_encoding::BASE32_NOPAD
        .decode(clean.as_bytes())
        .ok()
        .map(Zeroizing::new)
}

fn uri_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `otpauth://` URI for enrolling in an app (shown as a QR code by the console).
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        uri_escape(issuer),
        uri_escape(account),
        data_encoding::BASE32_NOPAD.encode(secret),
        uri_escape(issuer)
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (8-digit values; the last six digits are the 6-digit code).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (t, want8) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(secret, step_of(t)), want8[2..], "t={t}");
        }
    }

    #[test]
    fn verify_window_and_malformed() {
        let secret = b"12345678901234567890";
        let now = 1_234_567_890;
        let c = code_at(secret, step_of(now));
        assert_eq!(verify(secret, &c, now), Ok(step_of(now)));
        let prev = code_at(secret, step_of(now) - 1);
        assert_eq!(verify(secret, &prev, now), Ok(step_of(now) - 1));
        let old = code_at(secret, step_of(now) - 3);
        assert_eq!(verify(secret, &old, now), Err(Refusal::TotpInvalid));
        assert_eq!(verify(secret, "12345", now), Err(Refusal::TotpMalformed));
        assert_eq!(verify(secret, "12a456", now), Err(Refusal::TotpMalformed));
    }

    #[test]
    fn base32_round_trip() {
        let s = generate_secret();
        let b = to_base32(&s);
        assert_eq!(&*from_base32(&b.to_lowercase()).unwrap(), &*s);
        assert!(otpauth_uri(&s, "Monban", "山田").starts_with("otpauth://totp/Monban:%E5"));
    }
}
