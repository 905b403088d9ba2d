//! Each scenario's options from its flags: the one place where a flag meets the scenario's
//! `Options::default()`. A flag left unset keeps the scenario's own default; the load flags
//! (`--producers`, `--consumers`, `--batch`, `--messages`, `--timeout`) are applied to a workload
//! by one function, [`load`].

use super::{resolve_cluster, ClusterSource, Env};
use crate::cli::cluster::{LocalArgs, Shape};
use crate::cli::scenario::{
    AofCases, AofCompareArgs, BacklogArgs, Common, Consumers, CrashArgs, DurabilityArgs,
    FailoverArgs, MemoryArgs, Messages, Nodes, Producers, ScenarioCommand, ServersArgs,
};
use crate::cli::{ClusterArgs, OnOff};
use crate::scenario::{aof, backlog, crash, durability, failover, memory, servers};
use crate::{Error, LocalClusterOptions, Result, Workload};

/// A scenario ready to run: its options, and for those that can use any cluster, which one.
#[derive(Debug)]
pub enum ScenarioPlan {
    Memory(memory::MemoryOptions),
    Failover(failover::FailoverOptions),
    Crash(crash::CrashOptions, ClusterSource),
    Aof(aof::AofOptions),
    Durability(durability::DurabilityOptions),
    Servers(servers::ServersOptions),
    Backlog(backlog::BacklogOptions, ClusterSource),
}

/// Resolves `rcstress scenario NAME ...` against the environment.
pub fn resolve(cmd: &ScenarioCommand, env: &Env) -> Result<ScenarioPlan> {
    Ok(match cmd {
        ScenarioCommand::MemoryPressure(a) => ScenarioPlan::Memory(memory_options(a, env)?),
        ScenarioCommand::Failover(a) => ScenarioPlan::Failover(failover_options(a, env)?),
        ScenarioCommand::ConsumerCrash(a) => {
            ScenarioPlan::Crash(crash_options(a), resolve_cluster(&a.cluster, env)?)
        }
        ScenarioCommand::AofCompare(a) => ScenarioPlan::Aof(aof_options(a, env)?),
        ScenarioCommand::Durability(a) => ScenarioPlan::Durability(durability_options(a, env)?),
        ScenarioCommand::Servers(a) => ScenarioPlan::Servers(servers_options(a, env)?),
        ScenarioCommand::Backlog(a) => {
            ScenarioPlan::Backlog(backlog_options(a), resolve_cluster(&a.cluster, env)?)
        }
    })
}

/// A scenario's workload: its defaults with the load flags it takes applied.
fn load(
    base: &Workload,
    producers: &Producers,
    consumers: Option<&Consumers>,
    messages: Option<&Messages>,
) -> Workload {
    let mut w = base.clone();
    if let Some(p) = producers.producers {
        w.producers = p.into();
    }
    if let Some(b) = producers.batch {
        w.batch = b as usize;
    }
    if let Some(c) = consumers.and_then(|c| c.consumers) {
        w.consumers = c.into();
    }
    if let Some(m) = messages {
        w.messages = m.messages.unwrap_or(w.messages);
        w.deadline_ms = deadline_ms(m).unwrap_or(w.deadline_ms);
    }
    w
}

/// The workload of a scenario that takes all the load flags.
fn common_load(base: &Workload, c: &Common) -> Workload {
    let k = &c.clients;
    load(base, &k.producers, Some(&k.consumers), Some(&c.messages))
}

fn deadline_ms(m: &Messages) -> Option<u64> {
    m.timeout.map(|t| (t * 1000.0) as u64)
}

/// The embedded cluster a scenario starts, from the groups of cluster flags it takes, or an error
/// saying why it cannot use `REDIS_CLUSTER_NODES`.
fn embedded(local: LocalArgs, env: &Env, name: &str, why: &str) -> Result<LocalClusterOptions> {
    let args = ClusterArgs {
        local,
        ..ClusterArgs::default()
    };
    match resolve_cluster(&args, env)? {
        ClusterSource::Embedded(o) => Ok(o),
        ClusterSource::External(_) => Err(Error::Config(format!(
            "{name} starts its own clusters ({why}); unset REDIS_CLUSTER_NODES"
        ))),
    }
}

fn with_shape(shape: &Shape) -> LocalArgs {
    LocalArgs {
        shape: shape.clone(),
        ..LocalArgs::default()
    }
}

/// The cluster flags of a scenario that starts one cluster per case.
fn with_nodes(nodes: &Nodes) -> LocalArgs {
    LocalArgs {
        access: nodes.access.clone(),
        memory: nodes.memory.clone(),
        ..with_shape(&nodes.shape)
    }
}

fn memory_options(a: &MemoryArgs, env: &Env) -> Result<memory::MemoryOptions> {
    let d = memory::MemoryOptions::default();
    let cluster = embedded(
        a.cluster.clone(),
        env,
        "memory-pressure",
        "it sets maxmemory",
    )?;
    Ok(memory::MemoryOptions {
        cluster,
        messages: a.messages.messages.unwrap_or(d.messages),
        max_failed: a.max_failed.unwrap_or(d.max_failed),
        producers: a.producers.producers.map_or(d.producers, usize::from),
        batch: a.producers.batch.map_or(d.batch, |b| b as usize),
        shards: a.shards.map_or(d.shards, usize::from),
        autoclaim_idle_ms: a.claim.autoclaim_idle.unwrap_or(d.autoclaim_idle_ms),
        deadline_ms: deadline_ms(&a.messages).unwrap_or(d.deadline_ms),
        ..d
    })
}

fn failover_options(a: &FailoverArgs, env: &Env) -> Result<failover::FailoverOptions> {
    let d = failover::FailoverOptions::default();
    let mut local = with_shape(&a.shape);
    local.server = a.server.clone();
    let cluster = embedded(local, env, "failover", "it kills its nodes")?;
    let fault = match (a.pause_ms, a.manual_failover, a.partition) {
        (Some(ms), _, _) => failover::Fault::Pause { ms },
        (None, true, _) => failover::Fault::ManualFailover,
        (None, false, Some(shape)) => failover::Fault::Partition {
            shape,
            ms: a.partition_ms.unwrap_or(failover::DEFAULT_PARTITION_MS),
        },
        (None, false, None) => failover::Fault::Kill,
    };
    let mut workload = common_load(&d.workload, &a.common);
    workload.response_timeout_ms = super::response_timeout_ms(&a.client_timeout, env)?;
    Ok(failover::FailoverOptions {
        masters: cluster.masters,
        replicas_per_master: cluster.replicas_per_master,
        // Its own default (2 s, as every example uses) unless one was given.
        node_timeout_ms: a.shape.node_timeout.unwrap_or(d.node_timeout_ms),
        kills: a.kills.map(|k| k as usize),
        fault,
        restart: a.restart,
        workload,
        server: cluster.server,
        data_dir: cluster.data_dir,
        ..d
    })
}

fn crash_options(a: &CrashArgs) -> crash::CrashOptions {
    let d = crash::CrashOptions::default();
    let w = common_load(
        &Workload {
            messages: d.messages,
            producers: d.producers,
            consumers: d.consumers,
            batch: d.batch,
            deadline_ms: d.deadline_ms,
            ..Workload::default()
        },
        &a.common,
    );
    crash::CrashOptions {
        messages: w.messages,
        producers: w.producers,
        consumers: w.consumers,
        batch: w.batch,
        crash_probability: a.crash_probability.unwrap_or(d.crash_probability),
        autoclaim: a.autoclaim.map_or(d.autoclaim, |a| a == OnOff::On),
        autoclaim_idle_ms: a.claim.autoclaim_idle.unwrap_or(d.autoclaim_idle_ms),
        deadline_ms: w.deadline_ms,
    }
}

fn backlog_options(a: &BacklogArgs) -> backlog::BacklogOptions {
    let d = backlog::BacklogOptions::default();
    backlog::BacklogOptions {
        rate: a.rate.unwrap_or(d.rate),
        // A memory level is waited for up to 10 minutes unless --pause-ms says otherwise.
        pause_ms: a
            .pause_ms
            .unwrap_or(a.backlog_memory.map_or(d.pause_ms, |_| 600_000)),
        pause_messages: a.backlog_messages,
        pause_memory: a.backlog_memory,
        checkpoint: a
            .clients
            .output
            .json
            .clone()
            .zip(a.checkpoint.map(std::time::Duration::from_secs_f64)),
        drain_budget_ms: a
            .drain_budget
            .map_or(d.drain_budget_ms, |s| (s * 1000.0) as u64),
        workload: load(
            &d.workload,
            &a.clients.producers,
            Some(&a.clients.consumers),
            None,
        ),
        ..d
    }
}

fn aof_options(a: &AofCompareArgs, env: &Env) -> Result<aof::AofOptions> {
    let d = aof::AofOptions::default();
    let c = &a.cases;
    let local = LocalArgs {
        server: a.server.clone(),
        ..cases_local(c)
    };
    Ok(aof::AofOptions {
        cluster: embedded(local, env, "aof-compare", "one per mode and run")?,
        modes: if c.modes.is_empty() {
            d.modes.clone()
        } else {
            c.modes.clone()
        },
        repeat: c.nodes.repeat.map_or(d.repeat, |r| r as usize),
        workload: common_load(&d.workload, &c.common),
    })
}

/// The cluster flags of aof-compare and servers.
fn cases_local(c: &AofCases) -> LocalArgs {
    LocalArgs {
        min_replicas: c.min_replicas.clone(),
        ..with_nodes(&c.nodes)
    }
}

fn durability_options(a: &DurabilityArgs, env: &Env) -> Result<durability::DurabilityOptions> {
    let d = durability::DurabilityOptions::default();
    let local = LocalArgs {
        server: a.server.clone(),
        ..with_nodes(&a.nodes)
    };
    let cluster = embedded(local, env, "durability", "it kills and pauses nodes")?;
    // `--messages` sizes the fault-free run; the fault runs are sized by rate × duration.
    let c = &a.common;
    let k = &c.clients;
    let mut workload = load(&d.workload, &k.producers, Some(&k.consumers), None);
    workload.deadline_ms = deadline_ms(&c.messages).unwrap_or(workload.deadline_ms);
    workload.response_timeout_ms = super::response_timeout_ms(&a.client_timeout, env)?;
    Ok(durability::DurabilityOptions {
        // Its own default node-timeout (2 s) unless one was given.
        cluster: LocalClusterOptions {
            node_timeout_ms: a
                .nodes
                .shape
                .node_timeout
                .unwrap_or(d.cluster.node_timeout_ms),
            ..cluster
        },
        modes: match a.durability_modes.is_empty() {
            true => durability::Mode::all(),
            false => a.durability_modes.clone(),
        },
        default_modes: a.durability_modes.is_empty(),
        faults: a.faults.clone(),
        repeat: a.nodes.repeat.map_or(d.repeat, |r| r as usize),
        messages: c.messages.messages.unwrap_or(d.messages),
        rate: a.rate.unwrap_or(d.rate),
        duration_s: a.duration.unwrap_or(d.duration_s),
        pause_ms: a.pause_ms.unwrap_or(d.pause_ms),
        partition: a.partition,
        partition_ms: a.partition_ms.unwrap_or(d.partition_ms),
        allow_memory_fs: a.allow_memory_fs,
        workload,
        ..d
    })
}

fn servers_options(a: &ServersArgs, env: &Env) -> Result<servers::ServersOptions> {
    let d = servers::ServersOptions::default();
    let c = &a.cases;
    Ok(servers::ServersOptions {
        cluster: embedded(cases_local(c), env, "servers", "one per server and run")?,
        servers: a.servers.clone(),
        aof: if c.modes.is_empty() {
            d.aof.clone()
        } else {
            c.modes.iter().map(|m| m.0).collect()
        },
        repeat: c.nodes.repeat.map_or(d.repeat, |r| r as usize),
        workload: common_load(&d.workload, &c.common),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Command, Opts};
    use clap::Parser;

    fn plan(args: &[&str]) -> Result<ScenarioPlan> {
        let mut all = vec!["rcstress", "scenario"];
        all.extend_from_slice(args);
        match Opts::try_parse_from(all).unwrap().command {
            Command::Scenario(s) => resolve(&s, &Env::default()),
            _ => unreachable!(),
        }
    }

    /// Unset flags keep the scenario's defaults; failover's node-timeout is its own 2 s, not the
    /// cluster's 5 s; the load flags land in the workload.
    #[test]
    fn unset_flags_keep_the_scenario_defaults() {
        let Ok(ScenarioPlan::Failover(f)) = plan(&["failover"]) else {
            panic!("failover")
        };
        let d = failover::FailoverOptions::default();
        assert_eq!(f.node_timeout_ms, 2000);
        assert_eq!(f.workload.messages, d.workload.messages);
        assert_eq!(f.workload.batch, d.workload.batch);
        let Ok(ScenarioPlan::Failover(f)) = plan(&[
            "failover",
            "--node-timeout",
            "5000",
            "--producers",
            "2",
            "--timeout",
            "9",
        ]) else {
            panic!("failover")
        };
        assert_eq!((f.node_timeout_ms, f.workload.producers), (5000, 2));
        assert_eq!(f.workload.deadline_ms, 9000);
        let Ok(ScenarioPlan::Crash(c, ClusterSource::Embedded(_))) =
            plan(&["consumer-crash", "--autoclaim", "off", "--consumers", "5"])
        else {
            panic!("consumer-crash")
        };
        assert!(!c.autoclaim);
        assert_eq!((c.consumers, c.crash_probability), (5, 0.05));
        let Ok(ScenarioPlan::Durability(d)) = plan(&["durability", "--messages", "7k"]) else {
            panic!("durability")
        };
        assert_eq!((d.messages, d.cluster.node_timeout_ms), (7000, 2000));
        let Ok(ScenarioPlan::Memory(m)) = plan(&["memory-pressure", "--maxmemory", "5mb"]) else {
            panic!("memory")
        };
        assert_eq!(m.cluster.maxmemory.as_deref(), Some("5mb"));
        assert_eq!(m.max_failed, memory::MemoryOptions::default().max_failed);
    }

    /// A scenario that starts its own clusters refuses REDIS_CLUSTER_NODES, saying why.
    #[test]
    fn embedded_scenarios_refuse_an_external_cluster() {
        let env = Env::from_pairs([("REDIS_CLUSTER_NODES", "127.0.0.1:7000")]);
        let Command::Scenario(s) = Opts::try_parse_from(["rcstress", "scenario", "failover"])
            .unwrap()
            .command
        else {
            unreachable!()
        };
        let e = resolve(&s, &env).unwrap_err().to_string();
        assert!(e.contains("failover starts its own clusters"), "{e}");
    }
}
