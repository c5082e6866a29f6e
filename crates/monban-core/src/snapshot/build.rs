//! Building a [`PolicySnapshot`]: from a whole [`PolicyData`] (the server), or straight from its
//! serialised form as it is read ([`StreamedSnapshot`], the controller), through one builder.
//!
//! The streamed path never holds the policy in its plain form: each holder and credential goes
//! into its compact entry as it is parsed, so a controller loading a 100,000-person snapshot
//! needs little more memory than the finished index (see docs/benchmarks.md).

use std::fmt;
use std::marker::PhantomData;

use jiff::tz::TimeZone;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{
    fixed_tail, ix, Cred, CredKey, CredentialHash, CredentialPolicy, DayRange, Door, DoorPolicy,
    Group, GroupPolicy, Holder, HolderPolicy, PolicyData, PolicySnapshot, SnapshotError,
    ZonePolicy, NO_HOLDER,
};
use crate::credential::CredentialKind;
use crate::fx::FxHashMap;
use crate::model::Id;
use crate::schedule::Schedule;

/// A policy taken in piece by piece; [`Builder::finish`] indexes it.
#[derive(Default)]
struct Builder {
    version: u64,
    built_at_us: i64,
    time_zone: String,
    credential_key: String,
    zones: Vec<ZonePolicy>,
    doors: Vec<DoorPolicy>,
    holders: Vec<Holder>,
    pins: FxHashMap<Id, Box<str>>,
    /// Credentials with `holder` not yet resolved (holders may come after them). Filled as
    /// they arrive, so no second copy of them is ever held.
    creds: FxHashMap<CredKey, Cred>,
    faces: Vec<(Id, CredentialHash)>,
    groups: Vec<(Schedule, Vec<Id>)>,
    /// (person, index into `groups`).
    memberships: Vec<(Id, u32)>,
    lockdown_zones: Vec<Id>,
    lockdown_sites: Vec<Id>,
}

impl Builder {
    fn holder(&mut self, h: HolderPolicy) {
        // A repeated id: the last one counts, PIN included.
        match h.pin_hash {
            Some(pin) => {
                self.pins.insert(h.id, pin.into_boxed_str());
            }
            None => {
                self.pins.remove(&h.id);
            }
        }
        self.holders.push(Holder {
            id: h.id,
            groups: (0, 0),
            valid: DayRange::of(h.valid_from, h.valid_until),
            kind: h.kind,
            active: h.active,
        });
    }

    fn credential(&mut self, c: CredentialPolicy) {
        if c.kind == CredentialKind::Face {
            self.faces.push((c.person_id, c.hash));
        }
        if self.creds.capacity() == 0 {
            // Most people hold one card, and holders come first in a serialised policy: sizing
            // the table once avoids a string of resizes, each leaving a freed table behind.
            self.creds.reserve(self.holders.len());
        }
        // A repeated credential: the last one counts.
        self.creds.insert(
            CredKey::of(&c.hash),
            Cred {
                person_id: c.person_id,
                holder: NO_HOLDER,
                kind: c.kind,
                status: c.status,
                valid: DayRange::of(c.valid_from, c.valid_until),
            },
        );
    }

    fn group(&mut self, g: GroupPolicy) {
        let i = ix(self.groups.len());
        self.memberships
            .extend(g.person_ids.into_iter().map(|p| (p, i)));
        self.groups.push((g.schedule, g.zone_ids));
    }

    fn from_data(data: PolicyData) -> Self {
        let mut b = Self {
            version: data.version,
            built_at_us: data.built_at_us,
            time_zone: data.time_zone,
            credential_key: data.credential_key,
            zones: data.zones,
            doors: data.doors,
            lockdown_zones: data.lockdown_zones,
            lockdown_sites: data.lockdown_sites,
            ..Self::default()
        };
        b.holders.reserve_exact(data.holders.len());
        for h in data.holders {
            b.holder(h);
        }
        b.creds.reserve(data.credentials.len());
        for c in data.credentials {
            b.credential(c);
        }
        for g in data.groups {
            b.group(g);
        }
        b
    }

    fn finish(self) -> Result<PolicySnapshot, SnapshotError> {
        let time_zone = TimeZone::get(&self.time_zone)
            .map_err(|_| SnapshotError::TimeZone(self.time_zone.clone()))?;
        let fixed_tail = fixed_tail(&time_zone, self.built_at_us);
        crate::schedule::warm_calendar();
        let zones = self.zones;
        let zone_index: FxHashMap<Id, u32> = zones
            .iter()
            .enumerate()
            .map(|(i, z)| (z.id, ix(i)))
            .collect();
        let mut groups = Vec::with_capacity(self.groups.len());
        for (schedule, mut zone_ids) in self.groups {
            let schedule = schedule.compile()?;
            zone_ids.sort_unstable();
            zone_ids.dedup();
            let mut zone_bits = vec![0u64; zones.len().div_ceil(64)];
            for z in &zone_ids {
                if let Some(i) = zone_index.get(z) {
                    if let Some(w) = zone_bits.get_mut(*i as usize / 64) {
                        *w |= 1u64 << (i % 64);
                    }
                }
            }
            groups.push(Group {
                zone_ids: zone_ids.into_boxed_slice(),
                zone_bits: zone_bits.into_boxed_slice(),
                same_tz: schedule.time_zone() == &time_zone,
                schedule,
            });
        }
        // Holders sorted by id (stable: for a repeated id the last one counts).
        let mut holders = self.holders;
        holders.sort_by_key(|h| h.id);
        holders.dedup_by(|later, earlier| {
            if later.id == earlier.id {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        holders.shrink_to_fit();
        // Each holder's groups, in group order, as one run of `member_groups`.
        let mut memberships = self.memberships;
        memberships.sort_unstable();
        memberships.dedup();
        let mut member_groups = Vec::with_capacity(memberships.len());
        let mut m = memberships.iter().peekable();
        for h in &mut holders {
            while m.next_if(|(p, _)| *p < h.id).is_some() {}
            let start = ix(member_groups.len());
            while let Some((_, g)) = m.next_if(|(p, _)| *p == h.id) {
                member_groups.push(*g);
            }
            h.groups = (start, ix(member_groups.len()));
        }
        drop(memberships);
        member_groups.shrink_to_fit();
        let holder_of = |id: Id| {
            holders
                .binary_search_by_key(&id, |h| h.id)
                .map_or(NO_HOLDER, ix)
        };
        let mut creds = self.creds;
        for c in creds.values_mut() {
            c.holder = holder_of(c.person_id);
        }
        let mut by_person: FxHashMap<Id, Vec<CredentialHash>> = FxHashMap::default();
        for (p, h) in self.faces {
            by_person.entry(p).or_default().push(h);
        }
        let faces = by_person
            .into_iter()
            .map(|(p, mut hs)| {
                hs.sort_unstable();
                hs.dedup();
                (p, hs.into_boxed_slice())
            })
            .collect();
        let mut snap = PolicySnapshot {
            version: self.version,
            built_at_us: self.built_at_us,
            credential_key: self.credential_key,
            time_zone,
            fixed_tail,
            zone_index,
            zones,
            doors: FxHashMap::default(),
            holders,
            creds,
            pins: self.pins,
            faces,
            groups,
            member_groups,
            interlock_doors: Vec::new(),
            lockdown_zones: self.lockdown_zones.into_iter().collect(),
            lockdown_sites: self.lockdown_sites.into_iter().collect(),
        };
        // Interlock groups as consecutive runs of door ids.
        let mut by_group: std::collections::BTreeMap<Id, Vec<Id>> = Default::default();
        for d in &self.doors {
            if let Some(g) = d.interlock_group {
                by_group.entry(g).or_default().push(d.id);
            }
        }
        let mut runs: FxHashMap<Id, (u32, u32)> = FxHashMap::default();
        for (g, ids) in by_group {
            let start = ix(snap.interlock_doors.len());
            snap.interlock_doors.extend(ids);
            runs.insert(g, (start, ix(snap.interlock_doors.len())));
        }
        snap.doors.reserve(self.doors.len());
        for d in self.doors {
            let door = Door {
                inner: snap.zone_index.get(&d.to_zone_id).copied(),
                outer: d
                    .from_zone_id
                    .and_then(|z| snap.zone_index.get(&z).copied()),
                locked_down: snap.locked_down(d.to_zone_id),
                needs_pin: d
                    .reader_mode
                    .required_kinds()
                    .contains(&CredentialKind::Pin),
                interlock: d
                    .interlock_group
                    .and_then(|g| runs.get(&g).copied())
                    .unwrap_or((0, 0)),
                policy: d,
            };
            snap.doors.insert(door.policy.id, door);
        }
        Ok(snap)
    }
}

impl PolicySnapshot {
    /// Indexes `data`, compiling every schedule.
    pub fn build(data: PolicyData) -> Result<Self, SnapshotError> {
        Builder::from_data(data).finish()
    }
}

/// A [`PolicySnapshot`] deserialised straight from a serialised [`PolicyData`] (for example
/// with `serde_json::Deserializer::from_reader`), each holder and credential indexed as it is
/// read. Accepts exactly what `PolicyData` accepts, and indexes it as [`PolicySnapshot::build`]
/// does.
#[derive(Debug)]
pub struct StreamedSnapshot(pub PolicySnapshot);

impl<'de> Deserialize<'de> for StreamedSnapshot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PolicyVisitor)
    }
}

/// The fields of [`PolicyData`], as serialised.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Version,
    BuiltAtUs,
    TimeZone,
    CredentialKey,
    Zones,
    Doors,
    Holders,
    Credentials,
    Groups,
    LockdownZones,
    LockdownSites,
    #[serde(other)]
    Other,
}

impl Field {
    /// The fields a policy must have.
    const REQUIRED: [Field; 9] = [
        Field::Version,
        Field::BuiltAtUs,
        Field::TimeZone,
        Field::CredentialKey,
        Field::Zones,
        Field::Doors,
        Field::Holders,
        Field::Credentials,
        Field::Groups,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::Version => "version",
            Field::BuiltAtUs => "built_at_us",
            Field::TimeZone => "time_zone",
            Field::CredentialKey => "credential_key",
            Field::Zones => "zones",
            Field::Doors => "doors",
            Field::Holders => "holders",
            Field::Credentials => "credentials",
            Field::Groups => "groups",
            Field::LockdownZones => "lockdown_zones",
            Field::LockdownSites => "lockdown_sites",
            Field::Other => "?",
        }
    }
}

struct PolicyVisitor;

impl<'de> Visitor<'de> for PolicyVisitor {
    type Value = StreamedSnapshot;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a policy snapshot (PolicyData)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut b = Builder::default();
        let mut seen: Vec<Field> = Vec::new();
        while let Some(field) = map.next_key::<Field>()? {
            if field != Field::Other {
                if seen.contains(&field) {
                    return Err(de::Error::duplicate_field(field.name()));
                }
                seen.push(field);
            }
            match field {
                Field::Version => b.version = map.next_value()?,
                Field::BuiltAtUs => b.built_at_us = map.next_value()?,
                Field::TimeZone => b.time_zone = map.next_value()?,
                Field::CredentialKey => b.credential_key = map.next_value()?,
                Field::Zones => b.zones = map.next_value()?,
                Field::Doors => b.doors = map.next_value()?,
                Field::LockdownZones => b.lockdown_zones = map.next_value()?,
                Field::LockdownSites => b.lockdown_sites = map.next_value()?,
                Field::Holders => {
                    map.next_value_seed(Each(|h: HolderPolicy| b.holder(h), PhantomData))?
                }
                Field::Credentials => {
                    map.next_value_seed(Each(|c: CredentialPolicy| b.credential(c), PhantomData))?
                }
                Field::Groups => {
                    map.next_value_seed(Each(|g: GroupPolicy| b.group(g), PhantomData))?
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Some(f) = Field::REQUIRED.into_iter().find(|f| !seen.contains(f)) {
            return Err(de::Error::missing_field(f.name()));
        }
        b.finish()
            .map(StreamedSnapshot)
            .map_err(|e| de::Error::custom(e.to_string()))
    }
}

/// A sequence whose elements are handed one by one to a function, never collected.
struct Each<T, F>(F, PhantomData<T>);

impl<'de, T: Deserialize<'de>, F: FnMut(T)> DeserializeSeed<'de> for Each<T, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> Visitor<'de> for Each<T, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<S: SeqAccess<'de>>(mut self, mut seq: S) -> Result<(), S::Error> {
        while let Some(item) = seq.next_element()? {
            (self.0)(item);
        }
        Ok(())
    }
}
