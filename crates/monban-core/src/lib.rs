//! Monban's domain model: sites, zones, doors, persons, credentials, access groups with schedules,
//! Japanese national holidays, operator roles, access events and the reasons behind each decision.
//!
//! This crate does no I/O. Everything here is a value or a pure function, so the same inputs
//! always give the same answer; storage, HTTP and devices live in other crates.

pub mod credential;
pub mod decision;
pub mod event;
mod fx;
pub mod holiday;
pub mod model;
pub mod operator;
pub mod presence;
pub mod schedule;
pub mod snapshot;
pub mod text;

pub use credential::{CardId, CredentialKind, CredentialStatus, Pin};
pub use decision::{
    decide, decide_with_face, AccessRequest, AlarmCode, Decision, FaceEvidence, ReasonCode,
};
pub use event::{AccessEvent, Direction};
pub use model::{
    AccessGroup, Credential, Door, Person, PersonKind, PersonStatus, ReaderMode, Site, Zone,
    ZoneClass,
};
pub use operator::{Operator, OperatorRole};
pub use presence::PresenceState;
pub use snapshot::{
    AntiPassbackMode, CredentialHash, PolicyData, PolicySnapshot, SnapshotError, StreamedSnapshot,
    ZoneRules,
};
