//! Door hardware behind a small trait, and a simulated door for the demo and the tests.
//!
//! A real door has a lock relay, a door contact, a request-to-exit button and a reader; all
//! of them appear here as [`DoorInput`]s coming in and one output, the lock. Readers (OSDP)
//! come in their own crate and implement [`DoorIo`] the same way.

use std::future::Future;

use monban_core::model::Id;
use monban_core::{CredentialKind, Direction, FaceEvidence};
use tokio::sync::{mpsc, watch};

/// Something that happened at the door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoorInput {
    /// A credential was read.
    Read {
        direction: Direction,
        kind: CredentialKind,
        /// The card's normalised hex ID or the face template reference.
        value: String,
        /// The PIN typed, if the reader has a keypad.
        pin: Option<String>,
        /// Body temperature in tenths of °C, if the reader measured one.
        temperature_dc: Option<i16>,
        /// The time to decide at (for simulations); the controller clock otherwise.
        at: Option<jiff::Timestamp>,
    },
    /// A card read at a face+card door, with the reader's 1:1 check of the live face against
    /// the card holder's templates (see `Agent::face_hashes_for_card`).
    FaceCardRead {
        direction: Direction,
        /// The card's normalised hex ID.
        card: String,
        /// What the face check found; `None` when no face was checked.
        face: Option<FaceEvidence>,
        /// Body temperature in tenths of °C, if the reader measured one.
        temperature_dc: Option<i16>,
        /// The time to decide at (for simulations); the controller clock otherwise.
        at: Option<jiff::Timestamp>,
    },
    /// The door contact opened (`true`) or closed.
    Contact { open: bool },
    /// The request-to-exit button was pressed.
    ExitButton,
    /// The reader or controller housing was opened.
    Tamper,
    /// Mains power lost (`false`) or restored.
    Power { on: bool },
    /// The reader stopped (`false`) or resumed answering.
    Reader { online: bool },
}

/// A door's hardware, as the controller drives it.
pub trait DoorIo: Send + 'static {
    /// The door this hardware belongs to.
    fn door_id(&self) -> Id;
    /// The next input; `None` when the hardware is gone.
    fn next_input(&mut self) -> impl Future<Output = Option<DoorInput>> + Send;
    /// Drives the lock relay: `true` releases the lock.
    fn set_unlocked(&mut self, unlocked: bool);
}

/// A simulated door: inputs come from a [`SimDoorHandle`], the lock state is watchable.
pub struct SimDoor {
    door_id: Id,
    rx: mpsc::Receiver<DoorInput>,
    lock: watch::Sender<bool>,
}

/// Controls a [`SimDoor`] from outside: present cards, open the door, watch the lock.
#[derive(Clone)]
pub struct SimDoorHandle {
    pub door_id: Id,
    tx: mpsc::Sender<DoorInput>,
    lock: watch::Receiver<bool>,
}

impl SimDoor {
    /// A simulated door and its handle.
    pub fn new(door_id: Id) -> (Self, SimDoorHandle) {
        let (tx, rx) = mpsc::channel(256);
        let (ltx, lrx) = watch::channel(false);
        (
            Self {
                door_id,
                rx,
                lock: ltx,
            },
            SimDoorHandle {
                door_id,
                tx,
                lock: lrx,
            },
        )
    }
}

impl DoorIo for SimDoor {
    fn door_id(&self) -> Id {
        self.door_id
    }
    async fn next_input(&mut self) -> Option<DoorInput> {
        self.rx.recv().await
    }
    fn set_unlocked(&mut self, unlocked: bool) {
        let _ = self.lock.send(unlocked);
    }
}

impl SimDoorHandle {
    /// Sends an input to the door; `false` if the door is gone.
    pub async fn send(&self, input: DoorInput) -> bool {
        self.tx.send(input).await.is_ok()
    }

    /// Presents a card.
    pub async fn present_card(
        &self,
        direction: Direction,
        card_hex: &str,
        pin: Option<&str>,
    ) -> bool {
        self.send(DoorInput::Read {
            direction,
            kind: CredentialKind::Card,
            value: card_hex.to_string(),
            pin: pin.map(str::to_string),
            temperature_dc: None,
            at: None,
        })
        .await
    }

    /// Presents a card at a face+card door together with the reader's face check.
    pub async fn present_card_with_face(
        &self,
        direction: Direction,
        card_hex: &str,
        face: Option<FaceEvidence>,
    ) -> bool {
        self.send(DoorInput::FaceCardRead {
            direction,
            card: card_hex.to_string(),
            face,
            temperature_dc: None,
            at: None,
        })
        .await
    }

    /// Whether the lock is released now.
    pub fn unlocked(&self) -> bool {
        *self.lock.borrow()
    }
}
