//! Where things live and what day it is: everything a command needs from
//! the environment, read once.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rapport_core::{Day, DocId};
use serde::{Deserialize, Serialize};

use crate::output::Output;

/// The global state of one run.
pub struct Ctx {
    pub paths: Paths,
    pub out: Output,
    pub today: Day,
    /// A document without a valid view is scanned, not loaded, from this
    /// size of its one chunk ([`crate::workspace::SCAN_FROM`]).
    pub scan_from: u64,
}

/// The data and config locations.
#[derive(Debug, Clone, Serialize)]
pub struct Paths {
    /// The automerge-repo store (chunks of every document).
    pub store: PathBuf,
    /// Materialized views of the documents (a cache; safe to delete).
    pub views: PathBuf,
    /// `config.toml`: which document is the personal one.
    pub config: PathBuf,
    /// `remotes.toml`: relays and tokens (mode 0600).
    pub remotes: PathBuf,
    /// `sync.json`: what each relay had at the last sync (for `rapport status`).
    pub sync_state: PathBuf,
    /// Set when `--home`/`RAPPORT_HOME` chose the location.
    pub home: Option<PathBuf>,
}

impl Paths {
    /// `home` (from `--home` or `RAPPORT_HOME`) puts everything under one
    /// directory; otherwise the platform's data and config directories.
    pub fn resolve(home: Option<&Path>) -> anyhow::Result<Paths> {
        if let Some(home) = home {
            return Ok(Paths {
                store: home.join("store"),
                views: home.join("views"),
                config: home.join("config.toml"),
                remotes: home.join("remotes.toml"),
                sync_state: home.join("sync.json"),
                home: Some(home.to_path_buf()),
            });
        }
        let dirs = directories::ProjectDirs::from("", "", "rapport")
            .context("could not find a home directory; set RAPPORT_HOME or pass --home")?;
        Ok(Paths {
            store: dirs.data_dir().join("store"),
            views: dirs.cache_dir().join("views"),
            config: dirs.config_dir().join("config.toml"),
            remotes: dirs.config_dir().join("remotes.toml"),
            sync_state: dirs.data_dir().join("sync.json"),
            home: None,
        })
    }
}

/// The contents of `config.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Config {
    /// The user's personal document.
    pub personal_doc: Option<String>,
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("could not parse {}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
        }
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = toml::to_string(self).context("could not encode the config")?;
        write_atomic(path, text.as_bytes())
    }

    pub fn personal_doc(&self) -> anyhow::Result<Option<DocId>> {
        self.personal_doc
            .as_deref()
            .map(|s| {
                s.parse::<DocId>()
                    .context("config.toml: personal_doc is not a document id")
            })
            .transpose()
    }
}

/// Writes a file atomically (a crash leaves the old file or the new one),
/// readable by its owner only (0600: tempfile creates files that way, and
/// the rename keeps the mode).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("the path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("could not write in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("could not write {}", path.display()))?;
    Ok(())
}
