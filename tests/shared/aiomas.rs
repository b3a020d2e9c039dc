//! Runs the real aiomas 2.0.1 (Python) from tests.
//!
//! The virtual environment is created once, under the cargo target dir
//! (`target/tmp/aiomas-venv`), from `tests/aiomas/requirements.txt` in the
//! repository, and made again when that file changes (the venv keeps a copy
//! of the requirements it was made from). Tests in parallel threads share
//! one creation (a process-wide lock); parallel processes each build in a
//! temporary directory and rename it into place, so nobody sees a half-made
//! environment.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex};

/// The directory holding `requirements.txt` and `aiomas_compat.py`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("aiomas")
}

fn venv_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("aiomas-venv")
}

fn python_in(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

/// The copy of the requirements a venv was made from.
const STAMP: &str = "agentwire-requirements.txt";

/// Whether `venv` was made from the current requirements.
fn up_to_date(venv: &Path) -> bool {
    let current = std::fs::read(fixtures_dir().join("requirements.txt"));
    let made_from = std::fs::read(venv.join(STAMP));
    matches!((current, made_from), (Ok(a), Ok(b)) if a == b)
}

fn works(python: &Path) -> bool {
    Command::new(python)
        .current_dir(fixtures_dir())
        .args(["-c", "import aiomas_compat, aiomas"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn create() -> Result<PathBuf, String> {
    let venv = venv_dir();
    if up_to_date(&venv) && works(&python_in(&venv)) {
        return Ok(python_in(&venv));
    }
    let requirements = fixtures_dir().join("requirements.txt");
    if !requirements.exists() {
        return Err(format!("{} is missing", requirements.display()));
    }
    let tmp = venv.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let made = run(Command::new("python3").args(["-m", "venv"]).arg(&tmp))
        .and_then(|()| {
            run(Command::new(python_in(&tmp))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(&requirements))
        })
        .and_then(|()| {
            std::fs::copy(&requirements, tmp.join(STAMP))
                .map(drop)
                .map_err(|e| format!("stamp: {e}"))
        });
    if let Err(e) = made {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // A venv made from other requirements is moved aside (atomically, so
    // only one process does it) and removed.
    if venv.exists() && !up_to_date(&venv) {
        let stale = venv.with_extension(format!("stale-{}", std::process::id()));
        if std::fs::rename(&venv, &stale).is_ok() {
            let _ = std::fs::remove_dir_all(&stale);
        }
    }
    // venvs hard-code their own path: move only if nobody was faster, and
    // then use the final location's interpreter.
    if std::fs::rename(&tmp, &venv).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    if up_to_date(&venv) && works(&python_in(&venv)) {
        Ok(python_in(&venv))
    } else if works(&python_in(&tmp)) {
        Ok(python_in(&tmp))
    } else {
        Err(format!(
            "aiomas venv at {} does not import aiomas",
            venv.display()
        ))
    }
}

/// The venv's Python interpreter, creating the venv on first use.
///
/// # Panics
///
/// If the environment cannot be created (no `python3`, no package index).
pub fn python() -> PathBuf {
    static VENV: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut slot = VENV.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = &*slot {
        return p.clone();
    }
    match create() {
        Ok(p) => {
            *slot = Some(p.clone());
            p
        }
        Err(e) => panic!("cannot set up aiomas 2.0.1 for the interop test: {e}"),
    }
}

/// Runs `script` with the venv's Python (aiomas importable, working directory
/// `tests/aiomas`), feeding `stdin`; returns its stdout.
///
/// # Panics
///
/// If the script fails.
pub fn run_script(script: &str, stdin: &str) -> String {
    let mut child = Command::new(python())
        .current_dir(fixtures_dir())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
        .expect("write to python");
    let out = child.wait_with_output().expect("python runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Kills the Python process when the test ends, however it ends.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `script` (in `tests/aiomas`) with `args` in the venv's Python.
pub fn script(script: &str, args: &[&str]) -> Kill {
    let child = Command::new(python())
        .current_dir(fixtures_dir())
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    Kill(child)
}

/// The lines the process prints, read on a thread of their own.
pub fn lines(child: &mut Kill) -> mpsc::Receiver<String> {
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (up to 30 s, off the runtime's threads) for the `READY <url>`
/// line that a serving script prints first; returns the URL.
pub async fn ready_url(lines: mpsc::Receiver<String>, script: &str) -> String {
    let line =
        tokio::task::spawn_blocking(move || lines.recv_timeout(std::time::Duration::from_secs(30)))
            .await
            .expect("reader");
    let line = line.unwrap_or_else(|e| panic!("{script} prints READY: {e}"));
    line.strip_prefix("READY ")
        .unwrap_or_else(|| panic!("{script} prints READY <url>, not {line:?}"))
        .trim()
        .to_owned()
}

/// [`python`], off the runtime's threads (the first call may build the
/// venv).
#[allow(dead_code)] // not every test target runs Python from async code
pub async fn venv() -> PathBuf {
    tokio::task::spawn_blocking(python).await.expect("venv")
}

/// The next line `script` prints (60 s hang guard, off the runtime's
/// threads), with the receiver for the lines after it.
#[allow(dead_code)] // not every test target reads a script's lines
pub async fn next_line(
    lines: mpsc::Receiver<String>,
    script: &'static str,
) -> (mpsc::Receiver<String>, String) {
    tokio::task::spawn_blocking(move || {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("a line from {script}: {e}"));
        (lines, line)
    })
    .await
    .expect("reader")
}

/// The lines `script` prints up to `DONE` (each under `next_line`'s guard).
#[allow(dead_code)] // not every test target reads a script's lines
pub async fn until_done(mut lines: mpsc::Receiver<String>, script: &'static str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let (rest, line) = next_line(lines, script).await;
        if line == "DONE" {
            return out;
        }
        out.push(line);
        lines = rest;
    }
}

#[path = "ports.rs"]
mod ports;
#[allow(unused_imports)] // not every test target starts a peer on a port
pub use ports::free_port;

/// `peer.py` with `args`.
pub fn peer(args: &[&str]) -> Kill {
    script("peer.py", args)
}
