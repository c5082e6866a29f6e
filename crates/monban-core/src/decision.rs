//! Access decisions: would this credential open this door now, and if not, why.
//!
//! [`decide`] is a pure function of a policy view, a request and a time. Each outcome carries a
//! stable [`ReasonCode`] that screens, reports and the audit log all use.

use jiff::Timestamp;

use crate::coded_enum;
use crate::credential::{CardId, CredentialKind, CredentialStatus};
use crate::event::Direction;
use crate::model::{within, AccessGroup, Credential, Door, Id, Person, PersonStatus, Zone};
use crate::schedule::ScheduleVerdict;

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
    }
}

/// The answer to an access request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub granted: bool,
    pub reason: ReasonCode,
    pub person_id: Option<Id>,
}

impl Decision {
    fn deny(reason: ReasonCode, person_id: Option<Id>) -> Self {
        Self {
            granted: false,
            reason,
            person_id,
        }
    }
}

/// What was presented at a door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    pub door_id: Id,
    pub direction: Direction,
    pub card: Option<CardId>,
    /// Whether the PIN typed (if the door asks for one) matched the person's PIN hash; the
    /// caller compares hashes so this function stays cheap and pure.
    pub pin_ok: Option<bool>,
}

/// What [`decide`] needs to know about the configured policy.
pub trait PolicyView {
    fn door(&self, id: Id) -> Option<&Door>;
    fn zone(&self, id: Id) -> Option<&Zone>;
    fn credential_by_card(&self, card: &CardId) -> Option<&Credential>;
    fn person(&self, id: Id) -> Option<&Person>;
    /// Access groups the person belongs to.
    fn groups_of(&self, person_id: Id) -> Vec<&AccessGroup>;
    /// Verdict of group `group_id`'s schedule at `at`.
    fn schedule_verdict(&self, group: &AccessGroup, at: Timestamp) -> ScheduleVerdict;
    /// The calendar day at `at` in the site's time zone.
    fn local_date(&self, at: Timestamp) -> jiff::civil::Date;
}

/// Decides one request. Going out through a door needs access to the zone being left
/// (its `to_zone`) only in the sense of being a known, valid person; going in needs a group
/// granting the target zone whose schedule allows `at`.
pub fn decide(policy: &impl PolicyView, req: &AccessRequest, at: Timestamp) -> Decision {
    let Some(door) = policy.door(req.door_id) else {
        return Decision::deny(ReasonCode::UnknownCredential, None);
    };
    let Some(card) = &req.card else {
        return Decision::deny(ReasonCode::UnknownCredential, None);
    };
    let Some(cred) = policy.credential_by_card(card) else {
        return Decision::deny(ReasonCode::UnknownCredential, None);
    };
    let pid = Some(cred.person_id);
    let today = policy.local_date(at);
    match cred.status {
        CredentialStatus::Active => {}
        _ => return Decision::deny(ReasonCode::CredentialSuspended, pid),
    }
    if cred.valid_from.is_some_and(|f| today < f) {
        return Decision::deny(ReasonCode::CredentialNotYetValid, pid);
    }
    if !within(today, None, cred.valid_until) {
        return Decision::deny(ReasonCode::CredentialExpired, pid);
    }
    let Some(person) = policy.person(cred.person_id) else {
        return Decision::deny(ReasonCode::UnknownCredential, None);
    };
    if person.status != PersonStatus::Active || !person.is_valid_on(today) {
        return Decision::deny(ReasonCode::PersonInactive, pid);
    }
    if door
        .reader_mode
        .required_kinds()
        .contains(&CredentialKind::Pin)
        && req.pin_ok != Some(true)
    {
        return Decision::deny(ReasonCode::WrongPin, pid);
    }
    let target = match req.direction {
        Direction::In => Some(door.to_zone_id),
        Direction::Out => door.from_zone_id,
    };
    let Some(target) = target else {
        // Leaving the site: always allowed for a valid person.
        return Decision {
            granted: true,
            reason: ReasonCode::Granted,
            person_id: pid,
        };
    };
    let mut best = ReasonCode::NoAccessGroup;
    for g in policy.groups_of(person.id) {
        if !g.zone_ids.contains(&target) {
            continue;
        }
        match policy.schedule_verdict(g, at) {
            ScheduleVerdict::Allowed => {
                return Decision {
                    granted: true,
                    reason: ReasonCode::Granted,
                    person_id: pid,
                }
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
    Decision::deny(best, pid)
}
