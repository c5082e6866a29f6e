//! Administrative subcommands that work on the database directly (for setup and recovery,
//! e.g. when nobody can log in): persons, credentials and operator accounts.

use clap::Subcommand;
use monban_core::text::Code;
use monban_core::{
    CardId, CredentialKind, CredentialStatus, OperatorRole, PersonKind, PersonStatus, Pin,
};
use monban_server::{audit, password};
use monban_store::people::{self, CredentialInput, PersonInput};
use monban_store::{operators, Store};

use crate::settings::{Settings, SettingsArgs};
use crate::{open_store, CliError};

/// Actor recorded for changes made from the command line.
const CLI_ACTOR: &str = "cli";

#[derive(Subcommand)]
pub enum PersonCmd {
    /// 人物を登録する / register a person
    Add {
        #[command(flatten)]
        settings: SettingsArgs,
        /// 氏名（漢字） / name in kanji
        #[arg(long)]
        name: String,
        /// 氏名（カナ） / name in kana
        #[arg(long)]
        kana: String,
        /// 社員番号 / employee number
        #[arg(long)]
        employee_number: Option<String>,
        /// 部署 / department
        #[arg(long)]
        department: Option<String>,
        /// 来訪者として登録 / register as a visitor
        #[arg(long)]
        visitor: bool,
    },
    /// 人物の一覧 / list persons
    List {
        #[command(flatten)]
        settings: SettingsArgs,
        /// 検索語 / search text
        #[arg(long)]
        search: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum CredentialCmd {
    /// ICカードを登録する / register an IC card
    AddCard {
        #[command(flatten)]
        settings: SettingsArgs,
        #[arg(long)]
        person_id: i64,
        /// FeliCa IDm または MIFARE UID（16進） / FeliCa IDm or MIFARE UID (hex)
        #[arg(long)]
        card_id: String,
    },
    /// 暗証番号を設定する（標準入力から読む） / set a PIN (read from standard input)
    AddPin {
        #[command(flatten)]
        settings: SettingsArgs,
        #[arg(long)]
        person_id: i64,
    },
    /// 認証情報の一覧 / list credentials
    List {
        #[command(flatten)]
        settings: SettingsArgs,
        #[arg(long)]
        person_id: Option<i64>,
    },
}

#[derive(Subcommand)]
pub enum OperatorCmd {
    /// オペレーターを作成し、ワンタイムパスワードを表示する / create an operator and print a one-time password
    Add {
        #[command(flatten)]
        settings: SettingsArgs,
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// administrator, security_officer, handler, reception, auditor
        #[arg(long)]
        role: String,
    },
    /// オペレーターの一覧 / list operators
    List {
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// パスワードをリセットしてロックを解除する / reset a password and clear any lockout
    ResetPassword {
        #[command(flatten)]
        settings: SettingsArgs,
        #[arg(long)]
        username: String,
    },
}

async fn store_for(args: &SettingsArgs) -> Result<Store, CliError> {
    open_store(&Settings::load(args)?).await
}

fn field_err(e: monban_core::text::FieldError) -> CliError {
    CliError::Other(format!("--{}: {}", e.field.replace('_', "-"), e.message))
}

pub async fn person(cmd: PersonCmd) -> Result<(), CliError> {
    match cmd {
        PersonCmd::Add {
            settings,
            name,
            kana,
            employee_number,
            department,
            visitor,
        } => {
            let store = store_for(&settings).await?;
            let mut w = store.begin_write().await?;
            let p = people::create_person(
                &mut w,
                &PersonInput {
                    kind: if visitor {
                        PersonKind::Visitor
                    } else {
                        PersonKind::Employee
                    },
                    employee_number,
                    name_kanji: name,
                    name_kana: kana,
                    department,
                    valid_from: None,
                    valid_until: None,
                    status: PersonStatus::Active,
                },
            )
            .await?;
            audit::record(
                &mut w,
                CLI_ACTOR,
                "person.create",
                &format!("person:{}", p.id),
                "ok",
            )
            .await?;
            w.commit().await?;
            println!("登録しました / registered: id={} {}", p.id, p.name_kanji);
        }
        PersonCmd::List { settings, search } => {
            let store = store_for(&settings).await?;
            println!("id\t社員番号\t氏名\tカナ\t部署\t状態");
            for p in people::list_persons(&store, search.as_deref(), 10_000, 0).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    p.id,
                    p.employee_number.unwrap_or_default(),
                    p.name_kanji,
                    p.name_kana,
                    p.department.unwrap_or_default(),
                    p.status.label_ja()
                );
            }
        }
    }
    Ok(())
}

pub async fn credential(cmd: CredentialCmd) -> Result<(), CliError> {
    match cmd {
        CredentialCmd::AddCard {
            settings,
            person_id,
            card_id,
        } => {
            let card = CardId::parse("card_id", &card_id).map_err(field_err)?;
            let store = store_for(&settings).await?;
            let mut w = store.begin_write().await?;
            let c = people::create_credential(
                &mut w,
                &new_cred(person_id, CredentialKind::Card, Some(card), None),
            )
            .await?;
            audit::record(
                &mut w,
                CLI_ACTOR,
                "credential.create",
                &format!("credential:{}", c.id),
                "ok",
            )
            .await?;
            w.commit().await?;
            println!("カードを登録しました / card registered: id={}", c.id);
        }
        CredentialCmd::AddPin {
            settings,
            person_id,
        } => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|e| {
                CliError::Other(format!(
                    "標準入力を読めません: {e} / cannot read standard input: {e}"
                ))
            })?;
            let pin = Pin::parse("pin", line.trim()).map_err(field_err)?;
            let hash = password::hash(pin.digits()).map_err(|e| CliError::Other(e.to_string()))?;
            let store = store_for(&settings).await?;
            let mut w = store.begin_write().await?;
            let c = people::create_credential(
                &mut w,
                &new_cred(person_id, CredentialKind::Pin, None, Some(hash)),
            )
            .await?;
            audit::record(
                &mut w,
                CLI_ACTOR,
                "credential.create",
                &format!("credential:{}", c.id),
                "ok",
            )
            .await?;
            w.commit().await?;
            println!("暗証番号を設定しました / PIN set: id={}", c.id);
        }
        CredentialCmd::List {
            settings,
            person_id,
        } => {
            let store = store_for(&settings).await?;
            println!("id\tperson_id\t種類\tカードID\t状態");
            for c in people::list_credentials(&store, person_id).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    c.id,
                    c.person_id,
                    c.kind.label_ja(),
                    c.card_id.map(|c| c.to_string()).unwrap_or_default(),
                    c.status.label_ja()
                );
            }
        }
    }
    Ok(())
}

fn new_cred(
    person_id: i64,
    kind: CredentialKind,
    card_id: Option<CardId>,
    pin_hash: Option<String>,
) -> CredentialInput {
    CredentialInput {
        person_id,
        kind,
        card_id,
        pin_hash,
        face_template_ref: None,
        valid_from: None,
        valid_until: None,
        status: CredentialStatus::Active,
    }
}

pub async fn operator(cmd: OperatorCmd) -> Result<(), CliError> {
    match cmd {
        OperatorCmd::Add {
            settings,
            username,
            display_name,
            role,
        } => {
            let role = OperatorRole::parse_code("role", &role).map_err(field_err)?;
            let store = store_for(&settings).await?;
            let pw = password::generate_one_time_password();
            let hash = password::hash(&pw).map_err(|e| CliError::Other(e.to_string()))?;
            let mut w = store.begin_write().await?;
            let op =
                operators::create_operator(&mut w, &username, &display_name, role, &hash, true)
                    .await?;
            audit::record(
                &mut w,
                CLI_ACTOR,
                "operator.create",
                &format!("operator:{}", op.id),
                "ok",
            )
            .await?;
            w.commit().await?;
            println!(
                "作成しました / created: {} ({})",
                op.username,
                role.label_ja()
            );
            println!("ワンタイムパスワード / one-time password: {pw}");
        }
        OperatorCmd::List { settings } => {
            let store = store_for(&settings).await?;
            println!("id\tユーザー名\t表示名\t役割\t状態");
            for o in operators::list_operators(&store).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    o.id,
                    o.username,
                    o.display_name,
                    o.role.label_ja(),
                    if o.disabled { "無効" } else { "有効" }
                );
            }
        }
        OperatorCmd::ResetPassword { settings, username } => {
            let store = store_for(&settings).await?;
            let found = operators::operator_by_username(&store, &username)
                .await?
                .ok_or_else(|| {
                    CliError::Other(format!(
                        "オペレーター「{username}」がいません / no operator named {username:?}"
                    ))
                })?;
            let pw = password::generate_one_time_password();
            let hash = password::hash(&pw).map_err(|e| CliError::Other(e.to_string()))?;
            let mut w = store.begin_write().await?;
            operators::set_password(&mut w, found.operator.id, &hash, true).await?;
            audit::record(
                &mut w,
                CLI_ACTOR,
                "operator.password_reset",
                &format!("operator:{}", found.operator.id),
                "ok",
            )
            .await?;
            w.commit().await?;
            println!("パスワードをリセットしました / password reset: {username}");
            println!("ワンタイムパスワード / one-time password: {pw}");
        }
    }
    Ok(())
}

/// Creates the first administrator with a one-time password; returns the password.
pub async fn create_first_admin(store: &Store) -> Result<String, CliError> {
    let pw = password::generate_one_time_password();
    let hash = password::hash(&pw).map_err(|e| CliError::Other(e.to_string()))?;
    let mut w = store.begin_write().await?;
    let op = operators::create_operator(
        &mut w,
        "admin",
        "管理者",
        OperatorRole::Administrator,
        &hash,
        true,
    )
    .await?;
    audit::record(
        &mut w,
        "system",
        "operator.create",
        &format!("operator:{}", op.id),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(pw)
}

/// Gives the demo administrator a fresh password (no change required) and returns it.
pub async fn reset_demo_admin(store: &Store) -> Result<String, CliError> {
    let pw = password::generate_one_time_password();
    let hash = password::hash(&pw).map_err(|e| CliError::Other(e.to_string()))?;
    let mut w = store.begin_write().await?;
    match operators::operator_by_username(store, "admin").await? {
        Some(found) => operators::set_password(&mut w, found.operator.id, &hash, false).await?,
        None => {
            operators::create_operator(
                &mut w,
                "admin",
                "デモ管理者",
                OperatorRole::Administrator,
                &hash,
                false,
            )
            .await?;
        }
    }
    audit::record(
        &mut w,
        "system",
        "operator.password_reset",
        "operator:admin",
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(pw)
}
