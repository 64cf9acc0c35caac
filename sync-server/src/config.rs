//! Relay configuration: flags, then `RAPPORT_RELAY_*` environment
//! variables, then an optional TOML file, then defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::RelayError;

/// `rapport-relay serve` options. Every one may also come from the
/// environment or the file given by `--config`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8787].
    #[arg(long, env = "RAPPORT_RELAY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Where teams, tokens and documents are kept.
    #[arg(long, env = "RAPPORT_RELAY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Largest sync message accepted, in bytes [default: 16777216].
    #[arg(long, env = "RAPPORT_RELAY_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Most sync connections open at once [default: 1024].
    #[arg(long, env = "RAPPORT_RELAY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Most sync connections one member may hold open at once [default: 32].
    #[arg(long, env = "RAPPORT_RELAY_MAX_CONNECTIONS_PER_MEMBER")]
    pub max_connections_per_member: Option<usize>,
    /// Seconds a team may have no connection before its documents are
    /// written and unloaded from memory [default: 60].
    #[arg(long, env = "RAPPORT_RELAY_UNLOAD_IDLE_SECS")]
    pub unload_idle_secs: Option<u64>,
    /// Do not wait for document writes to reach the disk (no syncfs;
    /// faster; a power cut may then lose changes the relay acknowledged; a
    /// killed process never does).
    #[arg(long, env = "RAPPORT_RELAY_NO_FSYNC")]
    pub no_fsync: bool,
    /// A TOML file with any of: listen, data_dir, max_message_bytes,
    /// max_connections, max_connections_per_member, unload_idle_secs,
    /// fsync.
    #[arg(long, env = "RAPPORT_RELAY_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    max_message_bytes: Option<usize>,
    max_connections: Option<usize>,
    max_connections_per_member: Option<usize>,
    unload_idle_secs: Option<u64>,
    fsync: Option<bool>,
}

/// The settled configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub max_message_bytes: usize,
    pub max_connections: usize,
    /// So one member (or one leaked token) cannot take every connection.
    pub max_connections_per_member: usize,
    /// How long a team may have no connection before its documents leave
    /// memory.
    pub unload_idle_after: Duration,
    /// Make every document write (and its rename) durable before the
    /// changes in it are acknowledged (see `durable::Writes`).
    pub fsync: bool,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
pub const DEFAULT_MAX_CONNECTIONS_PER_MEMBER: usize = 32;
pub const DEFAULT_UNLOAD_IDLE_SECS: u64 = 60;

impl Config {
    /// Settles flags (and environment, which clap folds into them) over the
    /// file over the defaults.
    pub fn resolve(args: &ServeArgs) -> Result<Config, RelayError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = args.data_dir.clone().or(file.data_dir).ok_or_else(|| {
            RelayError::Invalid(
                "no data directory: pass --data-dir or set RAPPORT_RELAY_DATA_DIR".into(),
            )
        })?;
        let listen = match args.listen.or(file.listen) {
            Some(l) => l,
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|e| RelayError::Internal(format!("{e}")))?,
        };
        Ok(Config {
            listen,
            data_dir,
            max_message_bytes: args
                .max_message_bytes
                .or(file.max_message_bytes)
                .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES),
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or(DEFAULT_MAX_CONNECTIONS),
            max_connections_per_member: args
                .max_connections_per_member
                .or(file.max_connections_per_member)
                .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_MEMBER),
            unload_idle_after: Duration::from_secs(
                args.unload_idle_secs
                    .or(file.unload_idle_secs)
                    .unwrap_or(DEFAULT_UNLOAD_IDLE_SECS),
            ),
            fsync: !args.no_fsync && file.fsync.unwrap_or(true),
        })
    }

    /// A config for tests and embedding: defaults around a data directory.
    pub fn for_dir(data_dir: &Path) -> Config {
        Config {
            listen: ([127, 0, 0, 1], 0).into(),
            data_dir: data_dir.to_path_buf(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_member: DEFAULT_MAX_CONNECTIONS_PER_MEMBER,
            unload_idle_after: Duration::from_secs(DEFAULT_UNLOAD_IDLE_SECS),
            fsync: true,
        }
    }
}

fn read_file(path: &Path) -> Result<FileConfig, RelayError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RelayError::Invalid(format!("could not read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| RelayError::Invalid(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("relay.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/relay\"\nmax_connections = 10\nlisten = \"0.0.0.0:9000\"\nunload_idle_secs = 5\nfsync = false\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(file.clone()),
            listen: Some("127.0.0.1:1".parse().unwrap()),
            ..ServeArgs::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.listen, "127.0.0.1:1".parse().unwrap());
        assert_eq!(c.data_dir, PathBuf::from("/srv/relay"));
        assert_eq!(c.max_connections, 10);
        assert_eq!(c.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(c.unload_idle_after, Duration::from_secs(5));
        assert!(!c.fsync, "fsync = false in the file");
        let plain = Config::resolve(&ServeArgs {
            data_dir: Some("/d".into()),
            ..ServeArgs::default()
        })
        .unwrap();
        assert!(plain.fsync, "fsync by default");
        assert!(
            !Config::resolve(&ServeArgs {
                data_dir: Some("/d".into()),
                no_fsync: true,
                ..ServeArgs::default()
            })
            .unwrap()
            .fsync
        );
        std::fs::write(&file, "nonsense = 1\n").unwrap();
        assert!(
            Config::resolve(&ServeArgs {
                config: Some(file),
                ..ServeArgs::default()
            })
            .is_err()
        );
        assert!(
            Config::resolve(&ServeArgs::default()).is_err(),
            "a data dir is required"
        );
    }
}
