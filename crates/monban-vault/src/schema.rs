//! The vault's own tables, as migrations of the `vault` component. Numbers are never stored in
//! clear: `number_ct` holds AES-256-GCM ciphertext under the record's data key, which is kept
//! only wrapped under the master key (`wrapped_dek`); both are erased on deletion.

use monban_store::migrate::Migration;

/// The vault's migrations, applied with `monban_store::migrate::apply_component`.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "vault",
    sql: r#"
CREATE TABLE vault_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE vault_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE vault_keys (
    name TEXT PRIMARY KEY,
    kek_version BIGINT NOT NULL,
    wrapped {blob} NOT NULL
);
CREATE TABLE vault_records (
    id {id},
    person_id BIGINT NOT NULL,
    relation TEXT NOT NULL,
    dependent_label TEXT,
    doc_type TEXT NOT NULL,
    purposes TEXT NOT NULL,
    basis_date TEXT,
    due_date TEXT,
    status TEXT NOT NULL,
    kek_version BIGINT,
    dek_version BIGINT NOT NULL,
    wrapped_dek {blob},
    number_ct {blob},
    blind_index TEXT,
    number_check_doc TEXT NOT NULL,
    identity_check_doc TEXT NOT NULL,
    checked_by BIGINT,
    checked_on TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX vault_records_blind ON vault_records(blind_index);
CREATE INDEX vault_records_person ON vault_records(person_id);
CREATE TABLE vault_access_log (
    id {id},
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    operator_id BIGINT,
    action TEXT NOT NULL,
    record_id BIGINT,
    purpose TEXT,
    outcome TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX vault_access_log_op ON vault_access_log(operator_id, at);
CREATE TABLE vault_totp (
    operator_id BIGINT PRIMARY KEY,
    secret_ct {blob} NOT NULL,
    confirmed BIGINT NOT NULL,
    last_step BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE vault_operator_links (
    operator_id BIGINT PRIMARY KEY,
    person_id BIGINT NOT NULL,
    site_id BIGINT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE vault_deletions (
    id {id},
    record_id BIGINT NOT NULL,
    doc_type TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_by_operator BIGINT,
    requested_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    method TEXT,
    confirmed_by TEXT,
    confirmed_by_operator BIGINT,
    confirmed_at BIGINT
);
CREATE TABLE vault_exports (
    id {id},
    requested_by TEXT NOT NULL,
    requested_by_operator BIGINT,
    requested_at BIGINT NOT NULL,
    purpose TEXT NOT NULL,
    destination TEXT NOT NULL,
    record_ids TEXT NOT NULL,
    recipient_kind TEXT NOT NULL,
    recipient TEXT,
    status TEXT NOT NULL,
    approved_by TEXT,
    approved_by_operator BIGINT,
    approved_at BIGINT,
    produced_at BIGINT,
    record_count BIGINT,
    file_sha256 TEXT
)
"#,
}];
