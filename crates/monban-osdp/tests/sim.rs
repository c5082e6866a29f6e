//! `monban osdp sim`: one door, the real agent, a simulated OSDP reader (libosdp's Rust PD) on a
//! pty with Secure Channel. Needs no Python.
#![allow(clippy::unwrap_used)]

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_reader_door_runs() {
    monban_osdp::sim::run(115200, 1).await.unwrap();
}
