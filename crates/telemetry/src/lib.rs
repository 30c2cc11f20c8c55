//! Observability and process lifecycle shared by the `audiosubnet` commands: logging set-up
//! (`--logging.debug|trace|logging_dir`), the opt-in Prometheus endpoint, and one shutdown
//! signal (Ctrl-C or SIGTERM).

use std::net::SocketAddr;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How verbose, and where to.
#[derive(Debug, Clone, Default)]
pub struct LoggingConfig {
    /// `--logging.debug`: debug level for our crates.
    pub debug: bool,
    /// `--logging.trace`: trace level for our crates.
    pub trace: bool,
    /// `--logging.logging_dir`: also write daily-rotated log files there.
    pub logging_dir: Option<PathBuf>,
    /// One JSON object per line instead of human-readable text.
    pub json: bool,
}

/// Errors setting up telemetry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The log directory cannot be created.
    #[error("cannot create log directory {path}: {source}")]
    LogDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The Prometheus exporter did not start.
    #[error("cannot start the metrics endpoint on {addr}: {msg}")]
    Metrics {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        msg: String,
    },
}

/// Keeps the file writer flushing; hold it for the life of the process.
#[must_use = "dropping the guard stops file logging"]
pub struct LoggingGuard {
    _file: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Installs the global subscriber. `RUST_LOG` overrides the level flags.
pub fn init_logging(config: &LoggingConfig) -> Result<LoggingGuard, TelemetryError> {
    let level = if config.trace {
        "trace"
    } else if config.debug {
        "debug"
    } else {
        "info"
    };
    let directives = [
        "audiosubnet",
        "audiosubnet_axon",
        "audiosubnet_dendrite",
        "audiosubnet_protocol",
        "audiosubnet_wallet",
        "audiosubnet_chain",
        "audiosubnet_localnet",
        "audiosubnet_tts",
        "audiosubnet_models",
        "audiosubnet_miner",
        "audiosubnet_validator",
        "audiosubnet_scoring",
    ]
    .iter()
    .map(|c| format!("{c}={level}"))
    .collect::<Vec<_>>()
    .join(",");
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,{directives}")));

    let (file_layer, guard) = match &config.logging_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| TelemetryError::LogDir {
                path: dir.clone(),
                source,
            })?;
            let appender = tracing_appender::rolling::daily(dir, "audiosubnet.log");
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer);
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    let stderr_text =
        (!config.json).then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    let stderr_json = config.json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
    });
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr_text)
        .with(stderr_json)
        .with(file_layer)
        .try_init();
    Ok(LoggingGuard { _file: guard })
}

/// Serves Prometheus metrics at `http://addr/metrics`. Keep it off public interfaces.
pub fn serve_metrics(addr: SocketAddr) -> Result<(), TelemetryError> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(&[
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ])
        .map_err(|e| TelemetryError::Metrics {
            addr,
            msg: e.to_string(),
        })?
        // Rewards lie in 0..=1, where the time buckets above have only four steps.
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full("validator_reward".into()),
            &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
        )
        .map_err(|e| TelemetryError::Metrics {
            addr,
            msg: e.to_string(),
        })?
        .install()
        .map_err(|e| TelemetryError::Metrics {
            addr,
            msg: e.to_string(),
        })?;
    tracing::info!(%addr, "metrics on /metrics");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
