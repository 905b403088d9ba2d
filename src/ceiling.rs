//! The server's ceiling for comparison: `redis-benchmark --cluster` pipelining XADD alone on the
//! same key shape, against the same cluster, so our cycle's throughput can be read as a ratio.
//!
//! redis-benchmark takes its password only on the command line, where `ps` shows it. So the
//! user's password never goes there: we create a throwaway ACL user with a random password on
//! every node for the measurement and delete it afterwards.

use std::process::Stdio;
use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use crate::cluster::Endpoint;
use crate::{Error, Result};

/// How hard redis-benchmark pushes.
#[derive(Clone, Debug, Serialize)]
pub struct CeilingOptions {
    /// XADDs in all.
    pub requests: u64,
    /// Commands per pipeline (`-P`).
    pub pipeline: u32,
    /// Connections (`-c`).
    pub clients: u32,
    pub payload_bytes: usize,
    /// Key prefix; the benchmark writes `<prefix>:{tag}`, one key per master, and deletes them after.
    pub key_prefix: String,
}

impl Default for CeilingOptions {
    fn default() -> Self {
        CeilingOptions {
            requests: 500_000,
            pipeline: 16,
            clients: 48,
            payload_bytes: 64,
            key_prefix: "rcstress-ceiling".into(),
        }
    }
}

/// What redis-benchmark measured.
#[derive(Clone, Debug, Serialize)]
pub struct Ceiling {
    pub xadd_ops_per_sec: f64,
    /// CPU per XADD: `client_*` is redis-benchmark's own (its process's user + system time over
    /// its requests), `server_*` the nodes' over the benchmark, as a run reports them.
    pub cost: crate::cost::Cost,
    /// The command line, with the throwaway password masked.
    pub command: String,
    pub options: CeilingOptions,
}

fn find_benchmark() -> Result<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("REDIS_BENCHMARK") {
        return Ok(p.into());
    }
    crate::cluster::server::on_path("redis-benchmark")
        .ok_or_else(|| Error::RedisServerMissing("redis-benchmark not on PATH; install it with 'apt-get install redis-tools' or set REDIS_BENCHMARK".into()))
}

/// Parses the last "N requests per second" of redis-benchmark's `-q` output (progress lines are
/// separated by `\r`).
pub fn parse_rps(output: &str) -> Option<f64> {
    output
        .split(['\r', '\n'])
        .filter_map(|line| {
            let (head, _) = line.split_once(" requests per second")?;
            head.rsplit(' ').next()?.parse::<f64>().ok()
        })
        .next_back()
        .filter(|v| v.is_finite())
}

async fn on_every_node(endpoint: &Endpoint, cmd: &redis::Cmd) -> Result<()> {
    for node in endpoint
        .topology()
        .await?
        .iter()
        .filter(|n| !n.is_failing())
    {
        let Some((host, port)) = node.host_port() else {
            continue;
        };
        let mut conn = endpoint.node_connection(&host, port).await?;
        let _: () = cmd.query_async(&mut conn).await.map_err(|e| {
            Error::redis(
                format!("ACL on {host}:{port} (the ceiling needs ACL rights)"),
                e,
            )
        })?;
    }
    Ok(())
}

/// Deletes the keys the benchmark wrote (SCAN MATCH `<prefix>:*` on every master).
async fn delete_keys(endpoint: &Endpoint, prefix: &str) -> Result<()> {
    for node in endpoint
        .topology()
        .await?
        .iter()
        .filter(|n| n.is_master() && !n.is_failing())
    {
        let Some((host, port)) = node.host_port() else {
            continue;
        };
        let mut conn = endpoint.node_connection(&host, port).await?;
        let mut cursor = 0u64;
        for _ in 0..10_000 {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}:*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(|e| Error::redis("SCAN", e))?;
            for k in keys {
                let _: i64 = redis::cmd("DEL")
                    .arg(&k)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| Error::redis("DEL", e))?;
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    Ok(())
}

/// A random password for the throwaway ACL user: 32 hex digits.
fn throwaway_password() -> String {
    let mut rng = rand::rng();
    (0..32)
        .map(|_| format!("{:x}", rng.random_range(0..16u8)))
        .collect()
}

/// ACL SETUSER of the throwaway user: every key, channel and command, this password only.
fn setuser_cmd(user: &str, password: &str) -> redis::Cmd {
    let mut setuser = redis::cmd("ACL");
    setuser
        .arg("SETUSER")
        .arg(user)
        .arg("reset")
        .arg("on")
        .arg(format!(">{password}"))
        .arg("~*")
        .arg("&*")
        .arg("+@all");
    setuser
}

/// redis-benchmark's arguments: pipelined XADDs of `opts`' shape, as `user`, against one seed.
fn benchmark_args(
    (host, port): (&str, u16),
    user: &str,
    password: &str,
    opts: &CeilingOptions,
) -> Vec<String> {
    vec![
        "--cluster".into(),
        "-h".into(),
        host.to_string(),
        "-p".into(),
        port.to_string(),
        "--user".into(),
        user.to_string(),
        "-a".into(),
        password.to_string(),
        "-P".into(),
        opts.pipeline.to_string(),
        "-c".into(),
        opts.clients.to_string(),
        "-n".into(),
        opts.requests.to_string(),
        "-q".into(),
        "XADD".into(),
        format!("{}:{{tag}}", opts.key_prefix),
        "*".into(),
        "m".into(),
        "x".into(),
        "d".into(),
        "x".repeat(opts.payload_bytes),
    ]
}

/// The command line as a report shows it: the password masked, the payload as its size.
fn shown_command(args: &[String], password: &str, opts: &CeilingOptions) -> String {
    let shown = args
        .iter()
        .map(|a| {
            if a == password {
                "<throwaway>".to_string()
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>();
    format!(
        "redis-benchmark {}",
        shown.join(" ").replace(
            &"x".repeat(opts.payload_bytes.max(1)),
            &format!("<{} bytes>", opts.payload_bytes)
        )
    )
}

/// Runs redis-benchmark (at most 5 minutes, killed if dropped) and returns the rate it printed.
async fn run_benchmark(bin: &std::path::Path, args: &[String], password: &str) -> Result<f64> {
    let child = tokio::process::Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::io(format!("cannot run {}", bin.display()), e))?;
    let out = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .map_err(|_| Error::Timeout {
            what: "redis-benchmark to finish".into(),
            secs: 300.0,
        })?
        .map_err(|e| Error::io("redis-benchmark", e))?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    parse_rps(&text).ok_or_else(|| {
        let last = text
            .split(['\r', '\n'])
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("")
            .replace(password, "<throwaway>");
        Error::ClusterUnavailable(format!(
            "redis-benchmark gave no rate: {}",
            crate::cluster::short(&last)
        ))
    })
}

/// Runs redis-benchmark against the cluster and returns its XADD rate.
pub async fn measure(endpoint: &Endpoint, opts: &CeilingOptions) -> Result<Ceiling> {
    let bin = find_benchmark()?;
    let (host, port) = endpoint
        .nodes
        .first()
        .cloned()
        .ok_or_else(|| Error::Config("no cluster nodes given".into()))?;
    let user = format!("rcstress-ceiling-{}", std::process::id());
    let password = throwaway_password();
    on_every_node(endpoint, &setuser_cmd(&user, &password)).await?;
    let args = benchmark_args((&host, port), &user, &password, opts);
    let command = shown_command(&args, &password, opts);
    let probe = crate::cost::CostProbe::start(endpoint).await?;
    let children_before = crate::cost::children_cpu();
    let result = run_benchmark(&bin, &args, &password).await;
    let benchmark_cpu = crate::cost::children_cpu().saturating_sub(children_before);
    let mut cost = probe.stop().await.per_message(opts.requests);
    cost.client_cpu_seconds = crate::metrics::finite(benchmark_cpu.as_secs_f64());
    cost.client_cpu_us_per_msg =
        crate::cost::us_per_msg(benchmark_cpu.as_secs_f64(), opts.requests);
    // Always remove the throwaway user and the benchmark's keys, whatever happened.
    let mut deluser = redis::cmd("ACL");
    deluser.arg("DELUSER").arg(&user);
    let cleanup_user = on_every_node(endpoint, &deluser).await;
    let cleanup_keys = delete_keys(endpoint, &opts.key_prefix).await;
    let rps = result?;
    cleanup_user?;
    cleanup_keys?;
    Ok(Ceiling {
        xadd_ops_per_sec: rps,
        cost,
        command,
        options: opts.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_last_rate_of_quiet_output() {
        let out = "XADD k: rps=1000.0 (overall: 900.0) avg_msec=1\rXADD k * m x: 176756.52 requests per second, p50=3.447 msec\n";
        assert_eq!(parse_rps(out), Some(176756.52));
        assert_eq!(parse_rps("Error from server: MOVED 1 x"), None);
    }

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
        verdict: r.verdict.clone(),
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
