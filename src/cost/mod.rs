//! What a run costs: CPU of this client process and of the cluster's nodes, per message.
//!
//! On a shared machine, wall time swings by tens of percent between runs of the same command;
//! the CPU the client spends per message does not (±3 % within a setting), so it is the figure
//! that tells one commit from another. Server CPU per message (the sum of INFO `used_cpu_user` +
//! `used_cpu_sys` deltas over the nodes) is a different and telling figure: it doubles once the
//! replicas are in sync and the masters replicate, so a run measured while a replica syncs is a
//! run on another cluster, and the report says so.

mod client;
mod run;
mod server;

use serde::{Deserialize, Serialize};

use crate::metrics::finite;

pub use client::{children_cpu, client_cpu};
pub use run::{CostProbe, RunCost};
pub use server::{wait_replicas_in_sync, ServerProbe};

/// `secs` of CPU per message in µs; 0 for no messages.
pub fn us_per_msg(secs: f64, messages: u64) -> f64 {
    if messages == 0 {
        0.0
    } else {
        finite(secs * 1e6 / messages as f64)
    }
}

/// The cost of one run, per message (the JSON `cost`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Cost {
    /// What the per-message figures divide by: acked messages (produced ones when nothing consumes).
    pub messages: u64,
    /// CPU (user + system) of this client process over the run, seconds.
    pub client_cpu_seconds: f64,
    pub client_cpu_us_per_msg: f64,
    /// CPU of the masters (role at the start of the run) over the run, seconds; `None` when no
    /// node could be read at both ends.
    pub server_master_cpu_seconds: Option<f64>,
    pub server_replica_cpu_seconds: Option<f64>,
    pub server_master_cpu_us_per_msg: Option<f64>,
    pub server_replica_cpu_us_per_msg: Option<f64>,
    /// Masters and replicas together.
    pub server_cpu_us_per_msg: Option<f64>,
    /// Nodes read at both ends of the run, by role.
    pub masters_measured: usize,
    pub replicas_measured: usize,
    /// False when, as the run started, a replica's link was not up, a sync was in progress or a
    /// node was loading: the server figures then describe a cluster that replicates less.
    pub replicas_in_sync: bool,
    /// One sentence per node not in sync at the start, not readable, or restarted during the run.
    pub notes: Vec<String>,
}

impl Cost {
    /// The warning a report shows when the cluster was not fully replicating, if it was not.
    pub fn sync_warning(&self) -> Option<String> {
        (!self.replicas_in_sync).then(|| {
            "a replica was not in sync when the run started: server CPU per message describes a cluster that replicated less; wait for the replicas (INFO replication master_link_status:up) and run again".to_string()
        })
    }

    /// The cost of several runs taken together: their CPU over their messages, so each run weighs
    /// by its message count (a report that pools counts and throughput pools CPU the same way).
    /// Server figures pool the runs that have them (their CPU over their messages; `None` when
    /// none has), and a run without them is named in `notes`; `masters_measured` /
    /// `replicas_measured` are the fewest nodes measured in any of those runs; in sync only if
    /// every run was; each run's notes kept, prefixed `run N:` (from 1).
    pub fn pooled(runs: &[&Cost]) -> Cost {
        let messages: u64 = runs.iter().map(|c| c.messages).sum();
        let client: f64 = runs.iter().map(|c| c.client_cpu_seconds).sum();
        let measured: Vec<&&Cost> = runs
            .iter()
            .filter(|c| c.server_master_cpu_seconds.is_some())
            .collect();
        let server_messages: u64 = measured.iter().map(|c| c.messages).sum();
        let sum = |f: fn(&Cost) -> Option<f64>| {
            (!measured.is_empty()).then(|| measured.iter().filter_map(|c| f(c)).sum::<f64>())
        };
        let masters = sum(|c| c.server_master_cpu_seconds);
        let replicas = sum(|c| c.server_replica_cpu_seconds);
        let server_per_msg = |secs: f64| us_per_msg(secs, server_messages);
        let fewest = |f: fn(&Cost) -> usize| measured.iter().map(|c| f(c)).min().unwrap_or(0);
        let mut notes = Vec::new();
        for (i, c) in runs.iter().enumerate() {
            notes.extend(c.notes.iter().map(|n| format!("run {}: {n}", i + 1)));
            if c.server_master_cpu_seconds.is_none() {
                notes.push(format!(
                    "run {}: server CPU not measured; the server figures leave it out",
                    i + 1
                ));
            }
        }
        Cost {
            messages,
            client_cpu_seconds: finite(client),
            client_cpu_us_per_msg: us_per_msg(client, messages),
            server_master_cpu_seconds: masters.map(finite),
            server_replica_cpu_seconds: replicas.map(finite),
            server_master_cpu_us_per_msg: masters.map(server_per_msg),
            server_replica_cpu_us_per_msg: replicas.map(server_per_msg),
            server_cpu_us_per_msg: masters.zip(replicas).map(|(m, r)| server_per_msg(m + r)),
            masters_measured: fewest(|c| c.masters_measured),
            replicas_measured: fewest(|c| c.replicas_measured),
            replicas_in_sync: runs.iter().all(|c| c.replicas_in_sync),
            notes,
        }
    }

    /// The cost of workers that ran at the same time against one cluster (a distributed run):
    /// client CPU adds up over the workers, as for [`Cost::pooled`]; but each worker read the
    /// whole cluster's CPU over its own window, so adding the server figures would count the same
    /// CPU once per worker. The server figures are the widest window's (the most CPU any worker
    /// saw), over all the workers' messages.
    pub fn concurrent(workers: &[&Cost]) -> Cost {
        let mut cost = Cost::pooled(workers);
        let widest = workers
            .iter()
            .filter(|c| c.server_master_cpu_seconds.is_some())
            .max_by(|a, b| {
                let total = |c: &Cost| {
                    c.server_master_cpu_seconds.unwrap_or(0.0)
                        + c.server_replica_cpu_seconds.unwrap_or(0.0)
                };
                total(a).total_cmp(&total(b))
            });
        if let Some(w) = widest {
            let per_msg = |secs: f64| us_per_msg(secs, cost.messages);
            cost.server_master_cpu_seconds = w.server_master_cpu_seconds;
            cost.server_replica_cpu_seconds = w.server_replica_cpu_seconds;
            cost.server_master_cpu_us_per_msg = w.server_master_cpu_seconds.map(per_msg);
            cost.server_replica_cpu_us_per_msg = w.server_replica_cpu_seconds.map(per_msg);
            cost.server_cpu_us_per_msg = w
                .server_master_cpu_seconds
                .zip(w.server_replica_cpu_seconds)
                .map(|(m, r)| per_msg(m + r));
        }
        cost
    }

    /// One line for summaries: `client 3.10 µs/msg · server 9.52 µs/msg (masters 6.1, replicas 3.4)`.
    pub fn line(&self) -> String {
        // A role no node of which was measured is n/a, not 0.00: its CPU is unknown.
        let part = |v: f64, nodes: usize| {
            if nodes == 0 {
                "n/a".to_string()
            } else {
                format!("{v:.2}")
            }
        };
        let mut server = match (
            self.server_cpu_us_per_msg,
            self.server_master_cpu_us_per_msg,
            self.server_replica_cpu_us_per_msg,
        ) {
            (Some(all), Some(m), Some(r)) => format!(
                "server {all:.2} µs/msg (masters {}, replicas {}, {}+{} nodes measured)",
                part(m, self.masters_measured),
                part(r, self.replicas_measured),
                self.masters_measured,
                self.replicas_measured
            ),
            _ => "server not measured".to_string(),
        };
        if !self.notes.is_empty() {
            server.push_str(&format!(" ({})", self.notes.join("; ")));
        }
        format!("client {:.2} µs/msg · {server}", self.client_cpu_us_per_msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Workers of one distributed run read the same cluster: their client CPU adds up, the
    /// server CPU is the widest window's, over all their messages (not counted once per worker).
    #[test]
    fn concurrent_workers_add_client_cpu_and_share_the_servers() {
        let worker = |messages: u64, client: f64, server: (f64, f64)| Cost {
            messages,
            client_cpu_seconds: client,
            server_master_cpu_seconds: Some(server.0),
            server_replica_cpu_seconds: Some(server.1),
            replicas_in_sync: true,
            ..Default::default()
        };
        let a = worker(100_000, 0.3, (2.0, 1.0));
        let b = worker(100_000, 0.2, (2.4, 1.2));
        let c = Cost::concurrent(&[&a, &b]);
        assert_eq!(c.messages, 200_000);
        assert!((c.client_cpu_us_per_msg - 2.5).abs() < 1e-9);
        assert_eq!(c.server_master_cpu_seconds, Some(2.4));
        assert!((c.server_cpu_us_per_msg.unwrap() - 18.0).abs() < 1e-9);
    }

    /// Pooled runs weigh by their message counts; one run without server figures leaves the
    /// pooled server figures unknown, and one unsynced run makes the pool unsynced.
    #[test]
    fn pooled_cost_is_cpu_over_messages_of_all_runs() {
        let run = |messages: u64, client: f64, server: Option<(f64, f64)>, in_sync: bool| Cost {
            messages,
            client_cpu_seconds: client,
            server_master_cpu_seconds: server.map(|s| s.0),
            server_replica_cpu_seconds: server.map(|s| s.1),
            server_cpu_us_per_msg: server.map(|_| 1.0),
            masters_measured: 3,
            replicas_measured: if in_sync { 3 } else { 2 },
            replicas_in_sync: in_sync,
            notes: vec!["x".into()],
            ..Default::default()
        };
        let a = run(100_000, 0.3, Some((0.6, 0.3)), true);
        let b = run(300_000, 0.9, Some((2.4, 0.9)), true);
        let p = Cost::pooled(&[&a, &b]);
        assert_eq!(p.messages, 400_000);
        assert!((p.client_cpu_us_per_msg - 3.0).abs() < 1e-9);
        assert!((p.server_master_cpu_us_per_msg.unwrap() - 7.5).abs() < 1e-9);
        assert!((p.server_cpu_us_per_msg.unwrap() - 10.5).abs() < 1e-9);
        assert!(p.replicas_in_sync);
        assert_eq!(
            p.notes,
            vec!["run 1: x".to_string(), "run 2: x".to_string()]
        );
        let c = run(100_000, 0.3, None, false);
        let p = Cost::pooled(&[&a, &c]);
        // The server figures are run a's alone; the client figure covers both runs.
        assert!((p.server_cpu_us_per_msg.unwrap() - 9.0).abs() < 1e-9);
        assert!((p.client_cpu_us_per_msg - 3.0).abs() < 1e-9);
        assert_eq!((p.masters_measured, p.replicas_measured), (3, 3));
        assert!(!p.replicas_in_sync);
        assert!(p
            .notes
            .iter()
            .any(|n| n.starts_with("run 2: server CPU not measured")));
        assert_eq!(Cost::pooled(&[&c]).server_cpu_us_per_msg, None);
    }
}
