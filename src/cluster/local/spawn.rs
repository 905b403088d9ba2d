//! Bringing nodes up: a free port pair each, the process started from its config, PING answered;
//! a node whose port was taken meanwhile is retried on a fresh one.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rand::Rng;

use super::LocalCluster;
use crate::cluster::process::OwnedChild;
use crate::cluster::Endpoint;
use crate::{Error, Result};

/// A random port P with P and P+10000 both free on `host`. P is kept below 22768 so the bus
/// port stays under Linux's ephemeral range (32768+), where outgoing connections take ports.
/// Another process may take the port before the node binds it: a race we accept because start-up
/// retries that node on a fresh port when its log says the address is in use.
fn free_port_pair(host: &str) -> Result<u16> {
    let mut rng = rand::rng();
    for _ in 0..200 {
        let p: u16 = rng.random_range(12000..22768);
        let free = |port: u16| std::net::TcpListener::bind((host, port)).is_ok();
        if free(p) && free(p + 10000) {
            return Ok(p);
        }
    }
    Err(Error::ClusterStart {
        what: format!("no free port pair (P and P+10000) on {host} after 200 tries; free some ports or close other clusters"),
        log: None,
        tail: String::new(),
    })
}

pub(super) fn random_password() -> String {
    let mut rng = rand::rng();
    (0..32)
        .map(|_| format!("{:x}", rng.random_range(0..16u8)))
        .collect()
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

impl LocalCluster {
    /// Starts the node of `index` from the config in its dir.
    pub(super) fn spawn_node(&self, index: usize) -> Result<()> {
        let dir = self.lock()[index].dir.clone();
        let mut cmd = Command::new(&self.server.path);
        // Only the config path is on the command line: `ps` never shows the password.
        cmd.arg(dir.join("redis.conf")).current_dir(&dir);
        // Nor does `ps e`: the node needs none of our secrets in its environment.
        for key in ["REDIS_PASSWORD", "REDIS_USERNAME"] {
            cmd.env_remove(key);
        }
        let child = self.spawner.spawn(cmd).map_err(|e| {
            Error::RedisServerMissing(format!("cannot run {}: {e}", self.server.path.display()))
        })?;
        self.lock()[index].process = Some(child);
        Ok(())
    }

    /// Spawns every node on a fresh port pair and waits until each answers PING.
    pub(super) async fn spawn_all(&mut self, password: &str, deadline: Instant) -> Result<()> {
        let count = self.lock().len();
        for i in 0..count {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let host = self.planned_host(i);
                let port = free_port_pair(&host)?;
                let dir = self.root_path.join(format!("node-{port}"));
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
                self.write_config(&host, port, &dir, password)?;
                {
                    let mut nodes = self.lock();
                    nodes[i].host = host;
                    nodes[i].port = port;
                    nodes[i].dir = dir;
                }
                self.spawn_node(i)?;
                let log = self.lock()[i].log();
                match self.wait_ping(i, deadline).await {
                    Ok(()) => break,
                    Err(e) if attempt < 3 && log_tail(&log).contains("Address already in use") => {
                        tracing::debug!(
                            "port {port} taken before the node bound it; retrying: {e}"
                        );
                        if let Some(mut p) = self.lock()[i].process.take() {
                            p.kill();
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let nodes: Vec<(String, u16)> = self
            .lock()
            .iter()
            .map(|n| (n.host.clone(), n.port))
            .collect();
        self.endpoint.nodes = nodes;
        Ok(())
    }

    pub(super) fn start_error(&self, index: usize, what: String) -> Error {
        let log = self.lock()[index].log();
        Error::ClusterStart {
            tail: log_tail(&log),
            log: Some(log),
            what,
        }
    }

    pub(super) async fn wait_ping(&self, index: usize, deadline: Instant) -> Result<()> {
        let (host, port) = {
            let nodes = self.lock();
            (nodes[index].host.clone(), nodes[index].port)
        };
        let ep = Endpoint {
            nodes: vec![(host.clone(), port)],
            ..self.endpoint.clone()
        };
        loop {
            let running = self.lock()[index]
                .process
                .as_mut()
                .is_some_and(OwnedChild::is_running);
            if !running {
                return Err(self.start_error(
                    index,
                    format!("redis-server on port {port} exited during start-up"),
                ));
            }
            if let Ok(mut conn) = ep.node_connection(&host, port).await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(self.start_error(
                    index,
                    format!("redis-server on port {port} did not answer PING in time"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
