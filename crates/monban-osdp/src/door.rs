//! A door's OSDP readers as the controller agent's [`DoorIo`].
//!
//! Card reads become [`DoorInput::Read`]s (after the PIN on card + PIN readers); reader
//! offline/online, tamper and power become door events the agent journals as alarms. The
//! agent's journal broadcast tells this adapter each decision, which it shows on the reader that
//! read the card: green LED and one beep on grant, red LED and three beeps on deny. The
//! `DoorIo` trait itself is unchanged.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use monban_controller::agent::Outcome;
use monban_controller::{DoorInput, DoorIo};
use monban_core::model::Id;
use monban_core::{CardId, CredentialKind};
use monban_proto::RecordBody;
use tokio::sync::{broadcast, mpsc, watch};

use crate::bus::{BusEvent, BusHandle, Feedback, ReaderEvent};
use crate::keypad::{KeyResult, PinBuffer};

struct PendingPin {
    card: CardId,
    buf: PinBuffer,
}

/// One door served by OSDP readers.
pub struct OsdpDoor {
    door_id: Id,
    bus: BusHandle,
    events: mpsc::Receiver<BusEvent>,
    outcomes: Option<broadcast::Receiver<Outcome>>,
    pending: HashMap<usize, PendingPin>,
    last_reader: Option<usize>,
    queue: VecDeque<DoorInput>,
    lock: watch::Sender<bool>,
}

impl OsdpDoor {
    /// A door from its readers' events (see [`crate::Bus::take_door_events`]) and the agent's
    /// decisions ([`monban_controller::Agent::subscribe`]). Without `outcomes` only grants
    /// are shown (when the lock is released).
    pub fn new(
        door_id: Id,
        bus: BusHandle,
        events: mpsc::Receiver<BusEvent>,
        outcomes: Option<broadcast::Receiver<Outcome>>,
    ) -> Self {
        let (lock, _) = watch::channel(false);
        Self {
            door_id,
            bus,
            events,
            outcomes,
            pending: HashMap::new(),
            last_reader: None,
            queue: VecDeque::new(),
            lock,
        }
    }

    /// Watches the lock output (`true` = released).
    pub fn lock_state(&self) -> watch::Receiver<bool> {
        self.lock.subscribe()
    }

    fn read(&mut self, reader: usize, card: CardId, pin: Option<String>) {
        let Some(r) = self.bus.readers().get(reader) else {
            return;
        };
        self.last_reader = Some(reader);
        self.queue.push_back(DoorInput::Read {
            direction: r.direction,
            kind: CredentialKind::Card,
            value: card.as_str().to_string(),
            pin,
            temperature_dc: None,
            at: None,
        });
    }

    fn handle(&mut self, ev: BusEvent) {
        let now = Instant::now();
        let wants_pin = self.bus.readers().get(ev.reader).is_some_and(|r| r.pin);
        match ev.event {
            ReaderEvent::Card(card) if wants_pin => {
                let mut buf = PinBuffer::default();
                buf.start(now);
                self.pending.insert(ev.reader, PendingPin { card, buf });
                self.bus.feedback(ev.reader, Feedback::PinPrompt);
            }
            ReaderEvent::Card(card) => self.read(ev.reader, card, None),
            ReaderEvent::Keys(keys) => {
                for k in keys {
                    let Some(p) = self.pending.get_mut(&ev.reader) else {
                        tracing::debug!(
                            reader = ev.reader,
                            "カードなしのキー入力を無視 / key press without a card ignored"
                        );
                        return;
                    };
                    if let KeyResult::Submit(pin) = p.buf.key(k, now) {
                        if let Some(p) = self.pending.remove(&ev.reader) {
                            self.read(ev.reader, p.card, Some(pin.to_string()));
                        }
                    }
                }
            }
            ReaderEvent::Online(online) => {
                if !online {
                    self.pending.remove(&ev.reader);
                }
                self.queue.push_back(DoorInput::Reader { online });
            }
            ReaderEvent::Tamper(true) => self.queue.push_back(DoorInput::Tamper),
            ReaderEvent::Tamper(false) => {}
            ReaderEvent::Power(on) => self.queue.push_back(DoorInput::Power { on }),
            ReaderEvent::Secure(active) => {
                if !active {
                    tracing::warn!(reader = ev.reader, "セキュアチャネルが切れました。読み取りは受け付けません / Secure Channel lost; reads are refused until it is back");
                }
            }
        }
    }

    fn expire(&mut self) {
        let now = Instant::now();
        let expired: Vec<usize> = self
            .pending
            .iter()
            .filter(|(_, p)| p.buf.expired(now))
            .map(|(r, _)| *r)
            .collect();
        for r in expired {
            if let Some(p) = self.pending.remove(&r) {
                tracing::info!(
                    reader = r,
                    "暗証番号の入力がタイムアウト / PIN entry timed out"
                );
                // Decided without a PIN: a card + PIN door denies it, and the denial is journaled.
                self.read(r, p.card, None);
            }
        }
    }

    fn on_outcome(&mut self, o: Outcome) {
        if let RecordBody::Access {
            door_id, granted, ..
        } = o.body
        {
            if door_id == self.door_id {
                if let Some(r) = self.last_reader {
                    let f = if granted {
                        Feedback::Granted
                    } else {
                        Feedback::Denied
                    };
                    self.bus.feedback(r, f);
                }
            }
        }
    }
}

async fn next_outcome(rx: &mut Option<broadcast::Receiver<Outcome>>) -> Option<Outcome> {
    let Some(rx) = rx.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(o) => return Some(o),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

impl DoorIo for OsdpDoor {
    fn door_id(&self) -> Id {
        self.door_id
    }

    async fn next_input(&mut self) -> Option<DoorInput> {
        loop {
            if let Some(i) = self.queue.pop_front() {
                return Some(i);
            }
            let deadline = self
                .pending
                .values()
                .filter_map(|p| p.buf.deadline())
                .min()
                .map(tokio::time::Instant::from_std);
            tokio::select! {
                ev = self.events.recv() => match ev {
                    Some(ev) => self.handle(ev),
                    None => return None,
                },
                o = next_outcome(&mut self.outcomes) => match o {
                    Some(o) => self.on_outcome(o),
                    None => self.outcomes = None,
                },
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => self.expire(),
            }
        }
    }

    fn set_unlocked(&mut self, unlocked: bool) {
        let _ = self.lock.send(unlocked);
        if unlocked && self.outcomes.is_none() {
            if let Some(r) = self.last_reader {
                self.bus.feedback(r, Feedback::Granted);
            }
        }
    }
}
