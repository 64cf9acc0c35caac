//! Running `rapport` in an isolated home, with a fixed "today".

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The day every test pretends it is, so relative demo dates are stable.
pub const TODAY: &str = "2026-11-23";

/// The `rapport` binary cargo built for this test target.
pub fn rapport_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rapport"))
}

/// A temporary `RAPPORT_HOME`.
pub struct Home {
    pub dir: tempfile::TempDir,
}

/// The result of one run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(rapport_bin());
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RAPPORT_HOME", self.path())
            .env("RAPPORT_TODAY", TODAY)
            .env("NO_COLOR", "1");
        cmd
    }

    /// Runs and returns whatever happened.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }

    /// Runs and insists on success.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(
            run.code, 0,
            "rapport {args:?} failed:\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run
    }

    /// Runs and insists on failure with `code`.
    pub fn fails(&self, args: &[&str], code: i32) -> Run {
        let run = self.run(args);
        assert_eq!(
            run.code, code,
            "rapport {args:?}: expected exit {code}\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run
    }

    /// A home with `rapport init` done.
    pub fn initialised() -> Home {
        let home = Home::new();
        home.ok(&[
            "init",
            "--name",
            "Sam Lee",
            "--handle",
            "sam",
            "--email",
            "sam@example.com",
        ]);
        home
    }

    /// A home with the demo loaded.
    pub fn demo() -> Home {
        let home = Home::new();
        home.ok(&["demo"]);
        home
    }

    /// Replaces the bytes of every chunk file in the store with ones no
    /// load can read, keeping them to [`Garbled::restore`].
    pub fn garble_chunks(&self) -> Garbled {
        let files = self.chunk_files();
        let saved = files.iter().map(|c| std::fs::read(c).unwrap()).collect();
        for c in &files {
            std::fs::write(c, b"not an automerge chunk").unwrap();
        }
        Garbled { files, saved }
    }

    /// Every chunk file in the store, for "nothing was written" checks.
    pub fn chunk_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with('.') {
                    continue;
                }
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.path().join("store"), &mut out);
        out.sort();
        out
    }
}

/// Every chunk file of a store made unreadable ([`Home::garble_chunks`]),
/// for tests that a command reads none of them.
pub struct Garbled {
    /// The chunk files garbled.
    pub files: Vec<PathBuf>,
    saved: Vec<Vec<u8>>,
}

impl Garbled {
    /// Puts every garbled chunk's bytes back.
    pub fn restore(&self) {
        for (c, bytes) in self.files.iter().zip(&self.saved) {
            std::fs::write(c, bytes).unwrap();
        }
    }
}

/// xorshift64: a tiny deterministic generator, so a failing seed replays.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
