//! `monban audit …`: export the audit log, verify an export offline, check the live database,
//! and issue a checkpoint.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use monban_audit::verify::{verify_export, VerifyOptions};
use monban_audit::VerifierKey;
use monban_server::audit::Checkpointer;
use monban_store::audit;

use crate::settings::{Settings, SettingsArgs};
use crate::{open_store, CliError};

#[derive(Subcommand)]
pub enum AuditCmd {
    /// 監査ログを書き出す（JSON Lines＋署名付きチェックポイント） / export the audit log (JSON Lines plus signed checkpoints)
    Export {
        #[command(flatten)]
        settings: SettingsArgs,
        /// 書き出し先ディレクトリ / output directory
        #[arg(long)]
        out: PathBuf,
    },
    /// 書き出した監査ログをオフラインで検証する / verify an export offline
    Verify {
        /// export で作ったディレクトリ / directory made by `export`
        dir: PathBuf,
        /// 信頼する検証鍵（name+id+key）。省略時は書き出しに同梱の鍵を使う / trusted verifier key; defaults to the one shipped in the export
        #[arg(long)]
        key: Option<String>,
    },
    /// 稼働中のデータベースの監査ログを検査する / check the live database's audit log
    Fsck {
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// 今すぐチェックポイントを発行する / issue a checkpoint now
    Checkpoint {
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// 試験用: 項目を1件ずつ確定しながら追記し、確定した番号を表示する / for tests: append entries one commit at a time, printing each committed seq
    #[command(hide = true)]
    AppendTest {
        #[command(flatten)]
        settings: SettingsArgs,
        #[arg(long, default_value_t = 1000)]
        count: u64,
    },
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> CliError {
    CliError::Other(format!(
        "{what} {}: {e} / {what} failed for {}: {e}",
        path.display(),
        path.display()
    ))
}

/// The checkpoint signer for these settings.
pub fn checkpointer(s: &Settings) -> Result<Checkpointer, CliError> {
    Checkpointer::load_or_create(&s.audit_key_file(), s.audit_checkpoint_dir.clone())
        .map_err(|e| CliError::Other(e.to_string()))
}

pub async fn run(cmd: AuditCmd) -> Result<(), CliError> {
    match cmd {
        AuditCmd::Export { settings, out } => {
            let s = Settings::load(&settings)?;
            let store = open_store(&s).await?;
            let cp = checkpointer(&s)?;
            let (size, _) = cp
                .issue(&store)
                .await
                .map_err(|e| CliError::Other(e.to_string()))?;
            std::fs::create_dir_all(out.join("checkpoints"))
                .map_err(|e| io_err("作成 / create", &out, e))?;
            let path = out.join("entries.jsonl");
            let file =
                std::fs::File::create(&path).map_err(|e| io_err("作成 / create", &path, e))?;
            let mut w = std::io::BufWriter::new(file);
            let mut line = String::new();
            let mut from = 0u64;
            while from < size {
                let to = (from + 10_000).min(size);
                for (seq, leaf) in audit::leaves(&store, from, to).await? {
                    monban_audit::verify::format_export_line(seq, &leaf, &mut line);
                    w.write_all(line.as_bytes())
                        .map_err(|e| io_err("書き込み / write", &path, e))?;
                }
                eprint!("\r書き出し中 / exporting: {to}/{size}");
                from = to;
            }
            eprintln!();
            w.flush()
                .map_err(|e| io_err("書き込み / write", &path, e))?;
            let cps = audit::checkpoints(&store).await?;
            for (n, note) in &cps {
                let p = out.join("checkpoints").join(format!("{n:012}.checkpoint"));
                std::fs::write(&p, note).map_err(|e| io_err("書き込み / write", &p, e))?;
            }
            let kp = out.join("verifier.key");
            std::fs::write(&kp, format!("{}\n", cp.verifier_key()))
                .map_err(|e| io_err("書き込み / write", &kp, e))?;
            println!("書き出しました / exported: {size} 件 / entries, {} チェックポイント / checkpoints → {}", cps.len(), out.display());
            println!("検証鍵 / verifier key: {}", cp.verifier_key());
            Ok(())
        }
        AuditCmd::Verify { dir, key } => verify(&dir, key.as_deref()),
        AuditCmd::Fsck { settings } => {
            let s = Settings::load(&settings)?;
            let store = open_store(&s).await?;
            let report = audit::fsck(&store)
                .await
                .map_err(|e| CliError::Other(e.to_string()))?;
            // Every stored checkpoint must verify and match the stored tree at its size.
            let cp = checkpointer(&s)?;
            let keys = [VerifierKey::parse(&cp.verifier_key())
                .map_err(|e| CliError::Other(e.to_string()))?];
            let cps = audit::checkpoints(&store).await?;
            for (size, note) in &cps {
                let signed = monban_audit::checkpoint::open(note.as_bytes(), Some(cp.origin()), &keys)
                    .map_err(|e| CliError::Other(format!("チェックポイント {size} の署名を検証できません: {e} / checkpoint {size} does not verify: {e}")))?;
                let root = audit::root_at(&store, *size).await?;
                if signed.checkpoint.root != root || signed.checkpoint.size > report.size {
                    return Err(CliError::Other(format!(
                        "チェックポイント {size} の根ハッシュが保存データと一致しません。改ざんの可能性があります / checkpoint {size} does not match the stored log: it may have been altered"
                    )));
                }
            }
            println!("監査ログは正常です / audit log OK: {} 件 / entries, {} チェックポイント / checkpoints", report.size, cps.len());
            Ok(())
        }
        AuditCmd::Checkpoint { settings } => {
            let s = Settings::load(&settings)?;
            let store = open_store(&s).await?;
            let (_, note) = checkpointer(&s)?
                .issue(&store)
                .await
                .map_err(|e| CliError::Other(e.to_string()))?;
            print!("{note}");
            Ok(())
        }
        AuditCmd::AppendTest { settings, count } => {
            let s = Settings::load(&settings)?;
            let store = open_store(&s).await?;
            let mut out = std::io::stdout();
            for i in 0..count {
                let mut w = store.begin_write().await?;
                let seq = audit::append(
                    &mut w,
                    &audit::AuditRecord {
                        source: "cli".into(),
                        actor: "system".into(),
                        action: "test.append".into(),
                        target: format!("test:{i}"),
                        outcome: "ok".into(),
                        ..Default::default()
                    },
                )
                .await?;
                w.commit().await?;
                let _ = writeln!(out, "committed {seq}");
                let _ = out.flush();
            }
            Ok(())
        }
    }
}

fn verify(dir: &Path, key: Option<&str>) -> Result<(), CliError> {
    let bad = |m: String| CliError::Other(m);
    let key_text = match key {
        Some(k) => k.to_string(),
        None => {
            let p = dir.join("verifier.key");
            eprintln!("注意: 書き出しに同梱の検証鍵を使います。信頼できる鍵は --key で指定してください / note: using the key shipped in the export; pass a trusted key with --key");
            std::fs::read_to_string(&p).map_err(|e| io_err("読み込み / read", &p, e))?
        }
    };
    let trusted = [VerifierKey::parse(key_text.trim()).map_err(|e| {
        bad(format!(
            "検証鍵が正しくありません: {e} / bad verifier key: {e}"
        ))
    })?];
    let cp_dir = dir.join("checkpoints");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&cp_dir)
        .map_err(|e| io_err("読み込み / read", &cp_dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    let mut notes = Vec::new();
    for p in &names {
        notes.push(std::fs::read(p).map_err(|e| io_err("読み込み / read", p, e))?);
    }
    let path = dir.join("entries.jsonl");
    let file = std::fs::File::open(&path).map_err(|e| io_err("読み込み / read", &path, e))?;
    let reader: Box<dyn BufRead> = Box::new(BufReader::with_capacity(1 << 20, file));
    let opts = VerifyOptions {
        trusted: &trusted,
        origin: None,
        allow_unsigned_tail: false,
        check_leaf_encoding: true,
    };
    match verify_export(reader, &notes, &opts) {
        Ok(r) => {
            println!(
                "検証に成功しました / verified: {} 件 / entries, {} チェックポイント / checkpoints, 最新 / latest size {}",
                r.entries, r.checkpoints, r.latest.size
            );
            Ok(())
        }
        Err(e) => {
            let at = match e.location() {
                Some((l, s)) => format!("（{l}行目、項目 {s}）"),
                None => String::new(),
            };
            Err(bad(format!(
                "検証に失敗しました{at}: {e} / verification failed: {e}"
            )))
        }
    }
}
