//! The policy snapshot: everything a door decision needs, and nothing more.
//!
//! A snapshot holds no names or personal data. Persons are opaque ids; credentials appear only as
//! keyed hashes ([`CredentialHash`], HMAC-SHA256 under a per-deployment key, computed outside this
//! crate), so a stolen controller reveals no card numbers and no one's identity.
//!
//! [`PolicyData`] is the plain, ordered form that the server builds, signs and sends;
//! [`PolicySnapshot`] is the same content indexed for fast look-ups with schedules compiled once.

use std::collections::{HashMap, HashSet};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::coded_enum;
use crate::credential::{CredentialKind, CredentialStatus};
use crate::model::{Id, PersonKind, ReaderMode, ZoneClass};
use crate::schedule::{CompiledSchedule, Schedule, ScheduleError, ScheduleVerdict};

/// A keyed hash of a presented credential: all a snapshot knows of a card or face template.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CredentialHash(pub [u8; 32]);

impl std::fmt::Debug for CredentialHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CredentialHash(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

impl Serialize for CredentialHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(64);
        for b in self.0 {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        s.serialize_str(&out)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl<'de> Deserialize<'de> for CredentialHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        CredentialHash::from_hex(&s).ok_or_else(|| {
            serde::de::Error::custom(
                "credential hash must be 64 hex digits / 認証情報ハッシュは16進64桁です",
            )
        })
    }
}

impl CredentialHash {
    /// Parses 64 hexadecimal digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let nib = |c: u8| -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        };
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = (nib(b[2 * i])? << 4) | nib(b[2 * i + 1])?;
        }
        Some(Self(out))
    }
}

coded_enum! {
    /// How a zone enforces anti-passback (アンチパスバック).
    pub enum AntiPassbackMode {
        /// Not enforced.
        Off = ("off", "なし", "off"),
        /// Allowed, but raises an alarm.
        Soft = ("soft", "警告のみ", "soft (allow and alarm)"),
        /// Refused, with an alarm.
        Hard = ("hard", "拒否", "hard (deny)"),
        /// Refused within a time window after the last pass; free after it.
        Timed = ("timed", "時間制限付き", "timed"),
    }
}

/// Rules of one zone beyond who may enter when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneRules {
    pub anti_passback: AntiPassbackMode,
    /// For [`AntiPassbackMode::Timed`]: seconds after a pass during which the rule applies.
    #[serde(default = "default_apb_secs")]
    pub anti_passback_secs: u32,
    /// 二人制: entry needs two authorised persons within `two_person_window_secs`.
    pub two_person: bool,
    #[serde(default = "default_window")]
    pub two_person_window_secs: u32,
    /// Raise an alarm when one person is left alone inside.
    pub never_alone_alarm: bool,
    /// Visitors may enter only right after an employee at the same door.
    pub escort_required: bool,
    #[serde(default = "default_window")]
    pub escort_window_secs: u32,
    /// Highest body temperature allowed, in tenths of a degree Celsius (375 = 37.5 °C). Checked
    /// only when the reader sends a reading.
    #[serde(default = "default_temp")]
    pub max_temperature_dc: i16,
}

const fn default_apb_secs() -> u32 {
    900
}
const fn default_window() -> u32 {
    30
}
const fn default_temp() -> i16 {
    DEFAULT_MAX_TEMPERATURE_DC
}

/// Default body temperature limit: 37.5 °C.
pub const DEFAULT_MAX_TEMPERATURE_DC: i16 = 375;

impl ZoneRules {
    /// The defaults for a class of zone: soft anti-passback in general areas; hard anti-passback
    /// and escorts in handling areas; and in management areas also the two-person rule and the
    /// never-alone alarm.
    pub fn defaults_for(class: ZoneClass) -> Self {
        let strict = class != ZoneClass::General;
        Self {
            anti_passback: if strict {
                AntiPassbackMode::Hard
            } else {
                AntiPassbackMode::Soft
            },
            anti_passback_secs: default_apb_secs(),
            two_person: class == ZoneClass::Management,
            two_person_window_secs: default_window(),
            never_alone_alarm: class == ZoneClass::Management,
            escort_required: strict,
            escort_window_secs: default_window(),
            max_temperature_dc: DEFAULT_MAX_TEMPERATURE_DC,
        }
    }
}

/// A zone as the decision engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZonePolicy {
    pub id: Id,
    pub site_id: Id,
    pub parent_id: Option<Id>,
    pub class: ZoneClass,
    pub occupancy_limit: Option<u32>,
    pub rules: ZoneRules,
}

/// A door as the decision engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoorPolicy {
    pub id: Id,
    pub site_id: Id,
    pub from_zone_id: Option<Id>,
    pub to_zone_id: Id,
    pub reader_mode: ReaderMode,
    pub held_open_limit_secs: u32,
    /// The interlock (mantrap) group of the door, if any.
    pub interlock_group: Option<Id>,
}

/// A cardholder: an opaque id and whether they may pass at all. No name, no number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderPolicy {
    pub id: Id,
    pub kind: PersonKind,
    /// Status is active (not suspended, not left).
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_date")]
    pub valid_from: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_date")]
    pub valid_until: Option<Date>,
    /// PHC string of the Argon2id hash of the person's active PIN, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_hash: Option<String>,
}

/// A credential, known only by its keyed hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialPolicy {
    pub hash: CredentialHash,
    pub id: Id,
    pub person_id: Id,
    pub kind: CredentialKind,
    pub status: CredentialStatus,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_date")]
    pub valid_from: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_date")]
    pub valid_until: Option<Date>,
}

/// An access group: its members may enter its zones when its schedule allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPolicy {
    pub id: Id,
    pub schedule: Schedule,
    pub zone_ids: Vec<Id>,
    pub person_ids: Vec<Id>,
}

/// The whole policy in plain, ordered form: what the server signs and controllers keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyData {
    /// Increases with every new snapshot.
    pub version: u64,
    /// When it was built, in microseconds since the Unix epoch.
    pub built_at_us: i64,
    /// Site time zone (IANA), for validity dates.
    pub time_zone: String,
    /// Key for [`CredentialHash`]es, hex; controllers need it to hash what readers send.
    pub credential_key: String,
    pub zones: Vec<ZonePolicy>,
    pub doors: Vec<DoorPolicy>,
    pub holders: Vec<HolderPolicy>,
    pub credentials: Vec<CredentialPolicy>,
    pub groups: Vec<GroupPolicy>,
    /// Zones under lockdown (with all zones inside them).
    #[serde(default)]
    pub lockdown_zones: Vec<Id>,
    /// Sites under lockdown.
    #[serde(default)]
    pub lockdown_sites: Vec<Id>,
}

/// Why a [`PolicyData`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error("タイムゾーン「{0}」が見つかりません。IANA名（例: Asia/Tokyo）にしてください / unknown time zone {0:?}; use an IANA name such as Asia/Tokyo")]
    TimeZone(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Holder {
    pub(crate) kind: PersonKind,
    pub(crate) active: bool,
    pub(crate) valid_from: Option<Date>,
    pub(crate) valid_until: Option<Date>,
    pub(crate) pin_hash: Option<Box<str>>,
    /// Range into `PolicySnapshot::member_groups`.
    pub(crate) groups: (u32, u32),
}

#[derive(Debug, Clone)]
pub(crate) struct Cred {
    pub(crate) person_id: Id,
    pub(crate) kind: CredentialKind,
    pub(crate) status: CredentialStatus,
    pub(crate) valid_from: Option<Date>,
    pub(crate) valid_until: Option<Date>,
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) zone_ids: Box<[Id]>,
    pub(crate) schedule: CompiledSchedule,
}

/// A policy indexed for decisions. Cheap to share behind an `Arc`; never changes once built.
#[derive(Debug, Clone)]
pub struct PolicySnapshot {
    version: u64,
    built_at_us: i64,
    credential_key: String,
    time_zone: TimeZone,
    pub(crate) zones: HashMap<Id, ZonePolicy>,
    pub(crate) doors: HashMap<Id, DoorPolicy>,
    pub(crate) holders: HashMap<Id, Holder>,
    pub(crate) creds: HashMap<CredentialHash, Cred>,
    pub(crate) groups: Vec<Group>,
    pub(crate) member_groups: Vec<u32>,
    pub(crate) interlocks: HashMap<Id, Vec<Id>>,
    pub(crate) lockdown_zones: HashSet<Id>,
    pub(crate) lockdown_sites: HashSet<Id>,
}

impl PolicySnapshot {
    /// Indexes `data`, compiling every schedule.
    pub fn build(data: PolicyData) -> Result<Self, SnapshotError> {
        let time_zone = TimeZone::get(&data.time_zone)
            .map_err(|_| SnapshotError::TimeZone(data.time_zone.clone()))?;
        let mut groups = Vec::with_capacity(data.groups.len());
        let mut by_person: HashMap<Id, Vec<u32>> = HashMap::new();
        for (i, g) in data.groups.iter().enumerate() {
            groups.push(Group {
                zone_ids: g.zone_ids.clone().into_boxed_slice(),
                schedule: g.schedule.compile()?,
            });
            let ix = u32::try_from(i).unwrap_or(u32::MAX);
            for p in &g.person_ids {
                by_person.entry(*p).or_default().push(ix);
            }
        }
        let mut member_groups = Vec::new();
        let mut holders = HashMap::with_capacity(data.holders.len());
        for h in data.holders {
            let start = u32::try_from(member_groups.len()).unwrap_or(u32::MAX);
            if let Some(gs) = by_person.get(&h.id) {
                member_groups.extend_from_slice(gs);
            }
            let end = u32::try_from(member_groups.len()).unwrap_or(u32::MAX);
            holders.insert(
                h.id,
                Holder {
                    kind: h.kind,
                    active: h.active,
                    valid_from: h.valid_from,
                    valid_until: h.valid_until,
                    pin_hash: h.pin_hash.map(String::into_boxed_str),
                    groups: (start, end),
                },
            );
        }
        member_groups.shrink_to_fit();
        let mut creds = HashMap::with_capacity(data.credentials.len());
        for c in data.credentials {
            creds.insert(
                c.hash,
                Cred {
                    person_id: c.person_id,
                    kind: c.kind,
                    status: c.status,
                    valid_from: c.valid_from,
                    valid_until: c.valid_until,
                },
            );
        }
        let mut interlocks: HashMap<Id, Vec<Id>> = HashMap::new();
        for d in &data.doors {
            if let Some(g) = d.interlock_group {
                interlocks.entry(g).or_default().push(d.id);
            }
        }
        Ok(Self {
            version: data.version,
            built_at_us: data.built_at_us,
            credential_key: data.credential_key,
            time_zone,
            zones: data.zones.into_iter().map(|z| (z.id, z)).collect(),
            doors: data.doors.into_iter().map(|d| (d.id, d)).collect(),
            holders,
            creds,
            groups,
            member_groups,
            interlocks,
            lockdown_zones: data.lockdown_zones.into_iter().collect(),
            lockdown_sites: data.lockdown_sites.into_iter().collect(),
        })
    }

    /// The snapshot's version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When it was built (µs since the epoch).
    pub fn built_at_us(&self) -> i64 {
        self.built_at_us
    }

    /// The credential hashing key (hex).
    pub fn credential_key(&self) -> &str {
        &self.credential_key
    }

    /// One door.
    pub fn door(&self, id: Id) -> Option<&DoorPolicy> {
        self.doors.get(&id)
    }

    /// All doors.
    pub fn doors(&self) -> impl Iterator<Item = &DoorPolicy> {
        self.doors.values()
    }

    /// One zone.
    pub fn zone(&self, id: Id) -> Option<&ZonePolicy> {
        self.zones.get(&id)
    }

    /// Number of credentials.
    pub fn credential_count(&self) -> usize {
        self.creds.len()
    }

    /// The person holding a credential, if known.
    pub fn person_of(&self, hash: &CredentialHash) -> Option<Id> {
        self.creds.get(hash).map(|c| c.person_id)
    }

    /// The PIN hash of a person, if they have an active PIN.
    pub fn pin_hash_of(&self, person_id: Id) -> Option<&str> {
        self.holders
            .get(&person_id)
            .and_then(|h| h.pin_hash.as_deref())
    }

    /// Whether a person is a visitor.
    pub fn is_visitor(&self, person_id: Id) -> bool {
        self.holders
            .get(&person_id)
            .is_some_and(|h| h.kind == PersonKind::Visitor)
    }

    pub(crate) fn local_datetime(&self, at: Timestamp) -> jiff::civil::DateTime {
        self.time_zone.to_datetime(at)
    }

    pub(crate) fn holder_groups(&self, h: &Holder) -> impl Iterator<Item = &Group> {
        let (s, e) = h.groups;
        self.member_groups
            .get(s as usize..e as usize)
            .unwrap_or(&[])
            .iter()
            .filter_map(|i| self.groups.get(*i as usize))
    }

    /// Whether `zone_id`, a zone containing it, or its site is under lockdown.
    pub fn locked_down(&self, zone_id: Id) -> bool {
        if self.lockdown_zones.is_empty() && self.lockdown_sites.is_empty() {
            return false;
        }
        let mut cur = Some(zone_id);
        let mut steps = 0;
        while let Some(z) = cur {
            if self.lockdown_zones.contains(&z) {
                return true;
            }
            let Some(zone) = self.zones.get(&z) else {
                return false;
            };
            if self.lockdown_sites.contains(&zone.site_id) {
                return true;
            }
            cur = zone.parent_id;
            steps += 1;
            if steps > 64 {
                return false;
            }
        }
        false
    }

    /// The other doors of `door_id`'s interlock group.
    pub(crate) fn interlocked_with(&self, door: &DoorPolicy) -> &[Id] {
        door.interlock_group
            .and_then(|g| self.interlocks.get(&g))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

mod opt_date {
    use jiff::civil::Date;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&d.to_string()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        let v = Option::<std::borrow::Cow<'de, str>>::deserialize(d)?;
        v.map(|s| s.parse::<Date>().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Verdict of a group's schedule at `at`. `local` is `at` in the snapshot's time zone, reused
/// when the schedule reads time in that same zone (the usual case) so each decision converts
/// the time once, not once per group.
pub(crate) fn verdict(
    snap: &PolicySnapshot,
    g: &Group,
    at: Timestamp,
    local: jiff::civil::DateTime,
) -> ScheduleVerdict {
    if g.schedule.time_zone() == &snap.time_zone {
        g.schedule.evaluate_local(local)
    } else {
        g.schedule.evaluate(at)
    }
}
