//! Loading Hugging Face checkpoints into candle and the layers several of our models share.
//!
//! [`var_builder`] opens a checkpoint directory (`model.safetensors`, a sharded
//! `model.safetensors.index.json` or `pytorch_model.bin`) as a [`candle_nn::VarBuilder`];
//! [`conv_weight`] folds any of PyTorch's weight-norm layouts into a plain weight; [`Conv1d`] and
//! [`ConvTranspose1d`] are the convolutions built on it ([`conv1d`] is the CPU kernel); [`HifiGan`] is the HiFi-GAN generator
//! (VITS's decoder and SpeechT5's vocoder); [`EncodecDecoder`] is EnCodec's decoder (Bark's and
//! MusicGen's codec); the scalar helpers round like PyTorch.

mod checkpoint;
mod conv;
mod encodec;
mod hifigan;
mod layers;

pub use crate::checkpoint::{CheckpointError, LoadOptions, read_config, var_builder};
pub use crate::conv::conv1d;
pub use crate::encodec::{EncodecConfig, EncodecConfigError, EncodecDecoder};
pub use crate::hifigan::{HifiGan, HifiGanSpec};
pub use crate::layers::{
    Activation, Conv1d, ConvSpec, ConvTranspose1d, conv_weight, div_scalar, leaky_relu, mul_scalar,
};
