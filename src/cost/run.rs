//! One run's cost: a snapshot of client and server CPU as the clock starts, another as it stops,
//! and the difference per message.

use std::collections::BTreeMap;
use std::time::Duration;

use super::client::client_cpu;
use super::server::{NodeSample, ServerProbe};
use super::{us_per_msg, Cost};
use crate::cluster::Endpoint;
use crate::metrics::finite;
use crate::Result;

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
}
