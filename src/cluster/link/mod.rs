//! The connection redis-rs's cluster client uses to each node: [`NodeConnection`].
//!
//! redis-rs keeps everything it does for a cluster (slots, routing, MOVED/ASK, reconnecting after
//! a failover, retries); only the connection to one node is ours on plain TCP with RESP2
//! ([`Link`]): it reads replies with a hand-written parser ([`decode`], on [`crate::resp`])
//! instead of redis-rs's general one, which was over half of the client's CPU per message. TLS,
//! Unix sockets and RESP3 keep redis-rs's own [`MultiplexedConnection`].
//!
//! One thing the tool does rely on: the reply to an XREADGROUP, when it has entries, comes as
//! its raw bytes in a [`Value::BulkString`] (which XREADGROUP never answers with), and
//! `stream::reply` reads the entries from those bytes: building a value per field was most of
//! what was left of the reading. Over redis-rs's connection the same reply is a value tree, which
//! `stream::reply` reads too.
//!
//! Differences from redis-rs's connection, none of which the tool relies on: no
//! `CLIENT SETINFO` at connect; no response timeout per connection (the cluster connection's
//! overall response timeout, which is the same length, bounds every request); in a MULTI/EXEC
//! pipeline, errors of queued commands are not gathered (EXEC's reply says EXECABORT).

mod decode;
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
                let raw = is_xreadgroup(&bytes);
                Box::pin(async move { link.request(bytes, 0, None, raw).await })
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
                    match link.request(bytes, offset, Some(count), false).await? {
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

/// Whether a packed command is XREADGROUP, its name in capitals (as `stream::xreadgroup_cmd`
/// writes it): the array's header, then the name as the first bulk string.
fn is_xreadgroup(packed: &[u8]) -> bool {
    const NAME: &[u8] = b"$10\r\nXREADGROUP\r\n";
    packed
        .iter()
        .position(|&b| b == b'\n')
        .is_some_and(|eol| packed[eol + 1..].starts_with(NAME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_xreadgroup_from_its_packed_bytes() {
        let read = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg("c")
            .arg("STREAMS")
            .arg("k")
            .arg(">")
            .clone();
        assert!(is_xreadgroup(&read.get_packed_command()));
        for other in [
            redis::cmd("XADD")
                .arg("k")
                .arg("*")
                .arg("m")
                .arg("XREADGROUP")
                .clone(),
            redis::cmd("XRANGE").arg("k").arg("-").arg("+").clone(),
            redis::cmd("PING").clone(),
        ] {
            assert!(!is_xreadgroup(&other.get_packed_command()));
        }
    }
}
