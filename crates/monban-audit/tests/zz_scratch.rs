#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
use std::time::Instant;
use base64::Engine as _;
use monban_audit::leaf::LeafView;
use monban_audit::merkle::leaf_hash;
use monban_audit::verify::format_export_line;
use rand::SeedableRng;
#[test]
#[ignore]
fn scratch() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let e0 = common::random_entry(&mut rng, 0);
    let mut e = e0.clone();
    let n = 1_000_000u64;
    let mut data = String::new();
    let mut leaves = Vec::new();
    let mut line = String::new();
    for seq in 0..n { e.seq = seq; let l = e.encode().unwrap(); format_export_line(seq, &l, &mut line); data.push_str(&line); if seq < 1000 { leaves.push(l);} }
    eprintln!("leaf len {}", leaves[0].len());
    let t = Instant::now();
    let mut c = 0usize;
    for l in data.lines() { c += l.len(); }
    eprintln!("lines: {:?}", t.elapsed());
    let t = Instant::now();
    let mut buf = Vec::new();
    for l in data.lines() { buf.clear(); base64::engine::general_purpose::STANDARD.decode_vec(&l[l.len()-2-((leaves[0].len()+2)/3*4)..l.len()-2], &mut buf).unwrap(); c += buf.len(); }
    eprintln!("b64: {:?}", t.elapsed());
    let t = Instant::now();
    for i in 0..n { c += leaf_hash(&leaves[(i % 1000) as usize])[0] as usize; }
    eprintln!("hash: {:?}", t.elapsed());
    let t = Instant::now();
    for i in 0..n { c += LeafView::parse(&leaves[(i % 1000) as usize]).unwrap().seq as usize; }
    eprintln!("view: {:?}", t.elapsed());
    let t = Instant::now();
    let mut st = monban_audit::TreeState::new();
    for i in 0..n { st.push(leaves[(i%1000) as usize][..32].try_into().unwrap(), |_,_|{}); }
    eprintln!("push: {:?}", t.elapsed());
    let t = Instant::now();
    for i in 0..n { c += monban_audit::leaf::parse_server_time(if i % 2 == 0 {"2024-05-01T00:00:00.123456Z"} else {"2024-05-01T00:00:00.123457Z"}).unwrap().subsec_nanosecond() as usize; }
    eprintln!("server time: {:?}", t.elapsed());
    let t = Instant::now();
    for i in 0..n { c += monban_audit::leaf::parse_device_time(if i % 2 == 0 {"2024-05-01T00:00:00.123456+09:00"} else {"2024-05-01T00:00:00.123457+09:00"}).unwrap().at.subsec_nanosecond() as usize; }
    eprintln!("device time: {:?}", t.elapsed());
    eprintln!("{c}");
}
