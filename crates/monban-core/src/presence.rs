//! Presence as the decision engine sees it: who is in which zone, how many are in each zone,
//! who has been forgiven an anti-passback violation, who is waiting at a two-person door, who
//! last entered through each door (for escorts) and which doors are open (for interlocks).
//!
//! The state changes only through [`PresenceState::apply`] (after a decision), [`PresenceState::set`]
//! (an update from the server) and the door methods, so it stays a plain value the engine reads.

use jiff::Timestamp;

use crate::decision::{AccessRequest, Decision, ReasonCode};
use crate::event::Direction;
use crate::fx::{FxHashMap, FxHashSet};
use crate::model::{Id, PersonKind};
use crate::snapshot::PolicySnapshot;

/// Where a person was last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whereabouts {
    /// `None`: outside every zone (left the site).
    pub zone_id: Option<Id>,
    pub since: Timestamp,
}

/// Someone waiting at a two-person door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub person_id: Id,
    pub at: Timestamp,
}

/// The recent entry through a door, for escorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentEntry {
    pub person_id: Id,
    pub kind: PersonKind,
    pub at: Timestamp,
}

/// Presence and door state. See the [module documentation](self).
#[derive(Debug, Clone, Default)]
pub struct PresenceState {
    whereabouts: FxHashMap<Id, Whereabouts>,
    occupancy: FxHashMap<Id, u32>,
    forgiven: FxHashSet<Id>,
    pending: FxHashMap<Id, Pending>,
    recent: FxHashMap<Id, RecentEntry>,
    open_doors: FxHashSet<Id>,
}

impl PresenceState {
    /// Empty: nobody anywhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where a person is, if known.
    pub fn whereabouts(&self, person_id: Id) -> Option<Whereabouts> {
        self.whereabouts.get(&person_id).copied()
    }

    /// People inside a zone now.
    pub fn occupancy(&self, zone_id: Id) -> u32 {
        self.occupancy.get(&zone_id).copied().unwrap_or(0)
    }

    /// Whether a person's next pass skips anti-passback.
    pub fn is_forgiven(&self, person_id: Id) -> bool {
        self.forgiven.contains(&person_id)
    }

    /// Who waits at a two-person door.
    pub fn pending(&self, door_id: Id) -> Option<Pending> {
        self.pending.get(&door_id).copied()
    }

    /// The last entry through a door.
    pub fn recent_entry(&self, door_id: Id) -> Option<RecentEntry> {
        self.recent.get(&door_id).copied()
    }

    /// Whether a door is open or unlocked.
    pub fn door_open(&self, door_id: Id) -> bool {
        self.open_doors.contains(&door_id)
    }

    /// Marks a door open/unlocked (`true`) or shut and locked (`false`).
    pub fn set_door_open(&mut self, door_id: Id, open: bool) {
        if open {
            self.open_doors.insert(door_id);
        } else {
            self.open_doors.remove(&door_id);
        }
    }

    /// Moves a person to a zone (`None`: off site) as of `since`. An update older than what is
    /// known is ignored, so a late copy from the server never undoes a newer local pass.
    pub fn set(&mut self, person_id: Id, zone_id: Option<Id>, since: Timestamp) {
        if let Some(w) = self.whereabouts.get(&person_id) {
            if w.since > since {
                return;
            }
            if let Some(z) = w.zone_id {
                if let Some(n) = self.occupancy.get_mut(&z) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        self.whereabouts
            .insert(person_id, Whereabouts { zone_id, since });
        if let Some(z) = zone_id {
            *self.occupancy.entry(z).or_insert(0) += 1;
        }
    }

    /// Forgives a person: their next pass is not checked for anti-passback.
    pub fn forgive(&mut self, person_id: Id) {
        self.forgiven.insert(person_id);
    }

    /// Records the effect of a decision on presence: a granted pass moves the person (and a
    /// two-person companion); a pending two-person entry is remembered; a failed one is cleared.
    pub fn apply(
        &mut self,
        snap: &PolicySnapshot,
        req: &AccessRequest,
        d: &Decision,
        at: Timestamp,
    ) {
        let Some(door) = snap.door(req.door_id) else {
            return;
        };
        let Some(pid) = d.person_id else { return };
        if d.granted {
            let zone_after = match req.direction {
                Direction::In => Some(door.to_zone_id),
                Direction::Out => door.from_zone_id,
            };
            self.set(pid, zone_after, at);
            self.forgiven.remove(&pid);
            if let Some(c) = d.companion {
                self.set(c, zone_after, at);
                self.forgiven.remove(&c);
            }
            self.pending.remove(&door.id);
            if req.direction == Direction::In {
                let kind = if snap.is_visitor(pid) {
                    PersonKind::Visitor
                } else {
                    PersonKind::Employee
                };
                self.recent.insert(
                    door.id,
                    RecentEntry {
                        person_id: pid,
                        kind,
                        at,
                    },
                );
            }
        } else {
            match d.reason {
                ReasonCode::TwoPersonPending => {
                    self.pending.insert(door.id, Pending { person_id: pid, at });
                }
                ReasonCode::TwoPersonFailed => {
                    self.pending.remove(&door.id);
                }
                _ => {}
            }
        }
    }
}
