//! Building blocks shared by the model's parts: channel-first layer norms, channel shuffling
//! and softmax here; the convolutions (weight-norm aware), activations and PyTorch-rounding
//! scalar arithmetic come from `audiosubnet_candle`, which the other models share.

use candle_core::{Result, Tensor};
use candle_nn::{LayerNorm, Module, VarBuilder};

pub(crate) use audiosubnet_candle::{Activation, Conv1d, ConvSpec, mul_scalar};

use crate::VitsError;

/// A layer norm over the channels of a `(batch, channels, time)` tensor.
#[derive(Debug, Clone)]
pub(crate) struct ChannelNorm(LayerNorm);

impl ChannelNorm {
    pub(crate) fn load(vb: VarBuilder, channels: usize, eps: f64) -> Result<Self> {
        Ok(Self(candle_nn::layer_norm(channels, eps, vb)?))
    }
}

impl Module for ChannelNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.0.forward(&x.transpose(1, 2)?.contiguous()?)?;
        y.transpose(1, 2)?.contiguous()
    }
}

/// Loads a layer norm over the last dimension.
pub(crate) fn layer_norm(vb: VarBuilder, size: usize, eps: f64) -> Result<LayerNorm> {
    candle_nn::layer_norm(size, eps, vb)
}

/// The feed-forward activation transformers calls `name`.
pub(crate) fn activation(name: &str) -> std::result::Result<Activation, VitsError> {
    Activation::from_name(name)
        .ok_or_else(|| VitsError::Unsupported(format!("hidden_act {name:?}")))
}

/// Reverses the channel order of a `(batch, channels, time)` tensor (`torch.flip(x, [1])`).
pub(crate) fn flip_channels(x: &Tensor) -> Result<Tensor> {
    x.flip(&[1])
}

/// Splits `(batch, channels, time)` into the first `n` channels and the rest.
pub(crate) fn split_channels(x: &Tensor, n: usize) -> Result<(Tensor, Tensor)> {
    let c = x.dim(1)?;
    Ok((x.narrow(1, 0, n)?, x.narrow(1, n, c - n)?))
}

/// Softmax over the last dimension.
pub(crate) fn softmax_last(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax_last_dim(&x.contiguous()?)
}
