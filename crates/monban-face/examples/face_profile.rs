//! Time per operation of the optimised SFace and YuNet plans: `cargo run --release -p monban-face --example face_profile`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Instant;

use monban_face::model::{self, ModelPaths};
use tract_onnx::prelude::*;

fn profile(name: &str, plan: &model::Plan, shape: &[usize], iters: usize) {
    let input: Tensor = tract_ndarray::Array4::<f32>::from_shape_fn(
        (shape[0], shape[1], shape[2], shape[3]),
        |(_, c, y, x)| ((x * 7 + y * 13 + c * 31) % 256) as f32,
    )
    .into();
    let mut per_node: BTreeMap<usize, f64> = BTreeMap::new();
    let mut state = plan.spawn().unwrap();
    let mut total = Vec::new();
    for it in 0..iters + 2 {
        let t0 = Instant::now();
        let _ = state
            .run_plan_with_eval(tvec!(input.clone().into()), |ctx, st, node, inputs| {
                let t = Instant::now();
                let r = tract_onnx::tract_core::plan::eval(ctx, st, node, inputs);
                if it >= 2 {
                    *per_node.entry(node.id).or_default() += t.elapsed().as_secs_f64() * 1000.0;
                }
                r
            })
            .unwrap();
        if it >= 2 {
            total.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    total.sort_by(f64::total_cmp);
    println!(
        "== {name}: median {:.2} ms over {iters}",
        total[total.len() / 2]
    );
    let mut by_op: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let m = plan.model();
    for (id, ms) in &per_node {
        let n = m.node(*id);
        let e = by_op.entry(n.op().name().to_string()).or_default();
        e.0 += ms / iters as f64;
        e.1 += 1;
    }
    let mut v: Vec<_> = by_op.into_iter().collect();
    v.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    for (op, (ms, n)) in v {
        println!("{ms:8.2} ms  {n:3}×  {op}");
    }
    if std::env::var("PROFILE_NODES").is_ok() {
        let mut nodes: Vec<_> = per_node.iter().collect();
        nodes.sort_by(|a, b| b.1.total_cmp(a.1));
        for (id, ms) in nodes.iter().take(40) {
            let n = m.node(**id);
            println!(
                "{:8.3} ms  {} {} {:?}",
                *ms / iters as f64,
                n.name,
                n.op().name(),
                n.outputs[0].fact.shape
            );
        }
    }
}

/// The loading as it was before the extra folds (dequantize only).
fn baseline_plan(bytes: &[u8], shape: &[usize]) -> TractResult<model::Plan> {
    let onnx = tract_onnx::onnx().with_ignore_output_shapes(true);
    let mut proto = onnx.proto_model_for_read(&mut std::io::Cursor::new(bytes))?;
    model::fold_dequantize(&mut proto).map_err(|e| TractError::msg(e.to_string()))?;
    let m = onnx.model_for_proto_model(&proto)?;
    m.with_input_fact(0, f32::fact(shape).into())?
        .into_optimized()?
        .into_runnable()
}

fn main() {
    let paths = ModelPaths::locate(None);
    let iters: usize = std::env::var("ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let b = std::fs::read(&paths.recognizer).unwrap();
    if std::env::var("BASELINE").is_ok() {
        let p = baseline_plan(&b, &[1, 3, 112, 112]).unwrap();
        let q = model::load_plan(&b, &[1, 3, 112, 112]).unwrap();
        let x: Tensor =
            tract_ndarray::Array4::<f32>::from_shape_fn((1, 3, 112, 112), |(_, c, y, x)| {
                ((x * 7 + y * 13 + c * 31) % 256) as f32
            })
            .into();
        let a = p.run(tvec!(x.clone().into())).unwrap();
        let c = q.run(tvec!(x.into())).unwrap();
        let a: Vec<f32> = a[0]
            .to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect();
        let c: Vec<f32> = c[0]
            .to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect();
        let d = a
            .iter()
            .zip(&c)
            .map(|(u, v)| (u - v).abs())
            .fold(0f32, f32::max);
        let n = a.iter().map(|u| u.abs()).fold(0f32, f32::max);
        println!("old vs new SFace output: max abs diff {d:e} (max |value| {n})");
        profile("SFace 112 baseline", &p, &[1, 3, 112, 112], iters);
    }
    let t = Instant::now();
    let p = model::load_plan(&b, &[1, 3, 112, 112]).unwrap();
    println!("SFace load {:.0} ms", t.elapsed().as_secs_f64() * 1000.0);
    profile("SFace 112", &p, &[1, 3, 112, 112], iters);
    if std::env::var("SFACE_ONLY").is_ok() {
        return;
    }
    let b = std::fs::read(&paths.detector).unwrap();
    for s in [640usize, 320] {
        match model::load_plan(&b, &[1, 3, s, s]) {
            Ok(p) => profile(&format!("YuNet {s}"), &p, &[1, 3, s, s], iters),
            Err(e) => println!("YuNet {s}: {e}"),
        }
    }
}
