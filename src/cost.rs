//! What a run costs: CPU of this client process and of the cluster's nodes, per message.
//!
//! On a shared machine, wall time swings by tens of percent between runs of the same command;
//! the CPU the client spends per message does not (±3 % within a setting), so it is the figure
//! that tells one commit from another. Server CPU per message (the sum of INFO `used_cpu_user` +
//! `used_cpu_sys` deltas over the nodes) is a different and telling figure: it doubles once the
//! replicas are in sync and the masters replicate, so a run measured while a replica syncs is a
//! run on another cluster, and the report says so.

use std::collections::BTreeMap;
use std::time::Duration;

use nix::sys::resource::{getrusage, UsageWho};
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};

use crate::cluster::topology::{parse_info_fields, replica_sync_problem};
use crate::cluster::Endpoint;
use crate::metrics::finite;
use crate::{Error, Result};

/// How long one node may take to answer INFO before it counts as unreadable.
const INFO_TIMEOUT: Duration = Duration::from_secs(2);

/// CPU (user + system) this process has used so far, all threads, children excluded.
pub fn client_cpu() -> Duration {
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => timeval(u.user_time()) + timeval(u.system_time()),
        // getrusage(RUSAGE_SELF) cannot fail on Linux; a zero makes the figure 0, not a panic.
        Err(_) => Duration::ZERO,
    }
}

/// CPU (user + system) of this process's children that have ended and been waited for: taken
/// before and after a child command, the difference is that command's CPU (nodes of an embedded
/// cluster still run, so they are not in it).
pub fn children_cpu() -> Duration {
    match getrusage(UsageWho::RUSAGE_CHILDREN) {
        Ok(u) => timeval(u.user_time()) + timeval(u.system_time()),
        Err(_) => Duration::ZERO,
    }
}

fn timeval(t: nix::sys::time::TimeVal) -> Duration {
    Duration::from_secs(t.tv_sec().max(0) as u64) + Duration::from_micros(t.tv_usec().max(0) as u64)
}

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
        let server = match (
            self.server_cpu_us_per_msg,
            self.server_master_cpu_us_per_msg,
            self.server_replica_cpu_us_per_msg,
        ) {
            (Some(all), Some(m), Some(r)) => format!(
                "server {all:.2} µs/msg (masters {m:.2}, replicas {r:.2}, {}+{} nodes)",
                self.masters_measured, self.replicas_measured
            ),
            _ => "server not measured".to_string(),
        };
        format!("client {:.2} µs/msg · {server}", self.client_cpu_us_per_msg)
    }
}

/// What one node said in INFO at one moment.
#[derive(Clone, Debug)]
struct NodeSample {
    master: bool,
    cpu_seconds: f64,
    run_id: String,
    /// Why the node is not in sync, if it is not.
    sync_problem: Option<String>,
}

impl NodeSample {
    fn parse(text: &str) -> Option<NodeSample> {
        let f = parse_info_fields(text);
        let num = |k: &str| f.get(k).and_then(|v| v.trim().parse::<f64>().ok());
        Some(NodeSample {
            master: f.get("role").map(String::as_str) == Some("master"),
            cpu_seconds: num("used_cpu_user")? + num("used_cpu_sys")?,
            run_id: f.get("run_id").cloned().unwrap_or_default(),
            sync_problem: replica_sync_problem(&f),
        })
    }
}

/// A connection to every node the cluster lists (failing ones left out), kept for the run so
/// that the end snapshot costs one INFO per node and no connecting.
pub struct ServerProbe {
    nodes: Vec<(String, Option<MultiplexedConnection>)>,
}

impl ServerProbe {
    /// Connects to every node in `CLUSTER NODES` of a seed. Nodes that cannot be reached are kept
    /// as unreadable (the cost says so), never an error: cost is a measurement, not a gate.
    pub async fn connect(endpoint: &Endpoint) -> Result<ServerProbe> {
        let mut nodes = Vec::new();
        for entry in endpoint.topology().await? {
            if entry.is_failing() || entry.has_flag("noaddr") {
                continue;
            }
            let Some((host, port)) = entry.host_port() else {
                continue;
            };
            let conn = endpoint.node_connection(&host, port).await.ok();
            nodes.push((entry.addr.clone(), conn));
        }
        Ok(ServerProbe { nodes })
    }

    /// INFO of every node: address → sample, or `None` for a node that did not answer.
    async fn sample(&mut self) -> BTreeMap<String, Option<NodeSample>> {
        let mut out = BTreeMap::new();
        for (addr, conn) in &mut self.nodes {
            let sample = match conn {
                Some(c) => {
                    let cmd = redis::cmd("INFO");
                    match tokio::time::timeout(INFO_TIMEOUT, cmd.query_async::<String>(c)).await {
                        Ok(Ok(text)) => NodeSample::parse(&text),
                        _ => None,
                    }
                }
                None => None,
            };
            out.insert(addr.clone(), sample);
        }
        out
    }

    /// Nodes not in sync right now, one sentence each (empty: every replica in sync).
    pub async fn unsynced(&mut self) -> Vec<String> {
        self.sample()
            .await
            .into_iter()
            .filter_map(|(addr, s)| match s {
                Some(s) => s.sync_problem.map(|p| format!("{addr}: {p}")),
                None => Some(format!("{addr}: did not answer INFO")),
            })
            .collect()
    }
}

/// Waits until every node of the cluster at `endpoint` answers INFO and every replica is in sync,
/// for callers that measure an external cluster (the bench); the error names what was not ready.
pub async fn wait_replicas_in_sync(endpoint: &Endpoint, wait: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let mut probe = ServerProbe::connect(endpoint).await?;
        let unsynced = probe.unsynced().await;
        if unsynced.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::ClusterUnavailable(format!(
                "replicas not in sync after {} s: {}; wait for the cluster to finish syncing",
                wait.as_secs(),
                unsynced.join("; ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The start of a run's cost: client CPU and every node's CPU at the moment the clock starts.
pub struct CostProbe {
    server: ServerProbe,
    start: BTreeMap<String, Option<NodeSample>>,
    client_start: Duration,
}

impl CostProbe {
    /// Takes the start snapshot. Call it right before the run's clock starts, after connecting.
    pub async fn start(endpoint: &Endpoint) -> Result<CostProbe> {
        let mut server = ServerProbe::connect(endpoint).await?;
        let start = server.sample().await;
        Ok(CostProbe {
            server,
            start,
            // Last, so that reading the servers is not part of the client's figure.
            client_start: client_cpu(),
        })
    }

    /// Takes the end snapshot (client first, so reading the servers is not part of it) and
    /// returns what was spent; the per-message figures are filled by [`RunCost::per_message`].
    pub async fn stop(mut self) -> RunCost {
        let client = client_cpu().saturating_sub(self.client_start);
        let end = self.server.sample().await;
        RunCost {
            client,
            start: self.start,
            end,
        }
    }
}

/// The CPU a run spent, before dividing by its message count.
pub struct RunCost {
    client: Duration,
    start: BTreeMap<String, Option<NodeSample>>,
    end: BTreeMap<String, Option<NodeSample>>,
}

impl RunCost {
    /// The cost per message of a run that completed `messages`.
    pub fn per_message(&self, messages: u64) -> Cost {
        let per_msg = |secs: f64| us_per_msg(secs, messages);
        let mut notes = Vec::new();
        let (mut masters, mut replicas) = (0.0, 0.0);
        let (mut masters_measured, mut replicas_measured) = (0, 0);
        for (addr, before) in &self.start {
            let after = self.end.get(addr).cloned().flatten();
            match (before, after) {
                (Some(b), Some(a)) if a.run_id == b.run_id && a.cpu_seconds >= b.cpu_seconds => {
                    let spent = a.cpu_seconds - b.cpu_seconds;
                    if b.master {
                        masters += spent;
                        masters_measured += 1;
                    } else {
                        replicas += spent;
                        replicas_measured += 1;
                    }
                }
                (Some(_), Some(_)) => notes.push(format!(
                    "{addr}: restarted during the run; its CPU is left out"
                )),
                (None, _) => notes.push(format!(
                    "{addr}: did not answer INFO at the start; its CPU is left out"
                )),
                (Some(_), None) => notes.push(format!(
                    "{addr}: did not answer INFO at the end; its CPU is left out"
                )),
            }
            if let Some(p) = before.as_ref().and_then(|b| b.sync_problem.as_ref()) {
                notes.push(format!("{addr}: not in sync at the start: {p}"));
            }
        }
        let replicas_in_sync = self
            .start
            .values()
            .all(|s| s.as_ref().is_some_and(|s| s.sync_problem.is_none()));
        let measured = masters_measured + replicas_measured > 0;
        let some = |v: f64| measured.then_some(finite(v));
        Cost {
            messages,
            client_cpu_seconds: finite(self.client.as_secs_f64()),
            client_cpu_us_per_msg: per_msg(self.client.as_secs_f64()),
            server_master_cpu_seconds: some(masters),
            server_replica_cpu_seconds: some(replicas),
            server_master_cpu_us_per_msg: some(per_msg(masters)),
            server_replica_cpu_us_per_msg: some(per_msg(replicas)),
            server_cpu_us_per_msg: some(per_msg(masters + replicas)),
            masters_measured,
            replicas_measured,
            replicas_in_sync,
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(role: &str, cpu_user: f64, run_id: &str, link: &str) -> String {
        format!(
            "# Server\r\nrun_id:{run_id}\r\n# Persistence\r\nloading:0\r\n# Replication\r\nrole:{role}\r\nmaster_link_status:{link}\r\nmaster_sync_in_progress:0\r\n# CPU\r\nused_cpu_sys:1.000000\r\nused_cpu_user:{cpu_user:.6}\r\n"
        )
    }

    fn samples(list: &[(&str, String)]) -> BTreeMap<String, Option<NodeSample>> {
        list.iter()
            .map(|(a, t)| (a.to_string(), NodeSample::parse(t)))
            .collect()
    }

    /// Deltas are summed per role (the role at the start), divided by the message count; a node
    /// that restarted (new run_id) is left out with a note, and an unsynced replica at the start
    /// clears `replicas_in_sync`.
    #[test]
    fn server_cpu_is_summed_per_role_and_restarts_are_left_out() {
        let start = samples(&[
            ("m1", info("master", 2.0, "a", "")),
            ("m2", info("master", 3.0, "b", "")),
            ("r1", info("slave", 1.0, "c", "up")),
            ("r2", info("slave", 1.0, "d", "down")),
        ]);
        let end = samples(&[
            ("m1", info("master", 4.0, "a", "")),
            ("m2", info("master", 3.5, "b", "")),
            ("r1", info("slave", 2.0, "c", "up")),
            ("r2", info("slave", 0.5, "e", "up")),
        ]);
        let run = RunCost {
            client: Duration::from_millis(300),
            start,
            end,
        };
        let c = run.per_message(100_000);
        assert_eq!((c.masters_measured, c.replicas_measured), (2, 1));
        assert!((c.server_master_cpu_seconds.unwrap() - 2.5).abs() < 1e-9);
        assert!((c.server_replica_cpu_seconds.unwrap() - 1.0).abs() < 1e-9);
        assert!((c.server_master_cpu_us_per_msg.unwrap() - 25.0).abs() < 1e-9);
        assert!((c.server_cpu_us_per_msg.unwrap() - 35.0).abs() < 1e-9);
        assert!((c.client_cpu_us_per_msg - 3.0).abs() < 1e-9);
        assert!(!c.replicas_in_sync);
        assert!(c.sync_warning().is_some());
        assert!(c.notes.iter().any(|n| n.starts_with("r2: restarted")));
        assert!(c
            .notes
            .iter()
            .any(|n| n.contains("master_link_status:down")));
    }

    /// Pooled runs weigh by their message counts; one run without server figures leaves the
    /// pooled server figures unknown, and one unsynced run makes the pool unsynced.
    #[test]
    /// Workers of one distributed run read the same cluster: their client CPU adds up, the
    /// server CPU is the widest window's, over all their messages (not counted once per worker).
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

    /// With no node readable the server figures are unknown (`None`), not zero.
    #[test]
    fn unreadable_servers_give_no_server_figure() {
        let run = RunCost {
            client: Duration::from_millis(10),
            start: BTreeMap::from([("m1".to_string(), None)]),
            end: BTreeMap::new(),
        };
        let c = run.per_message(0);
        assert_eq!(c.server_cpu_us_per_msg, None);
        assert_eq!(c.client_cpu_us_per_msg, 0.0);
        assert!(c.line().contains("server not measured"));
    }

    /// The client figure moves with work this process does.
    #[test]
    fn client_cpu_grows_with_work() {
        let before = client_cpu();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(client_cpu() - before >= Duration::from_millis(20), "{x}");
    }
}
