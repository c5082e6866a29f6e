//! Credentials as presented at a reader: IC card identifiers and PINs, with their validation.
//!
//! A PIN is checked here for form only; it is stored and compared only as an Argon2id hash
//! (hashing lives in the server, which owns that cost).

use std::fmt;

use crate::coded_enum;
use crate::text::FieldError;

coded_enum! {
    /// The kind of a credential.
    pub enum CredentialKind {
        Card = ("card", "ICカード", "IC card"),
        Pin = ("pin", "暗証番号", "PIN"),
        Face = ("face", "顔", "face"),
    }
}

coded_enum! {
    /// Whether a credential may be used.
    pub enum CredentialStatus {
        Active = ("active", "有効", "active"),
        Suspended = ("suspended", "一時停止", "suspended"),
        Lost = ("lost", "紛失", "lost"),
        Revoked = ("revoked", "失効", "revoked"),
    }
}

/// An IC card identifier: FeliCa IDm (8 bytes) or MIFARE UID (4, 7 or 10 bytes), kept as
/// upper-case hexadecimal without separators.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardId(String);

impl CardId {
    /// Parses a card identifier as readers and people write it: hex digits, optionally separated
    /// by spaces, colons or hyphens, in either case. Full-width digits and letters are accepted.
    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        let mut hex = String::with_capacity(s.len());
        for c in s.chars() {
            let c = full_width_to_ascii(c);
            match c {
                ' ' | ':' | '-' | '\u{3000}' => continue,
                c if c.is_ascii_hexdigit() => hex.push(c.to_ascii_uppercase()),
                _ => {
                    return Err(FieldError::new(
                        field,
                        "カードIDは16進数（0-9, A-F）で入力してください / a card ID must be hexadecimal (0-9, A-F)",
                    ))
                }
            }
        }
        if !matches!(hex.len(), 8 | 14 | 16 | 20) {
            return Err(FieldError::new(
                field,
                format!("カードIDの長さが正しくありません（FeliCa IDmは16桁、MIFARE UIDは8・14・20桁）。{}桁でした / a card ID must have 16 hex digits (FeliCa IDm) or 8, 14 or 20 (MIFARE UID); got {}", hex.len(), hex.len()),
            ));
        }
        Ok(Self(hex))
    }

    /// Builds a card identifier from raw bytes read by a reader.
    pub fn from_bytes(field: &str, bytes: &[u8]) -> Result<Self, FieldError> {
        let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
        Self::parse(field, &hex)
    }

    /// The normalised hexadecimal form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A form safe to show and log: all but the last four digits hidden.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        format!(
            "{}{}",
            "*".repeat(n.saturating_sub(4)),
            &self.0[n.saturating_sub(4)..]
        )
    }
}

impl fmt::Display for CardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn full_width_to_ascii(c: char) -> char {
    match c {
        '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' => {
            char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
        }
        _ => c,
    }
}

/// A PIN as typed: 4 to 8 digits. Its `Debug` never shows the digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

/// Fewest digits in a PIN.
pub const PIN_MIN_DIGITS: usize = 4;
/// Most digits in a PIN.
pub const PIN_MAX_DIGITS: usize = 8;

impl Pin {
    /// Checks a PIN's form. Full-width digits are accepted and normalised.
    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        let digits: String = s.chars().map(full_width_to_ascii).collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(FieldError::new(
                field,
                "暗証番号は数字だけにしてください / a PIN must contain digits only",
            ));
        }
        let n = digits.len();
        if !(PIN_MIN_DIGITS..=PIN_MAX_DIGITS).contains(&n) {
            return Err(FieldError::new(
                field,
                format!("暗証番号は{PIN_MIN_DIGITS}〜{PIN_MAX_DIGITS}桁にしてください / a PIN must have {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits"),
            ));
        }
        Ok(Self(digits))
    }

    /// The digits, for hashing or comparing only.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(****)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn card_ids_normalise() {
        assert_eq!(
            CardId::parse("card_id", "01:2e:4c:aa:bb:cc:dd:ee")
                .unwrap()
                .as_str(),
            "012E4CAABBCCDDEE"
        );
        assert_eq!(
            CardId::parse("card_id", "０４Ａ１ＢＣ２３")
                .unwrap()
                .as_str(),
            "04A1BC23"
        );
        assert!(CardId::parse("card_id", "12345").is_err());
        assert!(CardId::parse("card_id", "zz11223344556677").is_err());
        assert_eq!(CardId::parse("c", "04A1BC23").unwrap().masked(), "****BC23");
    }

    #[test]
    fn pins() {
        assert!(Pin::parse("pin", "123").is_err());
        assert!(Pin::parse("pin", "123456789").is_err());
        assert!(Pin::parse("pin", "12a4").is_err());
        assert_eq!(Pin::parse("pin", "１２３４").unwrap().digits(), "1234");
        assert_eq!(
            format!("{:?}", Pin::parse("pin", "9876").unwrap()),
            "Pin(****)"
        );
    }
}
