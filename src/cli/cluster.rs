//! The cluster flags, in groups a command takes whole (`#[command(flatten)]`): a command that
//! can use any cluster takes [`ClusterArgs`], one that starts an embedded cluster takes
//! [`LocalArgs`], and a scenario that sets some of the nodes' settings itself takes only the groups
//! it honours, so a flag it would ignore is refused by clap and absent from its `--help`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::parse::parse_secs;

/// Where the cluster comes from and, for an embedded one, how it is built.
#[derive(Debug, Args, Clone, Default)]
pub struct ClusterArgs {
    /// Use this cluster (host:port,...) instead of starting one. Also REDIS_CLUSTER_NODES.
    #[arg(long, value_name = "HOST:PORT,...")]
    pub nodes: Option<String>,
    /// Trust this CA (PEM) for --tls instead of the system's roots (also REDIS_TLS_CA); implies --tls.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    #[command(flatten)]
    pub local: LocalArgs,
}

/// Every setting of an embedded cluster (`cluster up`, `scenario memory-pressure`).
#[derive(Debug, Args, Clone, Default)]
pub struct LocalArgs {
    #[command(flatten)]
    pub shape: Shape,
    #[command(flatten)]
    pub server: ServerArg,
    #[command(flatten)]
    pub access: Access,
    #[command(flatten)]
    pub aof: AofArgs,
    #[command(flatten)]
    pub memory: MaxmemoryArgs,
    #[command(flatten)]
    pub min_replicas: MinReplicasArg,
}

/// Builds a group's defaults from its clap attributes, so a default is written once.
fn clap_defaults<T: clap::FromArgMatches + Args>() -> T {
    let cmd = T::augment_args(clap::Command::new("defaults").no_binary_name(true));
    let matches = cmd
        .try_get_matches_from(std::iter::empty::<String>())
        .expect("every flag of a group has a valid default (a unit test checks it)");
    T::from_arg_matches(&matches).expect("the defaults fit their fields")
}

macro_rules! clap_default {
    ($($t:ty),*) => {$(
        impl Default for $t {
            fn default() -> Self {
                clap_defaults()
            }
        }
    )*};
}

clap_default!(Shape, Access, AofArgs);

/// How many nodes, how fast they give up on each other, where their data goes.
#[derive(Debug, Args, Clone)]
pub struct Shape {
    /// Embedded cluster: masters.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub masters: u16,
    /// Embedded cluster: replicas per master.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(0..=5))]
    pub replicas: u16,
    /// Embedded cluster: cluster-node-timeout in ms (default 5000; scenarios failover and
    /// durability: 2000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub node_timeout: Option<u64>,
    /// Embedded cluster: put the nodes' data (AOF included) under this dir instead of the temp
    /// dir (also RCSTRESS_DATA_DIR). AOF figures mean something only on a disk, not tmpfs.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Which server binary the nodes run.
#[derive(Debug, Args, Clone, Default)]
pub struct ServerArg {
    /// Embedded cluster: the server to run: a path, a name 'scripts/servers install' knows
    /// (redis7, valkey8, redis8, valkey9) or a command on PATH (also REDIS_SERVER).
    #[arg(long, value_name = "NAME|PATH")]
    pub server: Option<String>,
}

/// Who we are to the cluster, how we talk to it, how long we wait for it.
#[derive(Debug, Args, Clone)]
pub struct Access {
    /// ACL user to AUTH as, with REDIS_PASSWORD (also REDIS_USERNAME). Embedded cluster: the
    /// user is created on every node.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Talk TLS to the cluster. Embedded cluster: the nodes serve TLS only (client port, bus,
    /// replication), with a throwaway CA made in the temp dir.
    #[arg(long)]
    pub tls: bool,
    /// Keep the embedded cluster's temp dir (configs, logs, data) after it stops.
    #[arg(long)]
    pub keep_dir: bool,
    /// Seconds to wait for the cluster: an external one to say cluster_state:ok, an embedded one
    /// to start and form.
    #[arg(long, default_value_t = 30.0, value_parser = parse_secs, value_name = "SECS")]
    pub ready_timeout: f64,
}

/// The append-only file.
#[derive(Debug, Args, Clone)]
pub struct AofArgs {
    /// Embedded cluster: append-only file.
    #[arg(long, value_enum, default_value_t = OnOff::Off)]
    pub aof: OnOff,
    /// Embedded cluster: appendfsync when --aof on.
    #[arg(long, value_enum, default_value_t = FsyncArg::Everysec)]
    pub fsync: FsyncArg,
}

/// The nodes' memory limit.
#[derive(Debug, Args, Clone, Default)]
pub struct MaxmemoryArgs {
    /// Embedded cluster: maxmemory per node (e.g. 3mb).
    #[arg(long, value_name = "BYTES")]
    pub maxmemory: Option<String>,
    /// Embedded cluster: maxmemory-policy (e.g. allkeys-lru, noeviction).
    #[arg(long, value_name = "POLICY")]
    pub maxmemory_policy: Option<String>,
}

/// Writes refused unless enough replicas are connected.
#[derive(Debug, Args, Clone, Default)]
pub struct MinReplicasArg {
    /// Embedded cluster: min-replicas-to-write on every master (writes refused with NOREPLICAS
    /// unless this many replicas are connected).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=5))]
    pub min_replicas: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OnOff {
    #[default]
    Off,
    On,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum FsyncArg {
    Always,
    #[default]
    Everysec,
    No,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The groups' `Default` is what clap gives when no flag is set.
    #[test]
    fn defaults_come_from_the_clap_attributes() {
        let local = LocalArgs::default();
        assert_eq!((local.shape.masters, local.shape.replicas), (3, 1));
        assert_eq!(local.shape.node_timeout, None);
        assert_eq!(local.access.ready_timeout, 30.0);
        assert_eq!(
            (local.aof.aof, local.aof.fsync),
            (OnOff::Off, FsyncArg::Everysec)
        );
        assert!(ClusterArgs::default().nodes.is_none());
    }
}
