// pm2 ecosystem for an audiosubnet miner and validator; walk-through in docs/operations.md
// ("Running with pm2").
//
//   NETUID=1 EXTERNAL_IP=203.0.113.10 pm2 start deploy/pm2/ecosystem.config.js --only audiosubnet-miner
//   pm2 start deploy/pm2/ecosystem.config.js --only audiosubnet-validator
//
// Settings come from the environment of `pm2 start` (defaults below). Secrets
// (AUDIOSUBNET_WALLET_PASSWORD, AUDIOSUBNET_HUB_KEY, AUDIOSUBNET_OPENAI_API_KEY) are read by the
// binary from its environment: export them in the shell that runs `pm2 start`; never put them
// in `args`, where `ps` and `pm2 show` would print them.

const env = (name, fallback) => process.env[name] || fallback;

const BIN = env("AUDIOSUBNET_BIN", "/usr/local/bin/audiosubnet");
const NETUID = env("NETUID", "1");
const NETWORK = env("NETWORK", "finney");

// Extra flags, space-separated, e.g. MINER_ARGS="--miner.workers 2 --logging.debug".
const extra = (name) => env(name, "").split(/\s+/).filter(Boolean);

// What both processes share: pm2 runs the binary itself (no Node interpreter), restarts it on
// exit with a growing delay, and on `pm2 stop` sends SIGINT, which the binary treats like
// SIGTERM (finish in-flight work, save state), before SIGKILL after kill_timeout.
const common = {
  script: BIN,
  interpreter: "none",
  exec_mode: "fork",
  instances: 1,
  autorestart: true,
  exp_backoff_restart_delay: 1000,
  time: true,
  merge_logs: true,
};

module.exports = {
  apps: [
    {
      ...common,
      name: "audiosubnet-miner",
      args: [
        "miner",
        "--netuid", NETUID,
        "--subtensor.network", NETWORK,
        "--wallet.name", env("MINER_WALLET_NAME", "miner"),
        "--wallet.hotkey", env("MINER_WALLET_HOTKEY", "default"),
        "--model", env("MODEL", "piper"),
        "--axon.port", env("AXON_PORT", "8091"),
        // The public address validators reach (published on chain); the miner refuses to
        // start on chain without one.
        ...(process.env.EXTERNAL_IP ? ["--axon.external_ip", process.env.EXTERNAL_IP] : []),
        "--metrics.port", env("MINER_METRICS_PORT", "9100"),
        ...extra("MINER_ARGS"),
      ],
      // Above --axon.drain_timeout (30 s), the time accepted requests get to finish.
      kill_timeout: 60000,
    },
    {
      ...common,
      name: "audiosubnet-validator",
      args: [
        "validator",
        "--netuid", NETUID,
        "--subtensor.network", NETWORK,
        "--wallet.name", env("VALIDATOR_WALLET_NAME", "validator"),
        "--wallet.hotkey", env("VALIDATOR_WALLET_HOTKEY", "default"),
        "--metrics.port", env("VALIDATOR_METRICS_PORT", "9101"),
        ...extra("VALIDATOR_ARGS"),
      ],
      // It abandons its round and saves its state within seconds; the margin covers a weights
      // transaction in flight.
      kill_timeout: 120000,
    },
  ],
};
