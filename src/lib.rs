//! redis-cluster-stress: how fast the produce → consume → ack cycle of Redis Streams runs on a
//! Redis Cluster, and what happens to every message under memory pressure, failover, consumer
//! crashes and AOF.
//!
//! # Layout
//! - [`cluster`]: start a local cluster ([`LocalCluster`]) or reach any cluster ([`Endpoint`]).
//! - [`error`]: the one [`Error`] type.

pub mod cluster;
pub mod error;

pub use cluster::{Aof, Endpoint, Fsync, LocalCluster, LocalClusterOptions};
pub use error::{Error, Result};
