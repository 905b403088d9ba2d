//! `LocalCluster`: N masters × R replicas of `redis-server` on free loopback ports, formed from
//! Rust (CLUSTER ADDSLOTSRANGE / MEET / REPLICATE), owned until drop.
//!
//! - `spawn`: ports, processes, PING; `conf`: each node's redis.conf; `formation`: slots, MEET,
//!   REPLICATE and the health waits. Faults (kill, pause, restart) are methods here.

mod conf;
mod formation;
mod spawn;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::options::{LocalClusterOptions, NodeRole};
use super::partition::{self, Cut};
use super::process::{OwnedChild, Spawner};
use super::server::{check_server, find_server, ServerInfo};
use super::tls::{generate_node_tls, NodeTlsFiles, Tls};
use super::{Credentials, Endpoint};
use crate::storage::{fs_type, DataDir, FsType};
use crate::{Error, Result};
use spawn::random_password;

/// One local node: where it lives and the process that runs it.
struct Node {
    /// 127.0.0.1, or the node's own address ([`partition::node_address`]).
    host: String,
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

    /// `masters` masters, then their replicas round-robin, not yet given a port.
    fn planned(masters: usize, replicas_per_master: usize) -> Vec<Node> {
        (0..masters * (1 + replicas_per_master))
            .map(|i| Node {
                host: String::new(),
                port: 0,
                dir: PathBuf::new(),
                role: match i < masters {
                    true => NodeRole::Master,
                    false => NodeRole::Replica((i - masters) % masters),
                },
                id: String::new(),
                process: None,
            })
            .collect()
    }
}

/// A Redis Cluster of local `redis-server` processes bound to 127.0.0.1 (or, with
/// `own_addresses`, each to its own loopback address).
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

/// The cluster's temp dir under `base`, named with our pid so a later run can tell it is stale.
fn temp_root(base: &Path) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("rcstress-{}-", std::process::id()))
        .tempdir_in(base)
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
        })
}

impl LocalCluster {
    /// Starts the nodes, forms the cluster and waits until every node says it is healthy and every
    /// replica is attached. Any failure kills what was started and says which node and why.
    pub async fn start(options: LocalClusterOptions) -> Result<LocalCluster> {
        if options.masters == 0 {
            return Err(Error::Config("a cluster needs at least 1 master".into()));
        }
        if let Some(user) = &options.username {
            if user.is_empty() || user.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::Config(format!(
                    "the ACL user name '{user}' is empty or has spaces or control characters"
                )));
            }
        }
        if options.own_addresses && options.tls {
            return Err(Error::Config(
                "a partitioned cluster runs without TLS (its certificate names 127.0.0.1 only); drop --tls".into(),
            ));
        }
        let server = check_server(&find_server(options.server.as_deref())?)?;
        let base = options.data_dir.clone().unwrap_or_else(std::env::temp_dir);
        // What a SIGKILLed run left: its nodes died with it, its dir did not.
        crate::files::remove_stale(&base, "rcstress-", "");
        let root = temp_root(&base)?;
        let root_path = root.path().to_path_buf();
        let password = options.password.clone().unwrap_or_else(random_password);
        let tls_files = match options.tls {
            true => Some(generate_node_tls(&root_path.join("tls"))?),
            false => None,
        };
        let tls = match &tls_files {
            Some(files) => Some(Tls::with_ca_file(&files.ca_cert)?),
            None => None,
        };
        let credentials = Credentials {
            username: options.username.clone(),
            password: Some(password.clone()),
        };
        let mut cluster = LocalCluster {
            nodes: Mutex::new(Node::planned(options.masters, options.replicas_per_master)),
            endpoint: Endpoint::new(Vec::new(), credentials).with_tls(tls),
            options: options.clone(),
            server,
            root: Some(root),
            root_path,
            tls_files,
            spawner: Spawner::new().map_err(|e| Error::io("cannot start the spawner thread", e))?,
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

    /// The address node `index` will listen on.
    fn planned_host(&self, index: usize) -> String {
        match self.options.own_addresses {
            true => partition::node_address(index).to_string(),
            false => "127.0.0.1".into(),
        }
    }

    /// The address of the node with this client port (127.0.0.1 if none has it).
    pub fn host_of_port(&self, port: u16) -> String {
        self.lock()
            .iter()
            .find(|n| n.port == port)
            .map_or_else(|| "127.0.0.1".into(), |n| n.host.clone())
    }

    /// The roles given at formation, in node order.
    pub fn initial_roles(&self) -> Vec<NodeRole> {
        self.lock().iter().map(|n| n.role).collect()
    }

    /// Cuts the links `shape` names around master `target` (a node index) until the returned
    /// [`Cut`] is healed or dropped. Needs `own_addresses` and the run's private namespace.
    pub fn partition(&self, shape: partition::Shape, target: usize) -> Result<Cut> {
        if !self.options.own_addresses {
            return Err(Error::NoPrivateNetwork(
                "this cluster's nodes share 127.0.0.1, so no rule can tell them apart: start it with own addresses".into(),
            ));
        }
        Cut::apply(&shape.cuts(&self.initial_roles(), target))
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
