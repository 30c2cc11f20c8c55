//! The whole inference pass of `VitsModel.forward` for one sequence: text encoder, duration
//! prediction, length regulation (expanding the per-token prior over its frames), prior sampling,
//! inverse flow and HiFi-GAN, with every intermediate kept in [`Stages`]. Also owns the noise:
//! drawn from a seeded generator, or injected by the caller.

use audiosubnet_candle::{HifiGan, HifiGanSpec};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::VitsError;
use crate::config::VitsConfig;
use crate::duration::{DurationPredictor, StochasticDurationPredictor};
use crate::flow::Flow;
use crate::layers;
use crate::text_encoder::TextEncoder;

/// Longest output accepted, in latent frames (65536 frames: 17.5 minutes of MMS audio at 256
/// samples per frame). Durations from a broken checkpoint or an absurd speaking rate fail here
/// instead of exhausting memory in the decoder; long texts should be split into sentences anyway.
pub const MAX_FRAMES: usize = 1 << 16;

/// How much randomness to use, and how fast to speak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthesisOptions {
    /// Scale of the prior noise (0: the prior means themselves).
    pub noise_scale: f64,
    /// Scale of the stochastic duration predictor's noise (0: its deterministic output).
    pub noise_scale_duration: f64,
    /// Larger is faster: durations are divided by it before rounding up.
    pub speaking_rate: f64,
    /// Seed of the noise generator (when the noise is not injected).
    pub seed: u64,
}

impl SynthesisOptions {
    /// The checkpoint's own noise scales and speaking rate (what transformers uses), seed 0.
    pub fn from_config(config: &VitsConfig) -> Self {
        Self {
            noise_scale: config.noise_scale,
            noise_scale_duration: config.noise_scale_duration,
            speaking_rate: config.speaking_rate,
            seed: 0,
        }
    }

    /// No noise at all: the output depends on the text only.
    pub fn deterministic() -> Self {
        Self {
            noise_scale: 0.0,
            noise_scale_duration: 0.0,
            speaking_rate: 1.0,
            seed: 0,
        }
    }

    fn validate(&self) -> Result<(), VitsError> {
        if !(self.speaking_rate.is_finite() && self.speaking_rate > 0.0) {
            return Err(VitsError::InvalidInput(format!(
                "speaking_rate {}",
                self.speaking_rate
            )));
        }
        if !(self.noise_scale.is_finite() && self.noise_scale_duration.is_finite()) {
            return Err(VitsError::InvalidInput(
                "noise scales must be finite".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Standard-normal noise to use instead of the generator's, as transformers draws it (before
/// scaling): `duration` `(1, 2, tokens)` for the stochastic duration predictor, `prior`
/// `(1, flow_size, frames)` for the prior sample. Either may be left out.
#[derive(Debug, Clone, Default)]
pub struct Noise {
    /// `torch.randn(1, 2, tokens)` of the stochastic duration predictor.
    pub duration: Option<Tensor>,
    /// `torch.randn_like(prior_means)` after length regulation.
    pub prior: Option<Tensor>,
}

/// Every intermediate of one synthesis, in transformers' layouts.
#[derive(Debug, Clone)]
pub struct Stages {
    /// The token ids.
    pub input_ids: Vec<u32>,
    /// Last hidden state of the text encoder, `(1, tokens, hidden)`.
    pub hidden_states: Tensor,
    /// Prior means per token, `(1, tokens, flow)`.
    pub prior_means: Tensor,
    /// Prior log-variances per token, `(1, tokens, flow)`.
    pub prior_log_variances: Tensor,
    /// Predicted log-durations, `(1, 1, tokens)`.
    pub log_durations: Tensor,
    /// Frames per token: `ceil(exp(log_duration) / speaking_rate)`.
    pub durations: Vec<u32>,
    /// The prior sample over frames, input of the inverse flow, `(1, flow, frames)`.
    pub prior_latents: Tensor,
    /// Output of the inverse flow, the decoder's input spectrogram, `(1, flow, frames)`.
    pub latents: Tensor,
    /// The waveform, `(1, frames * hop_length)`, in [-1, 1].
    pub waveform: Tensor,
}

enum Durations {
    Stochastic(StochasticDurationPredictor),
    Plain(DurationPredictor),
}

/// The network, loaded.
pub(crate) struct Model {
    config: VitsConfig,
    text_encoder: TextEncoder,
    durations: Durations,
    flow: Flow,
    decoder: HifiGan,
    device: Device,
}

/// Standard-normal values from a seeded generator (Box-Muller).
struct NormalNoise(StdRng);

impl NormalNoise {
    fn sample(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                // 1 - u is in (0, 1], so the logarithm is finite.
                let u1: f64 = 1.0 - self.0.r#gen::<f64>();
                let u2: f64 = self.0.r#gen::<f64>();
                ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
            })
            .collect()
    }
}

impl Model {
    pub(crate) fn load(
        vb: VarBuilder,
        config: &VitsConfig,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let durations = if config.use_stochastic_duration_prediction {
            Durations::Stochastic(StochasticDurationPredictor::load(
                vb.pp("duration_predictor"),
                config,
            )?)
        } else {
            Durations::Plain(DurationPredictor::load(
                vb.pp("duration_predictor"),
                config,
            )?)
        };
        Ok(Self {
            config: config.clone(),
            text_encoder: TextEncoder::load(vb.pp("text_encoder"), config)?,
            durations,
            flow: Flow::load(vb.pp("flow"), config)?,
            decoder: HifiGan::load(
                vb.pp("decoder"),
                &HifiGanSpec {
                    in_channels: config.flow_size,
                    upsample_initial_channel: config.upsample_initial_channel,
                    upsample_rates: &config.upsample_rates,
                    upsample_kernel_sizes: &config.upsample_kernel_sizes,
                    resblock_kernel_sizes: &config.resblock_kernel_sizes,
                    resblock_dilation_sizes: &config.resblock_dilation_sizes,
                    leaky_relu_slope: config.leaky_relu_slope,
                    // VitsHifiGan's conv_post has no bias.
                    post_bias: false,
                },
            )?,
            device: device.clone(),
        })
    }

    /// Checks an injected noise tensor's shape and brings it to the model's device, or draws one.
    fn noise(
        &self,
        given: Option<&Tensor>,
        shape: (usize, usize, usize),
        name: &'static str,
        rng: &mut NormalNoise,
    ) -> Result<Tensor, VitsError> {
        match given {
            Some(t) => {
                if t.dims() != [shape.0, shape.1, shape.2] {
                    return Err(VitsError::NoiseShape {
                        name,
                        got: t.dims().to_vec(),
                        expected: vec![shape.0, shape.1, shape.2],
                    });
                }
                Ok(t.to_dtype(DType::F32)?.to_device(&self.device)?)
            }
            None => {
                let values = rng.sample(shape.0 * shape.1 * shape.2);
                Ok(Tensor::from_vec(values, shape, &self.device)?)
            }
        }
    }

    pub(crate) fn forward(
        &self,
        ids: &[u32],
        options: &SynthesisOptions,
        noise: Option<&Noise>,
    ) -> Result<Stages, VitsError> {
        options.validate()?;
        if ids.is_empty() {
            return Err(VitsError::EmptyInput);
        }
        if let Some(&bad) = ids
            .iter()
            .find(|&&id| id as usize >= self.config.vocab_size)
        {
            return Err(VitsError::InvalidInput(format!(
                "token id {bad} is outside the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        let len = ids.len();
        let mut rng = NormalNoise(StdRng::seed_from_u64(options.seed));
        let injected = noise.cloned().unwrap_or_default();

        let input = Tensor::from_vec(ids.to_vec(), (1, len), &self.device)?;
        let encoded = self.text_encoder.forward(&input)?;
        let hidden = encoded.hidden_states.transpose(1, 2)?.contiguous()?;

        let log_durations = match &self.durations {
            Durations::Stochastic(sdp) => {
                let n = self.noise(
                    injected.duration.as_ref(),
                    (1, 2, len),
                    "duration",
                    &mut rng,
                )?;
                let n = layers::mul_scalar(&n, options.noise_scale_duration)?;
                sdp.reverse(&hidden, &n)?
            }
            Durations::Plain(dp) => dp.forward(&hidden)?,
        };

        // Same f32 arithmetic as the reference: exp, times the length scale (a double rounded to
        // f32 by PyTorch), ceiling.
        let length_scale = (1.0 / options.speaking_rate) as f32;
        let mut durations = Vec::with_capacity(len);
        for ld in log_durations.flatten_all()?.to_vec1::<f32>()? {
            let d = (ld.exp() * length_scale).ceil();
            if !(d.is_finite() && d >= 0.0 && d <= MAX_FRAMES as f32) {
                return Err(VitsError::Numerical(format!("predicted duration {d}")));
            }
            durations.push(d as u32);
        }
        let total: usize = durations.iter().map(|&d| d as usize).sum();
        if total > MAX_FRAMES {
            return Err(VitsError::Numerical(format!(
                "{total} frames is over the {MAX_FRAMES} limit"
            )));
        }
        let frames = total.max(1);

        // Length regulation: frame t takes the prior of the token whose cumulative duration
        // covers it. Index `len` is an extra zero row, for the one frame of an all-zero output
        // (the reference's alignment matrix is all zeros there).
        let mut index: Vec<u32> = Vec::with_capacity(frames);
        for (token, &d) in durations.iter().enumerate() {
            index.extend(std::iter::repeat_n(token as u32, d as usize));
        }
        index.resize(frames, len as u32);
        let index = Tensor::from_vec(index, frames, &self.device)?;
        let flow_size = self.config.flow_size;
        let expand = |per_token: &Tensor| -> candle_core::Result<Tensor> {
            let zero = Tensor::zeros((1, 1, flow_size), DType::F32, &self.device)?;
            let padded = Tensor::cat(&[per_token, &zero], 1)?;
            padded
                .index_select(&index, 1)?
                .transpose(1, 2)?
                .contiguous()
        };
        let means = expand(&encoded.prior_means)?;
        let log_variances = expand(&encoded.prior_log_variances)?;

        let n = self.noise(
            injected.prior.as_ref(),
            (1, flow_size, frames),
            "prior",
            &mut rng,
        )?;
        let spread = layers::mul_scalar(&(n * log_variances.exp()?)?, options.noise_scale)?;
        let prior_latents = (&means + spread)?;

        let latents = self.flow.reverse(&prior_latents)?;
        // (1, 1, samples) -> (1, samples).
        let waveform = self.decoder.forward(&latents)?.squeeze(1)?;
        Ok(Stages {
            input_ids: ids.to_vec(),
            hidden_states: encoded.hidden_states,
            prior_means: encoded.prior_means,
            prior_log_variances: encoded.prior_log_variances,
            log_durations,
            durations,
            prior_latents,
            latents,
            waveform,
        })
    }
}
