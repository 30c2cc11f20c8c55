//! `audiosubnet metagraph` and `audiosubnet register`.

use anyhow::{Context, Result, bail};
use audiosubnet_chain::{Hyperparameters, Metagraph, Neuron};
use audiosubnet_wallet::{AccountId, Keypair};
use serde_json::json;

use crate::args::{SubtensorArgs, WalletArgs};
use crate::runtime;

/// `audiosubnet metagraph --netuid N`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct MetagraphArgs {
    /// The subnet.
    #[arg(long)]
    pub(crate) netuid: u16,
    #[command(flatten)]
    pub(crate) subtensor: SubtensorArgs,
    /// Also print a leaderboard joining these validator scores (`validator --scores.out`) with
    /// the chain's incentive.
    #[arg(long)]
    pub(crate) scores: Option<std::path::PathBuf>,
    /// Print one JSON object instead of tables, for scripts (its shape is in
    /// docs/development.md, "JSON output").
    #[arg(long)]
    pub(crate) json: bool,
}

/// Prints the subnet's neurons as a table.
pub(crate) fn run_metagraph(args: MetagraphArgs) -> Result<()> {
    runtime()?.block_on(metagraph(&args))
}

async fn metagraph(args: &MetagraphArgs) -> Result<()> {
    let st = args.subtensor.connect().await?;
    if !st.subnet_exists(args.netuid).await? {
        bail!("subnet {} does not exist on {}", args.netuid, st.endpoint());
    }
    let mg = st.metagraph(args.netuid).await?;
    let hp = st.hyperparameters(args.netuid).await?;
    let scores = match &args.scores {
        Some(path) => {
            let data =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let scores: Vec<MinerScoreLine> = serde_json::from_slice(&data)
                .with_context(|| format!("{} is not a validator scores file", path.display()))?;
            Some(scores)
        }
        None => None,
    };
    if args.json {
        let doc = metagraph_json(&mg, &hp, scores.as_deref());
        println!("{doc:#}");
        return Ok(());
    }
    println!(
        "subnet {} at block {}: {} neurons, tempo {}, weights rate limit {}, min weights {}, commit-reveal {}",
        mg.netuid,
        mg.block,
        mg.neurons.len(),
        hp.tempo,
        hp.weights_rate_limit,
        hp.min_allowed_weights,
        if hp.commit_reveal_enabled {
            "on"
        } else {
            "off"
        }
    );
    print!("{}", format_metagraph(&mg));
    if let Some(scores) = &scores {
        print!("\n{}", format_leaderboard(&mg, scores));
    }
    Ok(())
}

/// One miner of the validator's `--scores.out` file (the fields the leaderboard shows).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct MinerScoreLine {
    hotkey: String,
    ema: f64,
    mean_wer: Option<f64>,
    #[serde(alias = "mean_dnsmos")]
    mean_mos: Option<f64>,
    model_name: Option<String>,
    responses: u64,
    failures: u64,
    /// Per task (absent in files from before tasks existed).
    #[serde(default)]
    tasks: std::collections::BTreeMap<String, TaskScoreLine>,
}

/// One task's score in `--scores.out`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TaskScoreLine {
    ema: f64,
}

impl MinerScoreLine {
    fn task_ema(&self, task: &str) -> Option<f64> {
        self.tasks.get(task).map(|t| t.ema)
    }
}

/// The validator's scores by EMA (highest first), each with its neuron on chain when the hotkey
/// is registered.
fn leaderboard_rows<'a>(
    mg: &'a Metagraph,
    scores: &'a [MinerScoreLine],
) -> Vec<(&'a MinerScoreLine, Option<&'a Neuron>)> {
    let mut rows: Vec<&MinerScoreLine> = scores.iter().collect();
    rows.sort_by(|a, b| b.ema.total_cmp(&a.ema));
    rows.into_iter()
        .map(|r| {
            let neuron = r
                .hotkey
                .parse::<AccountId>()
                .ok()
                .and_then(|a| mg.neurons.iter().find(|n| n.hotkey == a.0));
            (r, neuron)
        })
        .collect()
}

/// Miners by EMA, with what the chain made of the validator's weights.
pub(crate) fn format_leaderboard(mg: &Metagraph, scores: &[MinerScoreLine]) -> String {
    let mut out = format!(
        "{:>4} {:<16} {:<10} {:>7} {:>7} {:>7} {:>9} {:>11} {:>9} {:>10}\n",
        "UID",
        "HOTKEY",
        "ENGINE",
        "EMA",
        "SPEECH",
        "MUSIC",
        "MEAN WER",
        "MEAN MOS",
        "FAILURES",
        "INCENTIVE"
    );
    let fmt = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |v| format!("{v:.d$}"));
    for (r, neuron) in leaderboard_rows(mg, scores) {
        let engine: String = r
            .model_name
            .as_deref()
            .unwrap_or("-")
            .chars()
            .take(10)
            .collect();
        out.push_str(&format!(
            "{:>4} {:<16} {:<10} {:>7.4} {:>7} {:>7} {:>9} {:>11} {:>9} {:>10}\n",
            neuron.map_or("-".into(), |n| n.uid.to_string()),
            r.hotkey.chars().take(16).collect::<String>(),
            engine,
            r.ema,
            fmt(r.task_ema("speech"), 4),
            fmt(r.task_ema("music"), 4),
            fmt(r.mean_wer, 3),
            fmt(r.mean_mos, 2),
            format!("{}/{}", r.failures, r.responses),
            fmt(neuron.map(|n| n.incentive), 5),
        ));
    }
    out
}

/// `metagraph --json`: the subnet, its hyperparameters, every neuron and, with `--scores`, the
/// leaderboard. Scripts read this shape (docs/development.md, "JSON output"): add keys, never
/// rename or drop one.
pub(crate) fn metagraph_json(
    mg: &Metagraph,
    hp: &Hyperparameters,
    scores: Option<&[MinerScoreLine]>,
) -> serde_json::Value {
    let neurons: Vec<serde_json::Value> = mg
        .neurons
        .iter()
        .map(|n| {
            json!({
                "uid": n.uid,
                "hotkey": AccountId(n.hotkey).to_ss58(),
                "coldkey": AccountId(n.coldkey).to_ss58(),
                "active": n.active,
                "stake_rao": n.stake_rao,
                "validator_permit": n.validator_permit,
                "rank": n.rank,
                "trust": n.trust,
                "validator_trust": n.validator_trust,
                "consensus": n.consensus,
                "incentive": n.incentive,
                "dividends": n.dividends,
                "emission_rao": n.emission_rao,
                "last_update": n.last_update,
                "axon": n.axon.ip_addr().map(|ip| json!({
                    "ip": ip.to_string(),
                    "port": n.axon.port,
                    "version": n.axon.version,
                    "block": n.axon.block,
                })),
            })
        })
        .collect();
    let leaderboard = scores.map(|scores| {
        leaderboard_rows(mg, scores)
            .into_iter()
            .map(|(r, neuron)| {
                json!({
                    "uid": neuron.map(|n| n.uid),
                    "hotkey": r.hotkey,
                    "engine": r.model_name,
                    "ema": r.ema,
                    "speech_ema": r.task_ema("speech"),
                    "music_ema": r.task_ema("music"),
                    "mean_wer": r.mean_wer,
                    "mean_mos": r.mean_mos,
                    "responses": r.responses,
                    "failures": r.failures,
                    "incentive": neuron.map(|n| n.incentive),
                })
            })
            .collect::<Vec<_>>()
    });
    json!({
        "netuid": mg.netuid,
        "block": mg.block,
        "hyperparameters": {
            "tempo": hp.tempo,
            "weights_rate_limit": hp.weights_rate_limit,
            "min_allowed_weights": hp.min_allowed_weights,
            "max_weight_limit": hp.max_weight_limit,
            "weights_version_key": hp.weights_version_key,
            "commit_reveal_enabled": hp.commit_reveal_enabled,
        },
        "neurons": neurons,
        "leaderboard": leaderboard,
    })
}

/// The metagraph as a fixed-width table.
pub(crate) fn format_metagraph(mg: &Metagraph) -> String {
    let mut out = format!(
        "{:>4} {:<48} {:<48} {:>14} {:>2} {:>8} {:>8} {:>8} {:>8} {:>12} {:>8} {:<22}\n",
        "UID",
        "HOTKEY",
        "COLDKEY",
        "STAKE(α)",
        "VP",
        "TRUST",
        "CONSENS",
        "INCENT",
        "DIVIDS",
        "EMISSION(ρ)",
        "UPDATED",
        "AXON"
    );
    for n in &mg.neurons {
        let axon = match n.axon.ip_addr() {
            Some(ip) => format!("{ip}:{}", n.axon.port),
            None => "-".into(),
        };
        out.push_str(&format!(
            "{:>4} {:<48} {:<48} {:>14.4} {:>2} {:>8.5} {:>8.5} {:>8.5} {:>8.5} {:>12} {:>8} {:<22}\n",
            n.uid,
            AccountId(n.hotkey).to_ss58(),
            AccountId(n.coldkey).to_ss58(),
            n.stake_rao as f64 / 1e9,
            if n.validator_permit { "*" } else { "" },
            n.trust,
            n.consensus,
            n.incentive,
            n.dividends,
            n.emission_rao,
            n.last_update,
            axon,
        ));
    }
    out
}

/// `audiosubnet register --netuid N`: `burned_register` of the wallet's hotkey, paid by its coldkey.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RegisterArgs {
    /// The subnet.
    #[arg(long)]
    pub(crate) netuid: u16,
    #[command(flatten)]
    pub(crate) subtensor: SubtensorArgs,
    #[command(flatten)]
    pub(crate) wallet: WalletArgs,
}

/// Registers the wallet's hotkey unless it already has a uid; prints the uid.
pub(crate) fn run_register(args: RegisterArgs) -> Result<()> {
    let wallet = args.wallet.wallet();
    let hotkey = wallet
        .hotkey_account()
        .with_context(|| format!("reading the hotkey of wallet {}", args.wallet.name()))?;
    let coldkey = wallet
        .load_coldkey(args.wallet.password())
        .with_context(|| format!("unlocking the coldkey of wallet {}", args.wallet.name()))?;
    runtime()?.block_on(register(&args, &coldkey, hotkey))
}

async fn register(args: &RegisterArgs, coldkey: &Keypair, hotkey: AccountId) -> Result<()> {
    let st = args.subtensor.connect().await?;
    if !st.subnet_exists(args.netuid).await? {
        bail!("subnet {} does not exist on {}", args.netuid, st.endpoint());
    }
    if let Some(uid) = st.uid_of(args.netuid, hotkey.0).await? {
        println!(
            "hotkey {} is already registered on subnet {} as uid {uid}",
            hotkey.to_ss58(),
            args.netuid
        );
        return Ok(());
    }
    let balance = st.balance(coldkey.account_id().0).await?;
    println!(
        "registering hotkey {} on subnet {} (coldkey {}, balance {:.4} τ)",
        hotkey.to_ss58(),
        args.netuid,
        coldkey.account_id().to_ss58(),
        balance as f64 / 1e9
    );
    st.burned_register(coldkey, args.netuid, hotkey.0)
        .await
        .context("burned_register")?;
    let uid = st
        .uid_of(args.netuid, hotkey.0)
        .await?
        .context("burned_register was included but the hotkey has no uid")?;
    println!("registered: uid {uid}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use audiosubnet_chain::AxonInfo;
    use audiosubnet_validator::service::MinerSummary;

    fn neuron(uid: u16, key: u8, axon: Option<([u8; 4], u16)>) -> Neuron {
        let mut info = AxonInfo {
            block: 0,
            version: 0,
            ip: 0,
            port: 0,
            ip_type: 0,
            protocol: 0,
            placeholder1: 0,
            placeholder2: 0,
        };
        if let Some((ip, port)) = axon {
            info = AxonInfo {
                block: 40,
                version: 7,
                ip: u128::from(u32::from_be_bytes(ip)),
                port,
                ip_type: 4,
                protocol: 4,
                ..info
            };
        }
        Neuron {
            uid,
            hotkey: [key; 32],
            coldkey: [key + 100; 32],
            active: true,
            stake_rao: 1_000_000_000 * u64::from(key),
            validator_permit: uid == 0,
            axon: info,
            last_update: 50,
            rank: 0.25,
            incentive: 0.5,
            dividends: 0.125,
            emission_rao: 42,
            trust: 0.75,
            validator_trust: 0.0,
            consensus: 0.5,
        }
    }

    fn metagraph() -> (Metagraph, Hyperparameters) {
        let mg = Metagraph {
            netuid: 2,
            block: 77,
            neurons: vec![
                neuron(0, 1, None),
                neuron(1, 2, Some(([127, 0, 0, 2], 8101))),
            ],
        };
        let hp = Hyperparameters {
            tempo: 10,
            weights_rate_limit: 0,
            min_allowed_weights: 1,
            max_weight_limit: 65535,
            weights_version_key: 0,
            commit_reveal_enabled: false,
        };
        (mg, hp)
    }

    /// Scores as `validator --scores.out` writes them: the validator's own type, serialized.
    fn scores_file(lines: &[(&str, f64, Option<&str>)]) -> Vec<MinerScoreLine> {
        let tasks = std::collections::BTreeMap::new();
        let summary: Vec<MinerSummary<'_>> = lines
            .iter()
            .map(|&(hotkey, ema, model_name)| MinerSummary {
                hotkey,
                uid: None,
                ema,
                last_reward: Some(ema),
                last_breakdown: None,
                responses: 4,
                failures: 1,
                mean_reward: Some(ema),
                mean_wer: Some(0.125),
                mean_mos: Some(3.5),
                model_name,
                transport: None,
                tasks: &tasks,
            })
            .collect();
        let text = serde_json::to_vec(&summary).expect("serializes");
        serde_json::from_slice(&text).expect("the leaderboard reads the validator's scores file")
    }

    #[test]
    fn metagraph_json_has_the_documented_shape() {
        let (mg, hp) = metagraph();
        let doc = metagraph_json(&mg, &hp, None);
        let hotkey = |k: u8| AccountId([k; 32]).to_ss58();
        let coldkey = |k: u8| AccountId([k + 100; 32]).to_ss58();
        assert_eq!(
            doc,
            json!({
                "netuid": 2,
                "block": 77,
                "hyperparameters": {
                    "tempo": 10,
                    "weights_rate_limit": 0,
                    "min_allowed_weights": 1,
                    "max_weight_limit": 65535,
                    "weights_version_key": 0,
                    "commit_reveal_enabled": false,
                },
                "neurons": [
                    {
                        "uid": 0, "hotkey": hotkey(1), "coldkey": coldkey(1), "active": true,
                        "stake_rao": 1_000_000_000u64, "validator_permit": true, "rank": 0.25,
                        "trust": 0.75, "validator_trust": 0.0, "consensus": 0.5,
                        "incentive": 0.5, "dividends": 0.125, "emission_rao": 42,
                        "last_update": 50, "axon": null,
                    },
                    {
                        "uid": 1, "hotkey": hotkey(2), "coldkey": coldkey(2), "active": true,
                        "stake_rao": 2_000_000_000u64, "validator_permit": false, "rank": 0.25,
                        "trust": 0.75, "validator_trust": 0.0, "consensus": 0.5,
                        "incentive": 0.5, "dividends": 0.125, "emission_rao": 42,
                        "last_update": 50,
                        "axon": {"ip": "127.0.0.2", "port": 8101, "version": 7, "block": 40},
                    },
                ],
                "leaderboard": null,
            })
        );
    }

    #[test]
    fn metagraph_json_leaderboard_joins_scores_with_the_chain_by_ema() {
        let (mg, hp) = metagraph();
        let registered = AccountId([2; 32]).to_ss58();
        let gone = AccountId([9; 32]).to_ss58();
        let scores = scores_file(&[(&gone, 0.2, None), (&registered, 0.8, Some("espeak"))]);
        let doc = metagraph_json(&mg, &hp, Some(&scores));
        assert_eq!(
            doc["leaderboard"],
            json!([
                {
                    "uid": 1, "hotkey": registered, "engine": "espeak", "ema": 0.8,
                    "speech_ema": null, "music_ema": null,
                    "mean_wer": 0.125, "mean_mos": 3.5, "responses": 4, "failures": 1,
                    "incentive": 0.5,
                },
                {
                    "uid": null, "hotkey": gone, "engine": null, "ema": 0.2,
                    "speech_ema": null, "music_ema": null,
                    "mean_wer": 0.125, "mean_mos": 3.5, "responses": 4, "failures": 1,
                    "incentive": null,
                },
            ])
        );
        // The table shows the same rows in the same order.
        let table = format_leaderboard(&mg, &scores);
        let uids: Vec<&str> = table
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(uids, ["1", "-"]);
    }
}
