//! Server settings, as read by the CLI from a TOML file and MONBAN_* environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

/// What the server needs to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Directory for the SQLite file and keys.
    pub data_dir: PathBuf,
    /// Database URL (`sqlite://…` or `postgres://…`).
    pub database_url: String,
    /// Mark session cookies `Secure` (set when served over HTTPS, directly or behind a proxy).
    pub cookie_secure: bool,
    /// How long a console session lasts, in minutes.
    pub session_minutes: i64,
    /// Consecutive failed logins that lock an account.
    pub lockout_after: i64,
    /// How long a lockout lasts, in minutes.
    pub lockout_minutes: i64,
    /// Failed logins allowed from one address per window before answering 429.
    pub throttle_per_ip: u32,
}

impl ServerConfig {
    /// Settings with defaults for a data directory and database URL.
    pub fn new(bind: SocketAddr, data_dir: PathBuf, database_url: String) -> Self {
        Self {
            bind,
            data_dir,
            database_url,
            cookie_secure: false,
            session_minutes: 8 * 60,
            lockout_after: 5,
            lockout_minutes: 15,
            throttle_per_ip: 20,
        }
    }
}
