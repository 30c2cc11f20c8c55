//! The HTSAT audio encoder (`ClapAudioEncoder` without fusion): batch norm over the mel bins,
//! the spectrogram stretched in time to `spec_size * freq_ratio` frames (PyTorch's bicubic
//! interpolation with `align_corners=True`) and folded into a square image
//! (`reshape_mel2img`: `freq_ratio` consecutive time slices stacked along frequency), a strided
//! convolution into patches, Swin stages (window attention with a learned relative position
//! bias, every second block on windows shifted by half a window with the wrapped-around regions
//! masked, patch merging between stages), a final layer norm, and the mean over all tokens
//! (transformers' `pooler_output`, which `audio_projection` reads).

use audiosubnet_candle::{Activation, div_scalar};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder, layer_norm, linear, linear_b, linear_no_bias};

use crate::ClapError;
use crate::config::AudioConfig;

/// What the Swin attention adds to scores across shifted-window region borders.
const MASKED: f32 = -100.0;

/// Window attention of one Swin block.
struct WindowAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    /// `(1, heads, N, N)` for windows of N tokens.
    bias: Tensor,
    heads: usize,
    head_dim: usize,
}

impl WindowAttention {
    fn load(
        vb: VarBuilder,
        dim: usize,
        heads: usize,
        window: usize,
        qkv_bias: bool,
    ) -> candle_core::Result<Self> {
        let this = vb.pp("self");
        let side = 2 * window - 1;
        let table = this.get((side * side, heads), "relative_position_bias_table")?;
        // Swin's `relative_position_index`, rebuilt rather than read (it is a buffer).
        let n = window * window;
        let mut index = Vec::with_capacity(n * n);
        for i in 0..n {
            for j in 0..n {
                let dh = i / window + window - 1 - j / window;
                let dw = i % window + window - 1 - j % window;
                index.push((dh * side + dw) as u32);
            }
        }
        let index = Tensor::from_vec(index, n * n, table.device())?;
        let bias = table
            .index_select(&index, 0)?
            .reshape((n, n, heads))?
            .permute((2, 0, 1))?
            .contiguous()?
            .unsqueeze(0)?;
        Ok(Self {
            query: linear_b(dim, dim, qkv_bias, this.pp("query"))?,
            key: linear_b(dim, dim, qkv_bias, this.pp("key"))?,
            value: linear_b(dim, dim, qkv_bias, this.pp("value"))?,
            output: linear(dim, dim, vb.pp("output").pp("dense"))?,
            bias,
            heads,
            head_dim: dim / heads,
        })
    }

    fn split(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, n, _) = x.dims3()?;
        x.reshape((b, n, self.heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// `x`: `(batch * windows, N, dim)`; `mask`: `(windows, N, N)`.
    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (bw, n, dim) = x.dims3()?;
        let q = self.split(&self.query.forward(x)?)?;
        let k = self.split(&self.key.forward(x)?)?;
        let v = self.split(&self.value.forward(x)?)?;
        let scores = div_scalar(
            &q.matmul(&k.t()?.contiguous()?)?,
            (self.head_dim as f64).sqrt(),
        )?
        .broadcast_add(&self.bias)?;
        let scores = match mask {
            Some(mask) => {
                let windows = mask.dim(0)?;
                scores
                    .reshape((bw / windows, windows, self.heads, n, n))?
                    .broadcast_add(&mask.unsqueeze(1)?.unsqueeze(0)?)?
                    .reshape((bw, self.heads, n, n))?
            }
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((bw, n, dim))?;
        self.output.forward(&ctx)
    }
}

/// One Swin block on a `height x width` grid.
struct Block {
    norm_before: LayerNorm,
    attention: WindowAttention,
    norm_after: LayerNorm,
    intermediate: Linear,
    output: Linear,
    act: Activation,
    window: usize,
    shift: usize,
    height: usize,
    width: usize,
    /// The grid padded to whole windows.
    padded: (usize, usize),
    /// `(windows, N, N)` for shifted blocks.
    mask: Option<Tensor>,
}

impl Block {
    #[allow(clippy::too_many_arguments)]
    fn load(
        vb: VarBuilder,
        cfg: &AudioConfig,
        dim: usize,
        heads: usize,
        (height, width): (usize, usize),
        shifted: bool,
        act: Activation,
        device: &Device,
    ) -> Result<Self, ClapError> {
        let window = cfg.window_size;
        // transformers' `set_shift_and_window_size`: a grid no larger than a window is one
        // unshifted window. A smaller grid would need a smaller bias table, which transformers
        // cannot run either.
        let smallest = height.min(width);
        if smallest < window {
            return Err(ClapError::Config(format!(
                "audio grid {height}x{width} is smaller than the {window}-token window"
            )));
        }
        let shift = if shifted && smallest > window {
            window / 2
        } else {
            0
        };
        let padded = (
            height.div_ceil(window) * window,
            width.div_ceil(window) * window,
        );
        let mask = (shift > 0)
            .then(|| shift_mask(padded, window, shift, device))
            .transpose()?;
        let hidden = (cfg.mlp_ratio * dim as f64) as usize;
        Ok(Self {
            norm_before: layer_norm(dim, cfg.layer_norm_eps, vb.pp("layernorm_before"))?,
            attention: WindowAttention::load(vb.pp("attention"), dim, heads, window, cfg.qkv_bias)?,
            norm_after: layer_norm(dim, cfg.layer_norm_eps, vb.pp("layernorm_after"))?,
            intermediate: linear(dim, hidden, vb.pp("intermediate").pp("dense"))?,
            output: linear(hidden, dim, vb.pp("output").pp("dense"))?,
            act,
            window,
            shift,
            height,
            width,
            padded,
            mask,
        })
    }

    /// `x`: `(batch, height * width, dim)`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, l, c) = x.dims3()?;
        let (h, w, ws) = (self.height, self.width, self.window);
        let (hp, wp) = self.padded;
        let mut y = self.norm_before.forward(x)?.reshape((b, h, w, c))?;
        if hp > h {
            y = y.pad_with_zeros(1, 0, hp - h)?;
        }
        if wp > w {
            y = y.pad_with_zeros(2, 0, wp - w)?;
        }
        let s = self.shift as i32;
        if s > 0 {
            y = y.roll(-s, 1)?.roll(-s, 2)?;
        }
        // Partition into windows: (batch * windows, ws * ws, dim).
        let windows = y
            .reshape((b, hp / ws, ws, wp / ws, ws, c))?
            .permute((0, 1, 3, 2, 4, 5))?
            .contiguous()?
            .reshape((b * (hp / ws) * (wp / ws), ws * ws, c))?;
        let attended = self.attention.forward(&windows, self.mask.as_ref())?;
        let mut y = attended
            .reshape((b, hp / ws, wp / ws, ws, ws, c))?
            .permute((0, 1, 3, 2, 4, 5))?
            .contiguous()?
            .reshape((b, hp, wp, c))?;
        if s > 0 {
            y = y.roll(s, 1)?.roll(s, 2)?;
        }
        if hp > h || wp > w {
            y = y.narrow(1, 0, h)?.narrow(2, 0, w)?;
        }
        let x = (x + y.contiguous()?.reshape((b, l, c))?)?;
        let mlp = self.output.forward(
            &self
                .act
                .forward(&self.intermediate.forward(&self.norm_after.forward(&x)?)?)?,
        )?;
        x + mlp
    }
}

/// The shifted-window attention mask: tokens of one window that came from different regions of
/// the cyclically shifted grid may not attend to each other.
fn shift_mask(
    (hp, wp): (usize, usize),
    window: usize,
    shift: usize,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let region = |x: usize, size: usize| {
        if x < size - window {
            0
        } else if x < size - shift {
            1
        } else {
            2
        }
    };
    let n = window * window;
    let (nh, nw) = (hp / window, wp / window);
    let mut mask = Vec::with_capacity(nh * nw * n * n);
    for wh in 0..nh {
        for ww in 0..nw {
            let ids: Vec<usize> = (0..n)
                .map(|i| {
                    let (y, x) = (wh * window + i / window, ww * window + i % window);
                    region(y, hp) * 3 + region(x, wp)
                })
                .collect();
            for &a in &ids {
                mask.extend(ids.iter().map(|&b| if a == b { 0.0 } else { MASKED }));
            }
        }
    }
    Tensor::from_vec(mask, (nh * nw, n, n), device)
}

/// `ClapAudioPatchMerging`: each 2x2 neighbourhood concatenated, normed and projected to twice
/// the width.
struct PatchMerging {
    norm: LayerNorm,
    reduction: Linear,
}

impl PatchMerging {
    fn forward(&self, x: &Tensor, height: usize, width: usize) -> candle_core::Result<Tensor> {
        let (b, _, c) = x.dims3()?;
        let mut y = x.reshape((b, height, width, c))?;
        if height % 2 == 1 {
            y = y.pad_with_zeros(1, 0, 1)?;
        }
        if width % 2 == 1 {
            y = y.pad_with_zeros(2, 0, 1)?;
        }
        let (h2, w2) = (height.div_ceil(2), width.div_ceil(2));
        // (b, h2, row parity, w2, column parity, c) -> [x(0,0), x(1,0), x(0,1), x(1,1)] per cell,
        // the order transformers concatenates them in.
        let y = y
            .reshape((b, h2, 2, w2, 2, c))?
            .permute((0, 1, 3, 4, 2, 5))?
            .contiguous()?
            .reshape((b, h2 * w2, 4 * c))?;
        self.reduction.forward(&self.norm.forward(&y)?)
    }
}

struct Stage {
    blocks: Vec<Block>,
    merge: Option<PatchMerging>,
    height: usize,
    width: usize,
}

/// `ClapAudioEncoder` (unfused) up to its pooled output.
pub(crate) struct AudioEncoder {
    /// Batch norm folded as PyTorch evaluates it: `x * scale + shift` per mel bin.
    bn_scale: Tensor,
    bn_shift: Tensor,
    /// `(spec_width, frames)` bicubic interpolation matrix; `None` when no stretch is needed.
    stretch: Option<Tensor>,
    frames: usize,
    mels: usize,
    spec_width: usize,
    freq_ratio: usize,
    patch_weight: Tensor,
    patch_bias: Tensor,
    patch_stride: usize,
    patch_padding: usize,
    patch_norm: Option<LayerNorm>,
    grid: usize,
    stages: Vec<Stage>,
    norm: LayerNorm,
}

impl AudioEncoder {
    /// Loads the encoder under `vb` (`audio_model.audio_encoder`) for features of `frames`
    /// frames.
    pub(crate) fn load(
        vb: VarBuilder,
        cfg: &AudioConfig,
        frames: usize,
        device: &Device,
    ) -> Result<Self, ClapError> {
        let act = Activation::from_name(&cfg.hidden_act).ok_or_else(|| {
            ClapError::Unsupported(format!("audio hidden_act {:?}", cfg.hidden_act))
        })?;
        let mels = cfg.num_mel_bins;
        let freq_ratio = cfg.freq_ratio();
        let spec_width = cfg.spec_size * freq_ratio;
        if frames > spec_width {
            return Err(ClapError::Config(format!(
                "{frames} feature frames do not fit the encoder's {spec_width}"
            )));
        }
        let (bn_scale, bn_shift) = batch_norm(vb.pp("batch_norm"), mels)?;
        let stretch = (frames < spec_width)
            .then(|| bicubic_matrix(frames, spec_width, device))
            .transpose()?;

        let (patch, stride) = (cfg.patch_size, cfg.patch_stride());
        let c0 = cfg.patch_embeds_hidden_size;
        let pe = vb.pp("patch_embed");
        let patch_weight = pe.get(
            (c0, cfg.patch_embed_input_channels, patch, patch),
            "proj.weight",
        )?;
        let patch_bias = pe.get(c0, "proj.bias")?.reshape((1, c0, 1, 1))?;
        let patch_norm = if cfg.enable_patch_layer_norm {
            Some(layer_norm(c0, 1e-5, pe.pp("norm"))?)
        } else {
            None
        };
        let grid = cfg.spec_size / stride;

        let stages_n = cfg.depths.len();
        let mut stages = Vec::with_capacity(stages_n);
        for (i, (&depth, &heads)) in cfg.depths.iter().zip(&cfg.num_attention_heads).enumerate() {
            let dim = cfg.stage_dim(i);
            let side = grid >> i;
            let svb = vb.pp("layers").pp(i);
            let blocks = (0..depth)
                .map(|j| {
                    Block::load(
                        svb.pp("blocks").pp(j),
                        cfg,
                        dim,
                        heads,
                        (side, side),
                        j % 2 == 1,
                        act,
                        device,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            let merge = if i + 1 < stages_n {
                // transformers gives stage i + 1 the grid `grid // 2^(i+1)`, and merging makes
                // `ceil(side / 2)`: they must agree.
                if side.div_ceil(2) != grid >> (i + 1) {
                    return Err(ClapError::Config(format!(
                        "audio stage {i}: a {side}x{side} grid does not halve evenly"
                    )));
                }
                let dvb = svb.pp("downsample");
                Some(PatchMerging {
                    norm: layer_norm(4 * dim, 1e-5, dvb.pp("norm"))?,
                    reduction: linear_no_bias(4 * dim, 2 * dim, dvb.pp("reduction"))?,
                })
            } else {
                None
            };
            stages.push(Stage {
                blocks,
                merge,
                height: side,
                width: side,
            });
        }
        Ok(Self {
            bn_scale,
            bn_shift,
            stretch,
            frames,
            mels,
            spec_width,
            freq_ratio,
            patch_weight,
            patch_bias,
            patch_stride: stride,
            patch_padding: (patch - stride) / 2,
            patch_norm,
            grid,
            stages,
            norm: layer_norm(cfg.num_features(), 1e-5, vb.pp("norm"))?,
        })
    }

    /// Frames of the features this encoder takes.
    pub(crate) fn frames(&self) -> usize {
        self.frames
    }

    /// The pooled output `(batch, hidden)` for log-mel features `(batch, frames, mels)`.
    pub(crate) fn pooled(&self, features: &Tensor) -> candle_core::Result<Tensor> {
        let (b, frames, mels) = features.dims3()?;
        if frames != self.frames || mels != self.mels {
            candle_core::bail!(
                "features are {frames}x{mels}, the encoder takes {}x{}",
                self.frames,
                self.mels
            );
        }
        let x = features
            .broadcast_mul(&self.bn_scale)?
            .broadcast_add(&self.bn_shift)?;
        let x = match &self.stretch {
            Some(m) => m.broadcast_matmul(&x)?,
            None => x,
        };
        // reshape_mel2img: (b, T, F) -> (b, 1, ratio * F, T / ratio), row `k * F + f` holding
        // time slice k.
        let r = self.freq_ratio;
        let img = x
            .reshape((b, r, self.spec_width / r, mels))?
            .transpose(2, 3)?
            .contiguous()?
            .reshape((b, 1, r * mels, self.spec_width / r))?;
        let patches = img
            .conv2d(
                &self.patch_weight,
                self.patch_padding,
                self.patch_stride,
                1,
                1,
            )?
            .broadcast_add(&self.patch_bias)?;
        let (_, c, gh, gw) = patches.dims4()?;
        if gh != self.grid || gw != self.grid {
            candle_core::bail!(
                "patch grid is {gh}x{gw}, the stages expect {0}x{0}",
                self.grid
            );
        }
        let mut x = patches
            .flatten_from(2)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, gh * gw, c))?;
        if let Some(norm) = &self.patch_norm {
            x = norm.forward(&x)?;
        }
        for stage in &self.stages {
            for block in &stage.blocks {
                x = block.forward(&x)?;
            }
            if let Some(merge) = &stage.merge {
                x = merge.forward(&x, stage.height, stage.width)?;
            }
        }
        // The final reshapes of transformers only reorder tokens before an average over all of
        // them.
        self.norm.forward(&x)?.mean(1)
    }
}

/// `BatchNorm2d` in evaluation, folded the way PyTorch's CPU kernel folds it (in f32):
/// `scale = weight / sqrt(var + eps)`, `shift = bias - mean * scale`.
fn batch_norm(vb: VarBuilder, n: usize) -> candle_core::Result<(Tensor, Tensor)> {
    let get = |name: &str| vb.get(n, name).and_then(|t| t.to_vec1::<f32>());
    let (weight, bias) = (get("weight")?, get("bias")?);
    let (mean, var) = (get("running_mean")?, get("running_var")?);
    let eps = 1e-5f32;
    let scale: Vec<f32> = weight
        .iter()
        .zip(&var)
        .map(|(w, v)| (1.0 / (v + eps).sqrt()) * w)
        .collect();
    let shift: Vec<f32> = bias
        .iter()
        .zip(&mean)
        .zip(&scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    let device = vb.device();
    Ok((
        Tensor::from_vec(scale, n, device)?,
        Tensor::from_vec(shift, n, device)?,
    ))
}

/// The `(output, input)` matrix of PyTorch's 1-D bicubic interpolation (`A = -0.75`,
/// `align_corners=True`, indices clamped at the edges), computed in f32 as its CPU kernel does.
fn bicubic_matrix(input: usize, output: usize, device: &Device) -> candle_core::Result<Tensor> {
    const A: f32 = -0.75;
    let near = |x: f32| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f32| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    let scale = if output > 1 {
        (input - 1) as f32 / (output - 1) as f32
    } else {
        0.0
    };
    let mut m = vec![0f32; output * input];
    for o in 0..output {
        let real = scale * o as f32;
        let index = (real.floor() as usize).min(input - 1);
        let t = (real - index as f32).clamp(0.0, 1.0);
        let weights = [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)];
        for (j, w) in weights.into_iter().enumerate() {
            let src = (index + j).saturating_sub(1).min(input - 1);
            m[o * input + src] += w;
        }
    }
    Tensor::from_vec(m, (output, input), device)?.to_dtype(DType::F32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bicubic_rows_sum_to_one_and_hit_the_ends() {
        let m = bicubic_matrix(5, 13, &Device::Cpu)
            .and_then(|t| t.to_vec2::<f32>())
            .expect("matrix");
        for row in &m {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6, "{row:?}");
        }
        // align_corners: the first and last outputs are the first and last inputs.
        assert_eq!(m[0], [1.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(m[12], [0.0, 0.0, 0.0, 0.0, 1.0]);
        // Output 3 sits exactly on input 1.
        assert_eq!(m[3], [0.0, 1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn shift_mask_separates_wrapped_regions() {
        let mask = shift_mask((4, 4), 2, 1, &Device::Cpu)
            .and_then(|t| t.to_vec3::<f32>())
            .expect("mask");
        assert_eq!(mask.len(), 4);
        // The top-left window holds one region only.
        assert!(mask[0].iter().flatten().all(|&v| v == 0.0));
        // The bottom-right window holds four: only the diagonal blocks attend.
        let last = &mask[3];
        for (i, row) in last.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                assert_eq!(v == 0.0, i == j, "{i} {j}");
            }
        }
    }
}
