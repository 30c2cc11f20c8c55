//! The network: `ConvTransformerSQAModel` of `distillmos` 0.9.1 with the `SingleLayerModel`,
//! `TransformerWrapper` and `PoolAttFF` of `xls-r-sqa` 0.1.0, in eval mode (dropout off,
//! BatchNorm on its running statistics).

use std::path::Path;

use candle_core::pickle::PthTensors;
use candle_core::{DType, Device, Tensor};

use crate::Error;
use crate::features::{BINS, FRAMES};

/// Channels of the six convolutions (`min(64 · 2^max(i-1, 0), 256)`).
const CHANNELS: [usize; 6] = [64, 64, 128, 256, 256, 256];
/// Transformer width, heads, layers and feed-forward width.
const D_MODEL: usize = 200;
const HEADS: usize = 8;
const LAYERS: usize = 7;
const D_FF: usize = 2 * D_MODEL;
/// Frames after the last convolution's time stride of 2 (`FEAT_SEQ_LEN`).
const SEQ: usize = FRAMES / 2;
/// Frequency rows left after the convolutions: 161 → 159 → 79 → 39 → 19 → 9 → 4.
const CNN_ROWS: usize = 4;
/// `CNN_FINAL_CHANNELS · fdim`, the transformer's input width.
const D_INPUT: usize = 256 * CNN_ROWS;
/// PyTorch's default eps for BatchNorm1d and LayerNorm.
const EPS: f64 = 1e-5;
/// LeakyReLU's slope after each convolution.
const LEAKY_SLOPE: f32 = 0.1;

/// A 3×3 convolution, frequency stride `f_stride`, time stride `t_stride`, padding (0, 1),
/// followed by LeakyReLU(0.1), on channel-last activations.
#[derive(Debug)]
struct Conv {
    /// `(9 · in, out)`, rows ordered (kf, kt, in) like a patch.
    weight_t: Tensor,
    bias: Vec<f32>,
    f_stride: usize,
    t_stride: usize,
}

/// A `(rows, cols, channels)` activation, row-major (channel-last: one patch tap is one
/// contiguous run of channels).
#[derive(Debug)]
struct Planes {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
    channels: usize,
}

impl Conv {
    /// candle's conv2d has one stride for both axes and these layers stride only along
    /// frequency, so the patches (im2col, one row per output position) are gathered here and
    /// one matmul does the rest.
    fn forward(&self, x: &Planes) -> candle_core::Result<Planes> {
        let (f, t, c) = (x.rows, x.cols, x.channels);
        let (fs, ts) = (self.f_stride, self.t_stride);
        if f < 3 || t < 2 || x.data.len() != c * f * t {
            candle_core::bail!("convolution input {f}x{t}x{c} is too small");
        }
        let f_out = (f - 3) / fs + 1;
        let t_out = (t - 1) / ts + 1;
        let n = f_out * t_out;
        let k = 9 * c;
        let mut patches = vec![0f32; n * k];
        for (pos, row) in patches.chunks_exact_mut(k).enumerate() {
            let (fo, to) = (pos / t_out, pos % t_out);
            for (tap, dst) in row.chunks_exact_mut(c).enumerate() {
                let (kf, kt) = (tap / 3, tap % 3);
                // Input column `to · ts + kt − 1`; outside the input is the zero padding,
                // already in place.
                let Some(ti) = (to * ts + kt).checked_sub(1).filter(|&ti| ti < t) else {
                    continue;
                };
                let start = ((fo * fs + kf) * t + ti) * c;
                dst.copy_from_slice(&x.data[start..start + c]);
            }
        }
        let patches = Tensor::from_vec(patches, (n, k), &Device::Cpu)?;
        let mut y = patches
            .matmul(&self.weight_t)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        for row in y.chunks_exact_mut(self.bias.len()) {
            for (v, &b) in row.iter_mut().zip(&self.bias) {
                let z = *v + b;
                *v = if z < 0.0 { z * LEAKY_SLOPE } else { z };
            }
        }
        Ok(Planes {
            data: y,
            rows: f_out,
            cols: t_out,
            channels: self.bias.len(),
        })
    }
}

/// A linear layer with its weight stored transposed, `(in, out)`.
#[derive(Debug)]
struct Linear {
    weight_t: Tensor,
    bias: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&self.weight_t)?.broadcast_add(&self.bias)
    }
}

/// One `nn.TransformerEncoderLayer` (post-norm, ReLU).
#[derive(Debug)]
struct EncoderLayer {
    in_proj: Linear,
    out_proj: Linear,
    linear1: Linear,
    linear2: Linear,
    norm1: (Tensor, Tensor),
    norm2: (Tensor, Tensor),
}

impl EncoderLayer {
    /// `x`: `(SEQ, D_MODEL)`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let head = D_MODEL / HEADS;
        let qkv = self.in_proj.forward(x)?;
        let split = |i: usize| -> candle_core::Result<Tensor> {
            qkv.narrow(1, i * D_MODEL, D_MODEL)?
                .reshape((SEQ, HEADS, head))?
                .transpose(0, 1)?
                .contiguous()
        };
        let q = (split(0)? * (1.0 / (head as f64).sqrt()))?;
        let (k, v) = (split(1)?, split(2)?);
        let att = q.matmul(&k.t()?)?;
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let a = att
            .matmul(&v)?
            .transpose(0, 1)?
            .contiguous()?
            .reshape((SEQ, D_MODEL))?;
        let x = (x + self.out_proj.forward(&a)?)?;
        let x = candle_nn::ops::layer_norm(&x, &self.norm1.0, &self.norm1.1, EPS as f32)?;
        let ff = self.linear2.forward(&self.linear1.forward(&x)?.relu()?)?;
        let x = (x + ff)?;
        candle_nn::ops::layer_norm(&x, &self.norm2.0, &self.norm2.1, EPS as f32)
    }
}

/// The whole network, weights on the CPU in f32.
#[derive(Debug)]
pub(crate) struct Network {
    convs: Vec<Conv>,
    /// The two BatchNorm1d(1024) in a row (`norm_input`, then the wrapper's `norm`), folded into
    /// one per-channel scale and shift, `(1, D_INPUT)`.
    input_scale: Tensor,
    input_shift: Tensor,
    linear_proj: Linear,
    /// `(SEQ, D_MODEL)`, the checkpoint's buffer (sines and cosines over `log(2 · 384)`).
    positions: Tensor,
    layers: Vec<EncoderLayer>,
    /// `norm_trans`, BatchNorm1d(200), folded.
    trans_scale: Tensor,
    trans_shift: Tensor,
    pool1: Linear,
    pool2: Linear,
    pool3: Linear,
}

/// Reads named tensors of the checkpoint's `model` state dict and checks their shapes.
struct Weights<'a> {
    pth: PthTensors,
    path: &'a Path,
}

impl Weights<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, Error> {
        let tensor = self
            .pth
            .get(name)
            .map_err(|source| Error::Weights {
                path: self.path.to_owned(),
                source,
            })?
            .ok_or_else(|| Error::MissingTensor {
                path: self.path.to_owned(),
                name: name.to_owned(),
            })?;
        if tensor.dims() != shape {
            return Err(Error::WrongShape {
                path: self.path.to_owned(),
                name: name.to_owned(),
                expected: shape.to_vec(),
                found: tensor.dims().to_vec(),
            });
        }
        tensor
            .to_dtype(DType::F32)
            .map_err(|source| Error::Weights {
                path: self.path.to_owned(),
                source,
            })
    }

    fn vec(&self, name: &str, len: usize) -> Result<Vec<f64>, Error> {
        let t = self.get(name, &[len])?;
        let v = t.to_vec1::<f32>().map_err(|source| Error::Weights {
            path: self.path.to_owned(),
            source,
        })?;
        Ok(v.into_iter().map(f64::from).collect())
    }

    fn linear(&self, prefix: &str, d_in: usize, d_out: usize) -> Result<Linear, Error> {
        let w = self.get(&format!("{prefix}.weight"), &[d_out, d_in])?;
        let b = self.get(&format!("{prefix}.bias"), &[d_out])?;
        let weight_t = w
            .t()
            .and_then(|w| w.contiguous())
            .map_err(Error::Inference)?;
        Ok(Linear { weight_t, bias: b })
    }

    /// Eval-mode BatchNorm1d as `x · scale + shift`, in f64.
    fn batch_norm(&self, prefix: &str, len: usize) -> Result<(Vec<f64>, Vec<f64>), Error> {
        let w = self.vec(&format!("{prefix}.weight"), len)?;
        let b = self.vec(&format!("{prefix}.bias"), len)?;
        let mean = self.vec(&format!("{prefix}.running_mean"), len)?;
        let var = self.vec(&format!("{prefix}.running_var"), len)?;
        let scale: Vec<f64> = w
            .iter()
            .zip(&var)
            .map(|(w, v)| w / (v + EPS).sqrt())
            .collect();
        let shift = b
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        Ok((scale, shift))
    }
}

fn row(values: &[f64]) -> Result<Tensor, Error> {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::from_vec(v, (1, values.len()), &Device::Cpu).map_err(Error::Inference)
}

impl Network {
    pub(crate) fn load(path: &Path) -> Result<Self, Error> {
        let pth = PthTensors::new(path, Some("model")).map_err(|source| Error::Weights {
            path: path.to_owned(),
            source,
        })?;
        let w = Weights { pth, path };

        let mut convs = Vec::with_capacity(CHANNELS.len());
        let mut c_in = 2;
        for (i, &c_out) in CHANNELS.iter().enumerate() {
            // nn.Sequential indices: conv at 2i, LeakyReLU at 2i + 1.
            let weight = w.get(&format!("cnn.cnn.{}.weight", 2 * i), &[c_out, c_in, 3, 3])?;
            let bias = w.get(&format!("cnn.cnn.{}.bias", 2 * i), &[c_out])?;
            let weight_t = weight
                .permute((2, 3, 1, 0))
                .and_then(|t| t.contiguous())
                .and_then(|t| t.reshape((9 * c_in, c_out)))
                .map_err(Error::Inference)?;
            let bias = bias.to_vec1::<f32>().map_err(Error::Inference)?;
            convs.push(Conv {
                weight_t,
                bias,
                f_stride: if i >= 1 { 2 } else { 1 },
                t_stride: if i == CHANNELS.len() - 1 { 2 } else { 1 },
            });
            c_in = c_out;
        }

        let (s1, t1) = w.batch_norm("transformer_pool_attn.norm_input", D_INPUT)?;
        let (s2, t2) = w.batch_norm("transformer_pool_attn.transformer.norm", D_INPUT)?;
        // (x·s1 + t1)·s2 + t2 = x·(s1·s2) + (t1·s2 + t2)
        let scale: Vec<f64> = s1.iter().zip(&s2).map(|(a, b)| a * b).collect();
        let shift: Vec<f64> = t1
            .iter()
            .zip(&s2)
            .zip(&t2)
            .map(|((t, s), u)| t * s + u)
            .collect();
        let (trans_scale, trans_shift) =
            w.batch_norm("transformer_pool_attn.norm_trans", D_MODEL)?;

        let tr = "transformer_pool_attn.transformer";
        let positions = w
            .get(&format!("{tr}.position_encoding.pe"), &[1, SEQ, D_MODEL])?
            .squeeze(0)
            .map_err(Error::Inference)?;
        let mut layers = Vec::with_capacity(LAYERS);
        for l in 0..LAYERS {
            let p = format!("{tr}.transformer_encoder.layers.{l}");
            let norm = |n: &str| -> Result<(Tensor, Tensor), Error> {
                Ok((
                    w.get(&format!("{p}.{n}.weight"), &[D_MODEL])?,
                    w.get(&format!("{p}.{n}.bias"), &[D_MODEL])?,
                ))
            };
            layers.push(EncoderLayer {
                in_proj: Linear {
                    weight_t: w
                        .get(
                            &format!("{p}.self_attn.in_proj_weight"),
                            &[3 * D_MODEL, D_MODEL],
                        )?
                        .t()
                        .and_then(|t| t.contiguous())
                        .map_err(Error::Inference)?,
                    bias: w.get(&format!("{p}.self_attn.in_proj_bias"), &[3 * D_MODEL])?,
                },
                out_proj: w.linear(&format!("{p}.self_attn.out_proj"), D_MODEL, D_MODEL)?,
                linear1: w.linear(&format!("{p}.linear1"), D_MODEL, D_FF)?,
                linear2: w.linear(&format!("{p}.linear2"), D_FF, D_MODEL)?,
                norm1: norm("norm1")?,
                norm2: norm("norm2")?,
            });
        }
        let pool = "transformer_pool_attn.pool";
        Ok(Self {
            convs,
            input_scale: row(&scale)?,
            input_shift: row(&shift)?,
            linear_proj: w.linear(&format!("{tr}.linear_proj"), D_INPUT, D_MODEL)?,
            positions,
            layers,
            trans_scale: row(&trans_scale)?,
            trans_shift: row(&trans_shift)?,
            pool1: w.linear(&format!("{pool}.linear1"), D_MODEL, 2 * D_MODEL)?,
            pool2: w.linear(&format!("{pool}.linear2"), 2 * D_MODEL, 1)?,
            pool3: w.linear(&format!("{pool}.linear3"), D_MODEL, 1)?,
        })
    }

    /// One window's compressed spectrogram (`[2][161][768]`) → normalised quality in (0, 1).
    pub(crate) fn forward(&self, spectrogram: &[f32]) -> candle_core::Result<f32> {
        // Channel-first as `_complex_compressed` gives it → channel-last for the convolutions.
        let mut data = vec![0f32; spectrogram.len()];
        for (ch, plane) in spectrogram.chunks_exact(BINS * FRAMES).enumerate() {
            for (i, &v) in plane.iter().enumerate() {
                data[i * 2 + ch] = v;
            }
        }
        let mut x = Planes {
            data,
            rows: BINS,
            cols: FRAMES,
            channels: 2,
        };
        for conv in &self.convs {
            x = conv.forward(&x)?;
        }
        // flatten(1, -2) of (N, C, F, T) makes feature c · 4 + f at each frame t: (T, C, F).
        let (f, t, c) = (x.rows, x.cols, x.channels);
        let x = Tensor::from_vec(x.data, (f, t, c), &Device::Cpu)?
            .permute((1, 2, 0))?
            .contiguous()?
            .reshape((t, c * f))?;
        let x = x
            .broadcast_mul(&self.input_scale)?
            .broadcast_add(&self.input_shift)?;
        let mut x = (self.linear_proj.forward(&x)? + &self.positions)?;
        for layer in &self.layers {
            x = layer.forward(&x)?;
        }
        let x = x
            .broadcast_mul(&self.trans_scale)?
            .broadcast_add(&self.trans_shift)?;
        // Attention pooling: softmax over time of a small MLP's score, then a weighted mean.
        let att = self.pool2.forward(&self.pool1.forward(&x)?.relu()?)?; // (SEQ, 1)
        let att = candle_nn::ops::softmax_last_dim(&att.t()?)?; // (1, SEQ)
        let pooled = att.matmul(&x)?; // (1, D_MODEL)
        let q = self.pool3.forward(&pooled)?; // (1, 1)
        let q = candle_nn::ops::sigmoid(&q)?;
        q.flatten_all()?
            .to_vec1::<f32>()?
            .first()
            .copied()
            .ok_or_else(|| candle_core::Error::Msg("empty model output".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The im2col convolution against a direct loop, for each stride pattern the model uses.
    #[test]
    fn strided_convolution_matches_a_direct_loop() {
        let dev = Device::Cpu;
        let (c_in, c_out, f, t) = (3usize, 4usize, 11usize, 9usize);
        // Channel-first values x[i][fi][ti], as PyTorch holds them.
        let x: Vec<f32> = (0..c_in * f * t)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let mut channel_last = vec![0f32; x.len()];
        for i in 0..c_in {
            for fi in 0..f {
                for ti in 0..t {
                    channel_last[(fi * t + ti) * c_in + i] = x[(i * f + fi) * t + ti];
                }
            }
        }
        let w: Vec<f32> = (0..c_out * c_in * 9)
            .map(|i| ((i * 53 % 97) as f32 / 48.0) - 1.0)
            .collect();
        let b: Vec<f32> = (0..c_out).map(|i| i as f32 * 0.1 - 0.2).collect();
        let wt = Tensor::from_vec(w.clone(), (c_out, c_in, 3, 3), &dev).expect("w");
        for (fs, ts) in [(1usize, 1usize), (2, 1), (2, 2)] {
            let conv = Conv {
                weight_t: wt
                    .permute((2, 3, 1, 0))
                    .and_then(|t| t.contiguous())
                    .and_then(|t| t.reshape((9 * c_in, c_out)))
                    .expect("weight"),
                bias: b.clone(),
                f_stride: fs,
                t_stride: ts,
            };
            let input = Planes {
                data: channel_last.clone(),
                rows: f,
                cols: t,
                channels: c_in,
            };
            let got = conv.forward(&input).expect("conv");
            let (f_out, t_out) = ((f - 3) / fs + 1, (t - 1) / ts + 1);
            assert_eq!((got.rows, got.cols, got.channels), (f_out, t_out, c_out));
            let got = got.data;
            for o in 0..c_out {
                for fo in 0..f_out {
                    for to in 0..t_out {
                        let mut acc = f64::from(b[o]);
                        for i in 0..c_in {
                            for kf in 0..3 {
                                for kt in 0..3 {
                                    let fi = fo * fs + kf;
                                    let ti = (to * ts + kt) as isize - 1;
                                    if ti < 0 || ti as usize >= t {
                                        continue;
                                    }
                                    acc += f64::from(w[((o * c_in + i) * 3 + kf) * 3 + kt])
                                        * f64::from(x[(i * f + fi) * t + ti as usize]);
                                }
                            }
                        }
                        let want = if acc < 0.0 { acc * 0.1 } else { acc };
                        let g = f64::from(got[(fo * t_out + to) * c_out + o]);
                        assert!(
                            (g - want).abs() < 1e-4,
                            "stride ({fs},{ts}) at {o},{fo},{to}"
                        );
                    }
                }
            }
        }
    }
}
