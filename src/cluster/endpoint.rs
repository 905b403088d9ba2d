//! [`Endpoint`]: any cluster, local, compose or external: seed nodes plus credentials, the
//! connections the workload uses, and errors a user can act on when they cannot be made.

use std::fmt;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};

use super::topology::{parse_cluster_nodes, ClusterInfo, NodeEntry};
use super::{ClusterConnection, NodeConnection, Tls};
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

/// A cluster to talk to: seed nodes (`host:port`), credentials, and TLS if the nodes speak it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub nodes: Vec<(String, u16)>,
    pub credentials: Credentials,
    /// `Some`: connect with TLS (every node, including those discovered from the seeds).
    pub tls: Option<Tls>,
    /// How long [`Endpoint::wait_ready`] callers wait for a cluster that is still forming.
    pub ready_timeout: Duration,
}

/// How long to wait for an external cluster to say `cluster_state:ok` unless told otherwise.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting may take before we call a node unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl Endpoint {
    pub fn new(nodes: Vec<(String, u16)>, credentials: Credentials) -> Self {
        Endpoint {
            nodes,
            credentials,
            tls: None,
            ready_timeout: DEFAULT_READY_TIMEOUT,
        }
    }

    /// The same cluster over TLS.
    pub fn with_tls(mut self, tls: Option<Tls>) -> Self {
        self.tls = tls;
        self
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
        let addr = match &self.tls {
            None => ConnectionAddr::Tcp(host.to_string(), port),
            Some(_) => ConnectionAddr::TcpTls {
                host: host.to_string(),
                port,
                insecure: false,
                tls_params: None,
            },
        };
        let info = addr
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
        let mut builder = redis::cluster::ClusterClientBuilder::new(infos);
        if let Some(tls) = &self.tls {
            builder = builder.certs(tls.certificates());
        }
        let client = builder
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(response_timeout)
            .retries(6)
            .min_retry_wait(10)
            .max_retry_wait(500)
            .build()
            .map_err(|e| Error::redis("cluster client settings", e))?;
        let fut = client.get_async_generic_connection::<NodeConnection>();
        match tokio::time::timeout(CONNECT_TIMEOUT * 3, fut).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => {
                let err = self.classify_connect_error(e);
                match self.nodes.first() {
                    Some((h, p)) => Err(self.explain_auth_failure(err, h, *p).await),
                    None => Err(err),
                }
            }
            Err(_) => Err(Error::ClusterUnavailable(format!(
                "no cluster node answered within {} s at {}; check --nodes / REDIS_CLUSTER_NODES and that the cluster is up",
                (CONNECT_TIMEOUT * 3).as_secs(),
                self.nodes_display()
            ))),
        }
    }

    /// Connects to one node: the redis-rs error as is, or `None` when it did not answer in time.
    async fn connect_node(
        &self,
        host: &str,
        port: u16,
    ) -> std::result::Result<MultiplexedConnection, Option<redis::RedisError>> {
        let info = self.connection_info(host, port).map_err(|_| None)?;
        let client = match &self.tls {
            None => redis::Client::open(info),
            Some(tls) => redis::Client::build_with_tls(info, tls.certificates()),
        }
        .map_err(Some)?;
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(Duration::from_secs(5)));
        let fut = client.get_multiplexed_async_connection_with_config(&cfg);
        match tokio::time::timeout(CONNECT_TIMEOUT + Duration::from_secs(1), fut).await {
            Ok(r) => r.map_err(Some),
            Err(_) => Err(None),
        }
    }

    /// A plain (non-cluster) connection to one node, for admin commands (INFO, CLUSTER ...).
    pub async fn node_connection(&self, host: &str, port: u16) -> Result<MultiplexedConnection> {
        match self.connect_node(host, port).await {
            Ok(c) => Ok(c),
            Err(Some(e)) => {
                let err = self.classify_connect_error_at(e, &format!("{host}:{port}"));
                Err(self.explain_auth_failure(err, host, port).await)
            }
            Err(None) => Err(Error::ClusterUnavailable(format!(
                "node {host}:{port} did not answer within {} s; check the address and that it is up",
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    fn classify_connect_error(&self, e: redis::RedisError) -> Error {
        self.classify_connect_error_at(e, &self.nodes_display())
    }

    /// Turns a failure to connect to (or to query) `at` into the error a user can act on.
    fn classify_connect_error_at(&self, e: redis::RedisError, at: &str) -> Error {
        self.classify(&e, at).0
    }

    /// The error a user can act on, and whether waiting could change it (`false`: a wrong
    /// password, a node that is not in cluster mode, a certificate we do not trust, a port that
    /// does not speak Redis).
    fn classify(&self, e: &redis::RedisError, at: &str) -> (Error, bool) {
        let text = e.to_string();
        if e.kind() == redis::ErrorKind::AuthenticationFailed
            || matches!(e.code(), Some("WRONGPASS") | Some("NOAUTH"))
            || text.contains("WRONGPASS")
            || text.contains("NOAUTH")
            || text.contains("without any password configured")
        {
            let detail = if text.contains("without any password configured") {
                "a password was given but the server has none; unset REDIS_PASSWORD".to_string()
            } else if text.contains("NOAUTH") {
                "the server needs a password and none was given; set REDIS_PASSWORD".to_string()
            } else {
                "wrong username or password; check REDIS_PASSWORD (and --user / REDIS_USERNAME)"
                    .to_string()
            };
            let err = Error::Auth {
                node: at.to_string(),
                detail,
            };
            return (err, false);
        }
        if text.contains("cluster support disabled") {
            let err = Error::ClusterUnavailable(format!(
                "{at} is not in cluster mode (cluster-enabled no); point --nodes at a Redis Cluster"
            ));
            return (err, false);
        }
        if self.tls.is_some() && text.contains("certificate") {
            let err = Error::ClusterUnavailable(format!(
                "TLS to {at} failed: {}; give the CA that signed the nodes' certificates with --tls-ca",
                short(&text)
            ));
            return (err, false);
        }
        if e.is_connection_refusal() {
            let err = Error::ClusterUnavailable(format!(
                "cannot reach {at}: {}; check the address and that the node is up",
                short(&text)
            ));
            return (err, true);
        }
        if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
            let hint = if self.tls.is_some() {
                "; check that the nodes speak TLS on this port"
            } else {
                "; if the nodes speak TLS, add --tls"
            };
            let err = Error::ClusterUnavailable(format!(
                "cannot talk to {at}: {}; check the address and that the node is up{hint}",
                short(&text)
            ));
            return (err, true);
        }
        if e.kind() == redis::ErrorKind::Parse {
            let err = Error::ClusterUnavailable(format!(
                "{at} does not answer in the Redis protocol ({}); is it a Redis port{}?",
                short(&text),
                if self.tls.is_some() {
                    ""
                } else {
                    ", or does it want --tls"
                }
            ));
            return (err, false);
        }
        let err =
            Error::ClusterUnavailable(format!("cannot use the cluster at {at}: {}", short(&text)));
        (err, true)
    }

    /// redis-rs reports every refused AUTH alike. When no username was given, one PING without
    /// credentials tells "the server has no password at all" from "wrong password".
    async fn explain_auth_failure(&self, err: Error, host: &str, port: u16) -> Error {
        let Error::Auth { node, detail } = &err else {
            return err;
        };
        if self.credentials.username.is_some()
            || self.credentials.password.is_none()
            || !detail.starts_with("wrong username or password")
        {
            return err;
        }
        let bare = Endpoint::new(vec![(host.to_string(), port)], Credentials::default())
            .with_tls(self.tls.clone());
        let probe = async {
            let mut conn = bare.connect_node(host, port).await.ok()?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .ok()
        };
        match tokio::time::timeout(CONNECT_TIMEOUT * 2, probe).await {
            Ok(Some(_)) => Error::Auth {
                node: node.clone(),
                detail: "a password was given but the server has none; unset REDIS_PASSWORD".into(),
            },
            _ => err,
        }
    }

    /// Waits up to `wait` for the cluster to be usable: the first seed node that answers must be
    /// in cluster mode and say `cluster_state:ok` with all slots; then "cluster not ready". When
    /// every seed node refuses the connection for [`REFUSED_GRACE`], nothing is there to wait
    /// for (a mistyped port, a cluster that is not up): that fails at once.
    pub async fn wait_ready(&self, wait: Duration) -> Result<ClusterInfo> {
        if self.nodes.is_empty() {
            return Err(Error::Config("no cluster nodes given".into()));
        }
        let deadline = Instant::now() + wait;
        let mut refused_since: Option<Instant> = None;
        loop {
            let mut last = None;
            for (host, port) in &self.nodes {
                match self.probe(host, *port).await? {
                    Probe::Healthy(info) => return Ok(info),
                    p @ Probe::NotReady { .. } => {
                        last = Some(p);
                        break;
                    }
                    p @ Probe::Refused(_) => last = last.or(Some(p)),
                }
            }
            let last = last.expect("at least one seed node");
            match &last {
                Probe::Refused(text) => {
                    let since = *refused_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= REFUSED_GRACE {
                        return Err(Error::ClusterUnavailable(format!(
                            "no seed node listens ({text}); check --nodes / REDIS_CLUSTER_NODES and that the cluster is up"
                        )));
                    }
                }
                _ => refused_since = None,
            }
            if Instant::now() >= deadline {
                let (text, hint) = match last {
                    Probe::NotReady { text, state: true } => {
                        (text, "; wait for it to recover or raise --ready-timeout")
                    }
                    Probe::NotReady { text, .. } | Probe::Refused(text) => (text, ""),
                    Probe::Healthy(_) => unreachable!("returned above"),
                };
                return Err(Error::ClusterUnavailable(format!(
                    "cluster not ready at {} after {} s: {text}{hint}",
                    self.nodes_display(),
                    fmt_secs(wait)
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// One look at one seed node: healthy, refused (nothing listens), or not ready (what it said,
    /// and whether that was a cluster state); an error that waiting cannot change is returned.
    async fn probe(&self, host: &str, port: u16) -> Result<Probe> {
        let at = format!("{host}:{port}");
        let mut conn = match self.connect_node(host, port).await {
            Ok(conn) => conn,
            Err(Some(e)) => {
                let refused = e.is_connection_refusal();
                return match self.classify(&e, &at) {
                    (e, false) => Err(self.explain_auth_failure(e, host, port).await),
                    (e, true) if refused => Ok(Probe::Refused(e.to_string())),
                    (e, true) => Ok(Probe::NotReady {
                        text: e.to_string(),
                        state: false,
                    }),
                };
            }
            Err(None) => {
                return Ok(Probe::NotReady {
                    text: format!(
                        "{at} did not answer within {} s; check the address and that it is up",
                        CONNECT_TIMEOUT.as_secs()
                    ),
                    state: false,
                })
            }
        };
        let reply: redis::RedisResult<String> = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut conn)
            .await;
        match reply {
            Ok(text) => {
                let info = ClusterInfo::parse(&text);
                if info.is_healthy() {
                    return Ok(Probe::Healthy(info));
                }
                Ok(Probe::NotReady {
                    text: format!(
                        "cluster_state:{} with {} of 16384 slots ok",
                        info.state, info.slots_ok
                    ),
                    state: true,
                })
            }
            Err(e) => match self.classify(&e, &at) {
                (e, false) => Err(e),
                (e, true) => Ok(Probe::NotReady {
                    text: e.to_string(),
                    state: false,
                }),
            },
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

/// How long every seed node may refuse connections before [`Endpoint::wait_ready`] gives up: a
/// node that is starting listens within this, so a refusal past it means nothing is there.
pub const REFUSED_GRACE: Duration = Duration::from_secs(2);

/// What one look at a seed node found.
enum Probe {
    Healthy(ClusterInfo),
    /// Nothing listens: connection refused.
    Refused(String),
    /// It answered, or failed in a way that may pass; `state`: it named a cluster state.
    NotReady {
        text: String,
        state: bool,
    },
}

/// `30`, `1.5`: seconds as a person writes them.
fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

/// The first line of an error text, bounded, for one-line messages.
pub(crate) fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    line.chars().take(200).collect()
}
