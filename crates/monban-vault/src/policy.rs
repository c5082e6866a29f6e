//! The vault's vocabulary and rules: the lawful purposes (番号法9条), the document types
//! (特定個人情報ファイル) with the purposes each serves and its retention rule, whose number a
//! record holds (the employee or a 扶養親族), and the documents used for 本人確認.

use jiff::civil::{date, Date};
use jiff::ToSpan;
use monban_core::coded_enum;
use monban_core::text::Code;
use monban_core::OperatorRole;

coded_enum! {
    /// A lawful purpose for using a personal number (番号法9条; social security, tax, disaster).
    pub enum Purpose {
        /// 源泉徴収票・給与支払報告書の作成事務.
        WithholdingSlip = ("withholding_slip", "源泉徴収票・給与支払報告書作成事務", "withholding slips and salary payment reports"),
        /// 支払調書の作成事務.
        PaymentRecord = ("payment_record", "支払調書作成事務", "payment records (法定調書)"),
        /// 健康保険・厚生年金保険の届出事務.
        HealthPension = ("health_pension", "健康保険・厚生年金保険届出事務", "health insurance and employees' pension filings"),
        /// 雇用保険の届出事務.
        EmploymentInsurance = ("employment_insurance", "雇用保険届出事務", "employment insurance filings"),
        /// 激甚災害時等の金銭の支払（災害対策）.
        Disaster = ("disaster", "災害対策（激甚災害時の金銭の支払等）", "disaster response payments"),
    }
}

coded_enum! {
    /// A document type: one 特定個人情報ファイル of the 取扱状況 ledger.
    pub enum DocType {
        /// 給与所得者の扶養控除等（異動）申告書.
        DependentsDeclaration = ("dependents_declaration", "扶養控除等（異動）申告書", "declaration of dependents"),
        /// 源泉徴収票・給与支払報告書（控え）.
        WithholdingSlip = ("withholding_slip", "源泉徴収票・給与支払報告書", "withholding slip / salary payment report"),
        /// 支払調書.
        PaymentRecord = ("payment_record", "支払調書", "payment record"),
        /// 健康保険・厚生年金保険 資格取得・喪失届.
        SocialInsurance = ("social_insurance", "健康保険・厚生年金保険 資格取得・喪失届", "health insurance / pension enrolment"),
        /// 雇用保険 被保険者資格取得・喪失届.
        EmploymentInsurance = ("employment_insurance", "雇用保険 被保険者資格取得・喪失届", "employment insurance enrolment"),
        /// 災害対策のための番号の保管.
        Disaster = ("disaster", "災害対策用の番号保管", "disaster response"),
    }
}

coded_enum! {
    /// Whose number a record holds.
    pub enum Relation {
        /// The employee (the person record) themself.
        Employee = ("employee", "本人（従業員）", "the employee"),
        /// A dependent (扶養親族) of the employee.
        Dependent = ("dependent", "扶養親族", "a dependent"),
    }
}

coded_enum! {
    /// Document seen for 番号確認 (that the number is right).
    pub enum NumberCheckDoc {
        MyNumberCard = ("my_number_card", "個人番号カード", "My Number card"),
        NotificationCard = ("notification_card", "通知カード（記載事項に変更がないもの）", "notification card"),
        ResidentRecord = ("resident_record", "個人番号付き住民票の写し", "resident record with the number"),
        /// For dependents on the 扶養控除等申告書, the employee confirms (番号法16条 does not apply to the employer).
        ByEmployee = ("by_employee", "従業員（申告者）が確認", "confirmed by the employee filing for the dependent"),
    }
}

coded_enum! {
    /// Document seen for 身元確認 (that the person is who they say).
    pub enum IdentityCheckDoc {
        MyNumberCard = ("my_number_card", "個人番号カード", "My Number card"),
        DriversLicense = ("drivers_license", "運転免許証", "driver's licence"),
        Passport = ("passport", "旅券", "passport"),
        ResidenceCard = ("residence_card", "在留カード", "residence card"),
        OtherPhotoId = ("other_photo_id", "その他の写真付き身分証明書", "other photo ID"),
        /// 雇用関係にあり本人であることが明らかな場合の知覚による確認.
        KnownEmployee = ("known_employee", "雇用関係にあり本人と確認済み（知覚による確認）", "known employee (identity evident)"),
        ByEmployee = ("by_employee", "従業員（申告者）が確認", "confirmed by the employee filing for the dependent"),
    }
}

/// How long a document type is kept, counted from its basis date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionRule {
    /// Kept `years` years from the day after 10 January of the year after the basis date's year
    /// (the basis date being the filing deadline).
    FromJan11AfterYear { years: i16 },
    /// Kept `years` years from the day after the basis date.
    FromDayAfter { years: i16 },
    /// Deleted on the basis date (the date the need ends).
    UntilBasis,
}

impl RetentionRule {
    /// The date from which the number must be deleted.
    pub fn due_date(self, basis: Date) -> Date {
        match self {
            RetentionRule::FromJan11AfterYear { years } => date(basis.year() + 1 + years, 1, 11),
            RetentionRule::FromDayAfter { years } => basis
                .checked_add(1.day())
                .and_then(|d| d.checked_add(i64::from(years).years()))
                .unwrap_or(basis),
            RetentionRule::UntilBasis => basis,
        }
    }

    /// The rule in words (Japanese / English).
    pub fn describe(self) -> String {
        match self {
            RetentionRule::FromJan11AfterYear { years } => format!("提出期限の属する年の翌年1月10日の翌日から{years}年 / {years} years from the day after 10 January of the year after the filing deadline"),
            RetentionRule::FromDayAfter { years } => format!("基準日の翌日から{years}年 / {years} years from the day after the basis date"),
            RetentionRule::UntilBasis => "基準日（必要がなくなった日）まで / until the basis date (when no longer needed)".into(),
        }
    }
}

impl DocType {
    /// The purposes this document type serves (the default for a new record).
    pub fn purposes(self) -> &'static [Purpose] {
        match self {
            DocType::DependentsDeclaration | DocType::WithholdingSlip => {
                &[Purpose::WithholdingSlip]
            }
            DocType::PaymentRecord => &[Purpose::PaymentRecord],
            DocType::SocialInsurance => &[Purpose::HealthPension],
            DocType::EmploymentInsurance => &[Purpose::EmploymentInsurance],
            DocType::Disaster => &[Purpose::Disaster],
        }
    }

    /// The retention rule. The tax documents follow 所得税法施行規則76条の3 (7 years from the
    /// day after 10 January of the following year); the insurance filings follow the 完結の日
    /// rules (2 years for 健康保険・厚生年金, 4 years for 雇用保険).
    pub fn retention(self) -> RetentionRule {
        match self {
            DocType::DependentsDeclaration => RetentionRule::FromJan11AfterYear { years: 7 },
            DocType::WithholdingSlip | DocType::PaymentRecord => {
                RetentionRule::FromDayAfter { years: 7 }
            }
            DocType::SocialInsurance => RetentionRule::FromDayAfter { years: 2 },
            DocType::EmploymentInsurance => RetentionRule::FromDayAfter { years: 4 },
            DocType::Disaster => RetentionRule::UntilBasis,
        }
    }

    /// What the basis date means for this type (Japanese / English).
    pub fn basis_meaning(self) -> &'static str {
        match self {
            DocType::DependentsDeclaration => {
                "提出期限（その年最初の給与支払日の前日） / filing deadline"
            }
            DocType::WithholdingSlip | DocType::PaymentRecord => {
                "法定提出期限 / statutory filing deadline"
            }
            DocType::SocialInsurance | DocType::EmploymentInsurance => {
                "資格喪失日（完結の日） / date coverage ended"
            }
            DocType::Disaster => "保管の必要がなくなる日 / date the need ends",
        }
    }
}

/// Whether a role may work with numbers (register, reveal, request deletion or export).
pub fn may_handle(role: OperatorRole) -> bool {
    matches!(role, OperatorRole::Handler | OperatorRole::SecurityOfficer)
}

/// Whether a role may see vault metadata and reports (never numbers).
pub fn may_view_metadata(role: OperatorRole) -> bool {
    matches!(
        role,
        OperatorRole::Handler | OperatorRole::SecurityOfficer | OperatorRole::Auditor
    )
}

/// Encodes a purpose list for storage (`a,b`).
pub fn purposes_text(p: &[Purpose]) -> String {
    p.iter().map(|x| x.code()).collect::<Vec<_>>().join(",")
}

/// Decodes a stored purpose list.
pub fn parse_purposes(s: &str) -> Vec<Purpose> {
    s.split(',')
        .filter_map(|c| Purpose::parse_code("purposes", c).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn dependents_declaration_retention() {
        // Filed for 2026 with a deadline in January 2026: kept 7 years from 11 Jan 2027,
        // so deletable from 11 Jan 2034.
        let due = DocType::DependentsDeclaration
            .retention()
            .due_date(date(2026, 1, 23));
        assert_eq!(due, date(2034, 1, 11));
    }

    #[test]
    fn other_rules() {
        assert_eq!(
            DocType::SocialInsurance
                .retention()
                .due_date(date(2026, 3, 31)),
            date(2028, 4, 1)
        );
        assert_eq!(
            DocType::EmploymentInsurance
                .retention()
                .due_date(date(2024, 2, 29)),
            date(2028, 3, 1)
        );
        assert_eq!(
            DocType::Disaster.retention().due_date(date(2026, 5, 1)),
            date(2026, 5, 1)
        );
    }

    #[test]
    fn purposes_round_trip() {
        let p = [Purpose::Disaster, Purpose::HealthPension];
        assert_eq!(parse_purposes(&purposes_text(&p)), p.to_vec());
        assert!(Purpose::parse_code("purpose", "marketing").is_err());
    }
}
