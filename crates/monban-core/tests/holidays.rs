//! Japanese national holidays: the complete published lists for several years,
//! and invariants that must hold for every year from 2000 to 2050.
//!
//! The expected lists are the Cabinet Office's 「国民の祝日について」 data
//! (syukujitsu.csv). Each row keeps the CSV's own label, which is just 「休日」
//! for 振替休日 and 国民の休日 and 「休日（祝日扱い）」 for the two 2019
//! enthronement days, next to the name and kind this crate reports.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jiff::civil::{Date, Weekday};
use monban_core::holiday::HolidayKind::{Citizens, National, Substitute};
use monban_core::holiday::{holiday_name, holidays_in_year, is_holiday, Holiday, HolidayKind};

/// (date, label in syukujitsu.csv, expected `name_ja`, expected kind)
type Row = (&'static str, &'static str, &'static str, HolidayKind);

const Y2019: &[Row] = &[
    ("2019-01-01", "元日", "元日", National),
    ("2019-01-14", "成人の日", "成人の日", National),
    ("2019-02-11", "建国記念の日", "建国記念の日", National),
    ("2019-03-21", "春分の日", "春分の日", National),
    ("2019-04-29", "昭和の日", "昭和の日", National),
    ("2019-04-30", "休日", "国民の休日", Citizens),
    ("2019-05-01", "休日（祝日扱い）", "即位の日", National),
    ("2019-05-02", "休日", "国民の休日", Citizens),
    ("2019-05-03", "憲法記念日", "憲法記念日", National),
    ("2019-05-04", "みどりの日", "みどりの日", National),
    ("2019-05-05", "こどもの日", "こどもの日", National),
    ("2019-05-06", "休日", "振替休日", Substitute),
    ("2019-07-15", "海の日", "海の日", National),
    ("2019-08-11", "山の日", "山の日", National),
    ("2019-08-12", "休日", "振替休日", Substitute),
    ("2019-09-16", "敬老の日", "敬老の日", National),
    ("2019-09-23", "秋分の日", "秋分の日", National),
    (
        "2019-10-14",
        "体育の日（スポーツの日）",
        "体育の日",
        National,
    ),
    ("2019-10-22", "休日（祝日扱い）", "即位礼正殿の儀", National),
    ("2019-11-03", "文化の日", "文化の日", National),
    ("2019-11-04", "休日", "振替休日", Substitute),
    ("2019-11-23", "勤労感謝の日", "勤労感謝の日", National),
];

const Y2020: &[Row] = &[
    ("2020-01-01", "元日", "元日", National),
    ("2020-01-13", "成人の日", "成人の日", National),
    ("2020-02-11", "建国記念の日", "建国記念の日", National),
    ("2020-02-23", "天皇誕生日", "天皇誕生日", National),
    ("2020-02-24", "休日", "振替休日", Substitute),
    ("2020-03-20", "春分の日", "春分の日", National),
    ("2020-04-29", "昭和の日", "昭和の日", National),
    ("2020-05-03", "憲法記念日", "憲法記念日", National),
    ("2020-05-04", "みどりの日", "みどりの日", National),
    ("2020-05-05", "こどもの日", "こどもの日", National),
    ("2020-05-06", "休日", "振替休日", Substitute),
    ("2020-07-23", "海の日", "海の日", National),
    ("2020-07-24", "スポーツの日", "スポーツの日", National),
    ("2020-08-10", "山の日", "山の日", National),
    ("2020-09-21", "敬老の日", "敬老の日", National),
    ("2020-09-22", "秋分の日", "秋分の日", National),
    ("2020-11-03", "文化の日", "文化の日", National),
    ("2020-11-23", "勤労感謝の日", "勤労感謝の日", National),
];

const Y2021: &[Row] = &[
    ("2021-01-01", "元日", "元日", National),
    ("2021-01-11", "成人の日", "成人の日", National),
    ("2021-02-11", "建国記念の日", "建国記念の日", National),
    ("2021-02-23", "天皇誕生日", "天皇誕生日", National),
    ("2021-03-20", "春分の日", "春分の日", National),
    ("2021-04-29", "昭和の日", "昭和の日", National),
    ("2021-05-03", "憲法記念日", "憲法記念日", National),
    ("2021-05-04", "みどりの日", "みどりの日", National),
    ("2021-05-05", "こどもの日", "こどもの日", National),
    ("2021-07-22", "海の日", "海の日", National),
    ("2021-07-23", "スポーツの日", "スポーツの日", National),
    ("2021-08-08", "山の日", "山の日", National),
    ("2021-08-09", "休日", "振替休日", Substitute),
    ("2021-09-20", "敬老の日", "敬老の日", National),
    ("2021-09-23", "秋分の日", "秋分の日", National),
    ("2021-11-03", "文化の日", "文化の日", National),
    ("2021-11-23", "勤労感謝の日", "勤労感謝の日", National),
];

const Y2024: &[Row] = &[
    ("2024-01-01", "元日", "元日", National),
    ("2024-01-08", "成人の日", "成人の日", National),
    ("2024-02-11", "建国記念の日", "建国記念の日", National),
    ("2024-02-12", "休日", "振替休日", Substitute),
    ("2024-02-23", "天皇誕生日", "天皇誕生日", National),
    ("2024-03-20", "春分の日", "春分の日", National),
    ("2024-04-29", "昭和の日", "昭和の日", National),
    ("2024-05-03", "憲法記念日", "憲法記念日", National),
    ("2024-05-04", "みどりの日", "みどりの日", National),
    ("2024-05-05", "こどもの日", "こどもの日", National),
    ("2024-05-06", "休日", "振替休日", Substitute),
    ("2024-07-15", "海の日", "海の日", National),
    ("2024-08-11", "山の日", "山の日", National),
    ("2024-08-12", "休日", "振替休日", Substitute),
    ("2024-09-16", "敬老の日", "敬老の日", National),
    ("2024-09-22", "秋分の日", "秋分の日", National),
    ("2024-09-23", "休日", "振替休日", Substitute),
    ("2024-10-14", "スポーツの日", "スポーツの日", National),
    ("2024-11-03", "文化の日", "文化の日", National),
    ("2024-11-04", "休日", "振替休日", Substitute),
    ("2024-11-23", "勤労感謝の日", "勤労感謝の日", National),
];

const Y2025: &[Row] = &[
    ("2025-01-01", "元日", "元日", National),
    ("2025-01-13", "成人の日", "成人の日", National),
    ("2025-02-11", "建国記念の日", "建国記念の日", National),
    ("2025-02-23", "天皇誕生日", "天皇誕生日", National),
    ("2025-02-24", "休日", "振替休日", Substitute),
    ("2025-03-20", "春分の日", "春分の日", National),
    ("2025-04-29", "昭和の日", "昭和の日", National),
    ("2025-05-03", "憲法記念日", "憲法記念日", National),
    ("2025-05-04", "みどりの日", "みどりの日", National),
    ("2025-05-05", "こどもの日", "こどもの日", National),
    ("2025-05-06", "休日", "振替休日", Substitute),
    ("2025-07-21", "海の日", "海の日", National),
    ("2025-08-11", "山の日", "山の日", National),
    ("2025-09-15", "敬老の日", "敬老の日", National),
    ("2025-09-23", "秋分の日", "秋分の日", National),
    ("2025-10-13", "スポーツの日", "スポーツの日", National),
    ("2025-11-03", "文化の日", "文化の日", National),
    ("2025-11-23", "勤労感謝の日", "勤労感謝の日", National),
    ("2025-11-24", "休日", "振替休日", Substitute),
];

const Y2026: &[Row] = &[
    ("2026-01-01", "元日", "元日", National),
    ("2026-01-12", "成人の日", "成人の日", National),
    ("2026-02-11", "建国記念の日", "建国記念の日", National),
    ("2026-02-23", "天皇誕生日", "天皇誕生日", National),
    ("2026-03-20", "春分の日", "春分の日", National),
    ("2026-04-29", "昭和の日", "昭和の日", National),
    ("2026-05-03", "憲法記念日", "憲法記念日", National),
    ("2026-05-04", "みどりの日", "みどりの日", National),
    ("2026-05-05", "こどもの日", "こどもの日", National),
    ("2026-05-06", "休日", "振替休日", Substitute),
    ("2026-07-20", "海の日", "海の日", National),
    ("2026-08-11", "山の日", "山の日", National),
    ("2026-09-21", "敬老の日", "敬老の日", National),
    ("2026-09-22", "休日", "国民の休日", Citizens),
    ("2026-09-23", "秋分の日", "秋分の日", National),
    ("2026-10-12", "スポーツの日", "スポーツの日", National),
    ("2026-11-03", "文化の日", "文化の日", National),
    ("2026-11-23", "勤労感謝の日", "勤労感謝の日", National),
];

const Y2027: &[Row] = &[
    ("2027-01-01", "元日", "元日", National),
    ("2027-01-11", "成人の日", "成人の日", National),
    ("2027-02-11", "建国記念の日", "建国記念の日", National),
    ("2027-02-23", "天皇誕生日", "天皇誕生日", National),
    ("2027-03-21", "春分の日", "春分の日", National),
    ("2027-03-22", "休日", "振替休日", Substitute),
    ("2027-04-29", "昭和の日", "昭和の日", National),
    ("2027-05-03", "憲法記念日", "憲法記念日", National),
    ("2027-05-04", "みどりの日", "みどりの日", National),
    ("2027-05-05", "こどもの日", "こどもの日", National),
    ("2027-07-19", "海の日", "海の日", National),
    ("2027-08-11", "山の日", "山の日", National),
    ("2027-09-20", "敬老の日", "敬老の日", National),
    ("2027-09-23", "秋分の日", "秋分の日", National),
    ("2027-10-11", "スポーツの日", "スポーツの日", National),
    ("2027-11-03", "文化の日", "文化の日", National),
    ("2027-11-23", "勤労感謝の日", "勤労感謝の日", National),
];

fn date(text: &str) -> Date {
    text.parse().unwrap()
}

fn assert_year(year: i16, expected: &[Row]) {
    let actual: Vec<(String, &str, HolidayKind)> = holidays_in_year(year)
        .into_iter()
        .map(|(d, h)| (d.to_string(), h.name_ja, h.kind))
        .collect();
    let wanted: Vec<(String, &str, HolidayKind)> = expected
        .iter()
        .map(|&(d, _, name, kind)| (d.to_owned(), name, kind))
        .collect();
    assert_eq!(actual, wanted, "holidays of {year}");
    for &(d, csv_label, name, kind) in expected {
        // The CSV label agrees with our name, or is one of the CSV's generic labels.
        let label_ok = match kind {
            Substitute | Citizens => csv_label == "休日",
            National => {
                csv_label == name
                    || csv_label == "休日（祝日扱い）"
                    || (name == "体育の日" && csv_label == "体育の日（スポーツの日）")
            }
        };
        assert!(label_ok, "{d}: CSV says {csv_label}, we say {name}");
        let holiday = holiday_name(date(d)).unwrap();
        assert_eq!((holiday.name_ja, holiday.kind), (name, kind), "{d}");
        assert!(!holiday.name_en.is_empty());
        assert!(is_holiday(date(d)));
    }
}

#[test]
fn year_2019_matches_published_list() {
    assert_year(2019, Y2019);
}

#[test]
fn year_2020_matches_published_list() {
    assert_year(2020, Y2020);
}

#[test]
fn year_2021_matches_published_list() {
    assert_year(2021, Y2021);
}

#[test]
fn year_2024_matches_published_list() {
    assert_year(2024, Y2024);
}

#[test]
fn year_2025_matches_published_list() {
    assert_year(2025, Y2025);
}

#[test]
fn year_2026_matches_published_list() {
    assert_year(2026, Y2026);
}

#[test]
fn year_2027_matches_published_list() {
    assert_year(2027, Y2027);
}

#[test]
fn ordinary_days_are_not_holidays() {
    for d in [
        "2026-01-02",
        "2026-05-07",
        "2026-09-24",
        "2026-12-23",
        "2019-12-23",
    ] {
        assert_eq!(holiday_name(date(d)), None, "{d}");
        assert!(!is_holiday(date(d)), "{d}");
    }
    assert_eq!(
        holiday_name(date("2026-09-22")),
        Some(Holiday {
            name_ja: "国民の休日",
            name_en: "Citizens' Holiday",
            kind: Citizens,
        })
    );
}

fn named(year: i16, name_ja: &str) -> Vec<Date> {
    holidays_in_year(year)
        .into_iter()
        .filter(|(_, h)| h.name_ja == name_ja)
        .map(|(d, _)| d)
        .collect()
}

#[test]
fn invariants_hold_2000_to_2050() {
    for year in 2000..=2050 {
        let list = holidays_in_year(year);
        assert!(
            (15..=22).contains(&list.len()),
            "{year} has {} holidays",
            list.len()
        );
        assert!(list.windows(2).all(|w| w[0].0 < w[1].0), "{year} sorted");

        let spring = named(year, "春分の日");
        assert_eq!(spring.len(), 1, "{year} 春分の日");
        assert_eq!(spring[0].month(), 3);
        assert!((19..=22).contains(&spring[0].day()), "{year} {}", spring[0]);
        let autumn = named(year, "秋分の日");
        assert_eq!(autumn.len(), 1, "{year} 秋分の日");
        assert_eq!(autumn[0].month(), 9);
        assert!((22..=24).contains(&autumn[0].day()), "{year} {}", autumn[0]);

        for (d, h) in &list {
            match h.kind {
                HolidayKind::Substitute => {
                    assert_ne!(d.weekday(), Weekday::Sunday, "{d} substitute on Sunday");
                    // Walking back, every day is a named holiday until a Sunday one.
                    let mut prev = d.yesterday().unwrap();
                    loop {
                        let h = holiday_name(prev).unwrap_or_else(|| panic!("{d}: gap at {prev}"));
                        assert_eq!(h.kind, National, "{d}: {prev} is not a named holiday");
                        if prev.weekday() == Weekday::Sunday {
                            break;
                        }
                        prev = prev.yesterday().unwrap();
                    }
                }
                HolidayKind::Citizens => {
                    let before = holiday_name(d.yesterday().unwrap()).map(|h| h.kind);
                    let after = holiday_name(d.tomorrow().unwrap()).map(|h| h.kind);
                    assert_eq!((before, after), (Some(National), Some(National)), "{d}");
                }
                HolidayKind::National => {
                    // A named holiday on a Sunday is followed by a substitute holiday
                    // after the run of named holidays.
                    if d.weekday() == Weekday::Sunday {
                        let mut next = d.tomorrow().unwrap();
                        while holiday_name(next).is_some_and(|h| h.kind == National) {
                            next = next.tomorrow().unwrap();
                        }
                        assert_eq!(
                            holiday_name(next).map(|h| h.kind),
                            Some(Substitute),
                            "{d} (Sunday) has no substitute"
                        );
                    }
                }
            }
        }

        // The lookup functions agree with the yearly list for every day.
        let mut day = Date::new(year, 1, 1).unwrap();
        let mut found = 0;
        while day.year() == year {
            let in_list = list.iter().find(|(d, _)| *d == day).map(|(_, h)| *h);
            assert_eq!(holiday_name(day), in_list, "{day}");
            assert_eq!(is_holiday(day), in_list.is_some(), "{day}");
            found += usize::from(in_list.is_some());
            day = day.tomorrow().unwrap();
        }
        assert_eq!(found, list.len());
    }
}

#[test]
fn happy_monday_and_renamed_holidays_follow_the_law() {
    for year in 2000..=2050 {
        let monday = |name: &str| {
            let dates = named(year, name);
            assert_eq!(dates.len(), 1, "{year} {name}");
            assert_eq!(dates[0].weekday(), Weekday::Monday, "{year} {name}");
            dates[0]
        };
        let seijin = monday("成人の日");
        assert!((8..=14).contains(&seijin.day()));
        match year {
            2000..=2002 => {
                assert_eq!(named(year, "海の日"), [Date::new(year, 7, 20).unwrap()]);
                assert_eq!(named(year, "敬老の日"), [Date::new(year, 9, 15).unwrap()]);
            }
            2020 | 2021 => {}
            _ => {
                assert!((15..=21).contains(&monday("海の日").day()));
                assert!((15..=21).contains(&monday("敬老の日").day()));
            }
        }
        let sports = if year < 2020 {
            "体育の日"
        } else {
            "スポーツの日"
        };
        if year != 2020 && year != 2021 {
            let d = monday(sports);
            assert_eq!(d.month(), 10);
            assert!((8..=14).contains(&d.day()));
        }
        assert!(named(year, "体育の日").len() == usize::from(year < 2020));

        let april29 = holiday_name(Date::new(year, 4, 29).unwrap()).unwrap();
        assert_eq!(
            april29.name_ja,
            if year < 2007 {
                "みどりの日"
            } else {
                "昭和の日"
            }
        );
        let may4 = holiday_name(Date::new(year, 5, 4).unwrap());
        if year >= 2007 {
            assert_eq!(may4.unwrap().name_ja, "みどりの日");
        }
        let mountain = named(year, "山の日");
        match year {
            ..=2015 => assert!(mountain.is_empty()),
            2020 => assert_eq!(mountain, [Date::new(2020, 8, 10).unwrap()]),
            2021 => assert_eq!(mountain, [Date::new(2021, 8, 8).unwrap()]),
            _ => assert_eq!(mountain, [Date::new(year, 8, 11).unwrap()]),
        }
        let birthday = named(year, "天皇誕生日");
        match year {
            ..=2018 => assert_eq!(birthday, [Date::new(year, 12, 23).unwrap()]),
            2019 => assert!(birthday.is_empty()),
            _ => assert_eq!(birthday, [Date::new(year, 2, 23).unwrap()]),
        }
    }
}

#[test]
fn substitute_rule_before_2007_was_next_day_only() {
    // 2006-01-01 was a Sunday: 2 January became the substitute holiday.
    assert_eq!(
        holiday_name(date("2006-01-02")).map(|h| h.kind),
        Some(Substitute)
    );
    // 2009-05-03 (Sunday) under the 2007 rule: the substitute is 6 May, after
    // みどりの日 and こどもの日.
    assert_eq!(
        holiday_name(date("2009-05-06")).map(|h| h.kind),
        Some(Substitute)
    );
    // 2003-05-04 was a Sunday between two holidays: not a 国民の休日 before 2007.
    assert_eq!(holiday_name(date("2003-05-04")), None);
    // 2002-05-04 (Saturday) was.
    assert_eq!(
        holiday_name(date("2002-05-04")).map(|h| h.kind),
        Some(Citizens)
    );
}
