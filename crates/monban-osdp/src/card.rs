//! Card reads as readers report them, mapped to [`CardId`]s the decision engine knows.
//!
//! - Raw (unspecified format) reads of whole bytes are IC card identifiers: a FeliCa IDm
//!   (8 bytes) or a MIFARE UID (4, 7 or 10 bytes), hex as printed on enrolment lists.
//! - Wiegand reads (format "Wiegand", or unspecified with 26 or 34 bits) are decoded with
//!   parity checked ([`crate::wiegand`]) and mapped to a fixed hexadecimal form so they can be
//!   enrolled like IC cards: 26-bit → `1A` FC(2) CN(4) (8 digits); 34-bit →
//!   `220000` FC(4) CN(4) (14 digits). The prefix keeps the two formats apart.
//!
//! Everything else is refused with an error that says what to check.

use monban_core::CardId;

use crate::wiegand::{self, WiegandCard, WiegandError};

/// The format a reader declared for a card read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardFormat {
    /// Raw bits, format unspecified.
    Raw,
    /// Raw bits in a Wiegand format.
    Wiegand,
}

/// Most bytes a card read may carry (a 10-byte MIFARE UID is the longest we accept).
pub const MAX_CARD_BYTES: usize = 10;

/// Why a card read was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error(transparent)]
    Wiegand(#[from] WiegandError),
    #[error("カードデータの長さが不正です（{bits}ビット、{bytes}バイト）。リーダーの設定を確認してください / card data has an unexpected size ({bits} bits, {bytes} bytes); check the reader's configuration")]
    BadSize { bits: usize, bytes: usize },
    #[error("カードIDとして使えません: {0} / not a usable card ID: {0}")]
    NotACardId(String),
}

/// Maps a decoded Wiegand card to its [`CardId`].
pub fn wiegand_card_id(c: WiegandCard) -> Result<CardId, CardError> {
    let [fh, fl] = c.facility.to_be_bytes();
    let [nh, nl] = c.number.to_be_bytes();
    let bytes: Vec<u8> = if c.bits == 26 {
        vec![0x1A, fl, nh, nl]
    } else {
        vec![0x22, 0x00, 0x00, fh, fl, nh, nl]
    };
    CardId::from_bytes("card", &bytes).map_err(|e| CardError::NotACardId(e.to_string()))
}

/// Maps one card read (format, bit count, packed data) to a card identifier.
pub fn card_id(format: CardFormat, bits: usize, data: &[u8]) -> Result<CardId, CardError> {
    let bad = || CardError::BadSize {
        bits,
        bytes: data.len(),
    };
    if data.len() > MAX_CARD_BYTES + 1 || bits > data.len() * 8 || bits == 0 {
        return Err(bad());
    }
    let wiegand = format == CardFormat::Wiegand || matches!(bits, 26 | 34);
    if wiegand {
        return wiegand_card_id(wiegand::decode(bits, data)?);
    }
    if bits % 8 != 0 || !matches!(bits / 8, 4 | 7 | 8 | 10) {
        return Err(bad());
    }
    CardId::from_bytes("card", &data[..bits / 8]).map_err(|e| CardError::NotACardId(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn felica_and_mifare_raw() {
        let idm = [0x01, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01];
        assert_eq!(
            card_id(CardFormat::Raw, 64, &idm).unwrap().as_str(),
            "0114000000000001"
        );
        assert_eq!(
            card_id(CardFormat::Raw, 32, &[0xDE, 0xAD, 0xBE, 0xEF])
                .unwrap()
                .as_str(),
            "DEADBEEF"
        );
        assert_eq!(
            card_id(CardFormat::Raw, 56, &[1, 2, 3, 4, 5, 6, 7])
                .unwrap()
                .as_str()
                .len(),
            14
        );
        assert!(card_id(CardFormat::Raw, 40, &[1, 2, 3, 4, 5]).is_err());
        assert!(card_id(CardFormat::Raw, 64, &[1, 2, 3]).is_err());
        assert!(card_id(CardFormat::Raw, 0, &[]).is_err());
        assert!(card_id(CardFormat::Raw, 8 * 40, &[0; 40]).is_err());
    }

    #[test]
    fn wiegand_maps_with_prefix() {
        let c = WiegandCard {
            bits: 26,
            facility: 18,
            number: 12345,
        };
        let enc = wiegand::encode(c).unwrap();
        assert_eq!(
            card_id(CardFormat::Wiegand, 26, &enc).unwrap().as_str(),
            "1A123039"
        );
        // Unspecified format with 26 bits is Wiegand too.
        assert_eq!(
            card_id(CardFormat::Raw, 26, &enc).unwrap().as_str(),
            "1A123039"
        );
        let c34 = WiegandCard {
            bits: 34,
            facility: 0x1234,
            number: 0xBEEF,
        };
        let enc = wiegand::encode(c34).unwrap();
        assert_eq!(
            card_id(CardFormat::Wiegand, 34, &enc).unwrap().as_str(),
            "220000".to_string() + "1234BEEF"
        );
        let mut bad = enc.clone();
        bad[1] ^= 0x10;
        assert!(matches!(
            card_id(CardFormat::Wiegand, 34, &bad),
            Err(CardError::Wiegand(WiegandError::Parity(_)))
        ));
    }
}
