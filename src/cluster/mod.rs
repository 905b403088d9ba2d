//! Where the cluster comes from and how we talk to it.
//!
//! - [`LocalCluster`]: `redis-server` processes we start, own, fault and stop, built from
//!   [`LocalClusterOptions`].
//! - [`Endpoint`]: any cluster, local, compose or external: seed nodes plus credentials, and the
//!   connections the workload uses.
//! - [`topology`]: parsers for `CLUSTER INFO` / `CLUSTER NODES`.
//! - [`tls`]: TLS settings of a client and the throwaway CA of an embedded TLS cluster.
//! - [`server`]: which server binary an embedded cluster runs.
//! - [`netns`] and [`partition`]: a private network namespace for the run, and partitions (drop
//!   rules between nodes on their own loopback addresses) made inside it.
//! - [`ClusterConnection`]: redis-rs's cluster client over our own connection to each node.

mod endpoint;
mod facts;
mod link;
mod local;
pub mod netns;
mod options;
pub mod partition;
mod process;
pub mod server;
pub mod tls;
pub mod topology;

pub(crate) use endpoint::short;
pub use endpoint::{Credentials, Endpoint, CONNECT_TIMEOUT, DEFAULT_READY_TIMEOUT};
pub use facts::{ClusterFacts, ServerName};
pub use link::{ClusterConnection, NodeConnection};
pub use local::LocalCluster;
pub use options::{Aof, Fsync, LocalClusterOptions, NodeRole};
pub use server::ServerInfo;
pub use tls::Tls;
pub use topology::{parse_cluster_nodes, ClusterInfo, NodeEntry};
