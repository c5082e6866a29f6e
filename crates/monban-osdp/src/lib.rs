//! OSDP (IEC 60839-11-5) card and PIN readers for the Monban door controller.
//!
//! The controller is the OSDP Control Panel; readers are Peripheral Devices on an RS-485 bus
//! (or a pty / Unix socket in tests and simulation). Protocol handling — polling, Secure
//! Channel, CRC and MAC checks — is libosdp's ([`libosdp`], Apache-2.0), wrapped safely by its
//! Rust crate; this crate adds what a door needs:
//!
//! - [`bus`]: several readers on one bus by address, Secure Channel required by default with a
//!   per-reader key, install mode only on request, card reads refused unless under Secure
//!   Channel, flood limits, LED/buzzer feedback, key changes;
//! - [`card`] and [`wiegand`]: FeliCa IDm / MIFARE UID and Wiegand 26/34-bit (parity checked)
//!   card reads mapped to [`monban_core::CardId`];
//! - [`keypad`]: PIN entry for card + PIN doors (digits, `#` submit, `*` clear, timeout);
//! - [`door`]: [`door::OsdpDoor`], the controller agent's `DoorIo` for a door's readers;
//! - [`keys`]: per-reader SCBKs sealed at rest with AES-256-GCM;
//! - [`transport`]: serial device, pty pair, Unix socket, and wire-speed emulation;
//! - [`sim`] and [`cli`]: `monban osdp …` (install-key, rotate-key, sim).

pub mod bus;
pub mod card;
pub mod cli;
pub mod door;
pub mod keypad;
pub mod keys;
mod log_bridge;
pub mod sim;
pub mod transport;
pub mod wiegand;

pub use bus::{
    Bus, BusError, BusEvent, BusHandle, Feedback, ReaderConfig, ReaderEvent, ReaderStatus,
};
pub use door::OsdpDoor;
pub use keys::{KeyError, KeyStore, Scbk};
