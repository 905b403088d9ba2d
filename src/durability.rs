//! Durability modes of producers: after each pipeline of XADDs, WAIT (replicas have the writes)
//! or WAITAOF (the writes are fsynced to the AOF locally and/or on replicas), sent in the same
//! pipeline so it goes on the same connection to the shard's master, after the writes it covers.
//!
//! WAIT and WAITAOF cover every write sent earlier on their connection. A cluster pipeline is
//! routed by its keyed commands (the XADDs, one hash tag, one slot) and a keyless command rides
//! along to the same node on the same connection; the reply then says how many replicas (or
//! local fsyncs) the writes reached. Other lanes sharing that connection only add writes the
//! WAIT also covers, so a confirmation is never weaker than asked.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// What a producer waits for after each pipeline before it counts the messages as acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// The XADD reply is the acknowledgement (Redis' default: asynchronous replication).
    #[default]
    None,
    /// `WAIT replicas timeout_ms`: acknowledged once that many replicas have the writes.
    Wait { replicas: u32, timeout_ms: u64 },
    /// `WAITAOF local replicas timeout_ms` (Redis 7.2+, Valkey): acknowledged once the writes are
    /// fsynced to the AOF on the master (`local` = 1) and on that many replicas.
    WaitAof {
        local: u32,
        replicas: u32,
        timeout_ms: u64,
    },
}

/// Default bound on one WAIT / WAITAOF: never 0, which would block forever. Above a second so
/// that `appendfsync everysec` (one fsync a second) can answer WAITAOF within it.
pub const DEFAULT_TIMEOUT_MS: u64 = 2000;

impl FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let usage = "use none, wait:N[:TIMEOUT_MS] or waitaof:LOCAL:REPLICAS[:TIMEOUT_MS]";
        let parts: Vec<&str> = s.trim().split(':').collect();
        let num = |t: &str, what: &str| -> Result<u64, String> {
            t.parse::<u64>()
                .map_err(|_| format!("'{s}': {what} '{t}' is not a whole number; {usage}"))
        };
        let timeout = |t: Option<&&str>| -> Result<u64, String> {
            match t {
                None => Ok(DEFAULT_TIMEOUT_MS),
                Some(t) => match num(t, "the timeout")? {
                    0 => Err(format!(
                        "'{s}': a timeout of 0 would wait forever; give milliseconds ≥ 1"
                    )),
                    ms => Ok(ms),
                },
            }
        };
        match parts.first().map(|p| p.to_ascii_lowercase()).as_deref() {
            Some("none") if parts.len() == 1 => Ok(Durability::None),
            Some("wait") if (2..=3).contains(&parts.len()) => {
                let replicas = num(parts[1], "the replica count")? as u32;
                if replicas == 0 {
                    return Err(format!(
                        "'{s}': wait:0 waits for nothing; use none or wait:1"
                    ));
                }
                Ok(Durability::Wait {
                    replicas,
                    timeout_ms: timeout(parts.get(2))?,
                })
            }
            Some("waitaof") if (3..=4).contains(&parts.len()) => {
                let local = num(parts[1], "LOCAL")? as u32;
                if local > 1 {
                    return Err(format!("'{s}': LOCAL is 0 or 1 (the master's own fsync)"));
                }
                let replicas = num(parts[2], "the replica count")? as u32;
                if local == 0 && replicas == 0 {
                    return Err(format!("'{s}': waitaof:0:0 waits for nothing; use none"));
                }
                Ok(Durability::WaitAof {
                    local,
                    replicas,
                    timeout_ms: timeout(parts.get(3))?,
                })
            }
            _ => Err(format!("'{s}' is not a durability mode; {usage}")),
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Durability::None => f.write_str("none"),
            Durability::Wait {
                replicas,
                timeout_ms,
            } => write!(f, "wait:{replicas}:{timeout_ms}"),
            Durability::WaitAof {
                local,
                replicas,
                timeout_ms,
            } => write!(f, "waitaof:{local}:{replicas}:{timeout_ms}"),
        }
    }
}

impl Serialize for Durability {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What the WAIT / WAITAOF reply said about a pipeline's writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// The asked numbers were reached: the writes count as acknowledged.
    Confirmed,
    /// The reply came but fell short (timeout): the writes are `unconfirmed`.
    Short(String),
}

impl Durability {
    /// How long one wait may block its connection (zero for none).
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(match *self {
            Durability::None => 0,
            Durability::Wait { timeout_ms, .. } | Durability::WaitAof { timeout_ms, .. } => {
                timeout_ms
            }
        })
    }

    /// The command to append to a pipeline, or `None` for [`Durability::None`].
    pub fn command(&self) -> Option<redis::Cmd> {
        match *self {
            Durability::None => None,
            Durability::Wait {
                replicas,
                timeout_ms,
            } => {
                let mut c = redis::cmd("WAIT");
                c.arg(replicas).arg(timeout_ms);
                Some(c)
            }
            Durability::WaitAof {
                local,
                replicas,
                timeout_ms,
            } => {
                let mut c = redis::cmd("WAITAOF");
                c.arg(local).arg(replicas).arg(timeout_ms);
                Some(c)
            }
        }
    }

    /// Checks a WAIT (an integer: replicas reached) or WAITAOF (`[local, replicas]`) reply
    /// against what was asked. An error reply or a reply of another shape is `Err`.
    pub fn judge(&self, reply: &redis::Value) -> Result<Confirmation, String> {
        use redis::Value;
        let int = |v: &Value| match v {
            Value::Int(n) => Some(*n),
            _ => None,
        };
        match (*self, reply) {
            (Durability::None, _) => Ok(Confirmation::Confirmed),
            (Durability::Wait { replicas, .. }, Value::Int(n)) => Ok(if *n >= replicas as i64 {
                Confirmation::Confirmed
            } else {
                Confirmation::Short(format!("WAIT reached {n} of {replicas} replicas"))
            }),
            (
                Durability::WaitAof {
                    local, replicas, ..
                },
                Value::Array(items),
            ) if items.len() == 2 => {
                let (Some(l), Some(r)) = (int(&items[0]), int(&items[1])) else {
                    return Err(format!("WAITAOF replied {reply:?}"));
                };
                Ok(if l >= local as i64 && r >= replicas as i64 {
                    Confirmation::Confirmed
                } else {
                    Confirmation::Short(format!(
                        "WAITAOF reached local {l} of {local}, replicas {r} of {replicas}"
                    ))
                })
            }
            (_, Value::ServerError(e)) => Err(format!(
                "{}: {}",
                self.name(),
                e.details().unwrap_or(e.code())
            )),
            _ => Err(format!("{} replied {reply:?}", self.name())),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Durability::None => "none",
            Durability::Wait { .. } => "WAIT",
            Durability::WaitAof { .. } => "WAITAOF",
        }
    }

    /// Refuses a mode the servers cannot serve, before the run: WAITAOF on a server without it
    /// (Redis before 7.2), or LOCAL 1 with AOF off. Asks each master with a 1 ms bound on a
    /// fresh connection (no writes: nothing to wait for, the reply is immediate).
    pub async fn check_supported(&self, endpoint: &crate::Endpoint) -> crate::Result<()> {
        let Some(cmd) = self.probe() else {
            return Ok(());
        };
        for node in endpoint.topology().await? {
            if !node.is_master() || node.slots.is_empty() {
                continue;
            }
            let Some((host, port)) = node.host_port() else {
                continue;
            };
            let mut conn = endpoint.node_connection(&host, port).await?;
            let r: redis::RedisResult<redis::Value> = cmd.query_async(&mut conn).await;
            if let Err(e) = r {
                let text = crate::cluster::short(&e.to_string());
                let what = if text.to_ascii_lowercase().contains("unknown command") {
                    format!(
                        "the server at {host}:{port} has no WAITAOF (it came with Redis 7.2; \
                         Valkey has it): use --durability wait:N, or --server valkey8 / redis8 \
                         (install with 'scripts/servers install valkey8')"
                    )
                } else {
                    format!(
                        "--durability {self} cannot be served by {host}:{port}: {text} \
                         (waitaof:1:… needs --aof on)"
                    )
                };
                return Err(crate::Error::ServerLacks(what));
            }
        }
        Ok(())
    }

    fn probe(&self) -> Option<redis::Cmd> {
        match *self {
            Durability::WaitAof {
                local, replicas, ..
            } => {
                let mut c = redis::cmd("WAITAOF");
                c.arg(local).arg(replicas).arg(1);
                Some(c)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    #[test]
    fn modes_parse_and_print_back() {
        assert_eq!("none".parse::<Durability>(), Ok(Durability::None));
        assert_eq!(
            "wait:1".parse::<Durability>(),
            Ok(Durability::Wait {
                replicas: 1,
                timeout_ms: DEFAULT_TIMEOUT_MS
            })
        );
        assert_eq!(
            "WAITAOF:1:0:250".parse::<Durability>(),
            Ok(Durability::WaitAof {
                local: 1,
                replicas: 0,
                timeout_ms: 250
            })
        );
        for s in ["none", "wait:2:500", "waitaof:0:1:1000", "wait:1:2000"] {
            assert_eq!(s.parse::<Durability>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn bad_modes_say_what_to_write() {
        for bad in [
            "",
            "wait",
            "wait:x",
            "wait:0",
            "wait:1:0",
            "waitaof:1",
            "waitaof:2:0",
            "waitaof:0:0",
            "fsync",
        ] {
            let e = bad.parse::<Durability>().unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
        assert!("wait:1:0"
            .parse::<Durability>()
            .unwrap_err()
            .contains("forever"));
    }

    #[test]
    fn replies_below_the_asked_numbers_are_short() {
        let wait: Durability = "wait:1".parse().unwrap();
        assert_eq!(wait.judge(&Value::Int(1)), Ok(Confirmation::Confirmed));
        assert!(matches!(
            wait.judge(&Value::Int(0)),
            Ok(Confirmation::Short(_))
        ));
        let aof: Durability = "waitaof:1:1".parse().unwrap();
        let pair = |a, b| Value::Array(vec![Value::Int(a), Value::Int(b)]);
        assert_eq!(aof.judge(&pair(1, 1)), Ok(Confirmation::Confirmed));
        assert!(matches!(aof.judge(&pair(1, 0)), Ok(Confirmation::Short(_))));
        assert!(matches!(aof.judge(&pair(0, 2)), Ok(Confirmation::Short(_))));
        assert!(aof.judge(&Value::Int(1)).is_err());
    }
}
