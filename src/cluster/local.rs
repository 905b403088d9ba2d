//! `LocalCluster`: N masters × R replicas of `redis-server` on free loopback ports, formed from
//! Rust (CLUSTER ADDSLOTSRANGE / MEET / REPLICATE), owned until drop.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::Rng;

use super::process::{OwnedChild, Spawner};
use super::server::{check_server, find_server, ServerInfo};
use super::tls::{generate_node_tls, NodeTlsFiles, Tls};
use super::topology::{parse_cluster_nodes, parse_info_fields, replica_sync_problem, ClusterInfo};
use super::{short, Credentials, Endpoint};
use crate::storage::{fs_type, DataDir, FsType};
use crate::{Error, Result};

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

/// One local node: where it lives and the process that runs it.
struct Node {
    port: u16,
    dir: PathBuf,
    role: NodeRole,
    id: String,
    process: Option<OwnedChild>,
}

impl Node {
    fn log(&self) -> PathBuf {
        self.dir.join("redis.log")
    }
}

/// A Redis Cluster of local `redis-server` processes bound to 127.0.0.1.
///
/// Dropping it kills (SIGKILL, by pid) and reaps every node and removes its temp dir; the nodes
/// also die if this process is SIGKILLed (`PR_SET_PDEATHSIG`). Fault methods take `&self` so a
/// scenario can kill or pause nodes while the workload runs.
pub struct LocalCluster {
    nodes: Mutex<Vec<Node>>,
    endpoint: Endpoint,
    options: LocalClusterOptions,
    server: ServerInfo,
    root: Option<tempfile::TempDir>,
    root_path: PathBuf,
    tls_files: Option<NodeTlsFiles>,
    // Declared last: dropped after the nodes are killed.
    spawner: Spawner,
}

impl fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCluster")
            .field("nodes", &self.endpoint.nodes_display())
            .field("dir", &self.root_path)
            .finish()
    }
}

/// A random port P with P and P+10000 both free on 127.0.0.1. P is kept below 22768 so the bus
/// port stays under Linux's ephemeral range (32768+), where outgoing connections take ports.
/// Another process may take the port before the node binds it: a race we accept because start-up
/// retries that node on a fresh port when its log says the address is in use.
fn free_port_pair() -> Result<u16> {
    let mut rng = rand::rng();
    for _ in 0..200 {
        let p: u16 = rng.random_range(12000..22768);
        let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free(p) && free(p + 10000) {
            return Ok(p);
        }
    }
    Err(Error::ClusterStart {
        what: "no free port pair (P and P+10000) on 127.0.0.1 after 200 tries; free some ports or close other clusters".into(),
        log: None,
        tail: String::new(),
    })
}

fn random_password() -> String {
    let mut rng = rand::rng();
    (0..32)
        .map(|_| format!("{:x}", rng.random_range(0..16u8)))
        .collect()
}

/// True while process `pid` exists and is not a zombie. A SIGKILLed run whose parent has not
/// reaped it yet is a zombie: dead, and its dir is stale.
fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may contain spaces.
        Ok(stat) => !matches!(
            stat.rsplit(')')
                .next()
                .map(str::trim_start)
                .and_then(|r| r.chars().next()),
            Some('Z') | Some('X')
        ),
        Err(_) => false,
    }
}

/// Removes temp dirs of earlier runs whose process no longer exists (a run that was SIGKILLed
/// cannot clean up after itself; its nodes died with it). A limit we accept: if the dead run's
/// pid was reused by a live process, its dir stays until that process is gone too.
fn remove_stale_dirs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("rcstress-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pid as u32 != std::process::id() && !process_alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

impl LocalCluster {
    /// Starts the nodes, forms the cluster and waits until every node says it is healthy and every
    /// replica is attached. Any failure kills what was started and says which node and why.
    pub async fn start(options: LocalClusterOptions) -> Result<LocalCluster> {
        if options.masters == 0 {
            return Err(Error::Config("a cluster needs at least 1 master".into()));
        }
        let server = check_server(&find_server(options.server.as_deref())?)?;
        let base = options.data_dir.clone().unwrap_or_else(std::env::temp_dir);
        remove_stale_dirs(&base);
        let root = tempfile::Builder::new()
            .prefix(&format!("rcstress-{}-", std::process::id()))
            .tempdir_in(&base)
            .map_err(|e| {
                // tempfile's error repeats the path; the kind is what a person needs.
                Error::io(
                    format!(
                        "cannot create a temp dir in {} (set TMPDIR or --data-dir to a writable dir)",
                        base.display()
                    ),
                    std::io::Error::new(
                        e.kind(),
                        e.to_string()
                            .split(" at path ")
                            .next()
                            .unwrap_or("")
                            .to_string(),
                    ),
                )
            })?;
        let root_path = root.path().to_path_buf();
        let password = options.password.clone().unwrap_or_else(random_password);
        if let Some(user) = &options.username {
            if user.is_empty() || user.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::Config(format!(
                    "the ACL user name '{user}' is empty or has spaces or control characters"
                )));
            }
        }
        let tls_files = if options.tls {
            Some(generate_node_tls(&root_path.join("tls"))?)
        } else {
            None
        };
        let tls = match &tls_files {
            Some(files) => Some(Tls::with_ca_file(&files.ca_cert)?),
            None => None,
        };
        let spawner =
            Spawner::new().map_err(|e| Error::io("cannot start the spawner thread", e))?;

        let total = options.masters * (1 + options.replicas_per_master);
        let mut nodes = Vec::with_capacity(total);
        for i in 0..total {
            let role = if i < options.masters {
                NodeRole::Master
            } else {
                NodeRole::Replica((i - options.masters) % options.masters)
            };
            nodes.push(Node {
                port: 0,
                dir: PathBuf::new(),
                role,
                id: String::new(),
                process: None,
            });
        }
        let credentials = Credentials {
            username: options.username.clone(),
            password: Some(password.clone()),
        };
        let mut cluster = LocalCluster {
            nodes: Mutex::new(nodes),
            endpoint: Endpoint::new(Vec::new(), credentials).with_tls(tls),
            options: options.clone(),
            server,
            root: Some(root),
            root_path,
            tls_files,
            spawner,
        };
        let deadline = Instant::now() + options.start_timeout;
        cluster.spawn_all(&password, deadline).await?;
        cluster.form(deadline).await?;
        if options.keep_dir {
            if let Some(root) = cluster.root.take() {
                let _ = root.keep();
            }
        }
        Ok(cluster)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Node>> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write_config(&self, port: u16, dir: &Path, password: &str) -> Result<()> {
        let o = &self.options;
        // repl-diskless-sync-delay 0: the default 5 s wait for more replicas would triple start-up.
        // Every value a user or the file system chooses is quoted: a space or newline in a
        // password or TMPDIR must neither break the file nor add directives to it.
        let listen = match &self.tls_files {
            None => format!("port {port}\n"),
            Some(t) => format!(
                "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
                 tls-auth-clients no\ntls-cluster yes\ntls-replication yes\n",
                conf_quote(&t.cert.display().to_string()),
                conf_quote(&t.key.display().to_string()),
                conf_quote(&t.ca_cert.display().to_string()),
            ),
        };
        let mut conf = format!(
            "{listen}bind 127.0.0.1\nprotected-mode yes\ndaemonize no\ndir {dir}\nlogfile {log}\n\
             cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout {timeout}\n\
             save \"\"\nrepl-diskless-sync-delay 0\nrequirepass {pw}\nmasterauth {pw}\n",
            dir = conf_quote(&dir.display().to_string()),
            log = conf_quote(&dir.join("redis.log").display().to_string()),
            timeout = o.node_timeout_ms,
            pw = conf_quote(password),
        );
        if let Some(user) = &o.username {
            conf.push_str(&format!(
                "user {} on {} ~* &* +@all\n",
                conf_quote(user),
                conf_quote(&format!(">{password}"))
            ));
        }
        match o.aof {
            Aof::Off => conf.push_str("appendonly no\n"),
            Aof::On(fsync) => conf.push_str(&format!("appendonly yes\nappendfsync {fsync}\n")),
        }
        if let Some(m) = &o.maxmemory {
            conf.push_str(&format!("maxmemory {m}\n"));
        }
        if let Some(p) = &o.maxmemory_policy {
            conf.push_str(&format!("maxmemory-policy {p}\n"));
        }
        if let Some(n) = o.min_replicas_to_write {
            conf.push_str(&format!("min-replicas-to-write {n}\n"));
        }
        let path = dir.join("redis.conf");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
        file.write_all(conf.as_bytes())
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
    }

    /// Starts the node of `index` from the config in its dir.
    fn spawn_node(&self, index: usize) -> Result<()> {
        let dir = self.lock()[index].dir.clone();
        let mut cmd = Command::new(&self.server.path);
        // Only the config path is on the command line: `ps` never shows the password.
        cmd.arg(dir.join("redis.conf")).current_dir(&dir);
        // Nor does `ps e`: the node needs none of our secrets in its environment.
        for key in ["REDIS_PASSWORD", "REDIS_USERNAME"] {
            cmd.env_remove(key);
        }
        let child = self.spawner.spawn(cmd).map_err(|e| {
            Error::RedisServerMissing(format!("cannot run {}: {e}", self.server.path.display()))
        })?;
        self.lock()[index].process = Some(child);
        Ok(())
    }

    /// Spawns every node on a fresh port pair and waits until each answers PING.
    async fn spawn_all(&mut self, password: &str, deadline: Instant) -> Result<()> {
        let count = self.lock().len();
        for i in 0..count {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let port = free_port_pair()?;
                let dir = self.root_path.join(format!("node-{port}"));
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
                self.write_config(port, &dir, password)?;
                {
                    let mut nodes = self.lock();
                    nodes[i].port = port;
                    nodes[i].dir = dir;
                }
                self.spawn_node(i)?;
                let log = self.lock()[i].log();
                match self.wait_ping(i, deadline).await {
                    Ok(()) => break,
                    Err(e) if attempt < 3 && log_tail(&log).contains("Address already in use") => {
                        tracing::debug!(
                            "port {port} taken before the node bound it; retrying: {e}"
                        );
                        if let Some(mut p) = self.lock()[i].process.take() {
                            p.kill();
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let nodes: Vec<(String, u16)> = self
            .lock()
            .iter()
            .map(|n| ("127.0.0.1".to_string(), n.port))
            .collect();
        self.endpoint.nodes = nodes;
        Ok(())
    }

    fn start_error(&self, index: usize, what: String) -> Error {
        let log = self.lock()[index].log();
        Error::ClusterStart {
            tail: log_tail(&log),
            log: Some(log),
            what,
        }
    }

    async fn wait_ping(&self, index: usize, deadline: Instant) -> Result<()> {
        let port = self.lock()[index].port;
        let ep = Endpoint {
            nodes: vec![("127.0.0.1".into(), port)],
            ..self.endpoint.clone()
        };
        loop {
            let running = self.lock()[index]
                .process
                .as_mut()
                .is_some_and(OwnedChild::is_running);
            if !running {
                return Err(self.start_error(
                    index,
                    format!("redis-server on port {port} exited during start-up"),
                ));
            }
            if let Ok(mut conn) = ep.node_connection("127.0.0.1", port).await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(self.start_error(
                    index,
                    format!("redis-server on port {port} did not answer PING in time"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn admin(&self, port: u16) -> Result<redis::aio::MultiplexedConnection> {
        self.endpoint.node_connection("127.0.0.1", port).await
    }

    async fn query<T: redis::FromRedisValue>(&self, port: u16, cmd: &redis::Cmd) -> Result<T> {
        let mut conn = self.admin(port).await?;
        cmd.query_async(&mut conn)
            .await
            .map_err(|e| Error::redis(format!("{} on port {port}", command_name(cmd)), e))
    }

    /// Assigns slots, introduces the nodes, attaches replicas, then waits for health.
    async fn form(&self, deadline: Instant) -> Result<()> {
        let masters = self.options.masters;
        let ports: Vec<u16> = self.lock().iter().map(|n| n.port).collect();
        for (i, &port) in ports.iter().enumerate() {
            let id: String = self.query(port, redis::cmd("CLUSTER").arg("MYID")).await?;
            self.lock()[i].id = id;
        }
        for (i, &port) in ports.iter().enumerate().take(masters) {
            let (lo, hi) = slot_range(i, masters);
            let _: () = self
                .query(
                    port,
                    redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(lo).arg(hi),
                )
                .await?;
        }
        for (i, &port) in ports.iter().enumerate() {
            // Distinct epochs up front, as redis-cli does, so nodes need not resolve collisions.
            let _: redis::RedisResult<()> = {
                let mut conn = self.admin(port).await?;
                redis::cmd("CLUSTER")
                    .arg("SET-CONFIG-EPOCH")
                    .arg(i + 1)
                    .query_async(&mut conn)
                    .await
            };
        }
        for &port in ports.iter().skip(1) {
            let _: () = self
                .query(
                    port,
                    redis::cmd("CLUSTER")
                        .arg("MEET")
                        .arg("127.0.0.1")
                        .arg(ports[0]),
                )
                .await?;
        }
        // Every node must know every other before a replica can REPLICATE a master id.
        self.wait_until(
            deadline,
            "every node to know every other (CLUSTER MEET)",
            |nodes_text, _| {
                let entries = parse_cluster_nodes(nodes_text);
                entries.len() == ports.len()
                    && entries
                        .iter()
                        .all(|e| !e.has_flag("handshake") && !e.has_flag("noaddr"))
            },
        )
        .await?;
        let ids: Vec<String> = self.lock().iter().map(|n| n.id.clone()).collect();
        let roles: Vec<NodeRole> = self.lock().iter().map(|n| n.role).collect();
        for (i, role) in roles.iter().enumerate() {
            if let NodeRole::Replica(m) = role {
                let _: () = self
                    .query(
                        ports[i],
                        redis::cmd("CLUSTER").arg("REPLICATE").arg(&ids[*m]),
                    )
                    .await?;
            }
        }
        self.wait_healthy(deadline).await
    }

    /// Waits until every running node says `cluster_state:ok` with all slots, knows every node,
    /// has loaded its data, and every running replica has its link to its master up with no sync
    /// in progress: nothing is measured on a cluster whose replicas are still catching up.
    pub async fn wait_healthy(&self, deadline: Instant) -> Result<()> {
        let expected = self.lock().len();
        self.wait_until(
            deadline,
            "cluster_state:ok with 16384 slots on every node and every replica in sync",
            |nodes_text, info| {
                let ci = ClusterInfo::parse(&info.0);
                let entries = parse_cluster_nodes(nodes_text);
                // A replica counts once its link is up and no sync is in progress, any node once
                // it has loaded its data (`INFO`; the role in CLUSTER NODES can lag it).
                let replica_ok = replica_sync_problem(&parse_info_fields(&info.1)).is_none();
                // A replica that a peer still sees as a master without slots is not attached yet
                // in that peer's view (gossip lags REPLICATE); failed nodes are left out.
                let roles_settled = entries
                    .iter()
                    .all(|e| !e.is_master() || e.is_failing() || !e.slots.is_empty());
                ci.is_healthy() && entries.len() == expected && replica_ok && roles_settled
            },
        )
        .await
    }

    /// Polls CLUSTER NODES, CLUSTER INFO and INFO (default sections) on every running node until `ok`
    /// holds for all, or the deadline passes (the error names the first node that was not ready).
    async fn wait_until<F>(&self, deadline: Instant, what: &str, ok: F) -> Result<()>
    where
        F: Fn(&str, &(String, String)) -> bool,
    {
        loop {
            let ports: Vec<(usize, u16)> = {
                let mut nodes = self.lock();
                nodes
                    .iter_mut()
                    .enumerate()
                    .filter_map(|(i, n)| {
                        n.process
                            .as_mut()
                            .is_some_and(OwnedChild::is_running)
                            .then_some((i, n.port))
                    })
                    .collect()
            };
            let mut not_ready = None;
            for (i, port) in ports {
                let state = async {
                    let mut conn = self.admin(port).await?;
                    let nodes: String = redis::cmd("CLUSTER")
                        .arg("NODES")
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| Error::redis("CLUSTER NODES", e))?;
                    let info: String = redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| Error::redis("CLUSTER INFO", e))?;
                    // The default sections: `replication` and `persistence` (`loading`).
                    let repl: String = redis::cmd("INFO")
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| Error::redis("INFO", e))?;
                    Ok::<_, Error>((nodes, (info, repl)))
                }
                .await;
                let ready = matches!(&state, Ok((nodes, info)) if ok(nodes, info));
                if !ready {
                    not_ready = Some((i, port, state.err().map(|e| short(&e.to_string()))));
                    break;
                }
            }
            let Some((i, port, err)) = not_ready else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                let why = err.map(|e| format!(" ({e})")).unwrap_or_default();
                return Err(self.start_error(
                    i,
                    format!("timed out waiting for {what}: node on port {port} not ready{why}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Seed nodes and credentials, for clients.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The cluster's password (random unless given). Never print it.
    pub fn password(&self) -> &str {
        self.endpoint.credentials.password.as_deref().unwrap_or("")
    }

    pub fn options(&self) -> &LocalClusterOptions {
        &self.options
    }

    /// The server binary the nodes run, its name and version.
    pub fn server(&self) -> &ServerInfo {
        &self.server
    }

    /// Each node's data dir and the file system it is on (the type decides whether AOF's
    /// fsync costs anything).
    pub fn data_dirs(&self) -> Vec<DataDir> {
        self.lock()
            .iter()
            .map(|n| DataDir {
                port: n.port,
                dir: n.dir.display().to_string(),
                fs: fs_type(&n.dir).unwrap_or(FsType {
                    name: "unknown".into(),
                    in_memory: false,
                }),
            })
            .collect()
    }

    /// The temp dir holding each node's config, log and data.
    pub fn dir(&self) -> &Path {
        &self.root_path
    }

    /// The PEM file of the throwaway CA the nodes' certificate is signed by (`--tls` only).
    pub fn tls_ca_file(&self) -> Option<&Path> {
        self.tls_files.as_ref().map(|t| t.ca_cert.as_path())
    }

    /// Client ports, in node order (masters first as formed).
    pub fn ports(&self) -> Vec<u16> {
        self.lock().iter().map(|n| n.port).collect()
    }

    /// Data dir of node `index` (where `appendonlydir` appears with AOF on).
    pub fn node_dir(&self, index: usize) -> PathBuf {
        self.lock()[index].dir.clone()
    }

    /// Node ids, in node order.
    pub fn node_ids(&self) -> Vec<String> {
        self.lock().iter().map(|n| n.id.clone()).collect()
    }

    /// The role given at formation.
    pub fn initial_role(&self, index: usize) -> NodeRole {
        self.lock()[index].role
    }

    /// Index of the node with this client port.
    pub fn index_of_port(&self, port: u16) -> Option<usize> {
        self.lock().iter().position(|n| n.port == port)
    }

    /// Process ids of the running nodes (to check for orphans).
    pub fn pids(&self) -> Vec<u32> {
        self.lock()
            .iter()
            .filter_map(|n| n.process.as_ref().and_then(OwnedChild::pid))
            .collect()
    }

    /// True while node `index` runs (or is paused).
    pub fn is_running(&self, index: usize) -> bool {
        self.lock()[index]
            .process
            .as_mut()
            .is_some_and(OwnedChild::is_running)
    }

    /// SIGKILL node `index` and reap it: a crash, no shutdown, no final fsync.
    pub fn kill(&self, index: usize) {
        if let Some(mut p) = self.lock()[index].process.take() {
            p.kill();
        }
    }

    /// SIGSTOP (`true`) or SIGCONT node `index`: a node that hangs without closing its sockets.
    pub fn pause(&self, index: usize, pause: bool) -> Result<()> {
        let mut nodes = self.lock();
        let node = &mut nodes[index];
        let port = node.port;
        node.process
            .as_mut()
            .ok_or_else(|| Error::Config(format!("node on port {port} is not running")))?
            .set_paused(pause)
            .map_err(|e| Error::io(format!("signal node on port {port}"), e))
    }

    /// Starts node `index` again from its own dir; with its `nodes.conf` it rejoins the cluster
    /// (as a replica if it lost its slots while down). Waits until it answers PING.
    pub async fn restart(&self, index: usize) -> Result<()> {
        self.kill(index);
        self.spawn_node(index)?;
        self.wait_ping(index, Instant::now() + Duration::from_secs(10))
            .await
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for node in self.lock().iter_mut() {
            if let Some(mut p) = node.process.take() {
                p.kill();
            }
        }
        // `root` (TempDir) removes the dir when dropped after this, unless it was kept.
    }
}

/// A redis.conf argument in double quotes, escaped as redis.conf reads it (`\\`, `\"`, `\xHH`).
fn conf_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// The inclusive slot range of master `i` of `n`, spread as redis-cli does.
pub(crate) fn slot_range(i: usize, n: usize) -> (u16, u16) {
    let lo = (i * 16384 / n) as u16;
    let hi = ((i + 1) * 16384 / n - 1) as u16;
    (lo, hi)
}

fn command_name(cmd: &redis::Cmd) -> String {
    cmd.args_iter()
        .take(2)
        .filter_map(|a| match a {
            redis::Arg::Simple(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ranges_cover_all_slots_without_overlap() {
        for n in 1..=7 {
            let ranges: Vec<_> = (0..n).map(|i| slot_range(i, n)).collect();
            assert_eq!(ranges[0].0, 0);
            assert_eq!(ranges[n - 1].1, 16383);
            for w in ranges.windows(2) {
                assert_eq!(w[0].1 + 1, w[1].0);
            }
        }
    }

    #[test]
    fn config_values_are_quoted_so_they_cannot_add_directives() {
        assert_eq!(conf_quote("plain"), "\"plain\"");
        assert_eq!(conf_quote("a b"), "\"a b\"");
        assert_eq!(conf_quote("x\nport 1"), "\"x\\x0aport 1\"");
        assert_eq!(conf_quote("q\"\\"), "\"q\\\"\\\\\"");
    }

    #[test]
    fn fsync_parses_case_insensitively_and_rejects_others() {
        assert_eq!("EverySec".parse::<Fsync>(), Ok(Fsync::Everysec));
        assert!("sometimes"
            .parse::<Fsync>()
            .unwrap_err()
            .contains("always, everysec or no"));
    }
}
