//! Access decisions: would this credential open this door now, and if not, why.
//!
//! [`decide`] is a pure function of a policy snapshot, the presence state, a request and a time:
//! the same inputs always give the same [`Decision`] with the same stable [`ReasonCode`], which
//! screens, reports, the audit log and the what-if API all use. It never allocates on the
//! common paths and never waits on anything.
//!
//! Checks, in order (the first failing one gives the reason):
//! 1. the door and credential are known; the credential is active and valid today;
//! 2. the person is active and valid today; the PIN matches where the door asks for one;
//! 3. at a face+card door: the reader's 1:1 face check matched an active face credential of the
//!    card holder (no face evidence: `face_required`; no match or someone else's face:
//!    `face_mismatch`);
//! 4. entering: body temperature within the zone's limit (when the reader sends one);
//! 5. entering: no lockdown of the zone, a zone around it, or its site (leaving is always allowed);
//! 6. an access group grants the zone being entered on its schedule (holidays, closed days);
//! 7. interlock: no other door of the door's interlock group is open;
//! 8. anti-passback of the door's inner zone: the person must be where the door starts
//!    (hard: refuse and alarm; soft: allow and alarm; timed: only within the time window);
//! 9. entering: the zone is not full; a visitor has an escort if the zone requires one;
//! 10. entering a two-person zone: a second, different authorised person within the window.
//!
//! A granted exit that leaves one person alone in a never-alone zone carries an alarm.

use jiff::Timestamp;

use crate::coded_enum;
use crate::credential::{CredentialKind, CredentialStatus};
use crate::event::Direction;
use crate::model::{Id, PersonKind, ReaderMode};
use crate::presence::PresenceState;
use crate::schedule::ScheduleVerdict;
use crate::snapshot::{day_number, verdict, AntiPassbackMode, CredentialHash, PolicySnapshot};

coded_enum! {
    /// Why a door opened or stayed shut. Codes are stable: they are stored and exported.
    pub enum ReasonCode {
        Granted = ("granted", "許可", "granted"),
        UnknownCredential = ("unknown_credential", "未登録の認証情報", "unknown credential"),
        CredentialExpired = ("credential_expired", "有効期限切れ", "credential expired"),
        CredentialNotYetValid = ("credential_not_yet_valid", "有効期間前", "credential not yet valid"),
        CredentialSuspended = ("credential_suspended", "認証情報の停止・失効", "credential suspended or revoked"),
        PersonInactive = ("person_inactive", "利用停止中の人物", "person not active"),
        NoAccessGroup = ("no_access_group", "この区域の権限なし", "no access to this zone"),
        OutsideSchedule = ("outside_schedule", "時間帯外", "outside schedule"),
        Holiday = ("holiday", "祝日", "holiday"),
        CompanyClosed = ("company_closed", "休業日", "company closed"),
        WrongPin = ("wrong_pin", "暗証番号の誤り", "wrong PIN"),
        AntiPassback = ("anti_passback", "アンチパスバック", "anti-passback"),
        TwoPersonPending = ("two_person_pending", "二人制：もう一人待ち", "two-person rule: waiting for second person"),
        TwoPersonFailed = ("two_person_failed", "二人制：不成立", "two-person rule failed"),
        InterlockBusy = ("interlock_busy", "インターロック中", "interlock busy"),
        ZoneFull = ("zone_full", "定員超過", "zone full"),
        EscortRequired = ("escort_required", "付添いが必要", "escort required"),
        TemperatureOverLimit = ("temperature_over_limit", "体温が基準超過", "temperature over limit"),
        Lockdown = ("lockdown", "ロックダウン中", "lockdown"),
        UnknownDoor = ("unknown_door", "未登録の扉", "unknown door"),
        FaceMismatch = ("face_mismatch", "顔が一致しない", "face does not match the card holder"),
        FaceRequired = ("face_required", "顔認証が必要", "face check required"),
    }
}

coded_enum! {
    /// Alarms raised at doors and by the controller link. Codes are stable.
    pub enum AlarmCode {
        AntiPassback = ("anti_passback", "アンチパスバック違反（共連れの疑い）", "anti-passback violation (possible tailgating)"),
        NeverAlone = ("never_alone", "管理区域に一人だけ残っています", "one person left alone inside"),
        TwoPersonFailed = ("two_person_failed", "二人制の不成立", "two-person rule failed"),
        ForcedOpen = ("forced_open", "こじ開け", "door forced open"),
        HeldOpen = ("held_open", "開放放置", "door held open"),
        Tamper = ("tamper", "機器のいたずら", "tamper"),
        PowerLoss = ("power_loss", "停電", "power lost"),
        PowerRestored = ("power_restored", "復電", "power restored"),
        ReaderOffline = ("reader_offline", "読取機オフライン", "reader offline"),
        ReaderOnline = ("reader_online", "読取機復旧", "reader back online"),
        TemperatureOverLimit = ("temperature_over_limit", "体温が基準超過", "temperature over limit"),
        SequenceGap = ("sequence_gap", "イベント番号の欠落", "missing event sequence numbers"),
    }
}

/// The answer to an access request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub granted: bool,
    pub reason: ReasonCode,
    /// The person, when the credential was recognised.
    pub person_id: Option<Id>,
    pub credential_kind: Option<CredentialKind>,
    /// For a two-person entry: the first person, who now enters too.
    pub companion: Option<Id>,
    /// An alarm to raise with this decision (e.g. soft anti-passback, never alone).
    pub alarm: Option<AlarmCode>,
}

impl Decision {
    fn deny(reason: ReasonCode, person_id: Option<Id>, kind: Option<CredentialKind>) -> Self {
        Self {
            granted: false,
            reason,
            person_id,
            credential_kind: kind,
            companion: None,
            alarm: None,
        }
    }
}

/// What was presented at a door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRequest {
    pub door_id: Id,
    pub direction: Direction,
    /// Keyed hash of the card (or face template reference) presented.
    pub credential: Option<CredentialHash>,
    /// Whether the PIN typed (if the door asks for one) matched; the caller compares hashes so
    /// this function stays cheap and pure.
    pub pin_ok: Option<bool>,
    /// Body temperature in tenths of a degree Celsius, if the reader measured it.
    pub temperature_dc: Option<i16>,
}

/// What a face+card door's reader found when it compared the live face (1:1) with the face
/// templates of the holder of the presented card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceEvidence {
    /// The live face matched the template whose reference has this keyed hash (the hash of a
    /// `face` credential, as in the snapshot).
    Matched(CredentialHash),
    /// A face was seen and checked, and matched none of the holder's templates.
    NoMatch,
}

/// Decides one request. See the [module documentation](self) for the order of checks.
///
/// Carries no face evidence: a face+card door refuses with [`ReasonCode::FaceRequired`]. Use
/// [`decide_with_face`] where the reader did the 1:1 face check.
pub fn decide(
    snap: &PolicySnapshot,
    presence: &PresenceState,
    req: &AccessRequest,
    at: Timestamp,
) -> Decision {
    decide_with_face(snap, presence, req, None, at)
}

/// Decides one request with what the reader found comparing the live face with the card
/// holder's templates (`None`: no face check was made). Only face+card doors read `face`.
pub fn decide_with_face(
    snap: &PolicySnapshot,
    presence: &PresenceState,
    req: &AccessRequest,
    face: Option<FaceEvidence>,
    at: Timestamp,
) -> Decision {
    let Some(door_entry) = snap.doors.get(&req.door_id) else {
        return Decision::deny(ReasonCode::UnknownDoor, None, None);
    };
    let door = &door_entry.policy;
    let Some(cred) = req.credential.as_ref().and_then(|h| snap.cred(h)) else {
        return Decision::deny(ReasonCode::UnknownCredential, None, None);
    };
    let pid = Some(cred.person_id);
    let kind = Some(cred.kind);
    let deny = |r| Decision::deny(r, pid, kind);
    let local = snap.local_moment(at);
    let today = day_number(local.date);
    if cred.status != CredentialStatus::Active {
        return deny(ReasonCode::CredentialSuspended);
    }
    if today < cred.valid.from {
        return deny(ReasonCode::CredentialNotYetValid);
    }
    if today > cred.valid.until {
        return deny(ReasonCode::CredentialExpired);
    }
    let Some(holder) = snap.holder_at(cred.holder) else {
        return Decision::deny(ReasonCode::UnknownCredential, None, None);
    };
    if !holder.active || !holder.valid.contains(today) {
        return deny(ReasonCode::PersonInactive);
    }
    if door_entry.needs_pin && req.pin_ok != Some(true) {
        return deny(ReasonCode::WrongPin);
    }
    if door.reader_mode == ReaderMode::FaceAndCard {
        match face {
            None => return deny(ReasonCode::FaceRequired),
            Some(FaceEvidence::NoMatch) => return deny(ReasonCode::FaceMismatch),
            Some(FaceEvidence::Matched(h)) => {
                // The matched template must be an active face credential of the card's holder,
                // valid today; anyone else's face, or a withdrawn one, does not count.
                let own = snap.cred(&h).is_some_and(|f| {
                    f.kind == CredentialKind::Face
                        && f.person_id == cred.person_id
                        && f.status == CredentialStatus::Active
                        && f.valid.contains(today)
                });
                if !own {
                    return deny(ReasonCode::FaceMismatch);
                }
            }
        }
    }
    let inner = snap.zone_at(door_entry.inner);
    let (target, target_ix) = match req.direction {
        Direction::In => (Some(door.to_zone_id), door_entry.inner),
        Direction::Out => (door.from_zone_id, door_entry.outer),
    };
    let entering = req.direction == Direction::In;
    if entering {
        if let (Some(t), Some(z)) = (req.temperature_dc, inner) {
            if t > z.rules.max_temperature_dc {
                let mut d = deny(ReasonCode::TemperatureOverLimit);
                d.alarm = Some(AlarmCode::TemperatureOverLimit);
                return d;
            }
        }
        if door_entry.locked_down {
            return deny(ReasonCode::Lockdown);
        }
    }
    // Schedule: needed to enter any zone (also the outer zone when leaving an inner one).
    if let Some(target) = target {
        let mut best = ReasonCode::NoAccessGroup;
        let mut allowed = false;
        for g in snap.holder_groups(holder) {
            if !g.grants(target, target_ix) {
                continue;
            }
            match verdict(g, at, &local) {
                ScheduleVerdict::Allowed => {
                    allowed = true;
                    break;
                }
                ScheduleVerdict::Holiday => best = ReasonCode::Holiday,
                ScheduleVerdict::CompanyClosed => best = ReasonCode::CompanyClosed,
                ScheduleVerdict::OutsideSchedule => {
                    if best == ReasonCode::NoAccessGroup {
                        best = ReasonCode::OutsideSchedule
                    }
                }
            }
        }
        // Leaving is never refused for want of a schedule into the outer zone when the person
        // may be there at all; entering is.
        if !allowed && (entering || best == ReasonCode::NoAccessGroup) {
            return deny(best);
        }
    }
    if snap
        .interlocked_with(door_entry)
        .iter()
        .any(|d| *d != door.id && presence.door_open(*d))
    {
        return deny(ReasonCode::InterlockBusy);
    }
    let mut alarm = None;
    if let Some(z) = inner {
        let expected = if entering {
            door.from_zone_id
        } else {
            Some(door.to_zone_id)
        };
        let mode = z.rules.anti_passback;
        if mode != AntiPassbackMode::Off && !presence.is_forgiven(cred.person_id) {
            let w = presence.whereabouts(cred.person_id);
            let actual = w.and_then(|w| w.zone_id);
            let fresh = match (mode, w) {
                (AntiPassbackMode::Timed, Some(w)) => {
                    at.as_second() - w.since.as_second() < i64::from(z.rules.anti_passback_secs)
                }
                (AntiPassbackMode::Timed, None) => false,
                _ => true,
            };
            if actual != expected && fresh {
                if mode == AntiPassbackMode::Soft {
                    alarm = Some(AlarmCode::AntiPassback);
                } else {
                    let mut d = deny(ReasonCode::AntiPassback);
                    d.alarm = Some(AlarmCode::AntiPassback);
                    return d;
                }
            }
        }
    }
    let mut companion = None;
    if entering {
        if let Some(z) = inner {
            if z.occupancy_limit
                .is_some_and(|l| presence.occupancy(z.id) >= l)
            {
                return deny(ReasonCode::ZoneFull);
            }
            if z.rules.escort_required && holder.kind == PersonKind::Visitor {
                let escorted = presence.recent_entry(door.id).is_some_and(|r| {
                    r.kind == PersonKind::Employee
                        && r.person_id != cred.person_id
                        && within_secs(r.at, at, z.rules.escort_window_secs)
                });
                if !escorted {
                    return deny(ReasonCode::EscortRequired);
                }
            }
            if z.rules.two_person {
                match presence.pending(door.id) {
                    Some(p) if within_secs(p.at, at, z.rules.two_person_window_secs) => {
                        if p.person_id == cred.person_id {
                            let mut d = deny(ReasonCode::TwoPersonFailed);
                            d.alarm = Some(AlarmCode::TwoPersonFailed);
                            return d;
                        }
                        if z.occupancy_limit
                            .is_some_and(|l| presence.occupancy(z.id) + 1 >= l)
                        {
                            return deny(ReasonCode::ZoneFull);
                        }
                        companion = Some(p.person_id);
                    }
                    _ => return deny(ReasonCode::TwoPersonPending),
                }
            }
        }
    } else if let Some(z) = inner {
        if z.rules.never_alone_alarm
            && presence.occupancy(z.id) == 2
            && presence
                .whereabouts(cred.person_id)
                .is_some_and(|w| w.zone_id == Some(z.id))
        {
            alarm = alarm.or(Some(AlarmCode::NeverAlone));
        }
    }
    Decision {
        granted: true,
        reason: ReasonCode::Granted,
        person_id: pid,
        credential_kind: kind,
        companion,
        alarm,
    }
}

fn within_secs(then: Timestamp, now: Timestamp, secs: u32) -> bool {
    let d = now.as_microsecond() - then.as_microsecond();
    (0..=i64::from(secs) * 1_000_000).contains(&d)
}
