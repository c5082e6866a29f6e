//! The Monban door controller agent, one per door controller: `monban controller …`, or the
//! slim `monban-controller` binary for controller devices ([`cli`] is shared by both).
//!
//! It decides every credential read locally from a policy snapshot signed by the server
//! (Ed25519, verified before use), so a door decision never waits on the network; journals
//! every decision and door alarm with a per-controller sequence number, durably, before the
//! door acts ([`journal`]); and keeps an authenticated TLS link to the server's gateway that
//! uploads the journal until each record is acknowledged as stored ([`agent`], [`link`]).
//! Door hardware sits behind the [`door::DoorIo`] trait; [`door::SimDoor`] simulates one.
//!
//! A controller holds no names or personal data: persons are opaque ids and credentials keyed
//! hashes.

pub mod agent;
pub mod cli;
pub mod door;
pub mod journal;
pub mod link;

pub use agent::{enrol, inspect, Agent, AgentError, Presentation, Status};
pub use door::{DoorInput, DoorIo, SimDoor, SimDoorHandle};
