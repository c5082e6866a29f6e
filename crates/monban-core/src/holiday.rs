//! Japanese national holidays (国民の祝日) and the other days off defined by
//! the 国民の祝日に関する法律 (祝日法), computed from the rules in force for
//! each year.
//!
//! Schedules use this to close doors on national holidays. The calendar is
//! **computed**, not looked up from a downloaded list, for the years
//! [`FIRST_SUPPORTED_YEAR`]`..=`[`LAST_SUPPORTED_YEAR`] (1980–2099):
//!
//! * named holidays follow the law history of that span, including the
//!   Happy Monday system (成人の日 and 体育の日 from 2000, 海の日 and 敬老の日
//!   from 2003), 昭和の日 / みどりの日 (2007), 山の日 (2016), the move of
//!   天皇誕生日 (none in 2019, 23 February from 2020), スポーツの日 (2020) and
//!   the one-off days of 1989, 1990, 1993, 2019, 2020 and 2021;
//! * 振替休日 (substitute holiday, Article 3(2)): before 2007 the Monday after
//!   a holiday that falls on a Sunday; from 2007 the first following day that
//!   is not itself a national holiday;
//! * 国民の休日 (Article 3(3), from 1986): a day that is not a national holiday
//!   but lies between two of them (before 2007 Sundays and substitute holidays
//!   were excluded);
//! * 春分の日 and 秋分の日 come from the standard approximation formula valid
//!   for 1980–2099. **Official equinox days are only fixed each February for
//!   the following year** (官報「暦要項」). Dates after the last announced
//!   year are therefore predictions; so is every date after a future change
//!   of the law, which this module cannot know about.
//!
//! When this was written the Cabinet Office list (syukujitsu.csv) ran to 2027;
//! the computed dates match it exactly for every year from 1980 to 2027
//! (see `tests/holidays.rs` for several complete years). Outside the supported
//! years every function reports "no holiday".
//!
//! Lookups are table driven: the first call builds a 44 KB table for the whole
//! range once; afterwards [`holiday_name`] and [`is_holiday`] are a few
//! arithmetic operations and never allocate.

use std::sync::OnceLock;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// First year for which holidays are computed.
pub const FIRST_SUPPORTED_YEAR: i16 = 1980;
/// Last year for which holidays are computed (the equinox formula is only
/// valid up to 2099).
pub const LAST_SUPPORTED_YEAR: i16 = 2099;

/// Why a day is a holiday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolidayKind {
    /// A named 国民の祝日, including days that a special law made a holiday
    /// (e.g. 即位の日 on 2019-05-01).
    National,
    /// 振替休日: the substitute for a national holiday that fell on a Sunday
    /// (Article 3(2)).
    Substitute,
    /// 国民の休日: a day sandwiched between two national holidays (Article 3(3)).
    Citizens,
}

/// A holiday with its Japanese and English names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Holiday {
    /// Japanese name, e.g. `"成人の日"`, `"振替休日"`, `"国民の休日"`.
    pub name_ja: &'static str,
    /// English name, e.g. `"Coming of Age Day"`.
    pub name_en: &'static str,
    /// Whether this is a named holiday, a substitute holiday or a citizens' holiday.
    pub kind: HolidayKind,
}

/// Returns the holiday falling on `date`, if any.
///
/// Always `None` outside [`FIRST_SUPPORTED_YEAR`]`..=`[`LAST_SUPPORTED_YEAR`].
#[must_use]
pub fn holiday_name(date: Date) -> Option<Holiday> {
    Name::from_code(code_of(date))
}

/// Returns whether `date` is a national holiday, substitute holiday or
/// citizens' holiday. Allocation-free after the first call.
#[must_use]
pub fn is_holiday(date: Date) -> bool {
    code_of(date) != 0
}

/// Returns every holiday of `year` in date order (empty outside the supported
/// years).
#[must_use]
pub fn holidays_in_year(year: i16) -> Vec<(Date, Holiday)> {
    let Some(days) = year_table(year) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(24);
    for (index, &code) in days.iter().enumerate() {
        let Some(holiday) = Name::from_code(code) else {
            continue;
        };
        let (month, day) = month_day(year, index);
        if let Ok(date) = Date::new(year, month, day) {
            out.push((date, holiday));
        }
    }
    out
}

/// Every holiday name this module can produce. The discriminant is the code
/// stored in the lookup table (0 means "no holiday").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Name {
    NewYear = 1,
    ComingOfAge,
    NationalFoundation,
    EmperorsBirthday,
    VernalEquinox,
    Showa,
    ConstitutionMemorial,
    Greenery,
    Children,
    Marine,
    Mountain,
    RespectForAged,
    AutumnalEquinox,
    HealthAndSports,
    Sports,
    Culture,
    LaborThanksgiving,
    FuneralOfEmperorShowa,
    EnthronementCeremony,
    RoyalWedding,
    Enthronement,
    Substitute,
    Citizens,
}

impl Name {
    const ALL: [Name; 23] = [
        Name::NewYear,
        Name::ComingOfAge,
        Name::NationalFoundation,
        Name::EmperorsBirthday,
        Name::VernalEquinox,
        Name::Showa,
        Name::ConstitutionMemorial,
        Name::Greenery,
        Name::Children,
        Name::Marine,
        Name::Mountain,
        Name::RespectForAged,
        Name::AutumnalEquinox,
        Name::HealthAndSports,
        Name::Sports,
        Name::Culture,
        Name::LaborThanksgiving,
        Name::FuneralOfEmperorShowa,
        Name::EnthronementCeremony,
        Name::RoyalWedding,
        Name::Enthronement,
        Name::Substitute,
        Name::Citizens,
    ];

    fn from_code(code: u8) -> Option<Holiday> {
        let index = usize::from(code).checked_sub(1)?;
        Name::ALL.get(index).map(|name| name.holiday())
    }

    const fn holiday(self) -> Holiday {
        let (name_ja, name_en, kind) = match self {
            Name::NewYear => ("元日", "New Year's Day", HolidayKind::National),
            Name::ComingOfAge => ("成人の日", "Coming of Age Day", HolidayKind::National),
            Name::NationalFoundation => (
                "建国記念の日",
                "National Foundation Day",
                HolidayKind::National,
            ),
            Name::EmperorsBirthday => (
                "天皇誕生日",
                "The Emperor's Birthday",
                HolidayKind::National,
            ),
            Name::VernalEquinox => ("春分の日", "Vernal Equinox Day", HolidayKind::National),
            Name::Showa => ("昭和の日", "Showa Day", HolidayKind::National),
            Name::ConstitutionMemorial => (
                "憲法記念日",
                "Constitution Memorial Day",
                HolidayKind::National,
            ),
            Name::Greenery => ("みどりの日", "Greenery Day", HolidayKind::National),
            Name::Children => ("こどもの日", "Children's Day", HolidayKind::National),
            Name::Marine => ("海の日", "Marine Day", HolidayKind::National),
            Name::Mountain => ("山の日", "Mountain Day", HolidayKind::National),
            Name::RespectForAged => (
                "敬老の日",
                "Respect for the Aged Day",
                HolidayKind::National,
            ),
            Name::AutumnalEquinox => ("秋分の日", "Autumnal Equinox Day", HolidayKind::National),
            Name::HealthAndSports => ("体育の日", "Health and Sports Day", HolidayKind::National),
            Name::Sports => ("スポーツの日", "Sports Day", HolidayKind::National),
            Name::Culture => ("文化の日", "Culture Day", HolidayKind::National),
            Name::LaborThanksgiving => (
                "勤労感謝の日",
                "Labor Thanksgiving Day",
                HolidayKind::National,
            ),
            Name::FuneralOfEmperorShowa => (
                "大喪の礼",
                "State Funeral of Emperor Showa",
                HolidayKind::National,
            ),
            Name::EnthronementCeremony => (
                "即位礼正殿の儀",
                "Enthronement Ceremony",
                HolidayKind::National,
            ),
            Name::RoyalWedding => (
                "結婚の儀",
                "Wedding of Crown Prince Naruhito",
                HolidayKind::National,
            ),
            Name::Enthronement => ("即位の日", "Enthronement Day", HolidayKind::National),
            Name::Substitute => ("振替休日", "Substitute Holiday", HolidayKind::Substitute),
            Name::Citizens => ("国民の休日", "Citizens' Holiday", HolidayKind::Citizens),
        };
        Holiday {
            name_ja,
            name_en,
            kind,
        }
    }
}

const SUPPORTED_YEARS: usize = (LAST_SUPPORTED_YEAR - FIRST_SUPPORTED_YEAR + 1) as usize;

/// One byte per day of the year (index = ordinal day - 1): 0 for a normal day,
/// otherwise a [`Name`] code.
type YearTable = [u8; 366];

fn table() -> &'static [YearTable] {
    static TABLE: OnceLock<Vec<YearTable>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (FIRST_SUPPORTED_YEAR..=LAST_SUPPORTED_YEAR)
            .map(compute_year)
            .collect()
    })
}

fn year_table(year: i16) -> Option<&'static YearTable> {
    let index = usize::try_from(year.checked_sub(FIRST_SUPPORTED_YEAR)?).ok()?;
    if index >= SUPPORTED_YEARS {
        return None;
    }
    table().get(index)
}

fn code_of(date: Date) -> u8 {
    let Some(days) = year_table(date.year()) else {
        return 0;
    };
    usize::try_from(date.day_of_year() - 1)
        .ok()
        .and_then(|index| days.get(index).copied())
        .unwrap_or(0)
}

const fn is_leap(year: i16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

const fn days_in_year(year: i16) -> usize {
    if is_leap(year) {
        366
    } else {
        365
    }
}

/// Days before the first of `month` (1-based) in a common year.
const MONTH_START: [usize; 13] = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

/// Zero-based ordinal of `month`/`day` in `year`.
fn ordinal(year: i16, month: i8, day: i8) -> usize {
    let month_index = usize::try_from(month).unwrap_or(1).clamp(1, 12);
    let leap = usize::from(month_index > 2 && is_leap(year));
    MONTH_START[month_index] + leap + usize::try_from(day).unwrap_or(1) - 1
}

/// Inverse of [`ordinal`].
fn month_day(year: i16, index: usize) -> (i8, i8) {
    let mut month = 12;
    while month > 1 && ordinal(year, month, 1) > index {
        month -= 1;
    }
    let day = index - ordinal(year, month, 1) + 1;
    (month, i8::try_from(day).unwrap_or(1))
}

/// Builds the table of one year by applying the law in force in that year.
fn compute_year(year: i16) -> YearTable {
    let mut days: YearTable = [0; 366];
    let len = days_in_year(year);
    // Weekday of 1 January, Monday = 0 … Sunday = 6.
    let jan1 = Date::new(year, 1, 1)
        .map(|d| usize::try_from(d.weekday().to_monday_zero_offset()).unwrap_or(0))
        .unwrap_or(0);
    let is_sunday = |index: usize| (jan1 + index) % 7 == 6;
    // Day of the month of the `nth` Monday of `month`.
    let nth_monday = |month: i8, nth: i8| -> i8 {
        let first = (jan1 + ordinal(year, month, 1)) % 7;
        let offset = i8::try_from((7 - first) % 7).unwrap_or(0);
        1 + offset + 7 * (nth - 1)
    };
    let mut set = |month: i8, day: i8, name: Name| {
        if let Some(slot) = days.get_mut(ordinal(year, month, day)) {
            *slot = name as u8;
        }
    };

    // 元日
    set(1, 1, Name::NewYear);
    // 成人の日: 15 January, the second Monday from 2000 (Happy Monday).
    set(
        1,
        if year < 2000 { 15 } else { nth_monday(1, 2) },
        Name::ComingOfAge,
    );
    // 建国記念の日 (since 1967).
    set(2, 11, Name::NationalFoundation);
    // 天皇誕生日: 23 February for the present Emperor (since 2020).
    if year >= 2020 {
        set(2, 23, Name::EmperorsBirthday);
    }
    if year == 1989 {
        set(2, 24, Name::FuneralOfEmperorShowa);
    }
    set(3, vernal_equinox_day(year), Name::VernalEquinox);
    // 29 April: 天皇誕生日 (Showa) until 1988, みどりの日 1989–2006, 昭和の日 from 2007.
    let april29 = match year {
        ..=1988 => Name::EmperorsBirthday,
        1989..=2006 => Name::Greenery,
        _ => Name::Showa,
    };
    set(4, 29, april29);
    if year == 2019 {
        // Special law (平成30年法律第99号): deemed national holidays, so
        // 30 April and 2 May become 国民の休日 below.
        set(5, 1, Name::Enthronement);
        set(10, 22, Name::EnthronementCeremony);
    }
    set(5, 3, Name::ConstitutionMemorial);
    // みどりの日 moved to 4 May in 2007 (before, 4 May was usually a 国民の休日).
    if year >= 2007 {
        set(5, 4, Name::Greenery);
    }
    set(5, 5, Name::Children);
    if year == 1993 {
        set(6, 9, Name::RoyalWedding);
    }
    // 海の日: 20 July from 1996, third Monday from 2003, moved for the Olympics.
    match year {
        ..=1995 => {}
        1996..=2002 => set(7, 20, Name::Marine),
        2020 => set(7, 23, Name::Marine),
        2021 => set(7, 22, Name::Marine),
        _ => set(7, nth_monday(7, 3), Name::Marine),
    }
    // 山の日: 11 August from 2016, moved for the Olympics.
    match year {
        ..=2015 => {}
        2020 => set(8, 10, Name::Mountain),
        2021 => set(8, 8, Name::Mountain),
        _ => set(8, 11, Name::Mountain),
    }
    // 敬老の日: 15 September, third Monday from 2003.
    set(
        9,
        if year < 2003 { 15 } else { nth_monday(9, 3) },
        Name::RespectForAged,
    );
    set(9, autumnal_equinox_day(year), Name::AutumnalEquinox);
    // 体育の日: 10 October, second Monday 2000–2019; スポーツの日 from 2020
    // (moved for the Olympics in 2020 and 2021).
    match year {
        ..=1999 => set(10, 10, Name::HealthAndSports),
        2000..=2019 => set(10, nth_monday(10, 2), Name::HealthAndSports),
        2020 => set(7, 24, Name::Sports),
        2021 => set(7, 23, Name::Sports),
        _ => set(10, nth_monday(10, 2), Name::Sports),
    }
    if year == 1990 {
        set(11, 12, Name::EnthronementCeremony);
    }
    set(11, 3, Name::Culture);
    set(11, 23, Name::LaborThanksgiving);
    // 天皇誕生日: 23 December for Emperor Akihito (1989–2018).
    if (1989..=2018).contains(&year) {
        set(12, 23, Name::EmperorsBirthday);
    }

    let named: [bool; 366] = std::array::from_fn(|i| days[i] != 0);

    // 振替休日 (Article 3(2)). No holiday run crosses a year boundary.
    for index in (0..len).filter(|&i| named[i] && is_sunday(i)) {
        let mut next = index + 1;
        if year >= 2007 {
            // "the nearest following day that is not a national holiday"
            while next < len && named[next] {
                next += 1;
            }
        } else if named.get(next).copied().unwrap_or(true) {
            // Old rule: only "the next day", which was already a holiday.
            continue;
        }
        if let Some(slot) = days.get_mut(next).filter(|_| next < len) {
            *slot = Name::Substitute as u8;
        }
    }

    // 国民の休日 (Article 3(3), in force from 27 December 1985).
    if year >= 1986 {
        for index in 1..len.saturating_sub(1) {
            let sandwiched = named[index - 1] && named[index + 1] && days[index] == 0;
            let excluded_before_2007 = year < 2007 && is_sunday(index);
            if sandwiched && !excluded_before_2007 {
                days[index] = Name::Citizens as u8;
            }
        }
    }
    days
}

/// 春分の日 (day of March) by the approximation valid for 1980–2099:
/// `floor(20.8431 + 0.242194 × (y − 1980) − floor((y − 1980) / 4))`,
/// evaluated in exact integer arithmetic (millionths of a day).
fn vernal_equinox_day(year: i16) -> i8 {
    equinox_day(20_843_100, year)
}

/// 秋分の日 (day of September):
/// `floor(23.2488 + 0.242194 × (y − 1980) − floor((y − 1980) / 4))`.
fn autumnal_equinox_day(year: i16) -> i8 {
    equinox_day(23_248_800, year)
}

fn equinox_day(base_micro_days: i64, year: i16) -> i8 {
    let elapsed = i64::from(year) - 1980;
    let micro_days = base_micro_days + 242_194 * elapsed - elapsed.div_euclid(4) * 1_000_000;
    i8::try_from(micro_days.div_euclid(1_000_000)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use jiff::civil::date;

    #[test]
    fn ordinal_round_trips_against_jiff() {
        for year in [1980, 1999, 2000, 2023, 2024, 2100] {
            let mut d = date(year, 1, 1);
            for index in 0..days_in_year(year) {
                assert_eq!(ordinal(year, d.month(), d.day()), index);
                assert_eq!(month_day(year, index), (d.month(), d.day()));
                assert_eq!(usize::try_from(d.day_of_year() - 1).unwrap(), index);
                d = d.tomorrow().unwrap();
            }
            assert_eq!(d.year(), year + 1);
        }
    }

    #[test]
    fn equinox_formula_matches_known_years() {
        assert_eq!(vernal_equinox_day(2024), 20);
        assert_eq!(vernal_equinox_day(2027), 21);
        assert_eq!(autumnal_equinox_day(2024), 22);
        assert_eq!(autumnal_equinox_day(2012), 22);
        assert_eq!(autumnal_equinox_day(2025), 23);
    }

    #[test]
    fn out_of_range_years_have_no_holidays() {
        assert!(holidays_in_year(FIRST_SUPPORTED_YEAR - 1).is_empty());
        assert!(holidays_in_year(LAST_SUPPORTED_YEAR + 1).is_empty());
        assert!(!is_holiday(date(2100, 1, 1)));
        assert!(!is_holiday(date(1979, 1, 1)));
        assert!(is_holiday(date(2099, 1, 1)));
    }

    #[test]
    fn codes_map_to_names() {
        for (i, name) in Name::ALL.iter().enumerate() {
            assert_eq!(usize::from(*name as u8), i + 1);
        }
        assert_eq!(Name::from_code(0), None);
        assert_eq!(Name::from_code(200), None);
    }
}
