//! Building blocks: the sinusoid table of `SpeechT5ScaledPositionalEncoding` here; the
//! convolutions (weight-norm aware), activations and PyTorch-rounding scalar arithmetic come from
//! `audiosubnet_candle`, which the other models share.

use candle_core::{DType, Device, Result, Tensor};

pub(crate) use audiosubnet_candle::{Activation, Conv1d, ConvSpec, div_scalar};

use crate::SpeechT5Error;

/// The feed-forward activation transformers calls `name`.
pub(crate) fn activation(name: &str) -> std::result::Result<Activation, SpeechT5Error> {
    Activation::from_name(name)
        .ok_or_else(|| SpeechT5Error::Unsupported(format!("hidden_act {name:?}")))
}

/// The table of `SpeechT5ScaledPositionalEncoding`, `(max_len, dim)`, computed in f32 in
/// PyTorch's order: `div = exp(2i * -(ln(10000) / dim))`, `sin(pos * div)` in the even columns,
/// `cos(pos * div)` in the odd ones.
pub(crate) fn scaled_positions(max_len: usize, dim: usize, device: &Device) -> Result<Tensor> {
    let factor = -(10000f64.ln() / dim as f64) as f32;
    let div: Vec<f32> = (0..dim / 2)
        .map(|i| ((2 * i) as f32 * factor).exp())
        .collect();
    let mut table = vec![0f32; max_len * dim];
    for pos in 0..max_len {
        let row = &mut table[pos * dim..(pos + 1) * dim];
        for (i, d) in div.iter().enumerate() {
            let angle = pos as f32 * d;
            row[2 * i] = angle.sin();
            row[2 * i + 1] = angle.cos();
        }
    }
    Tensor::from_vec(table, (max_len, dim), device)?.to_dtype(DType::F32)
}
