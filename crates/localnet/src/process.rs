//! Child processes (chopsticks, the block ticker): spawn detached, check and stop by PID.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use crate::{LocalnetError, io};

/// The ticker: POSTs `dev_newBlock` to chopsticks' HTTP endpoint every `ms` milliseconds and
/// exits by itself once the chain has been gone for a while (so it never outlives it for long).
const TICKER_JS: &str = r#"// audiosubnet localnet block ticker (generated)
const [url, ms] = process.argv.slice(2);
let fails = 0;
const tick = async () => {
  try {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'dev_newBlock', params: [{ count: 1 }] }),
    });
    await r.text();
    fails = 0;
  } catch (e) {
    if (++fails > 30) process.exit(0);
  }
  setTimeout(tick, Number(ms));
};
setTimeout(tick, Number(ms));
"#;

/// Processes started by this process (so they can be reaped, not left as zombies).
#[derive(Debug, Default)]
pub(crate) struct Children {
    chopsticks: Option<Child>,
    ticker: Option<Child>,
}

impl Children {
    pub(crate) fn spawn_chopsticks(
        &mut self,
        bin: &Path,
        config: &Path,
        genesis: &Path,
        wasm: &Path,
        port: u16,
        log: &Path,
    ) -> Result<u32, LocalnetError> {
        let out = std::fs::File::create(log).map_err(io(format!("creating {}", log.display())))?;
        let err = out.try_clone().map_err(io("cloning log handle"))?;
        let child = Command::new(bin)
            .arg("-c")
            .arg(config)
            .arg("--genesis")
            .arg(genesis)
            .arg("--wasm-override")
            .arg(wasm)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Own process group: a Ctrl-C meant for the CLI must not take the chain down.
            .process_group(0)
            .spawn()
            .map_err(io(format!("starting {}", bin.display())))?;
        let pid = child.id();
        self.chopsticks = Some(child);
        Ok(pid)
    }

    pub(crate) fn spawn_ticker(
        &mut self,
        dir: &Path,
        port: u16,
        every: Duration,
    ) -> Result<u32, LocalnetError> {
        let script = dir.join("ticker.mjs");
        std::fs::write(&script, TICKER_JS).map_err(io(format!("writing {}", script.display())))?;
        let ms = every.as_millis().max(100).to_string();
        let child = Command::new("node")
            .arg(&script)
            .arg(format!("http://127.0.0.1:{port}"))
            .arg(ms)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(io("starting the block ticker (node)"))?;
        let pid = child.id();
        self.ticker = Some(child);
        Ok(pid)
    }

    /// Whether the chopsticks we started has exited (true when we have none).
    pub(crate) fn chopsticks_exited(&mut self) -> bool {
        match self.chopsticks.as_mut() {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    pub(crate) fn kill_chopsticks(&mut self) {
        if let Some(mut c) = self.chopsticks.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub(crate) fn stop_all(&mut self) {
        for c in [self.ticker.take(), self.chopsticks.take()]
            .into_iter()
            .flatten()
        {
            stop_child(c);
        }
    }

    /// Forgets the handles so the processes keep running after we exit.
    pub(crate) fn detach(&mut self) {
        self.chopsticks = None;
        self.ticker = None;
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        // A Localnet dropped without stop() (e.g. a failed test) must not leak processes.
        self.stop_all();
    }
}

fn stop_child(mut c: Child) {
    let pid = c.id();
    signal(pid, "TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = c.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = c.kill();
    let _ = c.wait();
}

fn signal(pid: u32, sig: &str) {
    match Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => debug!(pid, sig, "signalled"),
        Ok(_) => debug!(pid, sig, "process already gone"),
        Err(e) => warn!(pid, error = %e, "cannot run kill"),
    }
}

/// Whether `pid` is a live (not zombie) process whose command line contains `needle`
/// (guards against PID reuse).
pub fn pid_alive(pid: u32, needle: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    // Field 3 of stat (after the parenthesised name) is the state; Z = zombie.
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        && let Some(rest) = stat.rsplit(')').next()
        && rest.trim_start().starts_with('Z')
    {
        return false;
    }
    String::from_utf8_lossy(&cmdline).contains(needle)
}

/// Stops a process we recorded, by PID: SIGTERM, then SIGKILL after 5 s (or at once if `hard`).
pub(crate) fn kill_pid(pid: u32, needle: &str, hard: bool) {
    if !pid_alive(pid, needle) {
        return;
    }
    if hard {
        signal(pid, "KILL");
        return;
    }
    signal(pid, "TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !pid_alive(pid, needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(pid, "KILL");
}

/// A free TCP port on 127.0.0.1 (bind to port 0 and release it).
pub fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
