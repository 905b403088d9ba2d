//! The tool's own connection to one node (`NodeConnection::Link`), against a real node: every
//! request gets its own replies, in order, whatever the shape of the request before it.

mod support;

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::cluster_async::Connect;
use redis::{AsyncConnectionConfig, Value};
use redis_cluster_stress::cluster::NodeConnection;

async fn link(cluster: &redis_cluster_stress::LocalCluster) -> NodeConnection {
    let url = format!(
        "redis://:{}@127.0.0.1:{}/",
        cluster.password(),
        cluster.ports()[0]
    );
    let conn = NodeConnection::connect_with_config(url, AsyncConnectionConfig::new())
        .await
        .expect("connect");
    assert!(matches!(conn, NodeConnection::Link(_)), "plain TCP, RESP2");
    conn
}

/// The reply, within 5 s.
async fn answer<T>(
    what: &str,
    request: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> T {
    tokio::time::timeout(Duration::from_secs(5), request)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer in 5 s"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// A pipeline with no commands answers at once with no replies, and takes none of the next
/// request's; a transaction's queued replies are skipped; a plain pipeline gets its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_gets_its_own_replies() {
    let cluster = support::cluster(1, 0).await;
    let mut conn = link(&cluster).await;

    let empty = redis::pipe();
    let got = answer(
        "an empty pipeline did not answer",
        conn.req_packed_commands(&empty, 0, 0),
    )
    .await;
    assert_eq!(got, Vec::<Value>::new());

    let set = redis::cmd("SET").arg("{t}k").arg("v").clone();
    let got = answer(
        "SET after an empty pipeline did not answer",
        conn.req_packed_command(&set),
    )
    .await;
    assert_eq!(got, Value::Okay);

    let mut tx = redis::pipe();
    tx.atomic().cmd("INCR").arg("{t}n").cmd("GET").arg("{t}k");
    let got = answer(
        "a transaction did not answer",
        conn.req_packed_commands(&tx, 3, 1),
    )
    .await;
    assert_eq!(
        got,
        vec![Value::Array(vec![
            Value::Int(1),
            Value::BulkString(b"v".to_vec())
        ])]
    );

    let mut pipe = redis::pipe();
    pipe.cmd("INCR")
        .arg("{t}n")
        .cmd("GET")
        .arg("{t}k")
        .cmd("PING");
    let got = answer(
        "a pipeline did not answer",
        conn.req_packed_commands(&pipe, 0, 3),
    )
    .await;
    assert_eq!(
        got,
        vec![
            Value::Int(2),
            Value::BulkString(b"v".to_vec()),
            Value::SimpleString("PONG".into())
        ]
    );
}
