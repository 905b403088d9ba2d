//! The library's one error type: every variant a user can hit says what happened and what to do.

use std::path::PathBuf;

/// What can go wrong, from bad input to a cluster that will not form.
///
/// The `Display` text of each variant is a single line meant for a person: `main` prints it
/// as `Error: {e}` and exits with [`Error::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag, environment variable or `.env` value that cannot be used.
    #[error("{0}")]
    Config(String),

    /// The `redis-server` binary could not be found or run.
    #[error("redis-server not found ({0}); install it with 'apt-get install redis-server' (or 'scripts/servers install redis7'), or set REDIS_SERVER / --server to its path")]
    RedisServerMissing(String),

    /// A server named with `--server` / `REDIS_SERVER` is not installed.
    #[error("{0}")]
    ServerNotInstalled(String),

    /// The server lacks a command a setting needs (WAITAOF before Redis 7.2).
    #[error("{0}")]
    ServerLacks(String),

    /// The `redis-server` binary is too old for what we need (XAUTOCLAIM needs 7.0).
    #[error("redis-server {found} is too old: need 7.0 or newer for XAUTOCLAIM; install a newer one or set REDIS_SERVER")]
    RedisServerTooOld { found: String },

    /// A local node did not start or the cluster did not form; carries the node log's tail.
    #[error("{what}{}", log_tail_suffix(.log, .tail))]
    ClusterStart {
        what: String,
        log: Option<PathBuf>,
        tail: String,
    },

    /// A cluster we were pointed at cannot be used (down, not a cluster, not reachable).
    #[error("{0}")]
    ClusterUnavailable(String),

    /// The server refused our credentials.
    /// `detail` says what to change.
    #[error("authentication failed at {node}: {detail}")]
    Auth { node: String, detail: String },

    /// A wait that ran out of time; says what it waited for.
    #[error("timed out after {secs:.1} s waiting for {what}")]
    Timeout { what: String, secs: f64 },

    /// A Redis command failed in a way the caller did not handle.
    #[error("redis: {context}: {source}")]
    Redis {
        context: String,
        #[source]
        source: redis::RedisError,
    },

    /// A network partition was asked for and no private network namespace can be had (user
    /// namespaces refused, `nft` or `ip` missing), or the cluster is not one rcstress can cut.
    #[error("{0}")]
    NoPrivateNetwork(String),

    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn log_tail_suffix(log: &Option<PathBuf>, tail: &str) -> String {
    match log {
        Some(path) if !tail.is_empty() => {
            let last: Vec<&str> = tail.lines().rev().take(3).collect();
            let last: Vec<&str> = last.into_iter().rev().collect();
            format!(" (log {}: {})", path.display(), last.join(" | "))
        }
        Some(path) => format!(" (log {})", path.display()),
        None => String::new(),
    }
}

impl Error {
    /// The process exit code for this error, documented in the README.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) => 2,
            Error::RedisServerMissing(_)
            | Error::RedisServerTooOld { .. }
            | Error::ServerNotInstalled(_)
            | Error::ServerLacks(_) => 3,
            Error::ClusterStart { .. } => 4,
            Error::ClusterUnavailable(_) | Error::Timeout { .. } | Error::Redis { .. } => 5,
            Error::Auth { .. } => 6,
            Error::Io { .. } => 7,
            Error::NoPrivateNetwork(_) => 8,
        }
    }

    /// Wraps an I/O error with what we were doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Wraps a Redis error with what we were doing.
    pub fn redis(context: impl Into<String>, source: redis::RedisError) -> Self {
        Error::Redis {
            context: context.into(),
            source,
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
