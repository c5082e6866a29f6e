//! Keypad input for card + PIN doors: digits, `#` to submit, `*` to clear, a timeout.
//!
//! OSDP keypad replies (0x53) carry one byte per key: ASCII digits, and for the two other keys
//! either ASCII `*`/`#` or the codes the OSDP specification gives them (0x7F and 0x0D).

use std::time::{Duration, Instant};

use monban_core::credential::PIN_MAX_DIGITS;
use zeroize::Zeroizing;

/// How long a reader waits for the PIN after a card, and between keys.
pub const PIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What a key did.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyResult {
    /// Still typing.
    Pending,
    /// `#` pressed: the digits typed (possibly empty).
    Submit(Zeroizing<String>),
    /// `*` pressed: the digits were cleared.
    Cleared,
    /// A key that is not a digit, `*` or `#`; ignored.
    Ignored,
}

/// Digits typed so far. Never logged; zeroed on drop.
#[derive(Default)]
pub struct PinBuffer {
    digits: Zeroizing<String>,
    deadline: Option<Instant>,
}

impl std::fmt::Debug for PinBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinBuffer({} digits)", self.digits.len())
    }
}

impl PinBuffer {
    /// Starts waiting for a PIN now.
    pub fn start(&mut self, now: Instant) {
        self.digits.clear();
        self.deadline = Some(now + PIN_TIMEOUT);
    }

    /// Whether a PIN is being waited for.
    pub fn active(&self) -> bool {
        self.deadline.is_some()
    }

    /// When the wait ends, if waiting.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Stops waiting and forgets the digits.
    pub fn reset(&mut self) {
        self.digits.clear();
        self.deadline = None;
    }

    /// Whether the wait has timed out at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// Handles one key byte. Digits beyond the longest PIN are ignored (the PIN will then fail
    /// its check rather than be silently truncated into a different PIN, because `#` submits
    /// the over-long marker).
    pub fn key(&mut self, byte: u8, now: Instant) -> KeyResult {
        match byte {
            b'0'..=b'9' => {
                self.deadline = Some(now + PIN_TIMEOUT);
                // One more than the maximum so an over-long entry fails validation.
                if self.digits.len() <= PIN_MAX_DIGITS {
                    self.digits.push(char::from(byte));
                }
                KeyResult::Pending
            }
            b'*' | 0x7F => {
                self.digits.clear();
                self.deadline = Some(now + PIN_TIMEOUT);
                KeyResult::Cleared
            }
            b'#' | 0x0D => {
                let pin = Zeroizing::new(std::mem::take(&mut *self.digits));
                self.deadline = None;
                KeyResult::Submit(pin)
            }
            _ => KeyResult::Ignored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_hash_star_and_timeout() {
        let t = Instant::now();
        let mut p = PinBuffer::default();
        p.start(t);
        for b in b"12" {
            assert_eq!(p.key(*b, t), KeyResult::Pending);
        }
        assert_eq!(p.key(b'*', t), KeyResult::Cleared);
        for b in b"4321" {
            p.key(*b, t);
        }
        assert_eq!(p.key(b'x', t), KeyResult::Ignored);
        assert_eq!(
            p.key(0x0D, t),
            KeyResult::Submit(Zeroizing::new("4321".into()))
        );
        assert!(!p.active());
        p.start(t);
        assert!(!p.expired(t + Duration::from_secs(9)));
        assert!(p.expired(t + PIN_TIMEOUT));
        for _ in 0..20 {
            p.key(b'9', t);
        }
        match p.key(b'#', t) {
            KeyResult::Submit(s) => assert_eq!(s.len(), PIN_MAX_DIGITS + 1),
            other => unreachable!("{other:?}"),
        }
        assert!(format!("{p:?}").contains("digits"));
    }
}
