//! Reports: the 取扱状況 ledger (file type, responsible person and department, purpose, who has
//! access, usage, deletion status) and the list of records due for deletion, as rows and as CSV
//! in UTF-8 with a BOM and CRLF line ends so Japanese Excel opens them as they are.

use std::collections::HashMap;

use jiff::civil::Date;
use jiff::Timestamp;
use monban_core::text::Code;
use monban_core::OperatorRole;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::error::VaultResult;
use crate::policy::Relation;
use crate::vault::{Actor, RecordMeta, Vault};

/// A CSV document being written. The buffer is zeroized on drop (it may hold numbers in an
/// export).
pub struct Csv {
    buf: Zeroizing<Vec<u8>>,
}

fn push_cell(buf: &mut Vec<u8>, cell: &str) {
    // Cells that spreadsheet programs would run as formulas get a leading apostrophe.
    let guarded = matches!(
        cell.chars().next(),
        Some('=' | '+' | '-' | '@' | '\t' | '\r')
    );
    let needs_quotes = guarded || cell.contains([',', '"', '\n', '\r']);
    if needs_quotes {
        buf.push(b'"');
    }
    if guarded {
        buf.push(b'\'');
    }
    for b in cell.bytes() {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    if needs_quotes {
        buf.push(b'"');
    }
}

impl Csv {
    /// A document with a BOM and the header row.
    pub fn new(headers: &[&str]) -> Self {
        let mut c = Self {
            buf: Zeroizing::new(vec![0xEF, 0xBB, 0xBF]),
        };
        c.row(headers);
        c
    }

    /// Appends a row.
    pub fn row(&mut self, cells: &[&str]) {
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            push_cell(&mut self.buf, cell);
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Appends a row that holds secrets (the buffer is zeroized when dropped).
    pub(crate) fn row_secret(&mut self, cells: &[&str]) {
        self.row(cells);
    }

    /// The document's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf.to_vec()
    }

    pub(crate) fn into_secret_bytes(self) -> Zeroizing<Vec<u8>> {
        self.buf
    }
}

/// One row of the 取扱状況 ledger (one record, i.e. one number in one file).
#[derive(Debug, Clone)]
pub struct LedgerRow {
    pub record: RecordMeta,
    pub employee_number: Option<String>,
    /// 責任者: the security officers.
    pub officers: Vec<String>,
    pub department: Option<String>,
    /// Who may access: handlers and security officers.
    pub access: Vec<String>,
    pub reveals: i64,
    pub last_reveal: Option<Timestamp>,
    pub exports: i64,
    pub deletion_method: Option<String>,
    pub deletion_confirmed_by: Option<String>,
}

/// One record due for deletion.
#[derive(Debug, Clone)]
pub struct DueRow {
    pub record: RecordMeta,
    pub employee_number: Option<String>,
    pub due_date: Date,
    /// Days since the due date (0 on the day).
    pub days_overdue: i64,
    /// A pending deletion request, if any.
    pub pending_request: Option<i64>,
}

fn local(ts: Timestamp) -> String {
    match jiff::tz::TimeZone::get("Asia/Tokyo") {
        Ok(tz) => ts.to_zoned(tz).strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => ts.to_string(),
    }
}

fn opt_date(d: Option<Date>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

impl Vault {
    async fn employee_numbers(&self) -> VaultResult<HashMap<i64, String>> {
        let rows = sqlx::query(
            "SELECT id, employee_number FROM persons WHERE employee_number IS NOT NULL",
        )
        .fetch_all(self.store().pool())
        .await?;
        let mut m = HashMap::new();
        for r in &rows {
            m.insert(
                r.try_get::<i64, _>("id")?,
                r.try_get::<String, _>("employee_number")?,
            );
        }
        Ok(m)
    }

    async fn audit_report(&self, actor: &Actor, which: &str, rows: usize) -> VaultResult<()> {
        let mut w = self.store().begin_write().await?;
        self.record(
            &mut w,
            actor,
            "report",
            None,
            &format!("report:{which}"),
            None,
            Ok(()),
            vec![("rows".into(), rows.to_string())],
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// The 取扱状況 ledger; its output is audited.
    pub async fn ledger(&self, actor: &Actor) -> VaultResult<Vec<LedgerRow>> {
        let records = self.list_records(None).await?;
        let ops = monban_store::operators::list_operators(self.store()).await?;
        let name = |o: &monban_core::Operator| format!("{}（{}）", o.display_name, o.username);
        let officers: Vec<String> = ops
            .iter()
            .filter(|o| !o.disabled && o.role == OperatorRole::SecurityOfficer)
            .map(name)
            .collect();
        let access: Vec<String> = ops
            .iter()
            .filter(|o| !o.disabled && crate::policy::may_handle(o.role))
            .map(name)
            .collect();
        let department = self.settings().await?.responsible_department;
        let emp = self.employee_numbers().await?;
        let mut reveals: HashMap<i64, (i64, i64)> = HashMap::new();
        for r in sqlx::query("SELECT record_id, COUNT(*) AS n, MAX(at) AS last FROM vault_access_log WHERE action = 'reveal' AND outcome = 'ok' AND record_id IS NOT NULL GROUP BY record_id")
            .fetch_all(self.store().pool())
            .await?
        {
            reveals.insert(r.try_get("record_id")?, (r.try_get("n")?, r.try_get("last")?));
        }
        let mut exports: HashMap<i64, i64> = HashMap::new();
        for e in self.list_exports().await? {
            if e.status == "produced" {
                for id in e.record_ids {
                    *exports.entry(id).or_default() += 1;
                }
            }
        }
        let mut deletions = HashMap::new();
        for d in self.list_deletions().await? {
            if d.status == "done" {
                deletions.insert(d.record_id, d);
            }
        }
        let mut out = Vec::new();
        for rec in records {
            let (n, last) = reveals.get(&rec.id).copied().unwrap_or((0, 0));
            let del = deletions.get(&rec.id);
            out.push(LedgerRow {
                employee_number: emp.get(&rec.person_id).cloned(),
                officers: officers.clone(),
                department: department.clone(),
                access: access.clone(),
                reveals: n,
                last_reveal: if n > 0 {
                    Timestamp::from_microsecond(last).ok()
                } else {
                    None
                },
                exports: exports.get(&rec.id).copied().unwrap_or(0),
                deletion_method: del.and_then(|d| d.method.clone()),
                deletion_confirmed_by: del.and_then(|d| d.confirmed_by.clone()),
                record: rec,
            });
        }
        self.audit_report(actor, "ledger", out.len()).await?;
        Ok(out)
    }

    /// Records not yet deleted whose deletion due date is on or before `as_of`; audited.
    pub async fn due_for_deletion(&self, actor: &Actor, as_of: Date) -> VaultResult<Vec<DueRow>> {
        let emp = self.employee_numbers().await?;
        let mut pending = HashMap::new();
        for d in self.list_deletions().await? {
            if d.status == "requested" {
                pending.insert(d.record_id, d.id);
            }
        }
        let mut out = Vec::new();
        for rec in self.list_records(None).await? {
            let Some(due) = rec.due_date else { continue };
            if rec.deleted || due > as_of {
                continue;
            }
            let days = (as_of - due).get_days().into();
            out.push(DueRow {
                employee_number: emp.get(&rec.person_id).cloned(),
                due_date: due,
                days_overdue: days,
                pending_request: pending.get(&rec.id).copied(),
                record: rec,
            });
        }
        out.sort_by_key(|r| (r.due_date, r.record.id));
        self.audit_report(actor, "due_for_deletion", out.len())
            .await?;
        Ok(out)
    }
}

/// The ledger as CSV.
pub fn ledger_csv(rows: &[LedgerRow]) -> Vec<u8> {
    let mut c = Csv::new(&[
        "記録ID",
        "ファイル種別",
        "人物ID",
        "社員番号",
        "続柄",
        "扶養親族",
        "利用目的",
        "責任者",
        "部署",
        "取扱者（アクセス可能な者）",
        "取得日時",
        "取得者",
        "番号確認書類",
        "身元確認書類",
        "本人確認日",
        "閲覧回数",
        "最終閲覧",
        "持出し回数",
        "保存基準日",
        "削除予定日",
        "状態",
        "削除日時",
        "削除方法",
        "削除確認者（責任者）",
    ]);
    for r in rows {
        let rec = &r.record;
        let purposes: Vec<&str> = rec.purposes.iter().map(|p| p.label_ja()).collect();
        c.row(&[
            &rec.id.to_string(),
            rec.doc_type.label_ja(),
            &rec.person_id.to_string(),
            r.employee_number.as_deref().unwrap_or(""),
            rec.relation.label_ja(),
            if rec.relation == Relation::Dependent {
                rec.dependent_label.as_deref().unwrap_or("")
            } else {
                ""
            },
            &purposes.join("／"),
            &r.officers.join("／"),
            r.department.as_deref().unwrap_or(""),
            &r.access.join("／"),
            &local(rec.created_at),
            &rec.created_by,
            rec.number_check_doc.label_ja(),
            rec.identity_check_doc.label_ja(),
            &rec.checked_on.to_string(),
            &r.reveals.to_string(),
            &r.last_reveal.map(local).unwrap_or_default(),
            &r.exports.to_string(),
            &opt_date(rec.basis_date),
            &opt_date(rec.due_date),
            if rec.deleted {
                "削除済み"
            } else {
                "保管中"
            },
            &rec.deleted_at.map(local).unwrap_or_default(),
            if r.deletion_method.is_some() {
                crate::lifecycle::DELETION_METHOD_JA
            } else {
                ""
            },
            r.deletion_confirmed_by.as_deref().unwrap_or(""),
        ]);
    }
    c.into_bytes()
}

/// The due-for-deletion list as CSV.
pub fn due_csv(rows: &[DueRow]) -> Vec<u8> {
    let mut c = Csv::new(&[
        "記録ID",
        "ファイル種別",
        "人物ID",
        "社員番号",
        "続柄",
        "保存基準日",
        "削除予定日",
        "超過日数",
        "削除申請ID",
    ]);
    for r in rows {
        c.row(&[
            &r.record.id.to_string(),
            r.record.doc_type.label_ja(),
            &r.record.person_id.to_string(),
            r.employee_number.as_deref().unwrap_or(""),
            r.record.relation.label_ja(),
            &opt_date(r.record.basis_date),
            &r.due_date.to_string(),
            &r.days_overdue.to_string(),
            &r.pending_request.map(|i| i.to_string()).unwrap_or_default(),
        ]);
    }
    c.into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn csv_has_bom_crlf_quotes_and_formula_guard() {
        let mut c = Csv::new(&["a", "b"]);
        c.row(&["x,y", "=SUM(A1)"]);
        c.row(&["say \"hi\"", "日本語"]);
        let b = c.into_bytes();
        assert_eq!(&b[..3], &[0xEF, 0xBB, 0xBF]);
        let s = String::from_utf8(b[3..].to_vec()).unwrap();
        assert_eq!(
            s,
            "a,b\r\n\"x,y\",\"'=SUM(A1)\"\r\n\"say \"\"hi\"\"\",日本語\r\n"
        );
    }
}
