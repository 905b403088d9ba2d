//! Which cluster a command uses: `--nodes` / REDIS_CLUSTER_NODES, or an embedded one built from
//! the cluster flags.

use std::path::PathBuf;
use std::time::Duration;

use super::Env;
use crate::cli::{ClusterArgs, FsyncArg, OnOff};
use crate::cluster::{Credentials, Endpoint, Tls};
use crate::{Aof, Error, Fsync, LocalClusterOptions, Result};

/// Parses `host:port,host:port`: trims spaces, rejects empty items, missing ports and ports
/// outside 1..=65535.
pub fn parse_nodes(text: &str) -> std::result::Result<Vec<(String, u16)>, String> {
    let mut nodes = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!(
                "'{text}' has an empty item; write host:port,host:port"
            ));
        }
        let item = item.strip_prefix("redis://").unwrap_or(item);
        let Some((host, port)) = item.rsplit_once(':') else {
            // A bare number is a port without its host (`--nodes 7000`), anything else a host
            // without its port: say which, with the form that works.
            return Err(match item.parse::<u16>() {
                Ok(port) => format!("'{item}' has no host; write host:port, e.g. 127.0.0.1:{port}"),
                Err(_) => format!("'{item}' has no port; write host:port, e.g. {item}:7000"),
            });
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("'{item}' has no host; write host:port"));
        }
        let port: u32 = port
            .parse()
            .map_err(|_| format!("'{item}' has a bad port; ports are 1-65535"))?;
        if port == 0 || port > 65535 {
            return Err(format!("'{item}': port {port} is out of range 1-65535"));
        }
        nodes.push((host.to_string(), port as u16));
    }
    Ok(nodes)
}

/// The cluster to use: one we start, or one that exists.
#[derive(Clone, Debug)]
pub enum ClusterSource {
    Embedded(LocalClusterOptions),
    External(Endpoint),
}

impl ClusterSource {
    /// For reports: what cluster this was, without secrets.
    pub fn describe(&self) -> serde_json::Value {
        match self {
            ClusterSource::Embedded(o) => serde_json::json!({
                "mode": "embedded",
                "tls": o.tls,
                "username": o.username,
                "masters": o.masters,
                "replicas_per_master": o.replicas_per_master,
                "aof": match o.aof { Aof::Off => "off".to_string(), Aof::On(_) => "on".to_string() },
                "fsync": match o.aof { Aof::Off => None, Aof::On(f) => Some(f.to_string()) },
                "maxmemory": o.maxmemory,
                "maxmemory_policy": o.maxmemory_policy,
                "node_timeout_ms": o.node_timeout_ms,
                "server": o.server,
                "data_dir": o.data_dir,
                "min_replicas_to_write": o.min_replicas_to_write,
            }),
            ClusterSource::External(ep) => serde_json::json!({
                "mode": "external",
                "nodes": ep.nodes_display(),
                "username": ep.credentials.username,
                "password_set": ep.credentials.password.is_some(),
                "tls": ep.tls.is_some(),
            }),
        }
    }
}

/// Decides between an embedded and an external cluster.
pub fn resolve_cluster(args: &ClusterArgs, env: &Env) -> Result<ClusterSource> {
    let credentials = credentials(args, env)?;
    let tls_ca = args
        .tls_ca
        .clone()
        .or_else(|| env.get("REDIS_TLS_CA").map(PathBuf::from));
    let nodes = match &args.nodes {
        Some(text) => Some(parse_nodes(text).map_err(|m| Error::Config(format!("--nodes: {m}")))?),
        None => match env.get("REDIS_CLUSTER_NODES") {
            Some(text) => Some(parse_nodes(text).map_err(|m| {
                Error::Config(format!("{}: {m}", env.describe("REDIS_CLUSTER_NODES")))
            })?),
            None => None,
        },
    };
    match nodes {
        Some(nodes) => external(args, nodes, credentials, tls_ca),
        None => match &tls_ca {
            Some(path) => Err(Error::Config(format!(
                "--tls-ca {} is for --nodes clusters; an embedded --tls cluster makes its own CA",
                path.display()
            ))),
            None => embedded(args, env, credentials),
        },
    }
}

/// `--user` / REDIS_USERNAME and REDIS_PASSWORD.
fn credentials(args: &ClusterArgs, env: &Env) -> Result<Credentials> {
    let username = match &args.local.access.user {
        Some(u) => Some(u.clone()),
        None => env.get("REDIS_USERNAME").map(str::to_string),
    };
    if let Some(u) = &username {
        if u.trim().is_empty() || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::Config(format!(
                "the user name '{u}' (--user / REDIS_USERNAME) is empty or has spaces"
            )));
        }
    }
    Ok(Credentials {
        username,
        password: env.get("REDIS_PASSWORD").map(str::to_string),
    })
}

/// A cluster at `nodes`; flags that only an embedded cluster can honour are refused.
fn external(
    args: &ClusterArgs,
    nodes: Vec<(String, u16)>,
    credentials: Credentials,
    tls_ca: Option<PathBuf>,
) -> Result<ClusterSource> {
    let local = &args.local;
    let embedded_only = [
        ("--server", local.server.server.is_some()),
        ("--data-dir", local.shape.data_dir.is_some()),
        ("--min-replicas", local.min_replicas.min_replicas.is_some()),
    ];
    if let Some((flag, _)) = embedded_only.iter().find(|(_, set)| *set) {
        return Err(Error::Config(format!(
            "{flag} is for the embedded cluster; a --nodes / REDIS_CLUSTER_NODES cluster runs its own servers: drop {flag}"
        )));
    }
    let tls = match &tls_ca {
        Some(path) => Some(Tls::with_ca_file(path)?),
        None if local.access.tls => Some(Tls::default()),
        None => None,
    };
    let mut endpoint = Endpoint::new(nodes, credentials).with_tls(tls);
    endpoint.ready_timeout = Duration::from_secs_f64(local.access.ready_timeout);
    Ok(ClusterSource::External(endpoint))
}

/// The embedded cluster the flags describe.
fn embedded(args: &ClusterArgs, env: &Env, credentials: Credentials) -> Result<ClusterSource> {
    let local = &args.local;
    let aof = match local.aof.aof {
        OnOff::Off => Aof::Off,
        OnOff::On => Aof::On(match local.aof.fsync {
            FsyncArg::Always => Fsync::Always,
            FsyncArg::Everysec => Fsync::Everysec,
            FsyncArg::No => Fsync::No,
        }),
    };
    if let Some(m) = &local.memory.maxmemory {
        validate_memory(m)?;
    }
    let data_dir = local
        .shape
        .data_dir
        .clone()
        .or_else(|| env.get("RCSTRESS_DATA_DIR").map(PathBuf::from));
    if let Some(d) = &data_dir {
        if !d.is_dir() {
            return Err(Error::Config(format!(
                "--data-dir / RCSTRESS_DATA_DIR {} is not a directory; create it or choose another",
                d.display()
            )));
        }
    }
    // `..Default::default()` stays although every field is set today: options added later take
    // their defaults here instead of breaking the build.
    #[allow(clippy::needless_update)]
    let options = LocalClusterOptions {
        masters: local.shape.masters as usize,
        replicas_per_master: local.shape.replicas as usize,
        aof,
        maxmemory: local.memory.maxmemory.clone(),
        maxmemory_policy: local.memory.maxmemory_policy.clone(),
        node_timeout_ms: local
            .shape
            .node_timeout
            .unwrap_or(LocalClusterOptions::default().node_timeout_ms),
        // An embedded cluster uses REDIS_PASSWORD if set (so the same .env serves `run --nodes`),
        // otherwise a random one.
        password: credentials.password,
        username: credentials.username,
        tls: local.access.tls,
        keep_dir: local.access.keep_dir,
        start_timeout: Duration::from_secs_f64(local.access.ready_timeout),
        server: local
            .server
            .server
            .clone()
            .or_else(|| env.get("REDIS_SERVER").map(str::to_string)),
        data_dir,
        min_replicas_to_write: local.min_replicas.min_replicas,
        ..Default::default()
    };
    Ok(ClusterSource::Embedded(options))
}

/// `3mb`, `100000`, `1gb`: what redis.conf accepts for maxmemory.
fn validate_memory(m: &str) -> Result<()> {
    let ok = crate::cli::parse::memory_units(m).is_some_and(|(digits, _)| {
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "--maxmemory '{m}' is not a size; write e.g. 3mb or 1gb"
        )))
    }
}
