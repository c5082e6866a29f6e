//! Forwards libosdp's `log` records (CRC errors, bad MACs, Secure Channel failures, …) to
//! `tracing`, so they reach the controller's log like everything else.

use std::sync::Once;

struct Bridge;

impl log::Log for Bridge {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record<'_>) {
        // When `tracing` is built with its `log` feature (other crates in the workspace turn it
        // on), a tracing event with no subscriber is re-emitted as a `log` record with the same
        // target. Forwarding that again would recurse until the stack overflows: skip our own
        // target, and never re-enter on the same thread.
        if r.target() == "osdp" {
            return;
        }
        thread_local! {
            static INSIDE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        if INSIDE.with(|f| f.replace(true)) {
            return;
        }
        let msg = r.args().to_string();
        match r.level() {
            log::Level::Error | log::Level::Warn => tracing::warn!(target: "osdp", "{msg}"),
            log::Level::Info => tracing::info!(target: "osdp", "{msg}"),
            _ => tracing::debug!(target: "osdp", "{msg}"),
        }
        INSIDE.with(|f| f.set(false));
    }
    fn flush(&self) {}
}

static BRIDGE: Bridge = Bridge;
static ONCE: Once = Once::new();

/// Installs the bridge once; does nothing if another `log` logger is installed already.
pub fn install() {
    ONCE.call_once(|| {
        if log::set_logger(&BRIDGE).is_ok() {
            log::set_max_level(log::LevelFilter::Info);
        }
    });
}
