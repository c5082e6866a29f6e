//! `monban vault …`: the My Number vault from the command line on the server machine — status,
//! master-key rotation, the 取扱状況 ledger and the due-for-deletion list (CSV for Excel),
//! operator–person links, TOTP reset and settings. It never reveals or exports a number: that
//! needs an operator with TOTP and presence, through the API.
//!
//! Also opens the vault for `serve` and `demo`: the master key comes from `vault.key` in the
//! data directory (created 0600 on first start), or from a passphrase in
//! `MONBAN_VAULT_PASSPHRASE_FILE` / `MONBAN_VAULT_PASSPHRASE` (Argon2id).

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use monban_store::Store;
use monban_vault::keys::KeyContext;
use monban_vault::{
    Actor, KeyFileProvider, KeyProvider, PassphraseProvider, SettingsChange, Vault,
};
use zeroize::Zeroizing;

use crate::settings::{Settings, SettingsArgs};
use crate::{open_store, CliError};

#[derive(Subcommand)]
pub enum VaultCmd {
    /// 保管庫の状態（ロック・鍵の版） / show whether the vault is unlocked and its key version
    Status {
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// マスター鍵を更新し全データ鍵を再ラップする（サーバー停止中に実行） / rotate the master key, re-wrapping every data key (run with the server stopped)
    RotateKey {
        #[command(flatten)]
        settings: SettingsArgs,
        /// 新しいパスフレーズを標準入力から読む（パスフレーズ方式のとき） / read the new passphrase from standard input (passphrase mode)
        #[arg(long)]
        new_passphrase_stdin: bool,
    },
    /// 取扱状況台帳 / the 取扱状況 ledger
    Ledger {
        #[command(flatten)]
        settings: SettingsArgs,
        /// CSV（UTF-8 BOM付き）の出力先、- で標準出力 / write CSV (UTF-8 with BOM) to this file, - for standard output
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// 削除予定日を過ぎた記録 / records due for deletion
    DueForDeletion {
        #[command(flatten)]
        settings: SettingsArgs,
        /// 基準日 YYYY-MM-DD（既定: 今日） / as of this date (default today, Asia/Tokyo)
        #[arg(long)]
        as_of: Option<String>,
        /// CSVの出力先、- で標準出力 / write CSV to this file, - for standard output
        #[arg(long)]
        csv: Option<PathBuf>,
        /// 一括で削除申請を作成する（年末の一括削除。確認は責任者がAPIで行う） / create deletion requests for all of them (year-end batch; the security officer confirms in the console)
        #[arg(long)]
        request_deletion: bool,
    },
    /// オペレーターを人物に紐付ける（在室確認のため） / link an operator to a person (for the presence check)
    Link {
        #[command(flatten)]
        settings: SettingsArgs,
        #[arg(long)]
        username: String,
        /// 省略で紐付け解除 / omit to unlink
        #[arg(long)]
        person_id: Option<i64>,
        /// 在室設定を適用する拠点 / the site whose presence setting applies
        #[arg(long)]
        site_id: Option<i64>,
    },
    /// オペレーターのTOTPを削除する（端末紛失時） / remove an operator's TOTP (lost device)
    TotpReset {
        #[command(flatten)]
        settings: SettingsArgs,
        #[arg(long)]
        username: String,
    },
    /// 保管庫の設定 / vault settings
    Settings {
        #[command(flatten)]
        settings: SettingsArgs,
        /// 中小規模事業者の設定 / small-business (中小規模事業者) profile
        #[arg(long)]
        sme: Option<bool>,
        /// 閲覧時に取扱区域・管理区域への在室を必須にする / require presence in a handling or management area
        #[arg(long)]
        presence_required: Option<bool>,
        /// 拠点ごとの在室必須（SITE_ID=true|false|default） / per-site presence (SITE_ID=true|false|default)
        #[arg(long)]
        site_presence: Vec<String>,
        /// 責任部署 / responsible department
        #[arg(long)]
        department: Option<String>,
    },
}

fn vault_err(e: monban_vault::VaultError) -> CliError {
    CliError::Other(e.to_string())
}

fn passphrase_from_env() -> Result<Option<Zeroizing<String>>, CliError> {
    if let Some(path) = std::env::var_os("MONBAN_VAULT_PASSPHRASE_FILE") {
        let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
            CliError::Settings(format!(
                "パスフレーズファイル {} を読めません: {e} / cannot read the passphrase file {}: {e}",
                PathBuf::from(&path).display(),
                PathBuf::from(&path).display()
            ))
        })?);
        return Ok(Some(Zeroizing::new(
            text.trim_end_matches(['\r', '\n']).to_string(),
        )));
    }
    Ok(std::env::var("MONBAN_VAULT_PASSPHRASE")
        .ok()
        .map(Zeroizing::new))
}

/// The key provider the settings call for.
pub fn provider(s: &Settings) -> Result<Box<dyn KeyProvider>, CliError> {
    match passphrase_from_env()? {
        Some(p) => Ok(Box::new(PassphraseProvider::new(p).map_err(vault_err)?)),
        None => Ok(Box::new(KeyFileProvider::in_data_dir(&s.data_dir))),
    }
}

/// Opens the vault for `serve` and `demo`. A wrong key leaves it locked (the server still
/// serves everything else); the reason is printed.
pub async fn open_vault(store: &Store, s: &Settings) -> Result<Vault, CliError> {
    let vault = match provider(s) {
        Ok(p) => Vault::open(store.clone(), p.as_ref())
            .await
            .map_err(vault_err)?,
        Err(e) => Vault::locked(store.clone(), e.to_string()),
    };
    let st = vault.status();
    if st.unlocked {
        println!(
            "マイナンバー保管庫: 開錠（鍵の版 {}） / My Number vault: unlocked (key version {})",
            st.key_version.unwrap_or(0),
            st.key_version.unwrap_or(0)
        );
    } else {
        println!(
            "マイナンバー保管庫: ロック中 / My Number vault: LOCKED — {}",
            st.locked_reason.unwrap_or_default()
        );
        println!("  他の機能は通常どおり動作します / everything else works as usual");
    }
    Ok(vault)
}

async fn open(args: &SettingsArgs) -> Result<(Settings, Store, Vault), CliError> {
    let s = Settings::load(args)?;
    let store = open_store(&s).await?;
    let p = provider(&s)?;
    let vault = Vault::open(store.clone(), p.as_ref())
        .await
        .map_err(vault_err)?;
    Ok((s, store, vault))
}

fn write_out(path: &PathBuf, bytes: &[u8]) -> Result<(), CliError> {
    if path.as_os_str() == "-" {
        std::io::stdout()
            .write_all(bytes)
            .map_err(|e| CliError::Other(e.to_string()))
    } else {
        std::fs::write(path, bytes).map_err(|e| {
            CliError::Other(format!(
                "{} に書き込めません: {e} / cannot write {}: {e}",
                path.display(),
                path.display()
            ))
        })?;
        println!("書き出しました / wrote {}", path.display());
        Ok(())
    }
}

async fn operator_id(store: &Store, username: &str) -> Result<i64, CliError> {
    monban_store::operators::operator_by_username(store, username)
        .await?
        .map(|o| o.operator.id)
        .ok_or_else(|| {
            CliError::Other(format!(
                "オペレーター {username} が見つかりません / operator {username} not found"
            ))
        })
}

fn parse_date(field: &str, s: &str) -> Result<jiff::civil::Date, CliError> {
    s.parse().map_err(|_| {
        CliError::Other(format!(
            "--{field}: 日付はYYYY-MM-DDで指定してください / use YYYY-MM-DD"
        ))
    })
}

/// Runs a `monban vault` subcommand.
pub async fn run(cmd: VaultCmd) -> Result<(), CliError> {
    let cli = Actor::cli();
    match cmd {
        VaultCmd::Status { settings } => {
            let (_, _, vault) = open(&settings).await?;
            let st = vault.status();
            println!("開錠 / unlocked: {}", st.unlocked);
            if let Some(r) = st.locked_reason {
                println!("理由 / reason: {r}");
            }
            if let Some(v) = st.key_version {
                println!("鍵の版 / key version: {v}");
            }
            if let Some(f) = st.key_fingerprint {
                println!("鍵の指紋 / key fingerprint: {f}");
            }
            let set = vault.settings().await.map_err(vault_err)?;
            println!("中小規模事業者 / SME profile: {}", set.sme_profile);
            println!("在室必須 / presence required: {}", set.presence_required);
            let n = vault.list_records(None).await.map_err(vault_err)?;
            println!(
                "記録 / records: {}（削除済み / deleted {}）",
                n.len(),
                n.iter().filter(|r| r.deleted).count()
            );
        }
        VaultCmd::RotateKey {
            settings,
            new_passphrase_stdin,
        } => {
            let (s, _, vault) = open(&settings).await?;
            if !vault.is_unlocked() {
                return Err(CliError::Other(format!(
                    "保管庫がロックされているため鍵を更新できません: {} / cannot rotate a locked vault",
                    vault.status().locked_reason.unwrap_or_default()
                )));
            }
            let started = std::time::Instant::now();
            let report = if new_passphrase_stdin || passphrase_from_env()?.is_some() {
                let mut line = Zeroizing::new(String::new());
                std::io::stdin().read_line(&mut line).map_err(|e| {
                    CliError::Other(format!(
                        "標準入力を読めません: {e} / cannot read standard input: {e}"
                    ))
                })?;
                let p = PassphraseProvider::new(Zeroizing::new(line.trim_end().to_string()))
                    .map_err(vault_err)?;
                let salt = Vault::fresh_salt();
                let key = p
                    .master_key(&KeyContext {
                        salt: &salt,
                        initialised: true,
                    })
                    .map_err(vault_err)?;
                let r = vault
                    .rotate_master(&cli, key, Some(salt), "passphrase")
                    .await
                    .map_err(vault_err)?;
                println!("新しいパスフレーズを MONBAN_VAULT_PASSPHRASE_FILE に設定してからサーバーを起動してください / set the new passphrase in MONBAN_VAULT_PASSPHRASE_FILE before starting the server");
                r
            } else {
                let kf = KeyFileProvider::in_data_dir(&s.data_dir);
                let key = kf.stage_new_key().map_err(vault_err)?;
                match vault.rotate_master(&cli, key, None, "key_file").await {
                    Ok(r) => {
                        kf.promote_alternate().map_err(vault_err)?;
                        r
                    }
                    Err(e) => {
                        kf.discard_staged();
                        return Err(vault_err(e));
                    }
                }
            };
            println!(
                "マスター鍵を更新しました（版 {}、再ラップ {} 件、{:.1} 秒） / rotated the master key (version {}, {} records re-wrapped, {:.1} s)",
                report.new_version,
                report.records,
                started.elapsed().as_secs_f64(),
                report.new_version,
                report.records,
                started.elapsed().as_secs_f64()
            );
            println!("古い鍵のバックアップは破棄してください / destroy any backup of the old key");
        }
        VaultCmd::Ledger { settings, csv } => {
            let (_, _, vault) = open(&settings).await?;
            let rows = vault.ledger(&cli).await.map_err(vault_err)?;
            match csv {
                Some(p) => write_out(&p, &monban_vault::report::ledger_csv(&rows))?,
                None => {
                    use monban_core::text::Code;
                    println!("記録ID\tファイル種別\t人物ID\t状態\t削除予定日\t閲覧回数");
                    for r in rows {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            r.record.id,
                            r.record.doc_type.label_ja(),
                            r.record.person_id,
                            if r.record.deleted {
                                "削除済み"
                            } else {
                                "保管中"
                            },
                            r.record.due_date.map(|d| d.to_string()).unwrap_or_default(),
                            r.reveals
                        );
                    }
                }
            }
        }
        VaultCmd::DueForDeletion {
            settings,
            as_of,
            csv,
            request_deletion,
        } => {
            let (_, _, vault) = open(&settings).await?;
            let as_of = match as_of {
                Some(s) => parse_date("as-of", &s)?,
                None => jiff::Zoned::now()
                    .with_time_zone(
                        jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC),
                    )
                    .date(),
            };
            let rows = vault
                .due_for_deletion(&cli, as_of)
                .await
                .map_err(vault_err)?;
            match &csv {
                Some(p) => write_out(p, &monban_vault::report::due_csv(&rows))?,
                None => {
                    use monban_core::text::Code;
                    println!("記録ID\tファイル種別\t人物ID\t削除予定日\t超過日数\t削除申請");
                    for r in &rows {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            r.record.id,
                            r.record.doc_type.label_ja(),
                            r.record.person_id,
                            r.due_date,
                            r.days_overdue,
                            r.pending_request.map(|i| i.to_string()).unwrap_or_default()
                        );
                    }
                }
            }
            if request_deletion {
                let mut n = 0;
                for r in rows.iter().filter(|r| r.pending_request.is_none()) {
                    vault
                        .request_deletion(
                            &cli,
                            r.record.id,
                            "保存期間満了（一括） / retention period over (batch)",
                        )
                        .await
                        .map_err(vault_err)?;
                    n += 1;
                }
                println!("削除申請を{n}件作成しました。責任者が確認すると削除されます / created {n} deletion requests; they take effect when the security officer confirms");
            }
        }
        VaultCmd::Link {
            settings,
            username,
            person_id,
            site_id,
        } => {
            let (_, store, vault) = open(&settings).await?;
            let op = operator_id(&store, &username).await?;
            vault
                .link_operator(&cli, op, person_id, site_id)
                .await
                .map_err(vault_err)?;
            println!("設定しました / done");
        }
        VaultCmd::TotpReset { settings, username } => {
            let (_, store, vault) = open(&settings).await?;
            let op = operator_id(&store, &username).await?;
            vault.totp_reset(&cli, op).await.map_err(vault_err)?;
            println!("TOTPを削除しました。本人が再登録してください / TOTP removed; the operator enrols again");
        }
        VaultCmd::Settings {
            settings,
            sme,
            presence_required,
            site_presence,
            department,
        } => {
            let (_, _, vault) = open(&settings).await?;
            let mut sites = Vec::new();
            for sp in site_presence {
                let (id, v) = sp.split_once('=').ok_or_else(|| {
                    CliError::Other("--site-presence は SITE_ID=true|false|default です / use SITE_ID=true|false|default".into())
                })?;
                let id: i64 = id.trim().parse().map_err(|_| {
                    CliError::Other(
                        "--site-presence: 拠点IDは数字です / the site id is a number".into(),
                    )
                })?;
                let v = match v.trim() {
                    "true" => Some(true),
                    "false" => Some(false),
                    "default" => None,
                    _ => {
                        return Err(CliError::Other(
                            "--site-presence は SITE_ID=true|false|default です / use SITE_ID=true|false|default".into(),
                        ))
                    }
                };
                sites.push((id, v));
            }
            let change = SettingsChange {
                sme_profile: sme,
                presence_required,
                site_presence: sites,
                responsible_department: department,
            };
            let s = if change.sme_profile.is_none()
                && change.presence_required.is_none()
                && change.site_presence.is_empty()
                && change.responsible_department.is_none()
            {
                vault.settings().await
            } else {
                vault.update_settings(&cli, &change).await
            }
            .map_err(vault_err)?;
            println!("中小規模事業者 / SME profile: {}", s.sme_profile);
            println!("在室必須 / presence required: {}", s.presence_required);
            for (site, on) in s.site_presence {
                println!("  拠点 / site {site}: {on}");
            }
            println!(
                "責任部署 / department: {}",
                s.responsible_department.unwrap_or_default()
            );
        }
    }
    Ok(())
}
