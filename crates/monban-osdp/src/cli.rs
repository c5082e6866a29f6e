//! `monban osdp …`: install a reader's key (the only way into install mode), rotate it, and
//! run the simulated door.
//!
//! Key commands open the bus themselves: stop the controller's door on that bus first.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use monban_core::Direction;

use crate::bus::{Bus, ReaderConfig};
use crate::keys::{KeyStore, Scbk};
use crate::transport;

/// OSDP reader commands.
#[derive(Debug, Subcommand)]
pub enum OsdpCmd {
    /// Give a new reader (in install mode, default key SCBK-D) its own Secure Channel key.
    InstallKey(KeyArgs),
    /// Replace a reader's Secure Channel key with a new random one.
    RotateKey(KeyArgs),
    /// Run one door with a simulated OSDP reader (Secure Channel, real controller agent).
    Sim {
        /// Emulated line speed.
        #[arg(long, default_value_t = 115200)]
        baud: u32,
        /// How many times to present a permitted and an unknown card.
        #[arg(long, default_value_t = 3)]
        rounds: u32,
    },
}

/// Where the reader is and where its key lives.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Serial device of the RS-485 adapter (or a pty).
    #[arg(long)]
    pub device: PathBuf,
    #[arg(long, default_value_t = 9600)]
    pub baud: u32,
    /// The reader's OSDP address.
    #[arg(long)]
    pub address: u8,
    /// The reader's name in the key file.
    #[arg(long)]
    pub reader: String,
    /// Key file (keys sealed with the KEK).
    #[arg(long, env = "MONBAN_OSDP_KEYS")]
    pub keys: PathBuf,
    /// KEK file (default: the key file with extension `.kek`; or MONBAN_OSDP_KEK).
    #[arg(long)]
    pub kek: Option<PathBuf>,
    /// Confirm that the reader is in install mode (required by install-key).
    #[arg(long)]
    pub i_understand_install_mode: bool,
}

/// Errors of the commands.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
    #[error(transparent)]
    Sim(#[from] crate::sim::SimError),
    #[error("インストールモードは既定鍵（SCBK-D）を一時的に受け入れます。リーダーをインストールモードにし、`--i-understand-install-mode` を付けて実行してください / install mode briefly accepts the default key SCBK-D; put the reader in install mode and pass `--i-understand-install-mode`")]
    NotConfirmed,
    #[error("リーダー {0} とセキュアチャネルを確立できません。アドレス・配線・鍵を確認してください / cannot establish Secure Channel with reader {0}; check address, wiring and key")]
    NoSecureChannel(String),
}

fn bus_for(a: &KeyArgs, key: Scbk, install: bool) -> Result<Bus, CliError> {
    // Fail early with a clear message if the device cannot be opened.
    drop(transport::open_serial(&a.device, a.baud)?);
    Ok(Bus::start(
        transport::serial_factory(a.device.clone(), a.baud),
        vec![ReaderConfig {
            name: a.reader.clone(),
            address: a.address,
            door_id: 0,
            direction: Direction::In,
            pin: false,
            scbk: key,
            install_mode: install,
        }],
    )?)
}

/// Runs one `monban osdp` command.
pub async fn run(cmd: OsdpCmd) -> Result<(), CliError> {
    match cmd {
        OsdpCmd::InstallKey(a) => {
            if !a.i_understand_install_mode {
                return Err(CliError::NotConfirmed);
            }
            let mut ks = KeyStore::open_default(&a.keys, a.kek.as_deref())?;
            let key = Scbk::random();
            let bus = bus_for(&a, key.clone(), true)?;
            // libosdp tries the new key, falls back to SCBK-D, sends KEYSET, restarts with it.
            let h = bus.handle();
            // Whether by SCBK-D then KEYSET, or because the reader already had this key, the
            // end state is an active Secure Channel under the new key; SCBK-D sessions are brief.
            let mut ok = h.wait_secure(0, Duration::from_secs(30)).await;
            if ok {
                tokio::time::sleep(Duration::from_secs(3)).await;
                ok = h.wait_secure(0, Duration::from_secs(30)).await;
            }
            if !ok {
                return Err(CliError::NoSecureChannel(a.reader));
            }
            ks.set(&a.reader, &key)?;
            println!(
                "リーダー {} に固有鍵を設定しました / per-reader key installed for {}",
                a.reader, a.reader
            );
            Ok(())
        }
        OsdpCmd::RotateKey(a) => {
            let mut ks = KeyStore::open_default(&a.keys, a.kek.as_deref())?;
            let cur = ks.get(&a.reader)?;
            let bus = bus_for(&a, cur, false)?;
            let h = bus.handle();
            if !h.wait_secure(0, Duration::from_secs(30)).await {
                return Err(CliError::NoSecureChannel(a.reader));
            }
            let new = Scbk::random();
            ks.set_pending(&a.reader, &new)?;
            h.set_key(0, new, Duration::from_secs(30)).await?;
            ks.promote_pending(&a.reader)?;
            println!(
                "リーダー {} の鍵を更新しました / key rotated for {}",
                a.reader, a.reader
            );
            Ok(())
        }
        OsdpCmd::Sim { baud, rounds } => Ok(crate::sim::run(baud, rounds).await?),
    }
}
