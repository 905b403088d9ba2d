//! `rcstress ceiling`: both cycle modes and the XADD-only ceiling on one cluster, side by side,
//! with the machine's limit from their CPU per message.

use std::time::Duration;

use serde::Serialize;

use super::{measure, Ceiling, CeilingOptions};
use crate::cluster::Endpoint;
use crate::{Error, Result};

/// What `rcstress ceiling` runs: both cycle modes and the ceiling, on one cluster, in one go.
#[derive(Clone, Debug, Serialize)]
pub struct ComparisonPlan {
    pub messages: u64,
    pub seed_messages: u64,
    pub batch: usize,
    pub ceiling: CeilingOptions,
}

/// One row of the comparison.
#[derive(Clone, Debug, Serialize)]
pub struct ComparisonRow {
    pub mode: String,
    pub messages: u64,
    pub msgs_per_sec: f64,
    /// This row's rate over the XADD-only ceiling.
    pub ratio_to_ceiling: f64,
    pub latency_p99_us: u64,
    pub verdict: String,
    /// CPU of the client per message (for the ceiling: redis-benchmark's per XADD).
    pub client_cpu_us_per_msg: f64,
    /// CPU of all nodes per message; `None` when the nodes could not be read.
    pub server_cpu_us_per_msg: Option<f64>,
    /// The machine's limit if client and servers share it: cores ÷ (client + server CPU per
    /// message). Meaningful when client and cluster run on this machine (an embedded cluster or
    /// one on the same host).
    pub limit_msgs_per_sec: Option<f64>,
}

/// Cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `cores` ÷ (client + server µs per message), in messages per second.
pub fn limit(cores: usize, cost: &crate::cost::Cost) -> Option<f64> {
    let us = cost.client_cpu_us_per_msg + cost.server_cpu_us_per_msg?;
    (us > 0.0).then(|| crate::metrics::finite(cores as f64 * 1e6 / us))
}

/// The comparison table: seed-style cycle, batched cycle, XADD-only ceiling.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub rows: Vec<ComparisonRow>,
    pub ceiling: Ceiling,
    /// Batched over seed-style.
    pub speedup_batched_over_seed: f64,
    /// Cores behind `limit_msgs_per_sec`.
    pub cores: usize,
}

impl Comparison {
    /// The table a person reads.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<34} {:>10} {:>14} {:>10} {:>12} {:>10} {:>10} {:>12}  verdict\n",
            "mode",
            "messages",
            "msgs/s",
            "÷ ceiling",
            "p99 (µs)",
            "client µs",
            "server µs",
            "limit msg/s"
        );
        let rate = |x: f64| crate::units::thousands(x.round() as u64);
        for r in &self.rows {
            s.push_str(&format!(
                "{:<34} {:>10} {:>14} {:>9.1}% {:>12} {:>10.2} {:>10} {:>12}  {}\n",
                r.mode,
                crate::units::thousands(r.messages),
                rate(r.msgs_per_sec),
                r.ratio_to_ceiling * 100.0,
                r.latency_p99_us,
                r.client_cpu_us_per_msg,
                r.server_cpu_us_per_msg
                    .map_or("-".into(), |x| format!("{x:.2}")),
                r.limit_msgs_per_sec.map_or("-".into(), rate),
                r.verdict
            ));
        }
        s.push_str(&format!(
            "batched ÷ seed-style: {:.1}×\nlimit: {} core(s) ÷ (client + server CPU µs per message), if client and cluster share this machine\nceiling: {}\n",
            self.speedup_batched_over_seed, self.cores, self.ceiling.command
        ));
        s
    }
}

/// Runs the seed-style cycle, the batched cycle and the ceiling against `endpoint`, one after
/// the other, and relates them.
pub async fn compare(endpoint: &Endpoint, plan: &ComparisonPlan) -> Result<Comparison> {
    use crate::workload::{run, Live, Workload};
    use std::sync::Arc;
    let seed = Workload {
        messages: plan.seed_messages,
        ..Workload::seed_style()
    };
    let batched = Workload {
        messages: plan.messages,
        batch: plan.batch,
        ..Workload::default()
    };
    let seed_run = run(endpoint, &seed, Arc::new(Live::default())).await?;
    let batched_run = run(endpoint, &batched, Arc::new(Live::default())).await?;
    // Leave the cluster as we found it before the ceiling writes its own keys.
    let mut conn = endpoint.cluster_connection(Duration::from_secs(5)).await?;
    for key in seed_run.shard_keys.iter().chain(&batched_run.shard_keys) {
        let _: i64 = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .map_err(|e| Error::redis("DEL", e))?;
    }
    let ceiling = measure(endpoint, &plan.ceiling).await?;
    let c = ceiling.xadd_ops_per_sec.max(f64::MIN_POSITIVE);
    let cores = cores();
    let row = |mode: &str, w: &Workload, r: &crate::workload::RunResult| ComparisonRow {
        mode: mode.to_string(),
        messages: w.messages,
        msgs_per_sec: r.throughput_msgs_per_sec,
        ratio_to_ceiling: crate::metrics::finite(r.throughput_msgs_per_sec / c),
        latency_p99_us: r.latency_us.p99,
        verdict: r.verdict.to_string(),
        client_cpu_us_per_msg: r.cost.client_cpu_us_per_msg,
        server_cpu_us_per_msg: r.cost.server_cpu_us_per_msg,
        limit_msgs_per_sec: limit(cores, &r.cost),
    };
    let rows = vec![
        row("cycle, seed-style (batch 1)", &seed, &seed_run),
        row(
            &format!("cycle, batched (batch {})", plan.batch),
            &batched,
            &batched_run,
        ),
        ComparisonRow {
            mode: format!("XADD only, redis-benchmark -P {}", plan.ceiling.pipeline),
            messages: plan.ceiling.requests,
            msgs_per_sec: ceiling.xadd_ops_per_sec,
            ratio_to_ceiling: 1.0,
            latency_p99_us: 0,
            verdict: "-".into(),
            client_cpu_us_per_msg: ceiling.cost.client_cpu_us_per_msg,
            server_cpu_us_per_msg: ceiling.cost.server_cpu_us_per_msg,
            limit_msgs_per_sec: limit(cores, &ceiling.cost),
        },
    ];
    let speedup = crate::metrics::finite(
        batched_run.throughput_msgs_per_sec
            / seed_run.throughput_msgs_per_sec.max(f64::MIN_POSITIVE),
    );
    Ok(Comparison {
        rows,
        ceiling,
        speedup_batched_over_seed: speedup,
        cores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_cores_over_client_and_server_cpu_per_message() {
        let cost = |client: f64, server: Option<f64>| crate::cost::Cost {
            client_cpu_us_per_msg: client,
            server_cpu_us_per_msg: server,
            ..Default::default()
        };
        // 2 cores, 2.5 + 7.5 µs per message: 200,000 msg/s at the most.
        assert_eq!(limit(2, &cost(2.5, Some(7.5))), Some(200_000.0));
        assert_eq!(limit(2, &cost(2.5, None)), None, "servers not read");
        assert_eq!(limit(2, &cost(0.0, Some(0.0))), None, "nothing measured");
    }
}
