//! What a durability comparison will run, decided before the first cluster starts: the checks
//! that refuse what cannot make a comparison, the modes the server has, and each run's client
//! timeout.

use super::{DurabilityOptions, Fault, Mode};
use crate::cluster::server::{check_server, find_server, ServerInfo};
use crate::durability::Durability;
use crate::{Error, Result};

/// Refuses a memory file system (unless allowed): AOF there measures nothing.
fn check_data_fs(opts: &DurabilityOptions) -> Result<Option<String>> {
    let base = opts
        .cluster
        .data_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let Some(fs) = crate::storage::fs_type(&base) else {
        return Ok(None);
    };
    if !fs.in_memory {
        return Ok(None);
    }
    let text = format!(
        "the nodes' data dir {} is on {}: fsync is free there, so AOF and WAITAOF measure nothing",
        base.display(),
        fs.name
    );
    if opts.allow_memory_fs {
        Ok(Some(text))
    } else {
        Err(Error::Config(format!(
            "{text}; put it on a disk with --data-dir DIR (or RCSTRESS_DATA_DIR), or pass \
             --allow-memory-fs to go on anyway"
        )))
    }
}

/// Refuses what cannot make a comparison, before the first cluster starts. Returns the modes to
/// run (default modes the server lacks are left out) and the notes for the report: a memory file
/// system allowed, modes left out.
pub(super) fn check(opts: &DurabilityOptions) -> Result<(Vec<Mode>, Vec<String>)> {
    if opts.modes.is_empty() || opts.faults.is_empty() || opts.repeat == 0 {
        return Err(Error::Config(
            "durability needs at least one mode, one fault and --repeat of at least 1".into(),
        ));
    }
    let nt = opts.cluster.node_timeout_ms;
    let pauses = opts.faults.contains(&Fault::Pause) || opts.faults.contains(&Fault::PauseShort);
    if pauses && opts.pause_ms <= nt {
        return Err(Error::Config(format!(
            "the pause ({} ms) must exceed --node-timeout ({nt} ms) to cause the failover it tests",
            opts.pause_ms
        )));
    }
    // The load must outlast the fault: the final scan that counts the losses has to see the
    // cluster after the heal, not the cut master's view during the cut.
    let longest_ms = opts
        .faults
        .iter()
        .map(|f| match f {
            Fault::None => 0,
            Fault::Pause | Fault::PauseShort => opts.pause_ms,
            Fault::Partition => opts.partition_ms,
            Fault::ShardKill => opts.down_ms,
        })
        .max()
        .unwrap_or(0);
    let needed_s = opts.fault_at_s + longest_ms as f64 / 1000.0 + 2.0;
    if longest_ms > 0 && opts.duration_s < needed_s {
        return Err(Error::Config(format!(
            "--duration {} s ends before the fault does (it starts at {} s and lasts {longest_ms} ms): use --duration {needed_s} or more",
            opts.duration_s, opts.fault_at_s
        )));
    }
    let partitions = opts.faults.contains(&Fault::Partition);
    if partitions && opts.partition_ms <= nt {
        return Err(Error::Config(format!(
            "the partition ({} ms) must exceed --node-timeout ({nt} ms) to cause the failover it tests",
            opts.partition_ms
        )));
    }
    if opts.cluster.replicas_per_master == 0 {
        return Err(Error::Config(
            "durability needs replicas (--replicas 1 or more)".into(),
        ));
    }
    let mut notes: Vec<String> = check_data_fs(opts)?.into_iter().collect();
    // WAITAOF came with Redis 7.2 (Valkey has it): say so before the first cluster starts.
    let server = check_server(&find_server(opts.cluster.server.as_deref())?)?;
    let (modes, lacking) = supported_modes(&opts.modes, &server);
    if !lacking.is_empty() {
        if !opts.default_modes {
            return Err(Error::ServerLacks(format!(
                "{} has no WAITAOF (it came with Redis 7.2): drop the waitaof modes, or run with --server valkey8 or --server redis8 (install with 'scripts/servers install valkey8')",
                server.label()
            )));
        }
        notes.push(format!(
            "{} left out: {} has no WAITAOF (it came with Redis 7.2); run with --server valkey8 to compare them",
            lacking.join(", "),
            server.label()
        ));
    }
    opts.workload.validate()?;
    if partitions && !crate::cluster::netns::is_private() {
        return Err(Error::NoPrivateNetwork(
            "the partition fault needs the run in its own network namespace (rcstress makes one when --faults names partition; a library caller calls cluster::netns::enter first)".into(),
        ));
    }
    Ok((modes, notes))
}

/// The modes `server` can run, and the specs of those it cannot.
fn supported_modes(modes: &[Mode], server: &ServerInfo) -> (Vec<Mode>, Vec<String>) {
    let no_waitaof = server.name == "redis" && server.version_tuple() < (7, 2);
    let (ok, lacking): (Vec<Mode>, Vec<Mode>) = modes
        .iter()
        .cloned()
        .partition(|m| !(no_waitaof && matches!(m.durability, Durability::WaitAof { .. })));
    (ok, lacking.into_iter().map(|m| m.spec).collect())
}

/// The producers' response timeout of a run under `fault`: the user's, else longer than the pause
/// for `pause` (a client that outwaits it), else the 2 s default.
pub(super) fn client_timeout_ms(opts: &DurabilityOptions, fault: Fault) -> Option<u64> {
    opts.workload.response_timeout_ms.or(match fault {
        Fault::Pause => Some(opts.pause_ms + 10_000),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str, version: &str) -> ServerInfo {
        ServerInfo {
            name: name.into(),
            version: version.into(),
            path: "redis-server".into(),
        }
    }

    #[test]
    fn waitaof_modes_are_left_out_only_where_the_server_lacks_waitaof() {
        let all = Mode::all();
        let (ok, lacking) = supported_modes(&all, &server("redis", "7.0.15"));
        assert_eq!(lacking, ["waitaof:1:0", "waitaof:0:1", "waitaof:1:1"]);
        assert_eq!(ok.len(), all.len() - 3);
        for s in [server("redis", "7.2.4"), server("valkey", "8.0.1")] {
            let (ok, lacking) = supported_modes(&all, &s);
            assert!(lacking.is_empty() && ok == all);
        }
    }

    #[test]
    fn a_pause_waits_longer_than_itself_unless_told_otherwise() {
        let d = DurabilityOptions::default();
        assert_eq!(
            client_timeout_ms(&d, Fault::Pause),
            Some(d.pause_ms + 10_000)
        );
        assert_eq!(client_timeout_ms(&d, Fault::PauseShort), None);
        assert_eq!(client_timeout_ms(&d, Fault::Partition), None);
        let mut set = d.clone();
        set.workload.response_timeout_ms = Some(1_500);
        assert_eq!(client_timeout_ms(&set, Fault::Pause), Some(1_500));
    }
}
