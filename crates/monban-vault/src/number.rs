//! The 個人番号 itself: normalising what a person typed (full-width digits, spaces, hyphens),
//! checking length and the check digit (検査用数字) per the official formula, and a type that
//! holds the digits in memory only, shows itself redacted and is zeroized on drop.

use monban_core::text::FieldError;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A valid 12-digit personal number. `Debug` and `Display` never show the digits; the buffer
/// is overwritten with zeros when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct MyNumber {
    digits: [u8; 12],
}

impl std::fmt::Debug for MyNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MyNumber(<redacted>)")
    }
}

impl std::fmt::Display for MyNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<個人番号>")
    }
}

/// Weights applied to the first 11 digits read left to right.
const WEIGHTS: [u32; 11] = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

/// The check digit for the first 11 digits (each 0–9): r = Σ Pn·Qn mod 11; 0 if r ≤ 1, else 11 − r.
pub fn check_digit(first11: &[u8; 11]) -> u8 {
    let sum: u32 = first11
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    let r = sum % 11;
    if r <= 1 {
        0
    } else {
        (11 - r) as u8
    }
}

fn invalid(msg: &str) -> FieldError {
    FieldError::new("number", msg)
}

impl MyNumber {
    /// Parses what a person typed: full-width digits are turned into ASCII, spaces and hyphens
    /// (half- or full-width) are dropped; then exactly 12 digits with a correct check digit are
    /// required. The error never repeats the input.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let mut digits = [0u8; 12];
        let mut n = 0usize;
        for c in input.chars() {
            let d = match c {
                '0'..='9' => c as u32 - '0' as u32,
                '０'..='９' => c as u32 - '０' as u32,
                ' ' | '\u{3000}' | '-' | '－' | 'ー' | '‐' => continue,
                _ => {
                    digits.zeroize();
                    return Err(invalid(
                        "個人番号は数字12桁で入力してください（数字以外の文字があります） / a personal number is 12 digits (found a character that is not a digit)",
                    ));
                }
            };
            if n >= 12 {
                digits.zeroize();
                return Err(invalid(
                    "個人番号は12桁です（桁数が多すぎます） / a personal number has 12 digits (too many)",
                ));
            }
            digits[n] = d as u8;
            n += 1;
        }
        if n != 12 {
            digits.zeroize();
            return Err(invalid(&format!(
                "個人番号は12桁です（{n}桁） / a personal number has 12 digits (got {n})"
            )));
        }
        let mut first = [0u8; 11];
        first.copy_from_slice(&digits[..11]);
        let ok = check_digit(&first) == digits[11];
        first.zeroize();
        if !ok {
            digits.zeroize();
            return Err(invalid(
                "検査用数字（12桁目）が一致しません。番号を確認してください / the check digit (12th digit) does not match; check the number",
            ));
        }
        Ok(Self { digits })
    }

    /// The digits as ASCII bytes, for encryption and the blind index only.
    pub fn ascii(&self) -> zeroize::Zeroizing<[u8; 12]> {
        let mut out = [0u8; 12];
        for (o, d) in out.iter_mut().zip(self.digits) {
            *o = b'0' + d;
        }
        zeroize::Zeroizing::new(out)
    }

    /// The digits as text, for an authorised reveal or export only.
    pub fn expose(&self) -> zeroize::Zeroizing<String> {
        let a = self.ascii();
        zeroize::Zeroizing::new(a.iter().map(|b| char::from(*b)).collect())
    }

    /// Builds a valid number from 11 random digits (for tests and benchmarks: never a real one
    /// on purpose, though any valid number may belong to someone).
    pub fn generate(rng: &mut impl rand::Rng) -> Self {
        let mut first = [0u8; 11];
        for d in first.iter_mut() {
            *d = rng.gen_range(0..10);
        }
        let mut digits = [0u8; 12];
        digits[..11].copy_from_slice(&first);
        digits[11] = check_digit(&first);
        first.zeroize();
        Self { digits }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    // Published vectors from the reference (section A.9).
    #[test]
    fn published_vectors() {
        assert!(MyNumber::parse("123456789018").is_ok());
        assert!(MyNumber::parse("621498320257").is_ok());
        assert_eq!(MyNumber::parse("123456789019").unwrap_err().field, "number");
    }

    #[test]
    fn full_width_and_separators_are_normalised() {
        let a = MyNumber::parse("１２３４ ５６７８ ９０１８").unwrap();
        let b = MyNumber::parse("1234-5678-9018").unwrap();
        assert!(a == b);
        assert_eq!(&*a.expose(), "123456789018");
    }

    #[test]
    fn bad_input_is_refused_without_echo() {
        for bad in ["12345678901", "1234567890180", "12345678901a", "", "１２３"] {
            let e = MyNumber::parse(bad).unwrap_err();
            assert!(!e.message.contains("1234"), "{}", e.message);
        }
    }

    #[test]
    fn debug_and_display_are_redacted() {
        let n = MyNumber::parse("123456789018").unwrap();
        assert!(!format!("{n:?}").contains("1234"));
        assert!(!format!("{n}").contains("1234"));
    }

    #[test]
    fn generated_numbers_validate() {
        let mut rng = rand::thread_rng();
        for _ in 0..1000 {
            let n = MyNumber::generate(&mut rng);
            assert!(MyNumber::parse(&n.expose()).is_ok());
        }
    }

    #[test]
    fn check_digit_rule_r_le_1_gives_zero() {
        // Exhaustively check the formula's branches over a digit sweep.
        for a in 0..10u8 {
            let first = [a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
            let sum = u32::from(a) * 6 + 2;
            let r = sum % 11;
            let want = if r <= 1 { 0 } else { 11 - r } as u8;
            assert_eq!(check_digit(&first), want);
        }
    }
}
