//! How a [`LocalCluster`](super::LocalCluster) is built: shape, persistence, memory, timeouts,
//! credentials, TLS, server binary and data dir.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// appendfsync policy when AOF is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    Always,
    Everysec,
    No,
}

impl FromStr for Fsync {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Ok(Fsync::Always),
            "everysec" => Ok(Fsync::Everysec),
            "no" => Ok(Fsync::No),
            _ => Err(format!(
                "'{s}' is not an fsync policy; use always, everysec or no"
            )),
        }
    }
}

impl fmt::Display for Fsync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fsync::Always => "always",
            Fsync::Everysec => "everysec",
            Fsync::No => "no",
        })
    }
}

/// Persistence of the local nodes: AOF off, or on with an fsync policy. RDB snapshots are off
/// in both, so the comparison isolates AOF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aof {
    Off,
    On(Fsync),
}

impl fmt::Display for Aof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aof::Off => f.write_str("off"),
            Aof::On(fsync) => write!(f, "on ({fsync})"),
        }
    }
}

/// How to start a [`LocalCluster`].
#[derive(Clone)]
pub struct LocalClusterOptions {
    pub masters: usize,
    pub replicas_per_master: usize,
    pub aof: Aof,
    /// e.g. `3mb`; `None` for no limit.
    pub maxmemory: Option<String>,
    /// e.g. `allkeys-lru`, `noeviction`.
    pub maxmemory_policy: Option<String>,
    pub node_timeout_ms: u64,
    /// `None`: a random password, written only to the nodes' 0600 config files.
    pub password: Option<String>,
    /// Keep the temp dir (configs, logs, AOF files) after the cluster stops.
    pub keep_dir: bool,
    /// Bound on the whole start-up: spawn, form, healthy.
    pub start_timeout: Duration,
    /// Serve TLS only (client port, cluster bus, replication) with a throwaway CA made in the
    /// temp dir; the plaintext port is off.
    pub tls: bool,
    /// An ACL user (all keys, channels and commands) with the cluster's password, for clients.
    /// The default user keeps the password too: replicas and our admin connections use it.
    pub username: Option<String>,
    /// The server to run: a path, a name `scripts/servers` installed (`valkey8`) or a command on
    /// PATH; `None`: `REDIS_SERVER`, else `redis-server` from PATH.
    pub server: Option<String>,
    /// Where the nodes' temp dir goes (their data, AOF included); `None`: the system temp dir.
    pub data_dir: Option<PathBuf>,
    /// `min-replicas-to-write` on every master: writes are refused (NOREPLICAS) unless this many
    /// replicas are connected and lag at most `min-replicas-max-lag` (10 s).
    pub min_replicas_to_write: Option<u32>,
    /// `min-replicas-max-lag` in seconds (Redis's default: 10): how stale a replica's last
    /// acknowledgement may be and still count for `min_replicas_to_write`.
    pub min_replicas_max_lag_s: Option<u32>,
    /// Each node on its own loopback address (127.0.0.2 onwards, with `bind-source-addr`), so
    /// that a partition can cut a pair of nodes while the client on 127.0.0.1 reaches all.
    pub own_addresses: bool,
}

impl Default for LocalClusterOptions {
    fn default() -> Self {
        LocalClusterOptions {
            masters: 3,
            replicas_per_master: 1,
            aof: Aof::Off,
            maxmemory: None,
            maxmemory_policy: None,
            node_timeout_ms: 5000,
            password: None,
            keep_dir: false,
            start_timeout: Duration::from_secs(30),
            tls: false,
            username: None,
            server: None,
            data_dir: None,
            min_replicas_to_write: None,
            min_replicas_max_lag_s: None,
            own_addresses: false,
        }
    }
}

impl fmt::Debug for LocalClusterOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalClusterOptions")
            .field("masters", &self.masters)
            .field("replicas_per_master", &self.replicas_per_master)
            .field("aof", &self.aof)
            .field("maxmemory", &self.maxmemory)
            .field("maxmemory_policy", &self.maxmemory_policy)
            .field("node_timeout_ms", &self.node_timeout_ms)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("server", &self.server)
            .field("data_dir", &self.data_dir)
            .field("min_replicas_to_write", &self.min_replicas_to_write)
            .field("min_replicas_max_lag_s", &self.min_replicas_max_lag_s)
            .field("own_addresses", &self.own_addresses)
            .finish()
    }
}

/// The role a node was given when the cluster formed (it may change after a failover).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeRole {
    Master,
    /// Replica of the master with this index.
    Replica(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_parses_case_insensitively_and_rejects_others() {
        assert_eq!("EverySec".parse::<Fsync>(), Ok(Fsync::Everysec));
        assert!("sometimes"
            .parse::<Fsync>()
            .unwrap_err()
            .contains("always, everysec or no"));
    }
}
