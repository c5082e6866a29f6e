//! The things an organisation configures: sites, zones (a tree, each with a PPC zone class),
//! doors between zones, persons, their credentials, and access groups that grant zones on a
//! schedule.

use jiff::civil::Date;

use crate::coded_enum;
use crate::credential::{CardId, CredentialKind, CredentialStatus};
use crate::schedule::Schedule;
use crate::text::FieldError;

/// Database identifier of any stored thing.
pub type Id = i64;

/// A site: one office or building, with its own time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub id: Id,
    pub name: String,
    /// IANA time zone name; `Asia/Tokyo` unless set otherwise.
    pub time_zone: String,
}

coded_enum! {
    /// The class of a zone under the PPC guidelines for specific personal information.
    pub enum ZoneClass {
        /// 一般区域: any other area.
        General = ("general", "一般区域", "general area"),
        /// 取扱区域: where personal-number work is done.
        Handling = ("handling", "取扱区域", "handling area"),
        /// 管理区域: where the systems holding personal numbers are kept.
        Management = ("management", "管理区域", "management area"),
    }
}

/// A zone: an area people are in. Zones form a tree per site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub id: Id,
    pub site_id: Id,
    pub parent_id: Option<Id>,
    pub name: String,
    pub class: ZoneClass,
    /// Most people allowed inside at once; `None` for no limit.
    pub occupancy_limit: Option<u32>,
}

/// Checks that giving zone `zone_id` the parent `new_parent` keeps the zone tree a tree.
///
/// `parent_of` returns the current parent of any zone. Fails with an error on `parent_id` if the
/// new parent is the zone itself or one of its descendants.
pub fn check_no_zone_cycle(
    zone_id: Id,
    new_parent: Option<Id>,
    parent_of: impl Fn(Id) -> Option<Id>,
) -> Result<(), FieldError> {
    let mut cursor = new_parent;
    let mut steps = 0usize;
    while let Some(p) = cursor {
        if p == zone_id || steps > 10_000 {
            return Err(FieldError::new(
                "parent_id",
                "区域の親子関係が循環します。別の親区域を選んでください / this parent would make the zone tree a cycle; choose another parent zone",
            ));
        }
        cursor = parent_of(p);
        steps += 1;
    }
    Ok(())
}

coded_enum! {
    /// Which credentials a door's reader asks for.
    pub enum ReaderMode {
        Card = ("card", "カード", "card"),
        Pin = ("pin", "暗証番号", "PIN"),
        CardAndPin = ("card_and_pin", "カード＋暗証番号", "card + PIN"),
        Face = ("face", "顔認証", "face"),
        FaceAndCard = ("face_and_card", "顔認証＋カード", "face + card"),
    }
}

impl ReaderMode {
    /// The credential kinds a person must present at a door in this mode.
    pub fn required_kinds(self) -> &'static [CredentialKind] {
        match self {
            ReaderMode::Card => &[CredentialKind::Card],
            ReaderMode::Pin => &[CredentialKind::Pin],
            ReaderMode::CardAndPin => &[CredentialKind::Card, CredentialKind::Pin],
            ReaderMode::Face => &[CredentialKind::Face],
            ReaderMode::FaceAndCard => &[CredentialKind::Face, CredentialKind::Card],
        }
    }
}

/// A door, leading from one zone into another. `from_zone_id = None` means from outside the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Door {
    pub id: Id,
    pub site_id: Id,
    pub name: String,
    pub from_zone_id: Option<Id>,
    pub to_zone_id: Id,
    pub reader_mode: ReaderMode,
    /// Seconds the door may stay open before a held-open alarm.
    pub held_open_limit_secs: u32,
}

/// Default held-open limit for new doors, in seconds.
pub const DEFAULT_HELD_OPEN_SECS: u32 = 30;

coded_enum! {
    /// Whether a person is on staff or visiting.
    pub enum PersonKind {
        Employee = ("employee", "従業員", "employee"),
        Visitor = ("visitor", "来訪者", "visitor"),
    }
}

coded_enum! {
    /// Whether a person may currently use their credentials.
    pub enum PersonStatus {
        Active = ("active", "有効", "active"),
        Suspended = ("suspended", "停止中", "suspended"),
        Left = ("left", "退職・退所", "left"),
    }
}

/// A person who may pass doors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: Id,
    pub kind: PersonKind,
    /// 社員番号; unique among employees.
    pub employee_number: Option<String>,
    pub name_kanji: String,
    pub name_kana: String,
    pub department: Option<String>,
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
    pub status: PersonStatus,
}

impl Person {
    /// Whether the person may use credentials on `day` (status active and within validity).
    pub fn is_valid_on(&self, day: Date) -> bool {
        self.status == PersonStatus::Active && within(day, self.valid_from, self.valid_until)
    }
}

/// A credential: an IC card, a PIN (kept only as an Argon2id hash) or a face template reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: Id,
    pub person_id: Id,
    pub kind: CredentialKind,
    /// IC card identifier (FeliCa IDm or MIFARE UID), for cards.
    pub card_id: Option<CardId>,
    /// PHC string of the Argon2id hash, for PINs. Never the PIN itself.
    pub pin_hash: Option<String>,
    /// Reference to an encrypted face template, for faces.
    pub face_template_ref: Option<String>,
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
    pub status: CredentialStatus,
}

/// Whether `day` falls within an optional, inclusive validity period.
pub fn within(day: Date, from: Option<Date>, until: Option<Date>) -> bool {
    from.is_none_or(|f| day >= f) && until.is_none_or(|u| day <= u)
}

/// Checks that a validity period does not end before it starts.
pub fn check_validity(from: Option<Date>, until: Option<Date>) -> Result<(), FieldError> {
    match (from, until) {
        (Some(f), Some(u)) if u < f => Err(FieldError::new(
            "valid_until",
            "有効期限は開始日以降にしてください / valid_until must not be before valid_from",
        )),
        _ => Ok(()),
    }
}

/// An access group: members may enter the listed zones when the schedule allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGroup {
    pub id: Id,
    pub name: String,
    pub schedule: Schedule,
    pub zone_ids: Vec<Id>,
    pub person_ids: Vec<Id>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_cycle_is_detected() {
        // 1 <- 2 <- 3
        let parent = |z: Id| match z {
            2 => Some(1),
            3 => Some(2),
            _ => None,
        };
        assert!(check_no_zone_cycle(1, Some(3), parent).is_err());
        assert!(check_no_zone_cycle(1, Some(1), parent).is_err());
        assert!(check_no_zone_cycle(3, Some(1), parent).is_ok());
        assert!(check_no_zone_cycle(1, None, parent).is_ok());
    }

    #[test]
    fn validity_period() {
        let d = |s: &str| s.parse::<Date>().ok();
        assert!(within(
            jiff::civil::date(2026, 4, 1),
            d("2026-04-01"),
            d("2026-04-30")
        ));
        assert!(!within(
            jiff::civil::date(2026, 5, 1),
            None,
            d("2026-04-30")
        ));
        assert!(check_validity(d("2026-05-01"), d("2026-04-30")).is_err());
    }
}
