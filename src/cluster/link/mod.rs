//! The connection redis-rs's cluster client uses to each node: [`NodeConnection`].
//!
//! redis-rs keeps everything it does for a cluster (slots, routing, MOVED/ASK, reconnecting after
//! a failover, retries); only the connection to one node is ours on plain TCP with RESP2
//! ([`Link`]): it reads replies with a hand-written parser ([`resp`]) instead of redis-rs's
//! general one, which was over half of the client's CPU per message. TLS, Unix sockets and RESP3
//! keep redis-rs's own [`MultiplexedConnection`].
//!
//! Differences from redis-rs's connection, none of which the tool relies on: no
//! `CLIENT SETINFO` at connect; no response timeout per connection (the cluster connection's
//! overall response timeout, which is the same length, bounds every request); in a MULTI/EXEC
//! pipeline, errors of queued commands are not gathered (EXEC's reply says EXECABORT).

mod resp;
mod socket;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::Connect;
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, IntoConnectionInfo, Pipeline, ProtocolVersion,
    RedisFuture, Value,
};

use socket::Link;

/// The cluster connection the tool uses: redis-rs's, over [`NodeConnection`]s.
pub type ClusterConnection = redis::cluster_async::ClusterConnection<NodeConnection>;

/// A connection to one node: ours ([`Link`]) where it applies, redis-rs's otherwise.
#[derive(Clone)]
pub enum NodeConnection {
    Link(Link),
    RedisRs(MultiplexedConnection),
}

impl Connect for NodeConnection {
    fn connect_with_config<'a, T>(info: T, config: AsyncConnectionConfig) -> RedisFuture<'a, Self>
    where
        T: IntoConnectionInfo + Send + 'a,
    {
        Box::pin(async move {
            let info = info.into_connection_info()?;
            let settings = info.redis_settings();
            match info.addr() {
                ConnectionAddr::Tcp(host, port)
                    if settings.protocol() == ProtocolVersion::RESP2 =>
                {
                    let nodelay = info.tcp_settings().nodelay();
                    Link::connect(host, *port, settings, nodelay, super::CONNECT_TIMEOUT)
                        .await
                        .map(NodeConnection::Link)
                }
                _ => MultiplexedConnection::connect_with_config(info, config)
                    .await
                    .map(NodeConnection::RedisRs),
            }
        })
    }
}

impl ConnectionLike for NodeConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            NodeConnection::Link(link) => {
                let bytes = cmd.get_packed_command();
                Box::pin(async move { link.request(bytes, 0, None).await })
            }
            NodeConnection::RedisRs(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            NodeConnection::Link(link) => {
                let bytes = pipeline.get_packed_pipeline();
                Box::pin(async move {
                    match link.request(bytes, offset, Some(count)).await? {
                        Value::Array(replies) => Ok(replies),
                        other => Ok(vec![other]),
                    }
                })
            }
            NodeConnection::RedisRs(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            NodeConnection::Link(link) => link.db(),
            NodeConnection::RedisRs(c) => c.get_db(),
        }
    }
}
