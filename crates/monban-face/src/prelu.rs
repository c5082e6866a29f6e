//! A one-pass PRelu for tract.
//!
//! tract-onnx expands ONNX `PRelu` into three operations — `x·α`, `0 > x` (a boolean tensor) and
//! a select — each a full pass over the activations with its own output allocation. SFace has 27
//! of them after its convolutions. When the slope `α` is a constant with one value per channel
//! (axis 1), or a single value, [`register`] wires [`ChannelPrelu`] instead: one pass, in place
//! when tract hands over the only reference to the input. Anything else keeps tract's expansion.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb;
use tract_onnx::tract_hir::internal::*;

/// Replaces the `PRelu` parser of an ONNX framework by ours.
pub(crate) fn register(onnx: &mut tract_onnx::Onnx) {
    onnx.op_register.insert("PRelu", parse);
}

fn parse(
    _ctx: &ParsingContext,
    _node: &pb::NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(PreluExpansion), vec![]))
}

#[derive(Debug, Clone)]
struct PreluExpansion;

impl Expansion for PreluExpansion {
    fn name(&self) -> StaticName {
        "Prelu".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        name: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let (a, b) = (inputs[0], inputs[1]);
        if let Some(op) = channel_prelu(model.outlet_fact(a)?, model.outlet_fact(b)?)? {
            return model.wire_node(name, op, &[a]);
        }
        // tract's own expansion.
        let mut b = b;
        let rank = model.outlet_fact(a)?.rank();
        while model.outlet_fact(b)?.rank() < rank {
            b = model.wire_node(
                format!("{}.add-axis-{}", name, model.outlet_fact(b)?.rank()),
                AxisOp::Add(0),
                &[b],
            )?[0];
        }
        let zero = tensor0(0.0)
            .cast_to_dt(model.outlet_fact(a)?.datum_type)?
            .into_owned()
            .broadcast_into_rank(rank)?;
        let ab = model.wire_node(
            format!("{name}.mul"),
            tract_onnx::tract_hir::ops::math::mul(),
            &[a, b],
        )?[0];
        let zero = model.add_const(name.to_string() + ".zero", zero)?;
        let test = model.wire_node(
            name.to_string() + ".test",
            tract_core::ops::binary::TypedBinOp(tract_core::ops::logic::comp_gt(), None),
            &[zero, a],
        )?;
        model.wire_node(
            name.to_string() + ".iff",
            tract_core::ops::logic::Iff,
            &[test[0], ab, a],
        )
    }
}

/// [`ChannelPrelu`] when `x` is f32 of rank ≥ 2 with a known channel count and the slope is a
/// constant holding one value, or one value per channel placed on axis 1 after broadcasting.
fn channel_prelu(x: &TypedFact, slope: &TypedFact) -> TractResult<Option<ChannelPrelu>> {
    if x.datum_type != f32::datum_type() || x.rank() < 2 || slope.rank() > x.rank() {
        return Ok(None);
    }
    let Some(k) = &slope.konst else {
        return Ok(None);
    };
    let Ok(channels) = x.shape[1].to_usize() else {
        return Ok(None);
    };
    let k = k.cast_to::<f32>()?;
    let values: Vec<f32> = k.to_plain_array_view::<f32>()?.iter().copied().collect();
    // The slope's shape aligned to the right of x's.
    let pad = x.rank() - k.rank();
    let on_channel_axis_only = k
        .shape()
        .iter()
        .enumerate()
        .all(|(i, &d)| d == 1 || (i + pad == 1 && d == channels));
    let alpha = match values.len() {
        1 => vec![values[0]; channels],
        n if n == channels && on_channel_axis_only => values,
        _ => return Ok(None),
    };
    Ok(Some(ChannelPrelu {
        alpha: alpha.iter().map(|a| a.to_bits()).collect(),
    }))
}

/// `y = x` where `x ≥ 0`, `α[c]·x` elsewhere, `c` the index on axis 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelPrelu {
    /// One slope per channel, as f32 bits (so the op is `Eq`).
    alpha: Arc<[u32]>,
}

impl Op for ChannelPrelu {
    fn name(&self) -> StaticName {
        "ChannelPrelu".into()
    }

    op_as_typed_op!();
}

impl EvalOp for ChannelPrelu {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        // In place when this op holds the only reference; a copy otherwise.
        let mut t = x.into_tensor();
        let shape = t.shape().to_vec();
        ensure!(shape.len() >= 2 && shape[1] == self.alpha.len());
        let inner: usize = shape[2..].iter().product();
        let mut view = t.try_as_plain_ram_mut()?;
        let data = view.as_slice_mut::<f32>()?;
        if inner > 0 {
            for (i, block) in data.chunks_exact_mut(inner).enumerate() {
                let a = f32::from_bits(self.alpha[i % self.alpha.len()]);
                for v in block {
                    *v = if *v < 0.0 { *v * a } else { *v };
                }
            }
        }
        Ok(tvec!(t.into_tvalue()))
    }
}

impl TypedOp for ChannelPrelu {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 1);
        Ok(tvec!(inputs[0].datum_type.fact(inputs[0].shape.clone())))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn channel_prelu_matches_the_definition() {
        let op = ChannelPrelu {
            alpha: [0.5f32, 2.0].iter().map(|a| a.to_bits()).collect(),
        };
        let x = Tensor::from_shape(&[1, 2, 2], &[-2f32, 3., -1., 0.]).unwrap();
        let y = op
            .eval(&EvalContext::out_of_plan(), tvec!(x.into_tvalue()))
            .unwrap();
        let y: Vec<f32> = y[0]
            .to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect();
        assert_eq!(y, [-1., 3., -2., 0.]);
    }

    #[test]
    fn slope_shapes_accepted_only_on_the_channel_axis() {
        let x = f32::fact([1, 3, 4, 4]);
        let per_channel =
            TypedFact::try_from(Tensor::from_shape(&[3, 1, 1], &[1f32, 2., 3.]).unwrap()).unwrap();
        assert!(channel_prelu(&x, &per_channel).unwrap().is_some());
        let scalar = TypedFact::try_from(Tensor::from_shape(&[1], &[0.25f32]).unwrap()).unwrap();
        assert!(channel_prelu(&x, &scalar).unwrap().is_some());
        let on_width =
            TypedFact::try_from(Tensor::from_shape(&[4], &[1f32, 2., 3., 4.]).unwrap()).unwrap();
        assert!(channel_prelu(&x, &on_width).unwrap().is_none());
        let not_const = f32::fact([3, 1, 1]);
        assert!(channel_prelu(&x, &not_const).unwrap().is_none());
    }
}
