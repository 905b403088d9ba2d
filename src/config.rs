//! Resolved settings: flags > environment > `.env` > defaults, validated with clear errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{ClusterArgs, FsyncArg, OnOff, RunArgs};
use crate::cluster::{Credentials, Endpoint, Tls};
use crate::trim::Trim;
use crate::workload::{ClaimerOptions, Workload};
use crate::{Aof, Error, Fsync, LocalClusterOptions, Result};

/// Where a setting came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Environment,
    EnvFile(PathBuf),
}

/// The environment as the tool sees it: process variables over the `.env` file's.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: BTreeMap<String, (String, Origin)>,
}

impl Env {
    /// Reads `env_file` (it must exist) or `./.env` (if present), then the process environment,
    /// which wins. A `.env` that cannot be read or parsed is an error naming the file and line.
    pub fn load(env_file: Option<&Path>) -> Result<Env> {
        let mut env = Env::default();
        let path = match env_file {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(".env")).filter(|p| p.exists()),
        };
        if let Some(path) = path {
            env.read_file(&path)?;
        }
        for (k, v) in std::env::vars() {
            env.vars.insert(k, (v, Origin::Environment));
        }
        Ok(env)
    }

    fn read_file(&mut self, path: &Path) -> Result<()> {
        let iter = dotenvy::from_path_iter(path).map_err(|e| {
            Error::Config(format!("cannot read {}: {}", path.display(), env_error(&e)))
        })?;
        for item in iter {
            let (k, v) = item.map_err(|e| {
                Error::Config(format!(
                    "cannot parse {}: {}",
                    path.display(),
                    env_error(&e)
                ))
            })?;
            self.vars
                .insert(k, (v, Origin::EnvFile(path.to_path_buf())));
        }
        Ok(())
    }

    /// An environment from fixed pairs (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), (v.to_string(), Origin::Environment)))
                .collect(),
        }
    }

    /// Reads a `.env`-format file into a fresh environment (tests and `--env-file` checks).
    pub fn from_file(path: &Path) -> Result<Env> {
        let mut env = Env::default();
        env.read_file(path)?;
        Ok(env)
    }

    /// A non-empty value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(|(v, _)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// "REDIS_CLUSTER_NODES (from .env)" and the like.
    fn describe(&self, key: &str) -> String {
        match self.vars.get(key) {
            Some((_, Origin::EnvFile(p))) => format!("{key} (from {})", p.display()),
            _ => key.to_string(),
        }
    }
}

fn env_error(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(line, pos) => format!(
            "bad line at character {pos}: '{}'",
            line.chars().take(60).collect::<String>()
        ),
        dotenvy::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

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
    let username = match &args.user {
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
    let credentials = Credentials {
        username,
        password: env.get("REDIS_PASSWORD").map(str::to_string),
    };
    let tls_ca = args
        .tls_ca
        .clone()
        .or_else(|| env.get("REDIS_TLS_CA").map(PathBuf::from));
    let ready_timeout = Duration::from_secs_f64(args.ready_timeout);
    let nodes = match &args.nodes {
        Some(text) => Some(parse_nodes(text).map_err(|m| Error::Config(format!("--nodes: {m}")))?),
        None => match env.get("REDIS_CLUSTER_NODES") {
            Some(text) => Some(parse_nodes(text).map_err(|m| {
                Error::Config(format!("{}: {m}", env.describe("REDIS_CLUSTER_NODES")))
            })?),
            None => None,
        },
    };
    if let Some(nodes) = nodes {
        let embedded_only = [
            ("--server", args.server.is_some()),
            ("--data-dir", args.data_dir.is_some()),
            ("--min-replicas", args.min_replicas.is_some()),
        ];
        if let Some((flag, _)) = embedded_only.iter().find(|(_, set)| *set) {
            return Err(Error::Config(format!(
                "{flag} is for the embedded cluster; a --nodes / REDIS_CLUSTER_NODES cluster runs its own servers: drop {flag}"
            )));
        }
        let tls = match &tls_ca {
            Some(path) => Some(Tls::with_ca_file(path)?),
            None if args.tls => Some(Tls::default()),
            None => None,
        };
        let mut endpoint = Endpoint::new(nodes, credentials).with_tls(tls);
        endpoint.ready_timeout = ready_timeout;
        return Ok(ClusterSource::External(endpoint));
    }
    if let Some(path) = &tls_ca {
        return Err(Error::Config(format!(
            "--tls-ca {} is for --nodes clusters; an embedded --tls cluster makes its own CA",
            path.display()
        )));
    }
    let aof = match args.aof {
        OnOff::Off => Aof::Off,
        OnOff::On => Aof::On(match args.fsync {
            FsyncArg::Always => Fsync::Always,
            FsyncArg::Everysec => Fsync::Everysec,
            FsyncArg::No => Fsync::No,
        }),
    };
    if let Some(m) = &args.maxmemory {
        validate_memory(m)?;
    }
    let data_dir = args
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
        masters: args.masters as usize,
        replicas_per_master: args.replicas as usize,
        aof,
        maxmemory: args.maxmemory.clone(),
        maxmemory_policy: args.maxmemory_policy.clone(),
        node_timeout_ms: args
            .node_timeout
            .unwrap_or(LocalClusterOptions::default().node_timeout_ms),
        // An embedded cluster uses REDIS_PASSWORD if set (so the same .env serves `run --nodes`),
        // otherwise a random one.
        password: credentials.password,
        username: credentials.username,
        tls: args.tls,
        keep_dir: args.keep_dir,
        start_timeout: ready_timeout,
        server: args
            .server
            .clone()
            .or_else(|| env.get("REDIS_SERVER").map(str::to_string)),
        data_dir,
        min_replicas_to_write: args.min_replicas,
        ..Default::default()
    };
    Ok(ClusterSource::Embedded(options))
}

/// `3mb`, `100000`, `1gb`: what redis.conf accepts for maxmemory.
fn validate_memory(m: &str) -> Result<()> {
    let t = m.trim().to_ascii_lowercase();
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &t[digits.len()..];
    let ok = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && ["", "b", "k", "kb", "m", "mb", "g", "gb"].contains(&unit);
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "--maxmemory '{m}' is not a size; write e.g. 3mb or 1gb"
        )))
    }
}

/// Everything `rcstress run` needs.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub cluster: ClusterSource,
    pub workload: Workload,
    pub json: Option<PathBuf>,
    pub strict: bool,
    /// Rewrite `json` this often during the run (`None`: only at the end).
    pub checkpoint: Option<Duration>,
}

/// Resolves `rcstress run`'s flags against the environment.
pub fn resolve_run(args: &RunArgs, env: &Env) -> Result<RunSettings> {
    let cluster = resolve_cluster(&args.cluster, env)?;
    let stream = args
        .stream
        .clone()
        .or_else(|| env.get("STREAM_NAME").map(str::to_string))
        .unwrap_or_else(|| "rcstress".into());
    let group = args
        .group
        .clone()
        .or_else(|| env.get("CONSUMER_GROUP").map(str::to_string))
        .or_else(|| env.get("CUSTOMER_GROUPNAME").map(str::to_string))
        .unwrap_or_else(|| "rcstress-group".into());
    for (what, v) in [("stream name", &stream), ("consumer group", &group)] {
        if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::Config(format!(
                "the {what} '{v}' has spaces or control characters"
            )));
        }
    }
    let messages = match (args.duration, args.rate) {
        (Some(d), Some(r)) => ((d * r).ceil() as u64).max(1),
        (Some(_), None) => {
            return Err(Error::Config(
                "--duration needs --rate (messages per second)".into(),
            ))
        }
        _ => args.messages,
    };
    let timeout_ms = (args.timeout * 1000.0) as u64;
    let timeout_ms = match args.duration {
        Some(d) => timeout_ms.max((d * 1000.0) as u64 + 30_000),
        None => timeout_ms,
    };
    let workload = Workload {
        messages,
        producers: args.producers as usize,
        consumers: args.consumers as usize,
        shards: args.shards as usize,
        batch: args.batch as usize,
        inflight: args.inflight as usize,
        free_routing: args.free_routing,
        payload_bytes: args.payload as usize,
        stream,
        group,
        rate: args.rate,
        claimer: (args.autoclaim_idle > 0).then(|| ClaimerOptions {
            min_idle_ms: args.autoclaim_idle,
            interval_ms: (args.autoclaim_idle / 2).clamp(10, 1000),
        }),
        deadline_ms: timeout_ms,
        quiet_ms: (args.autoclaim_idle * 3).max(5_000),
        durability: args.durability,
        trim: args.trim.unwrap_or(match args.duration {
            Some(_) => Trim::Acked,
            None => Trim::None,
        }),
        ..Workload::default()
    };
    workload.validate()?;
    let checkpoint = args
        .checkpoint
        .unwrap_or(if args.duration.is_some() { 10.0 } else { 0.0 });
    Ok(RunSettings {
        cluster,
        workload,
        json: args.json.clone(),
        strict: args.strict,
        checkpoint: (checkpoint > 0.0).then(|| Duration::from_secs_f64(checkpoint)),
    })
}

/// How long a run may wait for an external cluster that is still forming, unless
/// `--ready-timeout` says otherwise (then [`Endpoint::ready_timeout`] holds it).
pub const READY_WAIT: Duration = crate::cluster::DEFAULT_READY_TIMEOUT;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Command, Opts};
    use clap::Parser;

    fn run_args(extra: &[&str]) -> RunArgs {
        let mut args = vec!["rcstress", "run"];
        args.extend_from_slice(extra);
        match Opts::try_parse_from(args).unwrap().command {
            Command::Run(r) => r,
            _ => unreachable!(),
        }
    }

    #[test]
    fn nodes_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_nodes(" 127.0.0.1:7000, localhost:7001 ").unwrap(),
            vec![("127.0.0.1".into(), 7000), ("localhost".into(), 7001)]
        );
        assert!(parse_nodes("127.0.0.1").unwrap_err().contains("no port"));
        let bare = parse_nodes("7000").unwrap_err();
        assert!(
            bare.contains("no host") && bare.contains("127.0.0.1:7000"),
            "{bare}"
        );
        assert!(parse_nodes("127.0.0.1:0")
            .unwrap_err()
            .contains("out of range"));
        assert!(parse_nodes("127.0.0.1:70000")
            .unwrap_err()
            .contains("out of range"));
        assert!(parse_nodes("127.0.0.1:7000,,x:1")
            .unwrap_err()
            .contains("empty item"));
        assert!(parse_nodes(":7000").unwrap_err().contains("no host"));
        assert!(parse_nodes("h:abc").unwrap_err().contains("bad port"));
    }

    #[test]
    fn no_nodes_means_embedded_and_env_nodes_mean_external() {
        let s = resolve_run(&run_args(&[]), &Env::default()).unwrap();
        assert!(matches!(s.cluster, ClusterSource::Embedded(_)));
        let env = Env::from_pairs([
            ("REDIS_CLUSTER_NODES", "127.0.0.1:7000"),
            ("REDIS_PASSWORD", "pw"),
        ]);
        let s = resolve_run(&run_args(&[]), &env).unwrap();
        let ClusterSource::External(ep) = s.cluster else {
            panic!("external expected")
        };
        assert_eq!(ep.credentials.password.as_deref(), Some("pw"));
        // A flag beats the environment.
        let s = resolve_run(&run_args(&["--nodes", "10.0.0.1:1"]), &env).unwrap();
        let ClusterSource::External(ep) = s.cluster else {
            panic!("external expected")
        };
        assert_eq!(ep.nodes, vec![("10.0.0.1".to_string(), 1)]);
    }

    #[test]
    fn dot_env_with_the_seeds_keys_and_the_group_alias() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "ip=\"127.0.0.1\"\nREDIS_PASSWORD=\"s3cret\"  # must match rediscluster.conf\nSTREAM_NAME=\"orders\"\nCUSTOMER_GROUPNAME=\"billing\"\n",
        )
        .unwrap();
        let env = Env::from_file(&path).unwrap();
        let s = resolve_run(&run_args(&[]), &env).unwrap();
        assert_eq!(
            (s.workload.stream.as_str(), s.workload.group.as_str()),
            ("orders", "billing")
        );
        let ClusterSource::Embedded(o) = s.cluster else {
            panic!()
        };
        assert_eq!(o.password.as_deref(), Some("s3cret"));
        // CONSUMER_GROUP wins over the alias.
        std::fs::write(&path, "CONSUMER_GROUP=a\nCUSTOMER_GROUPNAME=b\n").unwrap();
        let s = resolve_run(&run_args(&[]), &Env::from_file(&path).unwrap()).unwrap();
        assert_eq!(s.workload.group, "a");
    }

    #[test]
    fn bad_env_values_name_their_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "REDIS_CLUSTER_NODES=nonsense\n").unwrap();
        let err = resolve_run(&run_args(&[]), &Env::from_file(&path).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("REDIS_CLUSTER_NODES (from") && err.contains("no port"),
            "{err}"
        );
        std::fs::write(&path, "GOOD=1\nthis is not a line\n").unwrap();
        let err = Env::from_file(&path).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot parse") && !err.contains('\n'),
            "{err}"
        );
        let err = Env::load(Some(&dir.path().join("missing.env")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.env"), "{err}");
    }

    #[test]
    fn duration_needs_a_rate_and_sizes_are_checked() {
        assert!(resolve_run(&run_args(&["--duration", "5"]), &Env::default()).is_err());
        let s = resolve_run(
            &run_args(&["--duration", "2", "--rate", "1000"]),
            &Env::default(),
        )
        .unwrap();
        assert_eq!(s.workload.messages, 2000);
        // A --duration run is a soak: trimmed behind the consumers and checkpointed by default.
        assert_eq!(s.workload.trim, Trim::Acked);
        assert_eq!(s.checkpoint, Some(Duration::from_secs(10)));
        let s = resolve_run(&run_args(&[]), &Env::default()).unwrap();
        assert_eq!((s.workload.trim, s.checkpoint), (Trim::None, None));
        let s = resolve_run(
            &run_args(&[
                "--duration",
                "2",
                "--rate",
                "1000",
                "--trim",
                "maxlen:5k",
                "--checkpoint",
                "0",
            ]),
            &Env::default(),
        )
        .unwrap();
        assert_eq!((s.workload.trim, s.checkpoint), (Trim::MaxLen(5000), None));
        let e = resolve_run(
            &run_args(&["--free-routing", "--trim", "maxlen:10"]),
            &Env::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("drop --free-routing"), "{e}");
        assert!(resolve_run(&run_args(&["--maxmemory", "lots"]), &Env::default()).is_err());
        assert!(resolve_run(&run_args(&["--maxmemory", "3mb"]), &Env::default()).is_ok());
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// `--nodes` / REDIS_CLUSTER_NODES: no input panics; what parses is usable.
            #[test]
            fn parse_nodes_never_panics(text in "\\PC*|[0-9a-z.:,\\[\\] -]{0,40}") {
                if let Ok(nodes) = parse_nodes(&text) {
                    prop_assert!(!nodes.is_empty());
                    for (host, port) in nodes {
                        prop_assert!(!host.is_empty() && port >= 1);
                    }
                }
            }

            /// Lists that are well formed come back as written.
            #[test]
            fn parse_nodes_round_trips(items in prop::collection::vec(("[a-z][a-z0-9.-]{0,20}", 1u16..), 1..6)) {
                let text = items.iter().map(|(h, p)| format!("{h}:{p}")).collect::<Vec<_>>().join(",");
                let parsed = parse_nodes(&text).unwrap();
                prop_assert_eq!(parsed, items);
            }

            /// A `.env` file with any content is read or refused, never a panic.
            #[test]
            fn dot_env_never_panics(content in "\\PC*|[A-Z_=\"'#\\\\ \n$]{0,60}") {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join(".env");
                std::fs::write(&path, &content).unwrap();
                if let Ok(env) = Env::from_file(&path) {
                    let _ = resolve_cluster(&crate::cli::ClusterArgs::default(), &env);
                }
            }
        }
    }
}
