//! Where the cluster comes from and how we talk to it.
//!
//! - [`LocalCluster`]: `redis-server` processes we start, own, fault and stop.
//! - [`Endpoint`]: any cluster, local, compose or external: seed nodes plus credentials, and the
//!   connections the workload uses.
//! - [`topology`]: parsers for `CLUSTER INFO` / `CLUSTER NODES`.

mod local;
mod process;
pub mod topology;

use std::fmt;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};

pub use local::{Aof, Fsync, LocalCluster, LocalClusterOptions, NodeRole};
pub use topology::{parse_cluster_nodes, ClusterInfo, NodeEntry};

use crate::{Error, Result};

/// Username and password for AUTH. `Debug` never shows the password.
#[derive(Clone, Default, PartialEq)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A cluster to talk to: seed nodes (`host:port`) and credentials.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub nodes: Vec<(String, u16)>,
    pub credentials: Credentials,
}

/// How long connecting may take before we call a node unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl Endpoint {
    pub fn new(nodes: Vec<(String, u16)>, credentials: Credentials) -> Self {
        Endpoint { nodes, credentials }
    }

    /// `host:port,host:port` for messages and reports.
    pub fn nodes_display(&self) -> String {
        self.nodes
            .iter()
            .map(|(h, p)| format!("{h}:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn connection_info(&self, host: &str, port: u16) -> Result<redis::ConnectionInfo> {
        let mut redis = RedisConnectionInfo::default();
        if let Some(user) = &self.credentials.username {
            redis = redis.set_username(user);
        }
        if let Some(pw) = &self.credentials.password {
            redis = redis.set_password(pw);
        }
        let info = ConnectionAddr::Tcp(host.to_string(), port)
            .into_connection_info()
            .map_err(|e| Error::redis("connection settings", e))?;
        Ok(info.set_redis_settings(redis))
    }

    /// A cluster connection with our timeouts. `response_timeout` must exceed any BLOCK we send on
    /// it. Fails with a clear error when no seed node answers or the password is wrong.
    pub async fn cluster_connection(
        &self,
        response_timeout: Duration,
    ) -> Result<ClusterConnection> {
        let infos = self
            .nodes
            .iter()
            .map(|(h, p)| self.connection_info(h, *p))
            .collect::<Result<Vec<_>>>()?;
        let client = redis::cluster::ClusterClientBuilder::new(infos)
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(response_timeout)
            .retries(6)
            .min_retry_wait(10)
            .max_retry_wait(500)
            .build()
            .map_err(|e| Error::redis("cluster client settings", e))?;
        let fut = client.get_async_connection();
        match tokio::time::timeout(CONNECT_TIMEOUT * 3, fut).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(self.classify_connect_error(e)),
            Err(_) => Err(Error::ClusterUnavailable(format!(
                "no cluster node answered within {} s at {}; check --nodes / REDIS_CLUSTER_NODES and that the cluster is up",
                (CONNECT_TIMEOUT * 3).as_secs(),
                self.nodes_display()
            ))),
        }
    }

    /// A plain (non-cluster) connection to one node, for admin commands (INFO, CLUSTER ...).
    pub async fn node_connection(&self, host: &str, port: u16) -> Result<MultiplexedConnection> {
        let client = redis::Client::open(self.connection_info(host, port)?)
            .map_err(|e| Error::redis("client settings", e))?;
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(Duration::from_secs(5)));
        let fut = client.get_multiplexed_async_connection_with_config(&cfg);
        match tokio::time::timeout(CONNECT_TIMEOUT + Duration::from_secs(1), fut).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(self.classify_connect_error_at(e, &format!("{host}:{port}"))),
            Err(_) => Err(Error::ClusterUnavailable(format!(
                "node {host}:{port} did not answer within {} s; check the address and that it is up",
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    fn classify_connect_error(&self, e: redis::RedisError) -> Error {
        self.classify_connect_error_at(e, &self.nodes_display())
    }

    fn classify_connect_error_at(&self, e: redis::RedisError, at: &str) -> Error {
        let text = e.to_string();
        if e.kind() == redis::ErrorKind::AuthenticationFailed
            || matches!(e.code(), Some("WRONGPASS") | Some("NOAUTH"))
            || text.contains("WRONGPASS")
            || text.contains("NOAUTH")
            || text.contains("without any password configured")
        {
            let detail = if text.contains("without any password configured") {
                "a password was given but the server has none".to_string()
            } else if text.contains("NOAUTH") {
                "the server needs a password and none was given".to_string()
            } else {
                "wrong username or password".to_string()
            };
            return Error::Auth {
                node: at.to_string(),
                detail,
            };
        }
        if e.is_connection_refusal() || e.is_io_error() || e.is_timeout() {
            return Error::ClusterUnavailable(format!(
                "cannot reach {at}: {}; check the address and that the node is up",
                short(&text)
            ));
        }
        if text.contains("cluster support disabled")
            || text.contains("This instance has cluster support disabled")
        {
            return Error::ClusterUnavailable(format!(
                "{at} is not in cluster mode (cluster-enabled no); point --nodes at a Redis Cluster"
            ));
        }
        Error::ClusterUnavailable(format!("cannot use the cluster at {at}: {}", short(&text)))
    }

    /// Checks every reachable seed node: it is in cluster mode and says `cluster_state:ok` with all
    /// slots. Waits up to `wait` for a cluster that is still forming, then says "cluster not ready".
    pub async fn wait_ready(&self, wait: Duration) -> Result<ClusterInfo> {
        let deadline = Instant::now() + wait;
        let (host, port) = self
            .nodes
            .first()
            .cloned()
            .ok_or_else(|| Error::Config("no cluster nodes given".into()))?;
        loop {
            let last;
            match self.node_connection(&host, port).await {
                Ok(mut conn) => {
                    let reply: redis::RedisResult<String> = redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query_async(&mut conn)
                        .await;
                    match reply {
                        Ok(text) => {
                            let info = ClusterInfo::parse(&text);
                            if info.is_healthy() {
                                return Ok(info);
                            }
                            last = format!(
                                "cluster_state:{} with {} of 16384 slots ok",
                                info.state, info.slots_ok
                            );
                        }
                        Err(e) if e.to_string().contains("cluster support disabled") => {
                            return Err(Error::ClusterUnavailable(format!(
                                "{host}:{port} is not in cluster mode (cluster-enabled no); point --nodes at a Redis Cluster"
                            )))
                        }
                        Err(e) => last = short(&e.to_string()),
                    }
                }
                Err(e @ Error::Auth { .. }) => return Err(e),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(Error::ClusterUnavailable(format!(
                    "cluster not ready at {host}:{port} after {:.0} s: {last}",
                    wait.as_secs_f64()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The cluster's current masters that serve slots, from `CLUSTER NODES` of the first seed node
    /// that answers.
    pub async fn topology(&self) -> Result<Vec<NodeEntry>> {
        let mut last = None;
        for (host, port) in &self.nodes {
            match self.node_connection(host, *port).await {
                Ok(mut conn) => {
                    let text: String = redis::cmd("CLUSTER")
                        .arg("NODES")
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| Error::redis(format!("CLUSTER NODES at {host}:{port}"), e))?;
                    return Ok(parse_cluster_nodes(&text));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("no cluster nodes given".into())))
    }
}

/// The first line of an error text, bounded, for one-line messages.
pub(crate) fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    line.chars().take(200).collect()
}
