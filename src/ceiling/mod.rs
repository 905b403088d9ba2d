//! The server's ceiling for comparison: `redis-benchmark --cluster` pipelining XADD alone on the
//! same key shape, against the same cluster, so our cycle's throughput can be read as a ratio.
//!
//! redis-benchmark takes its password only on the command line, where `ps` shows it. So the
//! user's password never goes there: we create a throwaway ACL user with a random password on
//! every node for the measurement and delete it afterwards.
mod compare;

pub use compare::{compare, cores, limit, Comparison, ComparisonPlan, ComparisonRow};

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
}
