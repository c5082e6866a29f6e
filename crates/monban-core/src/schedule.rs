//! Access schedules: when an access group may pass its doors.
//!
//! A [`Schedule`] is weekly [`TimeWindow`]s (with `holiday` as an eighth kind
//! of day), dated [`ExceptionDay`]s such as 年末年始 closures or special
//! working days, and whether Japanese national holidays ([`crate::holiday`])
//! close the doors. It is what users edit and what the API stores as JSON:
//!
//! ```json
//! {
//!   "name": "平日 / Weekdays",
//!   "time_zone": "Asia/Tokyo",
//!   "windows": [{ "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00" }],
//!   "exceptions": [
//!     { "date": "2026-12-29", "closed": true, "label": "年末年始" },
//!     { "date": "2026-12-26", "windows": [{ "start": "09:00", "end": "12:00" }], "label": "棚卸" }
//!   ],
//!   "observe_national_holidays": true
//! }
//! ```
//!
//! `time_zone` (default `Asia/Tokyo`), `exceptions` (default none) and
//! `observe_national_holidays` (default `true`) may be omitted; unknown fields
//! are rejected so that a typo cannot silently change who gets in.
//!
//! Hot paths compile a validated schedule once with [`Schedule::compile`] and
//! call [`CompiledSchedule::evaluate`], which looks nothing up and allocates
//! nothing.

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::coded_enum;
use crate::holiday;
use crate::text::FieldError;

/// The time zone used when a schedule does not name one.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Tokyo";
/// Longest schedule name or exception label, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// `24:00`, the end of the day, as a window end. Stored as [`Time::MAX`]
/// (23:59:59.999999999) and written as `"24:00"` in JSON.
pub const END_OF_DAY: Time = Time::MAX;

coded_enum! {
    /// A day of the week, or a national holiday, that a [`TimeWindow`] applies to.
    pub enum DayKind {
        Mon = ("mon", "月曜日", "Monday"),
        Tue = ("tue", "火曜日", "Tuesday"),
        Wed = ("wed", "水曜日", "Wednesday"),
        Thu = ("thu", "木曜日", "Thursday"),
        Fri = ("fri", "金曜日", "Friday"),
        Sat = ("sat", "土曜日", "Saturday"),
        Sun = ("sun", "日曜日", "Sunday"),
        /// A national holiday, 振替休日 or 国民の休日 (see [`crate::holiday`]).
        Holiday = ("holiday", "祝日", "national holiday"),
    }
}

impl DayKind {
    /// Monday to Friday.
    pub const WEEKDAYS: [DayKind; 5] = [
        DayKind::Mon,
        DayKind::Tue,
        DayKind::Wed,
        DayKind::Thu,
        DayKind::Fri,
    ];
    /// Every day of the week and national holidays.
    pub const EVERY_DAY: [DayKind; 8] = [
        DayKind::Mon,
        DayKind::Tue,
        DayKind::Wed,
        DayKind::Thu,
        DayKind::Fri,
        DayKind::Sat,
        DayKind::Sun,
        DayKind::Holiday,
    ];

    /// The day kind of a weekday.
    #[must_use]
    pub const fn from_weekday(weekday: Weekday) -> DayKind {
        match weekday {
            Weekday::Monday => DayKind::Mon,
            Weekday::Tuesday => DayKind::Tue,
            Weekday::Wednesday => DayKind::Wed,
            Weekday::Thursday => DayKind::Thu,
            Weekday::Friday => DayKind::Fri,
            Weekday::Saturday => DayKind::Sat,
            Weekday::Sunday => DayKind::Sun,
        }
    }
}

/// A weekly window: on each of `days`, access is allowed from `start` up to
/// but not including `end`.
///
/// Times are whole minutes, written `"HH:MM"`; `end` may be `"24:00"`
/// ([`END_OF_DAY`]). A window cannot cross midnight: `22:00–06:00` is written
/// as `22:00–24:00` plus `00:00–06:00` on the following days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    pub days: Vec<DayKind>,
    #[serde(with = "hhmm")]
    pub start: Time,
    #[serde(with = "hhmm")]
    pub end: Time,
}

impl TimeWindow {
    /// A window on `days` from `start` to `end`.
    #[must_use]
    pub fn new(days: impl Into<Vec<DayKind>>, start: Time, end: Time) -> Self {
        Self {
            days: days.into(),
            start,
            end,
        }
    }
}

/// A window within one exception day: `[start, end)`, same rules as [`TimeWindow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    #[serde(with = "hhmm")]
    pub start: Time,
    #[serde(with = "hhmm")]
    pub end: Time,
}

/// What happens on an [`ExceptionDay`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    /// The organisation is closed all day (e.g. 年末年始, 創立記念日).
    Closed,
    /// A special working day: only these windows apply, whatever the weekday
    /// or holiday.
    Open { windows: Vec<TimeRange> },
}

/// A dated exception that overrides the weekly windows and national holidays.
///
/// In JSON a closed day is `{"date":"2026-12-29","closed":true,"label":"年末年始"}`
/// and a special working day is
/// `{"date":"2026-12-26","windows":[{"start":"09:00","end":"12:00"}],"label":"棚卸"}`;
/// `label` is optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ExceptionDayJson", into = "ExceptionDayJson")]
pub struct ExceptionDay {
    pub date: Date,
    pub kind: ExceptionKind,
    /// Shown to users, e.g. `年末年始`.
    pub label: Option<String>,
}

impl ExceptionDay {
    /// A day on which the organisation is closed.
    #[must_use]
    pub fn closed(date: Date, label: Option<String>) -> Self {
        Self {
            date,
            kind: ExceptionKind::Closed,
            label,
        }
    }

    /// A special working day with its own windows.
    #[must_use]
    pub fn open(date: Date, windows: Vec<TimeRange>, label: Option<String>) -> Self {
        Self {
            date,
            kind: ExceptionKind::Open { windows },
            label,
        }
    }
}

/// An access schedule. See the [module documentation](self) for the JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Shown to users; 1 to [`MAX_NAME_CHARS`] characters.
    pub name: String,
    /// IANA time zone in which the windows are read.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    pub windows: Vec<TimeWindow>,
    #[serde(default)]
    pub exceptions: Vec<ExceptionDay>,
    /// Whether national holidays close the doors (except for windows that
    /// list `holiday`).
    #[serde(default = "default_true")]
    pub observe_national_holidays: bool,
}

fn default_time_zone() -> String {
    DEFAULT_TIME_ZONE.to_owned()
}

const fn default_true() -> bool {
    true
}

/// The outcome of evaluating a schedule at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleVerdict {
    /// Inside a window.
    Allowed,
    /// No window covers this time.
    OutsideSchedule,
    /// A national holiday, and no window lists `holiday`.
    Holiday,
    /// An exception day on which the organisation is closed.
    CompanyClosed,
}

impl ScheduleVerdict {
    /// Whether access is allowed.
    #[must_use]
    pub const fn is_allowed(self) -> bool {
        matches!(self, ScheduleVerdict::Allowed)
    }
}

/// Why a [`Schedule`] cannot be used. Every error names the offending field
/// ([`ScheduleError::field`]) and says, in Japanese then English, what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{field}: 名前を入力してください / the name must not be blank")]
    BlankName { field: String },
    #[error("{field}: {max}文字以内にしてください（{actual}文字） / must be at most {max} characters (got {actual})")]
    TooLong {
        field: String,
        max: usize,
        actual: usize,
    },
    #[error("{field}: 制御文字は使えません / control characters are not allowed")]
    ControlCharacter { field: String },
    #[error("{field}: タイムゾーン「{name}」が見つかりません。Asia/Tokyo のような IANA 名を指定してください / unknown time zone {name:?}; use an IANA name such as Asia/Tokyo")]
    UnknownTimeZone { field: String, name: String },
    #[error("{field}: 曜日を1つ以上指定してください（mon〜sun, holiday） / a time window needs at least one day (mon…sun or holiday)")]
    NoDays { field: String },
    #[error(
        "{field}: 時刻は分単位（HH:MM）で指定してください / times must be whole minutes (HH:MM)"
    )]
    NotWholeMinute { field: String },
    #[error("{field}: 開始時刻に 24:00 は使えません。00:00〜23:59 にしてください / a time window cannot start at 24:00; use 00:00–23:59")]
    StartsAtEndOfDay { field: String },
    #[error("{field}: 時間帯の終了は開始より後にしてください。日をまたぐ場合は 22:00–24:00 と 00:00–06:00 のように分けてください / a time window must end after it starts; split overnight windows, e.g. 22:00–24:00 and 00:00–06:00")]
    EndNotAfterStart { field: String },
    #[error("{field}: {date} は exceptions[{first}] と重複しています。1日につき1件にしてください / {date} is already listed in exceptions[{first}]; keep one entry per date")]
    DuplicateExceptionDate {
        field: String,
        date: Date,
        first: usize,
    },
    #[error("{field}: 時間帯を1つ以上指定するか、終日休みなら \"closed\": true にしてください / add at least one window, or use \"closed\": true to close the whole day")]
    NoExceptionWindows { field: String },
}

impl ScheduleError {
    /// Path of the offending field, e.g. `name`, `time_zone`, `windows[2].end`
    /// or `exceptions[0].windows[1].start`.
    #[must_use]
    pub fn field(&self) -> &str {
        match self {
            ScheduleError::BlankName { field }
            | ScheduleError::TooLong { field, .. }
            | ScheduleError::ControlCharacter { field }
            | ScheduleError::UnknownTimeZone { field, .. }
            | ScheduleError::NoDays { field }
            | ScheduleError::NotWholeMinute { field }
            | ScheduleError::StartsAtEndOfDay { field }
            | ScheduleError::EndNotAfterStart { field }
            | ScheduleError::DuplicateExceptionDate { field, .. }
            | ScheduleError::NoExceptionWindows { field } => field,
        }
    }

    /// The message without the field path prefix.
    #[must_use]
    pub fn message(&self) -> String {
        let full = self.to_string();
        let prefix_len = self.field().len() + 2;
        full.get(prefix_len..).unwrap_or(&full).to_owned()
    }
}

impl From<ScheduleError> for FieldError {
    fn from(error: ScheduleError) -> Self {
        FieldError::new(error.field(), error.message())
    }
}

impl Schedule {
    /// An empty schedule (no windows: never open) in [`DEFAULT_TIME_ZONE`]
    /// that observes national holidays.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            time_zone: default_time_zone(),
            windows: Vec::new(),
            exceptions: Vec::new(),
            observe_national_holidays: true,
        }
    }

    /// Open around the clock every day, national holidays included.
    #[must_use]
    pub fn always() -> Self {
        Self {
            windows: vec![TimeWindow::new(DayKind::EVERY_DAY, Time::MIN, END_OF_DAY)],
            ..Self::new("常時 / Always")
        }
    }

    /// Monday to Friday 08:00–20:00, closed on national holidays.
    #[must_use]
    pub fn business_hours() -> Self {
        Self {
            windows: vec![TimeWindow::new(
                DayKind::WEEKDAYS,
                Time::constant(8, 0, 0, 0),
                Time::constant(20, 0, 0, 0),
            )],
            ..Self::new("平日 8:00–20:00 / Business hours")
        }
    }

    /// Checks the schedule and returns the first problem found.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self.validation_errors().into_iter().next() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Every problem with the schedule, in field order (for forms that show
    /// all errors at once). Empty when the schedule is valid.
    #[must_use]
    pub fn validation_errors(&self) -> Vec<ScheduleError> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(ScheduleError::BlankName {
                field: "name".to_owned(),
            });
        }
        check_text("name", &self.name, &mut errors);
        if TimeZone::get(&self.time_zone).is_err() {
            errors.push(ScheduleError::UnknownTimeZone {
                field: "time_zone".to_owned(),
                name: self.time_zone.clone(),
            });
        }
        for (i, window) in self.windows.iter().enumerate() {
            if window.days.is_empty() {
                errors.push(ScheduleError::NoDays {
                    field: format!("windows[{i}].days"),
                });
            }
            check_range(
                &format!("windows[{i}]"),
                window.start,
                window.end,
                &mut errors,
            );
        }
        let mut seen: BTreeMap<Date, usize> = BTreeMap::new();
        for (i, exception) in self.exceptions.iter().enumerate() {
            if let Some(&first) = seen.get(&exception.date) {
                errors.push(ScheduleError::DuplicateExceptionDate {
                    field: format!("exceptions[{i}].date"),
                    date: exception.date,
                    first,
                });
            } else {
                seen.insert(exception.date, i);
            }
            if let ExceptionKind::Open { windows } = &exception.kind {
                if windows.is_empty() {
                    errors.push(ScheduleError::NoExceptionWindows {
                        field: format!("exceptions[{i}].windows"),
                    });
                }
                for (j, range) in windows.iter().enumerate() {
                    check_range(
                        &format!("exceptions[{i}].windows[{j}]"),
                        range.start,
                        range.end,
                        &mut errors,
                    );
                }
            }
            if let Some(label) = &exception.label {
                check_text(&format!("exceptions[{i}].label"), label, &mut errors);
            }
        }
        errors
    }

    /// Validates the schedule and prepares it for fast evaluation.
    pub fn compile(&self) -> Result<CompiledSchedule, ScheduleError> {
        self.validate()?;
        let time_zone =
            TimeZone::get(&self.time_zone).map_err(|_| ScheduleError::UnknownTimeZone {
                field: "time_zone".to_owned(),
                name: self.time_zone.clone(),
            })?;
        let mut weekdays = [MinuteSet::EMPTY; 7];
        let mut holiday = None;
        for window in &self.windows {
            for day in &window.days {
                let set = match day {
                    DayKind::Holiday => holiday.get_or_insert(MinuteSet::EMPTY),
                    DayKind::Mon => &mut weekdays[0],
                    DayKind::Tue => &mut weekdays[1],
                    DayKind::Wed => &mut weekdays[2],
                    DayKind::Thu => &mut weekdays[3],
                    DayKind::Fri => &mut weekdays[4],
                    DayKind::Sat => &mut weekdays[5],
                    DayKind::Sun => &mut weekdays[6],
                };
                set.insert(window.start, window.end);
            }
        }
        let mut exceptions: Vec<(Date, Option<MinuteSet>)> = self
            .exceptions
            .iter()
            .map(|exception| {
                let windows = match &exception.kind {
                    ExceptionKind::Closed => None,
                    ExceptionKind::Open { windows } => {
                        let mut set = MinuteSet::EMPTY;
                        for range in windows {
                            set.insert(range.start, range.end);
                        }
                        Some(set)
                    }
                };
                (exception.date, windows)
            })
            .collect();
        exceptions.sort_unstable_by_key(|(date, _)| *date);
        Ok(CompiledSchedule {
            time_zone,
            observe_national_holidays: self.observe_national_holidays,
            weekdays,
            holiday,
            exceptions: exceptions.into_boxed_slice(),
        })
    }

    /// Evaluates the schedule at `at`.
    ///
    /// Convenience for one-off checks: it compiles the schedule on every
    /// call. Use [`Schedule::compile`] and [`CompiledSchedule::evaluate`] on
    /// hot paths. An invalid schedule fails closed with
    /// [`ScheduleVerdict::OutsideSchedule`]; validate schedules when they are
    /// saved.
    #[must_use]
    pub fn evaluate(&self, at: Timestamp) -> ScheduleVerdict {
        match self.compile() {
            Ok(compiled) => compiled.evaluate(at),
            Err(_) => ScheduleVerdict::OutsideSchedule,
        }
    }
}

fn check_text(field: &str, value: &str, errors: &mut Vec<ScheduleError>) {
    let actual = value.chars().count();
    if actual > MAX_NAME_CHARS {
        errors.push(ScheduleError::TooLong {
            field: field.to_owned(),
            max: MAX_NAME_CHARS,
            actual,
        });
    }
    if value.chars().any(char::is_control) {
        errors.push(ScheduleError::ControlCharacter {
            field: field.to_owned(),
        });
    }
}

fn is_whole_minute(time: Time) -> bool {
    time.second() == 0 && time.subsec_nanosecond() == 0
}

fn check_range(path: &str, start: Time, end: Time, errors: &mut Vec<ScheduleError>) {
    let start_ok = if start == END_OF_DAY {
        errors.push(ScheduleError::StartsAtEndOfDay {
            field: format!("{path}.start"),
        });
        false
    } else if !is_whole_minute(start) {
        errors.push(ScheduleError::NotWholeMinute {
            field: format!("{path}.start"),
        });
        false
    } else {
        true
    };
    if end != END_OF_DAY && !is_whole_minute(end) {
        errors.push(ScheduleError::NotWholeMinute {
            field: format!("{path}.end"),
        });
    } else if start_ok && start >= end {
        errors.push(ScheduleError::EndNotAfterStart {
            field: format!("{path}.end"),
        });
    }
}

/// Minute of the day of a window boundary, 0..=1440 (1440 for [`END_OF_DAY`]).
fn minute_of_day(time: Time) -> usize {
    if time == END_OF_DAY {
        return MINUTES_PER_DAY;
    }
    clock_minute(time)
}

/// Minute of the day shown on a clock at `time`, 0..1440 (seconds dropped).
fn clock_minute(time: Time) -> usize {
    let hour = usize::try_from(time.hour()).unwrap_or(0);
    let minute = usize::try_from(time.minute()).unwrap_or(0);
    hour * 60 + minute
}

const MINUTES_PER_DAY: usize = 24 * 60;

/// A set of minutes of the day, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MinuteSet([u64; MINUTES_PER_DAY.div_ceil(64)]);

impl MinuteSet {
    const EMPTY: MinuteSet = MinuteSet([0; MINUTES_PER_DAY.div_ceil(64)]);

    /// Adds the minutes of `[start, end)`.
    fn insert(&mut self, start: Time, end: Time) {
        let end = minute_of_day(end).min(MINUTES_PER_DAY);
        for minute in minute_of_day(start)..end {
            if let Some(word) = self.0.get_mut(minute / 64) {
                *word |= 1 << (minute % 64);
            }
        }
    }

    fn contains(&self, minute: usize) -> bool {
        self.0
            .get(minute / 64)
            .is_some_and(|word| word & (1 << (minute % 64)) != 0)
    }
}

/// A validated [`Schedule`] prepared for evaluation: the time zone is resolved
/// once and every window is a per-minute bitmap, so [`evaluate`](Self::evaluate)
/// does a time zone conversion, a holiday table lookup and a few bit tests,
/// and never allocates.
#[derive(Debug, Clone)]
pub struct CompiledSchedule {
    time_zone: TimeZone,
    observe_national_holidays: bool,
    /// Monday (0) to Sunday (6).
    weekdays: [MinuteSet; 7],
    /// `None` when no window lists `holiday`.
    holiday: Option<MinuteSet>,
    /// Sorted by date; `None` for a closed day.
    exceptions: Box<[(Date, Option<MinuteSet>)]>,
}

impl TryFrom<&Schedule> for CompiledSchedule {
    type Error = ScheduleError;

    fn try_from(schedule: &Schedule) -> Result<Self, Self::Error> {
        schedule.compile()
    }
}

impl CompiledSchedule {
    /// The schedule's time zone.
    #[must_use]
    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    /// Evaluates the schedule at `at`, read in the schedule's time zone.
    ///
    /// Precedence: an exception day decides alone; otherwise on a national
    /// holiday (when observed) only `holiday` windows apply; otherwise the
    /// windows of the weekday. Windows are half-open, `[start, end)`.
    #[must_use]
    pub fn evaluate(&self, at: Timestamp) -> ScheduleVerdict {
        self.evaluate_local(self.time_zone.to_datetime(at))
    }

    /// Evaluates the schedule at a wall-clock time in the schedule's time zone.
    #[must_use]
    pub fn evaluate_local(&self, local: DateTime) -> ScheduleVerdict {
        self.evaluate_moment(&LocalMoment::of(local))
    }

    /// Evaluates the schedule at a wall-clock moment already taken apart (the decision engine
    /// does that once per decision, not once per group).
    pub(crate) fn evaluate_moment(&self, m: &LocalMoment) -> ScheduleVerdict {
        let within = |set: &MinuteSet| {
            if set.contains(m.minute) {
                ScheduleVerdict::Allowed
            } else {
                ScheduleVerdict::OutsideSchedule
            }
        };
        if !self.exceptions.is_empty() {
            if let Ok(i) = self.exceptions.binary_search_by_key(&m.date, |(d, _)| *d) {
                return match self.exceptions.get(i) {
                    Some((_, Some(set))) => within(set),
                    _ => ScheduleVerdict::CompanyClosed,
                };
            }
        }
        if self.observe_national_holidays && m.holiday {
            return match &self.holiday {
                Some(set) => within(set),
                None => ScheduleVerdict::Holiday,
            };
        }
        match self.weekdays.get(m.weekday) {
            Some(set) => within(set),
            None => ScheduleVerdict::OutsideSchedule,
        }
    }
}

/// A wall-clock moment as schedules read it: the date, the minute of the day, the weekday and
/// whether the date is a national holiday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalMoment {
    pub(crate) date: Date,
    /// Minute of the day, 0..1440.
    pub(crate) minute: usize,
    /// Monday 0 to Sunday 6.
    pub(crate) weekday: usize,
    pub(crate) holiday: bool,
}

impl LocalMoment {
    /// Takes a civil date-time apart.
    pub(crate) fn of(local: DateTime) -> Self {
        let date = local.date();
        LocalMoment {
            date,
            minute: clock_minute(local.time()),
            weekday: usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0),
            holiday: holiday::is_holiday(date),
        }
    }

    /// The moment `local_second` seconds after 1970-01-01T00:00 local time. Dates of the
    /// holiday table's years (1980–2099) come from a calendar computed once per process, so a
    /// decision spends a division and a load on them; others are computed.
    pub(crate) fn from_local_second(local_second: i64) -> Option<Self> {
        let day = local_second.div_euclid(86_400);
        let minute = usize::try_from(local_second.rem_euclid(86_400) / 60).ok()?;
        let cached = usize::try_from(day - CALENDAR_FIRST_DAY)
            .ok()
            .and_then(|i| calendar().get(i));
        let (date, weekday, holiday) = match cached {
            Some(c) => (c.date, usize::from(c.weekday), c.holiday),
            None => {
                let date = civil_from_days(day)?;
                (
                    date,
                    usize::try_from(date.weekday().to_monday_zero_offset()).ok()?,
                    holiday::is_holiday(date),
                )
            }
        };
        Some(LocalMoment {
            date,
            minute,
            weekday,
            holiday,
        })
    }
}

/// Builds the calendar now (a few milliseconds, once per process) rather than in the first
/// decision that needs it.
pub(crate) fn warm_calendar() {
    let _ = calendar();
}

/// One day of the precomputed calendar.
#[derive(Debug, Clone, Copy)]
struct CalendarDay {
    date: Date,
    /// Monday 0 to Sunday 6.
    weekday: u8,
    holiday: bool,
}

/// 1980-01-01 in days since 1970-01-01.
const CALENDAR_FIRST_DAY: i64 = 3_652;

/// Every day from 1980-01-01 to 2099-12-31 (the years the holiday table covers), about
/// 350 KB, built on first use.
fn calendar() -> &'static [CalendarDay] {
    static CALENDAR: std::sync::OnceLock<Vec<CalendarDay>> = std::sync::OnceLock::new();
    CALENDAR.get_or_init(|| {
        let mut days = Vec::with_capacity(43_830);
        let mut day = CALENDAR_FIRST_DAY;
        while let Some(date) = civil_from_days(day) {
            if date.year() > holiday::LAST_SUPPORTED_YEAR {
                break;
            }
            days.push(CalendarDay {
                date,
                weekday: u8::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0),
                holiday: holiday::is_holiday(date),
            });
            day += 1;
        }
        days
    })
}

/// The civil date `days` days after 1970-01-01 (Howard Hinnant's `civil_from_days`); `None`
/// outside jiff's range.
fn civil_from_days(days: i64) -> Option<Date> {
    let z = days.checked_add(719_468)?;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from 1 March
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()
}

/// JSON form of [`ExceptionDay`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExceptionDayJson {
    #[serde(with = "iso_date")]
    date: Date,
    #[serde(default, skip_serializing_if = "is_false")]
    closed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    windows: Option<Vec<TimeRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // signature required by serde
fn is_false(value: &bool) -> bool {
    !*value
}

/// Why an exception day's JSON has the wrong shape.
#[derive(Debug)]
struct ExceptionShapeError(&'static str);

impl fmt::Display for ExceptionShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl TryFrom<ExceptionDayJson> for ExceptionDay {
    type Error = ExceptionShapeError;

    fn try_from(json: ExceptionDayJson) -> Result<Self, Self::Error> {
        let kind = match (json.closed, json.windows) {
            (true, None) => ExceptionKind::Closed,
            (false, Some(windows)) => ExceptionKind::Open { windows },
            (true, Some(_)) => {
                return Err(ExceptionShapeError(
                    "\"closed\": true と \"windows\" は同時に指定できません / an exception day is either \"closed\": true or has \"windows\", not both",
                ))
            }
            (false, None) => {
                return Err(ExceptionShapeError(
                    "例外日には \"closed\": true か \"windows\" を指定してください / an exception day needs \"closed\": true or \"windows\"",
                ))
            }
        };
        Ok(ExceptionDay {
            date: json.date,
            kind,
            label: json.label,
        })
    }
}

impl From<ExceptionDay> for ExceptionDayJson {
    fn from(day: ExceptionDay) -> Self {
        let (closed, windows) = match day.kind {
            ExceptionKind::Closed => (true, None),
            ExceptionKind::Open { windows } => (false, Some(windows)),
        };
        ExceptionDayJson {
            date: day.date,
            closed,
            windows,
            label: day.label,
        }
    }
}

/// Serde for [`Time`] as `"HH:MM"`, with `"24:00"` for [`END_OF_DAY`].
mod hhmm {
    use jiff::civil::Time;
    use serde::{de, ser, Deserialize, Deserializer, Serializer};

    use super::{is_whole_minute, END_OF_DAY};

    pub(super) fn serialize<S: Serializer>(time: &Time, serializer: S) -> Result<S::Ok, S::Error> {
        if *time == END_OF_DAY {
            return serializer.serialize_str("24:00");
        }
        if !is_whole_minute(*time) {
            return Err(ser::Error::custom(format!(
                "時刻は分単位（HH:MM）で指定してください / times must be whole minutes (HH:MM), got {time}"
            )));
        }
        serializer.serialize_str(&format!("{:02}:{:02}", time.hour(), time.minute()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Time, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        parse(&text).ok_or_else(|| {
            de::Error::custom(format!(
                "時刻は HH:MM 形式（00:00〜24:00）で指定してください / times must be \"HH:MM\" from 00:00 to 24:00, got {text:?}"
            ))
        })
    }

    fn parse(text: &str) -> Option<Time> {
        if text == "24:00" {
            return Some(END_OF_DAY);
        }
        let (hour, minute) = text.split_once(':')?;
        if hour.len() != 2 || minute.len() != 2 {
            return None;
        }
        let digits = |s: &str| -> Option<i8> {
            if s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        };
        Time::new(digits(hour)?, digits(minute)?, 0, 0).ok()
    }
}

/// Serde for [`Date`] as `"YYYY-MM-DD"`.
mod iso_date {
    use jiff::civil::Date;
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(date)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Date, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        parse(&text).ok_or_else(|| {
            de::Error::custom(format!(
                "日付は YYYY-MM-DD 形式の実在する日にしてください / dates must be real days written YYYY-MM-DD, got {text:?}"
            ))
        })
    }

    fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        let shape_ok = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !shape_ok {
            return None;
        }
        let year = text.get(0..4)?.parse().ok()?;
        let month = text.get(5..7)?.parse().ok()?;
        let day = text.get(8..10)?.parse().ok()?;
        Date::new(year, month, day).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use jiff::civil::{date, time};

    fn hm(hour: i8, minute: i8) -> Time {
        time(hour, minute, 0, 0)
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// Evaluates at a Tokyo wall-clock time such as `2026-01-13T10:00`.
    fn local(compiled: &CompiledSchedule, text: &str) -> ScheduleVerdict {
        compiled.evaluate_local(text.parse().unwrap())
    }

    fn office() -> Schedule {
        let mut schedule = Schedule::business_hours();
        schedule
            .windows
            .push(TimeWindow::new([DayKind::Sat], hm(9, 0), hm(12, 0)));
        schedule.exceptions = vec![
            ExceptionDay::closed(date(2026, 12, 29), Some("年末年始".to_owned())),
            // 2026-11-23 勤労感謝の日 (Monday) is a special working day.
            ExceptionDay::open(
                date(2026, 11, 23),
                vec![TimeRange {
                    start: hm(9, 0),
                    end: hm(12, 0),
                }],
                None,
            ),
        ];
        schedule
    }

    #[test]
    fn presets_are_valid() {
        assert_eq!(Schedule::always().validate(), Ok(()));
        assert_eq!(Schedule::business_hours().validate(), Ok(()));
        let always = Schedule::always().compile().unwrap();
        for t in [
            "2026-01-01T00:00", // 元日
            "2026-01-12T23:59:59.999999999",
            "2026-01-17T12:00", // Saturday
            "2026-09-22T03:00", // 国民の休日
        ] {
            assert_eq!(local(&always, t), ScheduleVerdict::Allowed, "{t}");
        }
    }

    #[test]
    fn weekday_windows_are_half_open() {
        let c = Schedule::business_hours().compile().unwrap();
        // 2026-01-13 is a Tuesday.
        assert_eq!(
            local(&c, "2026-01-13T07:59:59"),
            ScheduleVerdict::OutsideSchedule
        );
        assert_eq!(local(&c, "2026-01-13T08:00"), ScheduleVerdict::Allowed);
        assert_eq!(
            local(&c, "2026-01-13T19:59:59.999"),
            ScheduleVerdict::Allowed
        );
        assert_eq!(
            local(&c, "2026-01-13T20:00"),
            ScheduleVerdict::OutsideSchedule
        );
        // Weekend.
        assert_eq!(
            local(&c, "2026-01-17T10:00"),
            ScheduleVerdict::OutsideSchedule
        );
    }

    #[test]
    fn holiday_monday_is_closed_unless_a_window_lists_holiday() {
        // 2026-01-12 is 成人の日, the second Monday of January.
        let c = Schedule::business_hours().compile().unwrap();
        assert_eq!(local(&c, "2026-01-12T10:00"), ScheduleVerdict::Holiday);
        assert_eq!(local(&c, "2026-01-19T10:00"), ScheduleVerdict::Allowed);

        let mut with_holiday = Schedule::business_hours();
        with_holiday
            .windows
            .push(TimeWindow::new([DayKind::Holiday], hm(10, 0), hm(15, 0)));
        let c = with_holiday.compile().unwrap();
        assert_eq!(local(&c, "2026-01-12T10:00"), ScheduleVerdict::Allowed);
        // Only the holiday window applies, not Monday's 08:00–20:00.
        assert_eq!(
            local(&c, "2026-01-12T09:00"),
            ScheduleVerdict::OutsideSchedule
        );
        assert_eq!(
            local(&c, "2026-01-12T15:00"),
            ScheduleVerdict::OutsideSchedule
        );

        let mut ignore = Schedule::business_hours();
        ignore.observe_national_holidays = false;
        let c = ignore.compile().unwrap();
        assert_eq!(local(&c, "2026-01-12T09:00"), ScheduleVerdict::Allowed);
    }

    #[test]
    fn exception_days_take_precedence() {
        let c = office().compile().unwrap();
        // Closed exception on a Tuesday inside the weekday window.
        assert_eq!(
            local(&c, "2026-12-29T10:00"),
            ScheduleVerdict::CompanyClosed
        );
        assert_eq!(
            local(&c, "2026-12-29T03:00"),
            ScheduleVerdict::CompanyClosed
        );
        // Open exception on a national holiday: only its own windows apply.
        assert_eq!(local(&c, "2026-11-23T09:30"), ScheduleVerdict::Allowed);
        assert_eq!(
            local(&c, "2026-11-23T13:00"),
            ScheduleVerdict::OutsideSchedule
        );
        // The days around are unaffected.
        assert_eq!(local(&c, "2026-12-28T10:00"), ScheduleVerdict::Allowed);
        assert_eq!(local(&c, "2026-11-03T10:00"), ScheduleVerdict::Holiday);
        assert_eq!(local(&c, "2026-11-21T10:00"), ScheduleVerdict::Allowed);
        assert_eq!(
            local(&c, "2026-11-21T12:00"),
            ScheduleVerdict::OutsideSchedule
        );
    }

    #[test]
    fn window_may_end_at_24_00() {
        let mut s = Schedule::new("夜間 / Night");
        s.windows = vec![
            TimeWindow::new([DayKind::Fri], hm(22, 0), END_OF_DAY),
            TimeWindow::new([DayKind::Sat], hm(0, 0), hm(6, 0)),
        ];
        let c = s.compile().unwrap();
        // 2026-01-16 is a Friday.
        assert_eq!(
            local(&c, "2026-01-16T21:59:59"),
            ScheduleVerdict::OutsideSchedule
        );
        assert_eq!(
            local(&c, "2026-01-16T23:59:59.999999999"),
            ScheduleVerdict::Allowed
        );
        assert_eq!(local(&c, "2026-01-17T00:00"), ScheduleVerdict::Allowed);
        assert_eq!(
            local(&c, "2026-01-17T06:00"),
            ScheduleVerdict::OutsideSchedule
        );
        assert_eq!(
            local(&c, "2026-01-15T23:00"),
            ScheduleVerdict::OutsideSchedule
        );
    }

    #[test]
    fn timestamps_are_read_in_the_schedule_time_zone() {
        // 2026-03-01 is a Sunday in UTC; 23:30 UTC is Monday 08:30 in Tokyo.
        let ts = at("2026-03-01T23:30:00Z");
        let tokyo = Schedule::business_hours().compile().unwrap();
        assert_eq!(tokyo.evaluate(ts), ScheduleVerdict::Allowed);
        assert_eq!(
            Schedule::business_hours().evaluate(ts),
            ScheduleVerdict::Allowed
        );
        let mut utc = Schedule::business_hours();
        utc.time_zone = "UTC".to_owned();
        assert_eq!(utc.evaluate(ts), ScheduleVerdict::OutsideSchedule);
        // 22:59 UTC is 07:59 in Tokyo: not yet open.
        assert_eq!(
            tokyo.evaluate(at("2026-03-01T22:59:59Z")),
            ScheduleVerdict::OutsideSchedule
        );
        // A Tokyo holiday that starts on the previous UTC day: 2026-02-23 00:30 JST.
        assert_eq!(
            Schedule::always()
                .compile()
                .unwrap()
                .evaluate(at("2026-02-22T15:30:00Z")),
            ScheduleVerdict::Allowed
        );
        assert_eq!(
            tokyo.evaluate(at("2026-02-23T01:00:00Z")),
            ScheduleVerdict::Holiday
        );
    }

    #[test]
    fn invalid_schedule_fails_closed() {
        let mut s = Schedule::always();
        s.time_zone = "Mars/Olympus".to_owned();
        assert_eq!(
            s.evaluate(at("2026-03-02T00:00:00Z")),
            ScheduleVerdict::OutsideSchedule
        );
        assert!(CompiledSchedule::try_from(&s).is_err());
    }

    fn first_error(schedule: &Schedule) -> (String, String) {
        let error = schedule.validate().unwrap_err();
        (error.field().to_owned(), error.to_string())
    }

    #[test]
    fn validation_errors_name_the_field() {
        let mut s = Schedule::business_hours();
        s.name = "  ".to_owned();
        assert_eq!(first_error(&s).0, "name");

        let mut s = Schedule::business_hours();
        s.name = "名".repeat(MAX_NAME_CHARS);
        assert_eq!(s.validate(), Ok(()));
        s.name.push('名');
        let (field, message) = first_error(&s);
        assert_eq!(field, "name");
        assert!(message.starts_with("name: 100文字以内"), "{message}");

        let mut s = Schedule::business_hours();
        s.time_zone = "Tokyo".to_owned();
        let (field, message) = first_error(&s);
        assert_eq!(field, "time_zone");
        assert!(message.contains("Asia/Tokyo"), "{message}");

        let mut s = Schedule::business_hours();
        s.windows
            .push(TimeWindow::new([DayKind::Sat], hm(9, 0), hm(12, 0)));
        s.windows
            .push(TimeWindow::new([DayKind::Sun], hm(22, 0), hm(6, 0)));
        let (field, message) = first_error(&s);
        assert_eq!(field, "windows[2].end");
        assert!(
            message.starts_with("windows[2].end: 時間帯の終了は開始より後にしてください"),
            "{message}"
        );
        assert!(message.contains("a time window must end after it starts"));

        let mut s = Schedule::business_hours();
        s.windows[0].end = s.windows[0].start;
        assert_eq!(first_error(&s).0, "windows[0].end");

        let mut s = Schedule::business_hours();
        s.windows[0].days.clear();
        assert_eq!(first_error(&s).0, "windows[0].days");

        let mut s = Schedule::business_hours();
        s.windows[0].start = time(8, 0, 30, 0);
        assert_eq!(first_error(&s).0, "windows[0].start");

        let mut s = Schedule::business_hours();
        s.windows[0].start = END_OF_DAY;
        assert_eq!(first_error(&s).0, "windows[0].start");

        let mut s = office();
        s.exceptions
            .push(ExceptionDay::closed(date(2026, 12, 29), None));
        let (field, message) = first_error(&s);
        assert_eq!(field, "exceptions[2].date");
        assert!(message.contains("exceptions[0]"), "{message}");

        let mut s = office();
        s.exceptions[1] = ExceptionDay::open(
            date(2026, 11, 23),
            vec![TimeRange {
                start: hm(12, 0),
                end: hm(9, 0),
            }],
            None,
        );
        assert_eq!(first_error(&s).0, "exceptions[1].windows[0].end");

        let mut s = office();
        s.exceptions[1] = ExceptionDay::open(date(2026, 11, 23), Vec::new(), None);
        assert_eq!(first_error(&s).0, "exceptions[1].windows");

        let mut s = office();
        s.exceptions[0].label = Some("年末\n年始".to_owned());
        assert_eq!(first_error(&s).0, "exceptions[0].label");
    }

    #[test]
    fn all_errors_are_reported_and_convert_to_field_errors() {
        let mut s = Schedule::business_hours();
        s.name = String::new();
        s.time_zone = "nowhere".to_owned();
        s.windows[0].days.clear();
        let fields: Vec<String> = s
            .validation_errors()
            .iter()
            .map(|e| e.field().to_owned())
            .collect();
        assert_eq!(fields, ["name", "time_zone", "windows[0].days"]);
        let field_error = FieldError::from(s.validate().unwrap_err());
        assert_eq!(field_error.field, "name");
        assert_eq!(
            field_error.message,
            "名前を入力してください / the name must not be blank"
        );
    }

    const OFFICE_JSON: &str = concat!(
        r#"{"name":"平日 8:00–20:00 / Business hours","time_zone":"Asia/Tokyo","#,
        r#""windows":[{"days":["mon","tue","wed","thu","fri"],"start":"08:00","end":"20:00"},"#,
        r#"{"days":["sat"],"start":"09:00","end":"12:00"}],"#,
        r#""exceptions":[{"date":"2026-12-29","closed":true,"label":"年末年始"},"#,
        r#"{"date":"2026-11-23","windows":[{"start":"09:00","end":"12:00"}]}],"#,
        r#""observe_national_holidays":true}"#
    );

    #[test]
    fn json_round_trip() {
        let parsed: Schedule = json::from_str(OFFICE_JSON).unwrap();
        assert_eq!(parsed, office());
        assert_eq!(json::to_string(&office()).unwrap(), OFFICE_JSON);

        let always = json::to_string(&Schedule::always()).unwrap();
        assert!(
            always.contains(r#""start":"00:00","end":"24:00""#),
            "{always}"
        );
        assert!(always.contains(r#""days":["mon","tue","wed","thu","fri","sat","sun","holiday"]"#));
        assert_eq!(
            json::from_str::<Schedule>(&always).unwrap(),
            Schedule::always()
        );

        let verdict = json::to_string(&ScheduleVerdict::CompanyClosed).unwrap();
        assert_eq!(verdict, r#""company_closed""#);
    }

    #[test]
    fn json_defaults_and_rejections() {
        let minimal: Schedule = json::from_str(
            r#"{"name":"n","windows":[{"days":["holiday"],"start":"00:00","end":"24:00"}]}"#,
        )
        .unwrap();
        assert_eq!(minimal.time_zone, "Asia/Tokyo");
        assert!(minimal.observe_national_holidays);
        assert!(minimal.exceptions.is_empty());
        assert_eq!(minimal.windows[0].end, END_OF_DAY);

        let window = |start: &str, end: &str| {
            json::from_str::<Schedule>(&format!(
                r#"{{"name":"n","windows":[{{"days":["mon"],"start":"{start}","end":"{end}"}}]}}"#
            ))
        };
        assert!(window("08:00", "20:00").is_ok());
        for (start, end) in [
            ("8:00", "20:00"),
            ("08:00", "25:00"),
            ("08:60", "20:00"),
            ("08:00:00", "20:00"),
            ("+8:00", "20:00"),
        ] {
            let error = window(start, end).unwrap_err();
            assert!(error.contains("HH:MM"), "{start}-{end}: {error}");
        }

        let rejected = [
            (
                r#"{"name":"n","windows":[],"observe_holidays":false}"#,
                "observe_holidays",
            ),
            (
                r#"{"name":"n","windows":[{"days":["monday"],"start":"08:00","end":"09:00"}]}"#,
                "monday",
            ),
            (
                r#"{"name":"n","windows":[],"exceptions":[{"date":"2026-12-29","closed":true,"windows":[]}]}"#,
                "not both",
            ),
            (
                r#"{"name":"n","windows":[],"exceptions":[{"date":"2026-12-29"}]}"#,
                "needs \"closed\": true or \"windows\"",
            ),
            (
                r#"{"name":"n","windows":[],"exceptions":[{"date":"2026-02-30","closed":true}]}"#,
                "YYYY-MM-DD",
            ),
            (
                r#"{"name":"n","windows":[],"exceptions":[{"date":"2026-2-3","closed":true}]}"#,
                "YYYY-MM-DD",
            ),
        ];
        for (text, expected) in rejected {
            let error = json::from_str::<Schedule>(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn serializing_sub_minute_times_fails() {
        let mut s = Schedule::business_hours();
        s.windows[0].start = time(8, 0, 30, 0);
        assert!(json::to_string(&s).is_err());
    }

    /// JSON through serde_json, returning errors as text.
    mod json {
        pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
            serde_json::from_str(text).map_err(|e| e.to_string())
        }

        pub fn to_string<T: serde::Serialize>(value: &T) -> Result<String, String> {
            serde_json::to_string(value).map_err(|e| e.to_string())
        }
    }
}
