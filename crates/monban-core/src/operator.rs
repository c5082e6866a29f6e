//! Operator accounts (people who use the console) and what each role may do.

use crate::coded_enum;
use crate::model::Id;

coded_enum! {
    /// The role of an operator account.
    pub enum OperatorRole {
        /// システム管理者: configures everything.
        Administrator = ("administrator", "システム管理者", "system administrator"),
        /// 責任者: responsible for personal-number handling; approves exports and deletions.
        SecurityOfficer = ("security_officer", "責任者", "security officer"),
        /// 事務取扱担当者: may work with personal numbers.
        Handler = ("handler", "事務取扱担当者", "My Number handler"),
        /// 受付: registers and checks in visitors.
        Reception = ("reception", "受付", "reception"),
        /// 監査: read-only access to records and the audit log.
        Auditor = ("auditor", "監査", "auditor"),
    }
}

/// What an operator wants to do, for role checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// See zones, doors, presence and events.
    ViewMonitoring,
    /// See persons and credentials.
    ViewPeople,
    /// Create, change or delete persons and credentials.
    ManagePeople,
    /// Create, change or delete sites, zones, doors and access groups.
    ManageFacility,
    /// Create, change or delete operator accounts.
    ManageOperators,
    /// Register visitors.
    ManageVisitors,
    /// Read the audit log.
    ViewAudit,
}

impl OperatorRole {
    /// Whether this role grants `p`.
    pub fn allows(self, p: Permission) -> bool {
        use OperatorRole::*;
        use Permission::*;
        match p {
            ViewMonitoring => true,
            ViewPeople => true,
            ManagePeople => matches!(self, Administrator | SecurityOfficer),
            ManageFacility => matches!(self, Administrator),
            ManageOperators => matches!(self, Administrator),
            ManageVisitors => matches!(self, Administrator | SecurityOfficer | Reception),
            ViewAudit => matches!(self, Administrator | SecurityOfficer | Auditor),
        }
    }
}

/// An operator account. The password is kept only as an Argon2id hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: Id,
    pub username: String,
    pub display_name: String,
    pub role: OperatorRole,
    pub disabled: bool,
    /// Whether the operator must change the password at next login (one-time passwords).
    pub must_change_password: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auditor_is_read_only() {
        let r = OperatorRole::Auditor;
        assert!(r.allows(Permission::ViewAudit));
        assert!(!r.allows(Permission::ManagePeople));
        assert!(!r.allows(Permission::ManageFacility));
        assert!(!OperatorRole::Reception.allows(Permission::ManagePeople));
        assert!(OperatorRole::Administrator.allows(Permission::ManageOperators));
    }
}
