//! Wiegand 26-bit and 34-bit decoding with parity checks: our own parser, fuzzed.
//!
//! OSDP carries Wiegand card data in a RAW reply (0x50) as a bit count and the bits packed
//! most-significant first, left-justified in bytes. Layouts:
//!
//! - 26-bit (H10301): `P FFFFFFFF NNNNNNNNNNNNNNNN P` — bit 0 is even parity over bits 1–12,
//!   bits 1–8 the facility code, bits 9–24 the card number, bit 25 odd parity over bits 13–24.
//! - 34-bit (H10306): `P FFFFFFFFFFFFFFFF NNNNNNNNNNNNNNNN P` — bit 0 even parity over bits
//!   1–16, bits 1–16 the facility code, bits 17–32 the card number, bit 33 odd parity over
//!   bits 17–32.
//!
//! Anything else — another bit count, too few bytes, a parity error — is refused; the caller
//! drops the read with a warning and the door stays locked.

/// A decoded Wiegand card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WiegandCard {
    /// 26 or 34.
    pub bits: u8,
    /// Facility (site) code: 8 bits for 26-bit cards, 16 bits for 34-bit cards.
    pub facility: u16,
    /// Card number, 16 bits.
    pub number: u16,
}

/// Why Wiegand data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WiegandError {
    #[error("Wiegand {0}ビット形式には対応していません（26・34ビットのみ）。リーダーの出力形式を確認してください / unsupported Wiegand length {0} bits (only 26 and 34); check the reader's output format")]
    UnsupportedLength(usize),
    #[error("Wiegandデータが短すぎます（{bits}ビットに{bytes}バイト）。配線かリーダーを確認してください / Wiegand data truncated: {bytes} bytes for {bits} bits; check the wiring or the reader")]
    Truncated { bits: usize, bytes: usize },
    #[error("Wiegandパリティエラー（{0}）。カードを読み直してください / Wiegand parity error ({0} parity); present the card again")]
    Parity(&'static str),
}

fn bit(data: &[u8], i: usize) -> u32 {
    data.get(i / 8)
        .map(|b| u32::from((b >> (7 - (i % 8))) & 1))
        .unwrap_or(0)
}

fn field(data: &[u8], from: usize, len: usize) -> u32 {
    (from..from + len).fold(0, |acc, i| (acc << 1) | bit(data, i))
}

fn ones(data: &[u8], from: usize, len: usize) -> u32 {
    (from..from + len).map(|i| bit(data, i)).sum()
}

/// Decodes `bits` bits of Wiegand data packed MSB-first in `data`.
pub fn decode(bits: usize, data: &[u8]) -> Result<WiegandCard, WiegandError> {
    let half = match bits {
        26 => 12,
        34 => 16,
        n => return Err(WiegandError::UnsupportedLength(n)),
    };
    let need = bits.div_ceil(8);
    if data.len() < need {
        return Err(WiegandError::Truncated {
            bits,
            bytes: data.len(),
        });
    }
    // Even parity: the parity bit plus the first half has an even number of ones.
    if (bit(data, 0) + ones(data, 1, half)) % 2 != 0 {
        return Err(WiegandError::Parity("even"));
    }
    // Odd parity: the second half plus the trailing parity bit has an odd number of ones.
    if (ones(data, 1 + half, half) + bit(data, bits - 1)) % 2 != 1 {
        return Err(WiegandError::Parity("odd"));
    }
    let fc_bits = bits - 2 - 16;
    let facility = field(data, 1, fc_bits) as u16;
    let number = field(data, 1 + fc_bits, 16) as u16;
    Ok(WiegandCard {
        bits: bits as u8,
        facility,
        number,
    })
}

/// Encodes a card (for simulated readers and tests): returns the packed bytes.
pub fn encode(card: WiegandCard) -> Result<Vec<u8>, WiegandError> {
    let bits = usize::from(card.bits);
    let (half, fc_bits) = match bits {
        26 => (12, 8),
        34 => (16, 16),
        n => return Err(WiegandError::UnsupportedLength(n)),
    };
    let mut v: Vec<u32> = Vec::with_capacity(bits);
    v.push(0);
    for i in (0..fc_bits).rev() {
        v.push((u32::from(card.facility) >> i) & 1);
    }
    for i in (0..16).rev() {
        v.push((u32::from(card.number) >> i) & 1);
    }
    v.push(0);
    let first: u32 = v[1..=half].iter().sum();
    v[0] = first % 2;
    let second: u32 = v[1 + half..=2 * half].iter().sum();
    v[bits - 1] = 1 - (second % 2);
    let mut out = vec![0u8; bits.div_ceil(8)];
    for (i, b) in v.iter().enumerate() {
        if *b == 1 {
            out[i / 8] |= 1 << (7 - (i % 8));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn known_26_bit_card() {
        // FC 1, card 1: 1 00000001 0000000000000001 0 (computed independently).
        let data = [0x80, 0x80, 0x00, 0x80];
        let c = decode(26, &data).unwrap();
        assert_eq!((c.facility, c.number), (1, 1));
        assert_eq!(encode(c).unwrap(), data);
        // FC 18, card 12345: a commonly printed test card, round-trips.
        let c = WiegandCard {
            bits: 26,
            facility: 18,
            number: 12345,
        };
        let enc = encode(c).unwrap();
        assert_eq!(enc, [0x09, 0x18, 0x1c, 0xc0]);
        assert_eq!(decode(26, &enc).unwrap(), c);
    }

    #[test]
    fn known_34_bit_card() {
        let c = WiegandCard {
            bits: 34,
            facility: 0x1234,
            number: 0xBEEF,
        };
        let enc = encode(c).unwrap();
        assert_eq!(enc.len(), 5);
        assert_eq!(decode(34, &enc).unwrap(), c);
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        for bits in [26u8, 34] {
            let c = WiegandCard {
                bits,
                facility: 77,
                number: 4242,
            };
            let enc = encode(c).unwrap();
            for i in 0..usize::from(bits) {
                let mut bad = enc.clone();
                bad[i / 8] ^= 1 << (7 - (i % 8));
                assert!(
                    matches!(
                        decode(usize::from(bits), &bad),
                        Err(WiegandError::Parity(_))
                    ),
                    "bit {i} of {bits}"
                );
            }
        }
    }

    #[test]
    fn bad_parity_lengths_and_truncation_are_refused() {
        assert_eq!(
            decode(26, &[0x00, 0x80, 0x00, 0x80]),
            Err(WiegandError::Parity("even"))
        );
        assert_eq!(
            decode(26, &[0x80, 0x80, 0x00, 0xc0]),
            Err(WiegandError::Parity("odd"))
        );
        assert_eq!(
            decode(37, &[0; 5]),
            Err(WiegandError::UnsupportedLength(37))
        );
        assert_eq!(
            decode(26, &[0; 3]),
            Err(WiegandError::Truncated { bits: 26, bytes: 3 })
        );
        assert!(decode(0, &[]).is_err());
    }
}
