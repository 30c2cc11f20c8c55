//! `audiosubnet query`: ask one miner for speech by hand, over the transport named, and print
//! what came back (status, transport, rate, duration, model, latency, bytes on the wire).

use crate::args::WalletArgs;
use anyhow::{Context as _, Result, bail};
use audiosubnet_dendrite::{AxonTarget, Dendrite, TransportMode};
use std::path::PathBuf;
use std::time::Duration;

/// Ask one miner to speak a text, as the validator would, and save the audio.
#[derive(Debug, clap::Args)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    /// The miner, `HOTKEY@IP:PORT` (the hotkey the request is signed for).
    #[arg(long = "axons", value_name = "HOTKEY@IP:PORT")]
    axon: AxonTarget,
    /// `btauth` (SDK 11 `POST /tts`), `synapse` (SDK ≤ 10), or `auto` (btauth, falling back to
    /// Synapse when the miner has no `/tts`).
    #[arg(long, default_value = "auto")]
    transport: TransportMode,
    /// What the miner should say.
    #[arg(long)]
    text: String,
    /// Write the audio here as a 16-bit WAV.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seconds the miner has to answer.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
}

/// Runs `audiosubnet query …`; fails unless the miner answered 200 with audio.
pub(crate) fn run(args: QueryArgs) -> Result<()> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!("--timeout must be a positive number of seconds");
    }
    let hotkey = args
        .wallet
        .wallet()
        .load_hotkey(args.wallet.password())
        .with_context(|| format!("loading hotkey of wallet {:?}", args.wallet.name()))?;
    let spoken = crate::runtime()?.block_on(async {
        let dendrite = Dendrite::new(hotkey);
        dendrite
            .speak(
                &args.axon,
                &args.text,
                Duration::from_secs_f64(args.timeout),
                args.transport,
            )
            .await
    });
    let reply = &spoken.response;
    println!("axon        {}", args.axon);
    println!("transport   {}", spoken.transport);
    println!("status      {} {}", reply.status_code, reply.status_message);
    println!("latency     {:.3} s", reply.elapsed.as_secs_f64());
    println!("bytes       {}", reply.body_bytes);
    let Some(tts) = reply.synapse.as_ref().filter(|_| reply.is_success()) else {
        bail!(
            "the miner did not answer with audio (status {})",
            reply.status_code
        );
    };
    let rate = tts.effective_sample_rate();
    let samples = tts.speech_output.as_deref().unwrap_or_default();
    println!("model       {}", tts.model_name.as_deref().unwrap_or("-"));
    println!("sample rate {rate} Hz");
    println!(
        "duration    {:.3} s ({} samples)",
        samples.len() as f64 / f64::from(rate.max(1)),
        samples.len()
    );
    if samples.is_empty() {
        bail!("the reply carries no samples");
    }
    if let Some(out) = &args.out {
        audiosubnet_audio::write_wav16(out, samples, rate)
            .with_context(|| format!("writing {}", out.display()))?;
        println!("wrote       {}", out.display());
    }
    Ok(())
}
