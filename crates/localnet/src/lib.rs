//! A local subtensor chain for development and tests.
//!
//! Owns the chopsticks install (pinned by `shared/chain/package-lock.json`, installed into
//! `$AUDIOSUBNET_CACHE/chopsticks`), the chopsticks process that runs the real subtensor runtime
//! (genesis spec 218 + runtime override spec 300, whose epoch runs Yuma consensus), a block ticker
//! (chopsticks only builds blocks on demand), a state file with PIDs and ports, and the bootstrap
//! of one subnet with a validator and N miners whose wallets live under the state directory.
//!
//! The chain files are read from the shared directory (`$AUDIOSUBNET_SHARED`, default
//! `<repo>/../shared`) and never copied into the repository.

mod admin;
mod process;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use audiosubnet_chain::{Call, ChainError, Subtensor, Value};
use audiosubnet_wallet::{Keypair, Wallet};
use futures::future::try_join_all;
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

pub use admin::{LocalAdmin, add_stake_call, sudo_call, transfer_call};
pub use process::{free_port, pid_alive};

/// One TAO in rao.
pub const TAO: u64 = 1_000_000_000;

/// Errors of the local chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalnetError {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// `npm ci` or another tool failed.
    #[error("{0}")]
    Tool(String),
    /// A required file is missing.
    #[error("missing {what} at {path}")]
    Missing {
        /// What is missing.
        what: String,
        /// Where it was expected.
        path: PathBuf,
    },
    /// The chain did not come up.
    #[error("the local chain did not become ready on port {port} within {secs} s (log: {log})")]
    NotReady {
        /// The port.
        port: u16,
        /// How long we waited.
        secs: u64,
        /// The chopsticks log file.
        log: PathBuf,
    },
    /// A chain call failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A wallet operation failed.
    #[error("wallet: {0}")]
    Wallet(#[from] audiosubnet_wallet::WalletError),
    /// The state file is unreadable.
    #[error("state file {path}: {reason}")]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalnetError {
    let what = what.into();
    move |source| LocalnetError::Io { what, source }
}

/// Where things are and how the chain runs.
#[derive(Debug, Clone)]
pub struct LocalnetConfig {
    /// Cache root (`$AUDIOSUBNET_CACHE`, default `<repo>/.cache`); chopsticks is installed here.
    pub cache_dir: PathBuf,
    /// Shared chain files (`$AUDIOSUBNET_SHARED`, default `<repo>/../shared`).
    pub shared_dir: PathBuf,
    /// Directory of this chain's state file, logs and wallets (default `<cache>/localnet`).
    pub state_dir: PathBuf,
    /// RPC port on 127.0.0.1.
    pub port: u16,
    /// Genesis override (default `shared/chain/subtensor-spec218.json`).
    pub genesis: Option<PathBuf>,
    /// Seconds between ticker blocks; zero disables the ticker.
    pub block_interval: Duration,
    /// Number of miners to register.
    pub miners: u16,
    /// Subnet tempo (blocks per epoch).
    pub tempo: u16,
    /// Stake the validator gets, in rao.
    pub validator_stake: u64,
}

fn repo_root() -> PathBuf {
    // crates/localnet -> repo root.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::canonicalize(&root).unwrap_or(root)
}

impl Default for LocalnetConfig {
    fn default() -> Self {
        let cache_dir = std::env::var_os("AUDIOSUBNET_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".cache"));
        let shared_dir = std::env::var_os("AUDIOSUBNET_SHARED")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("../shared"));
        LocalnetConfig {
            state_dir: cache_dir.join("localnet"),
            cache_dir,
            shared_dir,
            port: 9944,
            genesis: None,
            block_interval: Duration::from_secs(2),
            miners: 3,
            tempo: 10,
            validator_stake: 1_000 * TAO,
        }
    }
}

impl LocalnetConfig {
    /// The websocket endpoint.
    pub fn endpoint(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Where the wallets are (`--wallet.path`).
    pub fn wallets_dir(&self) -> PathBuf {
        self.state_dir.join("wallets")
    }

    fn state_file(&self) -> PathBuf {
        self.state_dir.join("state.json")
    }

    fn chain_dir(&self) -> PathBuf {
        self.shared_dir.join("chain")
    }
}

/// What `up` leaves behind (the state file's content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalnetState {
    /// chopsticks' PID.
    pub chopsticks_pid: u32,
    /// The ticker's PID, if running.
    pub ticker_pid: Option<u32>,
    /// RPC port.
    pub port: u16,
    /// `ws://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The bootstrapped subnet, once created.
    pub netuid: Option<u16>,
    /// `--wallet.path` for the wallets below.
    pub wallets_dir: PathBuf,
    /// Validator wallet name (hotkey `default`).
    pub validator_wallet: String,
    /// Miner wallet names (hotkey `default`).
    pub miner_wallets: Vec<String>,
    /// chopsticks' log.
    pub log_file: PathBuf,
}

impl LocalnetState {
    /// Reads the state file, if present.
    pub fn load(cfg: &LocalnetConfig) -> Result<Option<Self>, LocalnetError> {
        let path = cfg.state_file();
        match std::fs::read_to_string(&path) {
            Ok(s) => serde_json::from_str(&s)
                .map(Some)
                .map_err(|e| LocalnetError::State {
                    path,
                    reason: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(format!("reading {}", path.display()))(e)),
        }
    }

    fn save(&self, cfg: &LocalnetConfig) -> Result<(), LocalnetError> {
        let path = cfg.state_file();
        let text = serde_json::to_string_pretty(self).map_err(|e| LocalnetError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(io(format!("writing {}", path.display())))
    }

    /// Whether chopsticks is still running.
    pub fn is_running(&self) -> bool {
        pid_alive(self.chopsticks_pid, "chopsticks")
    }
}

/// Installs the pinned chopsticks into `<cache>/chopsticks` unless the same lockfile is already
/// installed. Returns the path of the `chopsticks` executable.
pub fn ensure_chopsticks(cfg: &LocalnetConfig) -> Result<PathBuf, LocalnetError> {
    let src = cfg.chain_dir();
    let dir = cfg.cache_dir.join("chopsticks");
    let bin = dir.join("node_modules/.bin/chopsticks");
    let src_lock = src.join("package-lock.json");
    let lock = std::fs::read(&src_lock).map_err(|_| LocalnetError::Missing {
        what: "chopsticks lockfile (set AUDIOSUBNET_SHARED)".into(),
        path: src_lock.clone(),
    })?;
    let installed_stamp = dir.join(".installed-lock");
    let is_installed =
        || bin.exists() && std::fs::read(&installed_stamp).ok().as_deref() == Some(&lock[..]);
    if is_installed() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    // Two processes (parallel tests) must not run `npm ci` in the same directory at once.
    let _guard = InstallLock::acquire(&dir.join(".install.lock"))?;
    if is_installed() {
        return Ok(bin);
    }
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(src.join(f), dir.join(f)).map_err(io(format!("copying {f}")))?;
    }
    info!(dir = %dir.display(), "installing chopsticks (npm ci)");
    let out = std::process::Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .map_err(io("running npm (is Node.js 20 installed?)"))?;
    if !out.status.success() {
        return Err(LocalnetError::Tool(format!(
            "npm ci failed in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        )));
    }
    std::fs::write(&installed_stamp, &lock).map_err(io("writing install stamp"))?;
    Ok(bin)
}

/// An exclusive lock file, removed on drop.
struct InstallLock(PathBuf);

impl InstallLock {
    fn acquire(path: &Path) -> Result<Self, LocalnetError> {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => return Ok(InstallLock(path.to_path_buf())),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // A lock left by a killed installer goes stale after ten minutes.
                    let stale = std::fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > Duration::from_secs(600));
                    if stale || Instant::now() > deadline {
                        let _ = std::fs::remove_file(path);
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(io(format!("creating {}", path.display()))(e)),
            }
        }
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A running local chain.
#[derive(Debug)]
pub struct Localnet {
    cfg: LocalnetConfig,
    state: LocalnetState,
    children: process::Children,
}

impl Localnet {
    /// Starts chopsticks and the ticker, builds the first block and writes the state file.
    /// Does not bootstrap a subnet (see [`Localnet::bootstrap`]).
    pub async fn start(cfg: LocalnetConfig) -> Result<Localnet, LocalnetError> {
        let bin = {
            // npm runs for a minute on a cold cache: keep it off the async workers.
            let c = cfg.clone();
            tokio::task::spawn_blocking(move || ensure_chopsticks(&c))
                .await
                .map_err(|e| LocalnetError::Tool(format!("installer task failed: {e}")))??
        };
        std::fs::create_dir_all(&cfg.state_dir)
            .map_err(io(format!("creating {}", cfg.state_dir.display())))?;
        let chain = cfg.chain_dir();
        let genesis = cfg
            .genesis
            .clone()
            .unwrap_or_else(|| chain.join("subtensor-spec218.json"));
        let wasm = chain.join("subtensor-spec300-epochs.wasm");
        let config = chain.join("chopsticks-epochs.yml");
        for (what, p) in [
            ("genesis", &genesis),
            ("runtime wasm", &wasm),
            ("chopsticks config", &config),
        ] {
            if !p.exists() {
                return Err(LocalnetError::Missing {
                    what: what.into(),
                    path: p.clone(),
                });
            }
        }
        let abs =
            |p: &Path| std::fs::canonicalize(p).map_err(io(format!("resolving {}", p.display())));
        let log_file = cfg.state_dir.join(format!("chopsticks-{}.log", cfg.port));
        let mut children = process::Children::default();
        let started = Instant::now();
        let pid = children.spawn_chopsticks(
            &bin,
            &abs(&config)?,
            &abs(&genesis)?,
            &abs(&wasm)?,
            cfg.port,
            &log_file,
        )?;
        info!(pid, port = cfg.port, "chopsticks started");

        let client = wait_ready(&cfg, &mut children, &log_file).await?;
        // The runtime upgrade migrates on the first block; signed transactions fail before it.
        client.dev_new_blocks(1).await?;
        info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "local chain ready"
        );

        let ticker_pid = if cfg.block_interval.is_zero() {
            None
        } else {
            Some(children.spawn_ticker(&cfg.state_dir, cfg.port, cfg.block_interval)?)
        };
        let state = LocalnetState {
            chopsticks_pid: pid,
            ticker_pid,
            port: cfg.port,
            endpoint: cfg.endpoint(),
            netuid: None,
            wallets_dir: cfg.wallets_dir(),
            validator_wallet: "validator".into(),
            miner_wallets: (0..cfg.miners).map(|i| format!("miner{i}")).collect(),
            log_file,
        };
        state.save(&cfg)?;
        Ok(Localnet {
            cfg,
            state,
            children,
        })
    }

    /// The state (PIDs, port, netuid, wallets).
    pub fn state(&self) -> &LocalnetState {
        &self.state
    }

    /// The configuration.
    pub fn config(&self) -> &LocalnetConfig {
        &self.cfg
    }

    /// A client for this chain.
    pub async fn client(&self) -> Result<Subtensor, LocalnetError> {
        Ok(Subtensor::connect(&self.state.endpoint).await?)
    }

    /// Creates (or finds) the subnet and registers the validator and miners; see [`bootstrap`].
    pub async fn bootstrap(&mut self) -> Result<Bootstrapped, LocalnetError> {
        let client = self.client().await?;
        let b = bootstrap(&self.cfg, &client).await?;
        self.state.netuid = Some(b.netuid);
        self.state.save(&self.cfg)?;
        Ok(b)
    }

    /// Stops the ticker and chopsticks (by PID) and removes the state file.
    pub fn stop(mut self) -> Result<(), LocalnetError> {
        self.children.stop_all();
        stop_pids(&self.state);
        remove_state(&self.cfg)
    }

    /// Kills chopsticks only (SIGKILL), leaving the rest: used to test chain faults.
    pub fn kill_chain(&mut self) {
        self.children.kill_chopsticks();
        process::kill_pid(self.state.chopsticks_pid, "chopsticks", true);
    }
}

fn remove_state(cfg: &LocalnetConfig) -> Result<(), LocalnetError> {
    match std::fs::remove_file(cfg.state_file()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("removing state file")(e)),
    }
}

fn stop_pids(state: &LocalnetState) {
    if let Some(t) = state.ticker_pid {
        process::kill_pid(t, "ticker", false);
    }
    process::kill_pid(state.chopsticks_pid, "chopsticks", false);
}

async fn wait_ready(
    cfg: &LocalnetConfig,
    children: &mut process::Children,
    log: &Path,
) -> Result<Subtensor, LocalnetError> {
    const LIMIT: Duration = Duration::from_secs(90);
    let deadline = Instant::now() + LIMIT;
    let quick = audiosubnet_chain::RetryPolicy {
        attempts: 1,
        request_timeout: Duration::from_secs(20),
        ..Default::default()
    };
    loop {
        // Ask our own child (not /proc, whose cmdline is briefly empty around exec).
        if children.chopsticks_exited() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(8).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(LocalnetError::Tool(format!(
                "chopsticks exited during start-up (log {}): {}",
                log.display(),
                tail.join(" | ")
            )));
        }
        match Subtensor::connect_with(&cfg.endpoint(), quick).await {
            Ok(c) => {
                if c.system_chain().await.is_ok() {
                    return Ok(Subtensor::connect(&cfg.endpoint()).await?);
                }
            }
            Err(e) => debug!(error = %e, "waiting for chopsticks"),
        }
        if Instant::now() > deadline {
            return Err(LocalnetError::NotReady {
                port: cfg.port,
                secs: LIMIT.as_secs(),
                log: log.into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// What the bootstrap created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrapped {
    /// The subnet.
    pub netuid: u16,
    /// The validator's uid.
    pub validator_uid: u16,
    /// Miner uids, in wallet order.
    pub miner_uids: Vec<u16>,
}

/// Deterministic dev keys: the local chain's wallets are reproducible, so `up` is idempotent.
fn dev_key(wallet: &str, role: &str) -> Result<Keypair, LocalnetError> {
    Ok(Keypair::from_uri(&format!(
        "//audiosubnet//{wallet}//{role}"
    ))?)
}

/// Writes the wallet's unencrypted coldkey and `default` hotkey unless present; returns both.
fn ensure_wallet(dir: &Path, name: &str) -> Result<(Keypair, Keypair), LocalnetError> {
    let w = Wallet::new(name, "default", dir);
    let cold = dev_key(name, "coldkey")?;
    let hot = dev_key(name, "hotkey")?;
    if !w.coldkey_path().exists() {
        w.set_coldkey(&cold, None, true)?;
    }
    if !w.hotkey_path().exists() {
        w.set_hotkey(&hot, None, true)?;
    }
    Ok((cold, hot))
}

/// Creates the subnet (owner wallet `owner`), registers `validator` and `miner0..N`, stakes the
/// validator, sets tempo, turns commit-reveal and rate limits off, and starts the subnet's
/// emission. Every step checks the chain first, so running it twice changes nothing.
///
/// Alice's funding and settings go as `Utility::batch_all`, and every coldkey registers in the
/// same block: a fresh bootstrap takes four blocks rather than one per call.
pub async fn bootstrap(
    cfg: &LocalnetConfig,
    client: &Subtensor,
) -> Result<Bootstrapped, LocalnetError> {
    let started = Instant::now();
    let alice = Keypair::from_uri("//Alice")?;
    let dir = cfg.wallets_dir();
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let (owner_cold, owner_hot) = ensure_wallet(&dir, "owner")?;
    let (vali_cold, vali_hot) = ensure_wallet(&dir, "validator")?;
    let mut miners = Vec::new();
    for i in 0..cfg.miners {
        miners.push(ensure_wallet(&dir, &format!("miner{i}"))?);
    }

    // Block 1 (Alice): fund every coldkey that needs it and, for a new subnet, lift the global
    // rate limits.
    let mut coldkeys = vec![owner_cold.account_id().0, vali_cold.account_id().0];
    coldkeys.extend(miners.iter().map(|(c, _)| c.account_id().0));
    let balances = try_join_all(coldkeys.iter().map(|c| client.balance(*c))).await?;
    let mut calls: Vec<Call> = coldkeys
        .iter()
        .zip(balances)
        .filter(|(_, balance)| *balance < u128::from(5_000 * TAO))
        .map(|(c, _)| transfer_call(*c, u128::from(10_000 * TAO)))
        .collect();
    let existing = find_owned_subnet(client, owner_hot.account_id().0).await?;
    if existing.is_none() {
        calls.extend([
            sudo_call("sudo_set_network_rate_limit", vec![Value::u128(0)]),
            sudo_call("sudo_set_tx_rate_limit", vec![Value::u128(0)]),
            // No owner cut: otherwise the owner hotkey accrues stake every block, outweighs the
            // validator in Yuma consensus and the miners' incentive stays zero.
            sudo_call("sudo_set_subnet_owner_cut", vec![Value::u128(0)]),
        ]);
    }
    if !calls.is_empty() {
        client
            .batch_all("fund and configure", &alice, calls)
            .await?;
    }

    // Block 2 (owner): the subnet.
    let netuid = match existing {
        Some(n) => n,
        None => {
            let netuid = client
                .register_network(&owner_cold, owner_hot.account_id().0)
                .await?;
            info!(netuid, "subnet created");
            netuid
        }
    };

    // Block 3 (Alice): the subnet's settings.
    let n = Value::u128(netuid.into());
    let mut calls = Vec::new();
    if existing.is_none() {
        calls.extend([
            sudo_call(
                "sudo_set_serving_rate_limit",
                vec![n.clone(), Value::u128(0)],
            ),
            sudo_call(
                "sudo_set_target_registrations_per_interval",
                vec![n.clone(), Value::u128(1000)],
            ),
            sudo_call(
                "sudo_set_max_registrations_per_block",
                vec![n.clone(), Value::u128(1000)],
            ),
            client.stake_threshold_call(0).await?,
        ]);
        // start_call needs ~50k blocks on this runtime: start the subnet's emission directly.
        let block = client.current_block().await?;
        client
            .dev_set_storage(serde_json::json!({
                "SubtensorModule": {
                    "SubtokenEnabled": [[[netuid], true]],
                    "FirstEmissionBlockNumber": [[[netuid], block]],
                }
            }))
            .await?;
    }
    let hp = client.hyperparameters(netuid).await?;
    if hp.tempo != cfg.tempo {
        let tempo = Value::u128(cfg.tempo.into());
        calls.push(sudo_call("sudo_set_tempo", vec![n.clone(), tempo]));
    }
    if hp.weights_rate_limit != 0 {
        let zero = Value::u128(0);
        calls.push(sudo_call(
            "sudo_set_weights_set_rate_limit",
            vec![n.clone(), zero],
        ));
    }
    if hp.commit_reveal_enabled {
        calls.push(sudo_call(
            "sudo_set_commit_reveal_weights_enabled",
            vec![n.clone(), Value::bool(false)],
        ));
    }
    if !calls.is_empty() {
        client.batch_all("subnet settings", &alice, calls).await?;
    }

    // Block 4 (every coldkey at once): registrations, and the validator's stake.
    let validator = async {
        let hk = vali_hot.account_id().0;
        match client.uid_of(netuid, hk).await? {
            Some(uid) => {
                let mg = client.metagraph(netuid).await?;
                if mg.neuron(uid).map(|n| n.stake_rao).unwrap_or(0) == 0 {
                    client
                        .add_stake(&vali_cold, hk, netuid, cfg.validator_stake)
                        .await?;
                }
            }
            None => {
                let calls = vec![
                    Call::burned_register(netuid, hk),
                    add_stake_call(hk, netuid, cfg.validator_stake),
                ];
                client
                    .batch_all("register and stake the validator", &vali_cold, calls)
                    .await?;
            }
        }
        registered_uid(client, &vali_hot, netuid).await
    };
    let miners = try_join_all(
        miners
            .iter()
            .map(|(c, h)| register_if_needed(client, c, h, netuid)),
    );
    let (validator_uid, miner_uids) = futures::try_join!(validator, miners)?;
    info!(
        netuid,
        validator_uid,
        ?miner_uids,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "subnet bootstrapped"
    );
    Ok(Bootstrapped {
        netuid,
        validator_uid,
        miner_uids,
    })
}

async fn register_if_needed(
    client: &Subtensor,
    cold: &Keypair,
    hot: &Keypair,
    netuid: u16,
) -> Result<u16, LocalnetError> {
    if client.uid_of(netuid, hot.account_id().0).await?.is_none() {
        client
            .burned_register(cold, netuid, hot.account_id().0)
            .await?;
    }
    registered_uid(client, hot, netuid).await
}

/// The uid of `hot` on `netuid`, or the chain crate's `NotRegistered` error.
async fn registered_uid(
    client: &Subtensor,
    hot: &Keypair,
    netuid: u16,
) -> Result<u16, LocalnetError> {
    Ok(audiosubnet_chain::ensure_registered(client, netuid, hot.account_id().0).await?)
}

async fn find_owned_subnet(
    client: &Subtensor,
    owner_hotkey: [u8; 32],
) -> Result<Option<u16>, LocalnetError> {
    let netuids: Vec<u16> = (1..64).collect();
    let owned = try_join_all(netuids.iter().map(|&netuid| async move {
        Ok::<_, LocalnetError>(
            client.subnet_exists(netuid).await?
                && client.subnet_owner_hotkey(netuid).await? == Some(owner_hotkey),
        )
    }))
    .await?;
    Ok(netuids
        .into_iter()
        .zip(owned)
        .find_map(|(n, mine)| mine.then_some(n)))
}

/// `localnet up`: reuses a running chain from the state file, or starts one; then bootstraps.
/// Returns the state and whether the chain was already running.
pub async fn up(cfg: &LocalnetConfig) -> Result<(LocalnetState, bool), LocalnetError> {
    if let Some(state) = LocalnetState::load(cfg)? {
        if state.is_running() {
            let client = Subtensor::connect(&state.endpoint).await?;
            let b = bootstrap(cfg, &client).await?;
            let mut state = state;
            state.netuid = Some(b.netuid);
            state.miner_wallets = (0..cfg.miners).map(|i| format!("miner{i}")).collect();
            state.save(cfg)?;
            return Ok((state, true));
        }
        warn!("stale state file (chain not running); starting a new chain");
        stop_pids(&state);
        remove_state(cfg)?;
    }
    let mut net = Localnet::start(cfg.clone()).await?;
    net.bootstrap().await?;
    let state = net.state.clone();
    // Leave the processes running after this process exits.
    net.children.detach();
    Ok((state, false))
}

/// `localnet down`: stops the processes recorded in the state file. Returns whether anything ran.
pub fn down(cfg: &LocalnetConfig) -> Result<bool, LocalnetError> {
    match LocalnetState::load(cfg)? {
        Some(state) => {
            let was_running = state.is_running();
            stop_pids(&state);
            remove_state(cfg)?;
            Ok(was_running)
        }
        None => Ok(false),
    }
}

/// `localnet status`: the state, if a chain is recorded, and whether it is running.
pub fn status(cfg: &LocalnetConfig) -> Result<Option<(LocalnetState, bool)>, LocalnetError> {
    Ok(LocalnetState::load(cfg)?.map(|s| {
        let running = s.is_running();
        (s, running)
    }))
}
