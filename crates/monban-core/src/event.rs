//! Access events: what happened at a door, when, for whom, and why it was decided so.

use jiff::Timestamp;

use crate::coded_enum;
use crate::credential::CredentialKind;
use crate::decision::ReasonCode;
use crate::model::Id;

coded_enum! {
    /// Which way a person passed (or tried to pass) a door.
    pub enum Direction {
        In = ("in", "入室", "entry"),
        Out = ("out", "退室", "exit"),
    }
}

/// One recorded attempt to pass a door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEvent {
    pub id: Id,
    /// When the door saw it (controller clock).
    pub occurred_at: Timestamp,
    /// When the server stored it.
    pub recorded_at: Timestamp,
    pub door_id: Id,
    pub direction: Direction,
    /// The person, when the credential was recognised.
    pub person_id: Option<Id>,
    pub credential_kind: Option<CredentialKind>,
    pub granted: bool,
    pub reason: ReasonCode,
    /// Zone the person is in after the event (the door's target when granted inward).
    pub zone_after: Option<Id>,
}
