//! Classic synthesisers run as subprocesses: Festival (HTS voice `cmu_us_slt_arctic_hts`) and
//! flite (voice `slt`). No Rust bindings are needed (and the `flite` crate is unsound); the
//! synthesisers write WAV files into a private temporary directory that we read back.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{EngineOptions, Speech, SpeechEngine, TtsError, synthesize_sentences};

/// A subprocess that runs longer than this is killed (a hung synthesiser must not pin a worker).
const SUBPROCESS_TIMEOUT: Duration = Duration::from_secs(120);

const FESTIVAL_VOICE: &str = "voice_cmu_us_slt_arctic_hts";

/// Festival with the HTS voice `cmu_us_slt_arctic_hts` (Debian `festival`, `festvox-us-slt-hts`).
///
/// One `festival --pipe` process stays resident per engine (startup and voice load cost ~0.2 s);
/// each request sends Scheme commands that write one WAV file per sentence, then a marker line
/// that tells us it is done. A process that dies or stalls is killed and restarted on the next
/// request.
#[derive(Debug)]
pub struct FestivalEngine {
    program: PathBuf,
    opts: EngineOptions,
    sample_rate: u32,
    process: Option<FestivalProcess>,
    dir: tempfile::TempDir,
    requests: u64,
}

/// A running `festival --pipe`.
#[derive(Debug)]
struct FestivalProcess {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout_lines: std::sync::mpsc::Receiver<String>,
    stderr_tail: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
}

impl FestivalProcess {
    fn spawn(program: &Path) -> Result<Self, TtsError> {
        use std::io::BufRead as _;
        let mut child = Command::new(program)
            .arg("--pipe")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| TtsError::Io {
                context: format!("starting {}", program.display()),
                source: e,
            })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TtsError::EngineUnavailable {
                engine: "festival".to_owned(),
                reason: "could not open pipes to festival".to_owned(),
            });
        };
        let (tx, stdout_lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Drained continuously so festival never blocks on a full stderr pipe; the tail goes
        // into error messages (festival reports errors there and carries on).
        let stderr_tail =
            std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let tail = std::sync::Arc::clone(&stderr_tail);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut t) = tail.lock() {
                    if t.len() >= 20 {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            }
        });
        Ok(Self {
            child,
            stdin,
            stdout_lines,
            stderr_tail,
        })
    }

    fn stderr(&self) -> String {
        self.stderr_tail
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }

    /// Sends `commands` followed by a marker print, and waits for the marker.
    fn call(&mut self, commands: &str, marker: &str) -> Result<(), TtsError> {
        use std::io::Write as _;
        // festival block-buffers stdout on a pipe: flush, or the marker never arrives.
        let script = format!("{commands}\n(print \"{marker}\")\n(fflush nil)\n");
        self.stdin
            .write_all(script.as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|e| TtsError::Io {
                context: "writing to festival".to_owned(),
                source: e,
            })?;
        let deadline = Instant::now() + SUBPROCESS_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout_lines.recv_timeout(left) {
                Ok(line) if line.contains(marker) => return Ok(()),
                Ok(_) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err(TtsError::Subprocess {
                        engine: "festival".to_owned(),
                        command: "festival --pipe".to_owned(),
                        status: format!("no answer in {}s", SUBPROCESS_TIMEOUT.as_secs()),
                        stderr: tail(&self.stderr()),
                    });
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self
                        .child
                        .wait()
                        .map_or_else(|e| e.to_string(), |s| s.to_string());
                    return Err(TtsError::Subprocess {
                        engine: "festival".to_owned(),
                        command: "festival --pipe".to_owned(),
                        status,
                        stderr: tail(&self.stderr()),
                    });
                }
            }
        }
    }
}

impl Drop for FestivalProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FestivalEngine {
    /// Finds `festival`, starts it with the voice, and probes a one-word synthesis (which also
    /// gives the sample rate).
    pub fn new(opts: &EngineOptions) -> Result<Self, TtsError> {
        let program = find_program("festival").ok_or_else(|| TtsError::EngineUnavailable {
            engine: "festival".to_owned(),
            reason: "`festival` is not on PATH; install the Debian packages festival and festvox-us-slt-hts"
                .to_owned(),
        })?;
        let mut engine = Self {
            program,
            opts: opts.clone(),
            sample_rate: 0,
            process: None,
            dir: scratch_dir("festival")?,
            requests: 0,
        };
        let probe = engine.run_batch(&["Hello."])?;
        engine.sample_rate = probe[0].sample_rate;
        Ok(engine)
    }

    fn process(&mut self) -> Result<&mut FestivalProcess, TtsError> {
        if self.process.is_none() {
            let mut p = FestivalProcess::spawn(&self.program)?;
            p.call(&format!("({FESTIVAL_VOICE})"), "AUDIOSUBNET-READY")?;
            self.process = Some(p);
        }
        self.process.as_mut().ok_or(TtsError::WorkerGone)
    }

    /// Synthesises each sentence into its own file (so we control the pauses between them).
    fn run_batch(&mut self, sentences: &[&str]) -> Result<Vec<Speech>, TtsError> {
        self.requests += 1;
        let marker = format!("AUDIOSUBNET-DONE-{}", self.requests);
        let mut commands = String::new();
        let mut outputs = Vec::with_capacity(sentences.len());
        for (i, sentence) in sentences.iter().enumerate() {
            let out = self.dir.path().join(format!("{}-{i}.wav", self.requests));
            let _ = std::fs::remove_file(&out);
            commands.push_str(&format!(
                "(utt.save.wave (utt.synth (Utterance Text \"{}\")) \"{}\" 'riff)\n",
                scheme_escape(sentence),
                scheme_escape(&out.to_string_lossy()),
            ));
            outputs.push(out);
        }
        let result = self.process().and_then(|p| p.call(&commands, &marker));
        let stderr = self
            .process
            .as_ref()
            .map(FestivalProcess::stderr)
            .unwrap_or_default();
        if let Err(e) = result {
            // Start afresh next time rather than talk to a process in an unknown state.
            self.process = None;
            return Err(e);
        }
        let speech = outputs
            .iter()
            .map(|p| read_wav("festival", p, &stderr))
            .collect();
        for p in &outputs {
            let _ = std::fs::remove_file(p);
        }
        speech
    }
}

impl SpeechEngine for FestivalEngine {
    fn name(&self) -> &str {
        "festival"
    }

    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError> {
        let sentences = crate::text::prepare(text, self.opts.max_chars)?;
        let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
        let mut parts = self.run_batch(&refs)?.into_iter();
        let rate = self.sample_rate;
        synthesize_sentences("festival", text, rate, &self.opts, |_| {
            let part = parts.next().ok_or_else(|| TtsError::BadAudio {
                engine: "festival".to_owned(),
                reason: "fewer files than sentences".to_owned(),
            })?;
            same_rate("festival", &part, rate)?;
            Ok(part.samples)
        })
    }
}

/// flite with the built-in `slt` voice (Debian `flite`).
#[derive(Debug)]
pub struct FliteEngine {
    program: PathBuf,
    opts: EngineOptions,
    sample_rate: u32,
}

impl FliteEngine {
    /// Finds `flite` and probes the voice.
    pub fn new(opts: &EngineOptions) -> Result<Self, TtsError> {
        let program = find_program("flite").ok_or_else(|| TtsError::EngineUnavailable {
            engine: "flite".to_owned(),
            reason: "`flite` is not on PATH; install the Debian package flite".to_owned(),
        })?;
        let mut engine = Self {
            program,
            opts: opts.clone(),
            sample_rate: 0,
        };
        engine.sample_rate = engine.run_one("Hello.")?.sample_rate;
        Ok(engine)
    }

    fn run_one(&self, sentence: &str) -> Result<Speech, TtsError> {
        let dir = scratch_dir("flite")?;
        let text_path = dir.path().join("in.txt");
        let out = dir.path().join("out.wav");
        std::fs::write(&text_path, sentence).map_err(|e| TtsError::Io {
            context: format!("writing {}", text_path.display()),
            source: e,
        })?;
        // Text through a file, not argv: no length limit and no option-like text.
        let mut cmd = Command::new(&self.program);
        cmd.args(["-voice", "slt", "-f"])
            .arg(&text_path)
            .arg("-o")
            .arg(&out);
        let stderr = run("flite", &mut cmd)?;
        read_wav("flite", &out, &stderr)
    }
}

impl SpeechEngine for FliteEngine {
    fn name(&self) -> &str {
        "flite"
    }

    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError> {
        let rate = self.sample_rate;
        let this = &*self;
        synthesize_sentences("flite", text, rate, &self.opts, |sentence| {
            let part = this.run_one(sentence)?;
            same_rate("flite", &part, rate)?;
            Ok(part.samples)
        })
    }
}

fn same_rate(engine: &str, part: &Speech, rate: u32) -> Result<(), TtsError> {
    if part.sample_rate == rate {
        Ok(())
    } else {
        Err(TtsError::BadAudio {
            engine: engine.to_owned(),
            reason: format!("sample rate changed from {rate} to {}", part.sample_rate),
        })
    }
}

/// Festival's Scheme string syntax: escape backslash and double quote.
fn scheme_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn scratch_dir(engine: &str) -> Result<tempfile::TempDir, TtsError> {
    tempfile::Builder::new()
        .prefix(&format!("audiosubnet-{engine}-"))
        .tempdir()
        .map_err(|e| TtsError::Io {
            context: "creating a scratch directory".to_owned(),
            source: e,
        })
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Runs `cmd` with a timeout; returns its stderr (kept for error messages).
fn run(engine: &str, cmd: &mut Command) -> Result<String, TtsError> {
    let command = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| TtsError::Io {
            context: format!("starting {command}"),
            source: e,
        })?;
    // Drain stderr on a thread so a chatty child cannot block on a full pipe.
    let reader = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    });
    let deadline = Instant::now() + SUBPROCESS_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(TtsError::Subprocess {
                    engine: engine.to_owned(),
                    command,
                    status: format!("killed after {}s", SUBPROCESS_TIMEOUT.as_secs()),
                    stderr: String::new(),
                });
            }
            Err(e) => {
                return Err(TtsError::Io {
                    context: format!("waiting for {command}"),
                    source: e,
                });
            }
        }
    };
    let stderr = reader.and_then(|h| h.join().ok()).unwrap_or_default();
    if !status.success() {
        return Err(TtsError::Subprocess {
            engine: engine.to_owned(),
            command,
            status: status.to_string(),
            stderr: tail(&stderr),
        });
    }
    Ok(stderr)
}

fn read_wav(engine: &str, path: &Path, stderr: &str) -> Result<Speech, TtsError> {
    let bytes = std::fs::read(path).map_err(|_| TtsError::Synthesis {
        engine: engine.to_owned(),
        // Festival reports a missing voice on stderr but still exits 0.
        message: format!(
            "no audio written to {}; stderr: {}",
            path.display(),
            tail(stderr)
        ),
    })?;
    let wav = audiosubnet_audio::decode_wav(&bytes).map_err(|e| TtsError::BadAudio {
        engine: engine.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Speech {
        samples: wav.samples,
        sample_rate: wav.sample_rate,
    })
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}
