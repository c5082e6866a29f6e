//! The policy snapshot: everything a door decision needs, and nothing more.
//!
//! A snapshot holds no names or personal data. Persons are opaque ids; credentials appear only as
//! keyed hashes ([`CredentialHash`], HMAC-SHA256 under a per-deployment key, computed outside this
//! crate), so a stolen controller reveals no card numbers and no one's identity.
//!
//! [`PolicyData`] is the plain, ordered form that the server builds, signs and sends;
//! [`PolicySnapshot`] is the same content indexed for fast look-ups with schedules compiled once.

mod build;

pub use build::StreamedSnapshot;

use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::coded_enum;
use crate::credential::{CredentialKind, CredentialStatus};
use crate::fx::{FxHashMap, FxHashSet};
use crate::model::{Id, PersonKind, ReaderMode, ZoneClass};
use crate::schedule::{CompiledSchedule, LocalMoment, Schedule, ScheduleError, ScheduleVerdict};

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

/// The whole policy in plain, ordered form: what the server signs and controllers keep. The
/// default is an empty policy (version 0, no time zone), to fill in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// A validity period as two day numbers ([`day_number`]), open ends as the extremes: what a
/// decision compares, without unpacking dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DayRange {
    pub(crate) from: i32,
    pub(crate) until: i32,
}

impl DayRange {
    fn of(from: Option<Date>, until: Option<Date>) -> Self {
        Self {
            from: from.map_or(i32::MIN, day_number),
            until: until.map_or(i32::MAX, day_number),
        }
    }

    /// Whether day number `day` is within the period.
    pub(crate) fn contains(self, day: i32) -> bool {
        self.from <= day && day <= self.until
    }
}

/// A date as an integer that orders as dates do (year, then month, then day), cheap to make.
pub(crate) fn day_number(d: Date) -> i32 {
    (i32::from(d.year()) << 9) | (i32::from(d.month()) << 5) | i32::from(d.day())
}

/// A cardholder as decisions see them. Kept small (32 bytes): a snapshot holds one per person.
/// PIN hashes, which few people have, are kept apart.
#[derive(Debug, Clone)]
pub(crate) struct Holder {
    pub(crate) id: Id,
    /// Range into `PolicySnapshot::member_groups`.
    pub(crate) groups: (u32, u32),
    pub(crate) valid: DayRange,
    pub(crate) kind: PersonKind,
    pub(crate) active: bool,
}

/// No holder: the credential's person is not in the snapshot.
pub(crate) const NO_HOLDER: u32 = u32::MAX;

/// How a snapshot finds a credential: the first 128 bits of its keyed hash. Credential hashes
/// are HMAC outputs under the deployment's secret key, so two credentials sharing 128 bits
/// happen by chance about once in 2^128 pairs and cannot be made to; halving the key keeps a
/// 100,000-card snapshot a few megabytes smaller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CredKey(u64, u64);

impl CredKey {
    pub(crate) fn of(h: &CredentialHash) -> Self {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            if let Some(b) = h.0.get(i..i + 8) {
                w.copy_from_slice(b);
            }
            u64::from_le_bytes(w)
        };
        Self(word(0), word(8))
    }
}

impl std::hash::Hash for CredKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Already uniformly distributed: one word is enough to spread the buckets.
        state.write_u64(self.0);
    }
}

/// A credential as decisions see them (24 bytes).
#[derive(Debug, Clone)]
pub(crate) struct Cred {
    pub(crate) person_id: Id,
    /// Index into `PolicySnapshot::holders`, or [`NO_HOLDER`].
    pub(crate) holder: u32,
    pub(crate) kind: CredentialKind,
    pub(crate) status: CredentialStatus,
    pub(crate) valid: DayRange,
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    /// Sorted, without duplicates.
    pub(crate) zone_ids: Box<[Id]>,
    /// The same zones as bits by their index in `PolicySnapshot::zones`.
    pub(crate) zone_bits: Box<[u64]>,
    pub(crate) schedule: CompiledSchedule,
    /// The schedule reads time in the snapshot's time zone (decided once, at build: comparing
    /// time zones is far dearer than a decision).
    pub(crate) same_tz: bool,
}

impl Group {
    /// Whether the group grants the zone `zone_id`, whose index in the snapshot's zones is
    /// `ix` (`None` for a zone the snapshot does not describe).
    pub(crate) fn grants(&self, zone_id: Id, ix: Option<u32>) -> bool {
        match ix {
            Some(i) => self
                .zone_bits
                .get(i as usize / 64)
                .is_some_and(|w| w & (1u64 << (i % 64)) != 0),
            None => self.zone_ids.binary_search(&zone_id).is_ok(),
        }
    }
}

/// A door with what every decision at it needs, worked out once.
#[derive(Debug, Clone)]
pub(crate) struct Door {
    pub(crate) policy: DoorPolicy,
    /// Index of the inner zone (`to_zone_id`) in `PolicySnapshot::zones`.
    pub(crate) inner: Option<u32>,
    /// Index of the outer zone (`from_zone_id`) in `PolicySnapshot::zones`.
    pub(crate) outer: Option<u32>,
    /// The inner zone, a zone around it, or its site is under lockdown.
    pub(crate) locked_down: bool,
    /// The reader asks for a PIN.
    pub(crate) needs_pin: bool,
    /// Range into `PolicySnapshot::interlock_doors`: the doors of its interlock group.
    pub(crate) interlock: (u32, u32),
}

/// The offset of a time zone that has no more transitions after some instant (most of Asia,
/// Japan included): from then on local time is a fixed shift, no zone rules to consult.
#[derive(Debug, Clone, Copy)]
struct FixedTail {
    from_second: i64,
    offset: Offset,
}

/// A policy indexed for decisions. Cheap to share behind an `Arc`; never changes once built.
#[derive(Debug, Clone)]
pub struct PolicySnapshot {
    version: u64,
    built_at_us: i64,
    credential_key: String,
    time_zone: TimeZone,
    fixed_tail: Option<FixedTail>,
    zone_index: FxHashMap<Id, u32>,
    pub(crate) zones: Vec<ZonePolicy>,
    pub(crate) doors: FxHashMap<Id, Door>,
    /// Sorted by id, one per id.
    pub(crate) holders: Vec<Holder>,
    pub(crate) creds: FxHashMap<CredKey, Cred>,
    /// PHC strings of active PINs, by person.
    pins: FxHashMap<Id, Box<str>>,
    /// Face credential hashes per person, for 1:1 checks at face+card doors.
    faces: FxHashMap<Id, Box<[CredentialHash]>>,
    pub(crate) groups: Vec<Group>,
    pub(crate) member_groups: Vec<u32>,
    interlock_doors: Vec<Id>,
    lockdown_zones: FxHashSet<Id>,
    lockdown_sites: FxHashSet<Id>,
}

fn ix(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl PolicySnapshot {
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
        self.doors.get(&id).map(|d| &d.policy)
    }

    /// All doors.
    pub fn doors(&self) -> impl Iterator<Item = &DoorPolicy> {
        self.doors.values().map(|d| &d.policy)
    }

    /// One zone.
    pub fn zone(&self, id: Id) -> Option<&ZonePolicy> {
        self.zone_index
            .get(&id)
            .and_then(|i| self.zones.get(*i as usize))
    }

    pub(crate) fn zone_at(&self, i: Option<u32>) -> Option<&ZonePolicy> {
        i.and_then(|i| self.zones.get(i as usize))
    }

    /// Number of credentials.
    pub fn credential_count(&self) -> usize {
        self.creds.len()
    }

    /// The person holding a credential, if known.
    pub fn person_of(&self, hash: &CredentialHash) -> Option<Id> {
        self.cred(hash).map(|c| c.person_id)
    }

    /// A credential by its keyed hash.
    pub(crate) fn cred(&self, hash: &CredentialHash) -> Option<&Cred> {
        self.creds.get(&CredKey::of(hash))
    }

    /// The hashes of a person's face credentials (whatever their status), for a face+card
    /// reader's 1:1 check: the card names the person, the face must match one of these.
    pub fn face_hashes_of(&self, person_id: Id) -> &[CredentialHash] {
        self.faces.get(&person_id).map_or(&[], |v| v)
    }

    fn holder_by_id(&self, person_id: Id) -> Option<&Holder> {
        self.holders
            .binary_search_by_key(&person_id, |h| h.id)
            .ok()
            .and_then(|i| self.holders.get(i))
    }

    pub(crate) fn holder_at(&self, i: u32) -> Option<&Holder> {
        self.holders.get(i as usize)
    }

    /// The PIN hash of a person, if they have an active PIN.
    pub fn pin_hash_of(&self, person_id: Id) -> Option<&str> {
        self.pins.get(&person_id).map(|p| &**p)
    }

    /// Whether a person is a visitor.
    pub fn is_visitor(&self, person_id: Id) -> bool {
        self.holder_by_id(person_id)
            .is_some_and(|h| h.kind == PersonKind::Visitor)
    }

    /// `at` on the wall clock of the snapshot's time zone. Where the zone keeps one offset
    /// (Japan since 1951) this is integer arithmetic; elsewhere jiff applies the zone's rules.
    pub(crate) fn local_moment(&self, at: Timestamp) -> LocalMoment {
        if let Some(t) = self.fixed_tail {
            // Whole seconds, rounded down also before 1970.
            let second = at.as_second() - i64::from(at.subsec_nanosecond() < 0);
            if second >= t.from_second {
                if let Some(m) = second
                    .checked_add(i64::from(t.offset.seconds()))
                    .and_then(LocalMoment::from_local_second)
                {
                    return m;
                }
            }
        }
        LocalMoment::of(self.time_zone.to_datetime(at))
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
            let Some(zone) = self.zone(z) else {
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

    /// The doors of `door`'s interlock group (the door itself among them).
    pub(crate) fn interlocked_with(&self, door: &Door) -> &[Id] {
        let (s, e) = door.interlock;
        self.interlock_doors
            .get(s as usize..e as usize)
            .unwrap_or(&[])
    }
}

/// The fixed offset `tz` keeps from its last transition on, if it has no transition after
/// `built_at_us` (checked from the snapshot's build time so the answer does not depend on the
/// clock of the machine that indexes it).
fn fixed_tail(tz: &TimeZone, built_at_us: i64) -> Option<FixedTail> {
    let probe = Timestamp::from_microsecond(built_at_us).ok()?;
    if tz.following(probe).next().is_some() {
        return None;
    }
    let from_second = tz
        .preceding(probe)
        .next()
        .map_or(i64::MIN, |t| t.timestamp().as_second());
    let offset = tz.to_offset(probe);
    // A transition exactly at `probe` would be in neither list: make sure the offset really
    // holds from `from_second` on.
    let start = Timestamp::from_second(from_second).unwrap_or(Timestamp::MIN);
    (tz.to_offset(start) == offset).then_some(FixedTail {
        from_second: start.as_second(),
        offset,
    })
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
pub(crate) fn verdict(g: &Group, at: Timestamp, local: &LocalMoment) -> ScheduleVerdict {
    if g.same_tz {
        g.schedule.evaluate_moment(local)
    } else {
        g.schedule.evaluate(at)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn empty(tz: &str, built_at_us: i64) -> PolicySnapshot {
        PolicySnapshot::build(PolicyData {
            version: 1,
            built_at_us,
            time_zone: tz.into(),
            ..PolicyData::default()
        })
        .unwrap()
    }

    #[test]
    fn local_time_matches_the_zone_rules_everywhere() {
        let now_us = 1_795_000_000_000_000; // 2026-11
        for (tz, built, fixed) in [
            ("Asia/Tokyo", 0, true),
            ("Asia/Tokyo", now_us, true),
            ("UTC", now_us, true),
            ("America/New_York", now_us, false),
            ("Europe/Berlin", 0, false),
        ] {
            let snap = empty(tz, built);
            assert_eq!(snap.fixed_tail.is_some(), fixed, "{tz}");
            let zone = TimeZone::get(tz).unwrap();
            // From 1940 (Japan's summer time of 1948–51 included) to 2100, every ~3.7 days.
            let mut s = -946_771_200i64;
            while s < 4_102_444_800 {
                let at = Timestamp::from_second(s).unwrap();
                let want = LocalMoment::of(zone.to_datetime(at));
                assert_eq!(snap.local_moment(at), want, "{tz} {at}");
                // Just before the second, also before 1970 (rounding down, not to zero).
                let before = at - jiff::SignedDuration::from_nanos(1);
                let want = LocalMoment::of(zone.to_datetime(before));
                assert_eq!(snap.local_moment(before), want, "{tz} {before}");
                s += 320_023;
            }
        }
    }

    #[test]
    fn every_day_from_1900_to_2200_is_taken_apart_as_jiff_does() {
        let snap = empty("UTC", 0);
        let zone = TimeZone::UTC;
        // Midnight and the last second of every day.
        let mut s = -2_208_988_800i64;
        while s < 7_258_118_400 {
            for at in [s, s + 86_399] {
                let at = Timestamp::from_second(at).unwrap();
                assert_eq!(
                    snap.local_moment(at),
                    LocalMoment::of(zone.to_datetime(at)),
                    "{at}"
                );
            }
            s += 86_400;
        }
    }

    #[test]
    fn holders_and_faces_are_found_by_id() {
        let mut d = empty("Asia/Tokyo", 0);
        assert!(d.face_hashes_of(1).is_empty());
        let h = |n: u8| CredentialHash([n; 32]);
        let holder = |id: i64, kind| HolderPolicy {
            id,
            kind,
            active: true,
            valid_from: None,
            valid_until: None,
            pin_hash: (id == 3).then(|| "phc".to_string()),
        };
        let cred = |n: u8, person_id: i64, kind| CredentialPolicy {
            hash: h(n),
            id: i64::from(n),
            person_id,
            kind,
            status: CredentialStatus::Active,
            valid_from: None,
            valid_until: None,
        };
        d = PolicySnapshot::build(PolicyData {
            version: 1,
            time_zone: "Asia/Tokyo".into(),
            holders: vec![
                holder(3, PersonKind::Employee),
                holder(1, PersonKind::Visitor),
                holder(2, PersonKind::Employee),
            ],
            credentials: vec![
                cred(1, 1, CredentialKind::Card),
                cred(2, 1, CredentialKind::Face),
                cred(3, 2, CredentialKind::Face),
                cred(4, 1, CredentialKind::Face),
                cred(5, 9, CredentialKind::Card),
            ],
            ..PolicyData::default()
        })
        .unwrap();
        assert!(d.is_visitor(1) && !d.is_visitor(2) && !d.is_visitor(9));
        assert_eq!(d.pin_hash_of(3), Some("phc"));
        assert_eq!(d.pin_hash_of(1), None);
        assert_eq!(d.face_hashes_of(1), &[h(2), h(4)]);
        assert_eq!(d.face_hashes_of(2), &[h(3)]);
        assert_eq!(d.person_of(&h(5)), Some(9));
        assert_eq!(d.cred(&h(5)).map(|c| c.holder), Some(NO_HOLDER));
        let c = d.cred(&h(1)).unwrap();
        assert_eq!(d.holder_at(c.holder).map(|h| h.id), Some(1));
        assert!(d.cred(&CredentialHash([7; 32])).is_none());
    }

    #[test]
    fn day_numbers_order_as_dates_and_ranges_are_inclusive() {
        let days: Vec<Date> = [
            "1980-01-01",
            "2025-12-31",
            "2026-01-01",
            "2026-02-28",
            "2026-03-01",
            "2026-11-26",
            "2099-12-31",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for w in days.windows(2) {
            assert!(day_number(w[0]) < day_number(w[1]), "{} < {}", w[0], w[1]);
        }
        let r = DayRange::of(Some(days[2]), Some(days[5]));
        assert!(!r.contains(day_number(days[1])));
        assert!(r.contains(day_number(days[2])) && r.contains(day_number(days[5])));
        assert!(!r.contains(day_number(days[6])));
        let open = DayRange::of(None, None);
        assert!(days.iter().all(|d| open.contains(day_number(*d))));
    }

    #[test]
    fn per_person_entries_stay_small() {
        // A 100,000-person snapshot holds one of each per person; see docs/benchmarks.md.
        assert_eq!(std::mem::size_of::<Holder>(), 32);
        assert_eq!(std::mem::size_of::<Cred>(), 24);
        assert_eq!(std::mem::size_of::<CredKey>(), 16);
    }
}
