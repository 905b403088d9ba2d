//! What the durability scenario compares ([`Mode`]) and what strikes shard 0 ([`Fault`]).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::Serialize;

use crate::durability::Durability;

/// A durability setting to compare: a producer-side wait, or the server's min-replicas-to-write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mode {
    /// As written: `none`, `wait:1`, `waitaof:1:0`, `min-replicas:1`.
    pub spec: String,
    pub durability: Durability,
    pub min_replicas: Option<u32>,
    /// `min-replicas-max-lag` (s) for `min-replicas:N:LAG`; `None`: Redis's 10 s.
    pub max_lag_s: Option<u32>,
}

impl Mode {
    /// Every mode the scenario compares by default, in order: min-replicas once with Redis's
    /// 10 s max-lag and once with 1 s, below the scenario's 2 s node-timeout.
    pub fn all() -> Vec<Mode> {
        [
            "none",
            "wait:1",
            "waitaof:1:0",
            "waitaof:0:1",
            "waitaof:1:1",
            "min-replicas:1",
            "min-replicas:1:1",
        ]
        .iter()
        .map(|s| s.parse().expect("built-in mode"))
        .collect()
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let spec = s.trim().to_ascii_lowercase();
        if let Some(rest) = spec.strip_prefix("min-replicas:") {
            let (n, lag) = match rest.split_once(':') {
                Some((n, lag)) => (n, Some(lag)),
                None => (rest, None),
            };
            let n: u32 = n
                .parse()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or_else(|| format!("'{s}': min-replicas:N needs N in 1..=5"))?;
            let max_lag_s = match lag {
                None => None,
                Some(l) => Some(l.parse::<u32>().ok().filter(|l| *l >= 1).ok_or_else(|| {
                    format!("'{s}': min-replicas:N:MAXLAG needs MAXLAG in seconds, at least 1")
                })?),
            };
            return Ok(Mode {
                spec,
                durability: Durability::None,
                min_replicas: Some(n),
                max_lag_s,
            });
        }
        let durability: Durability = spec
            .parse()
            .map_err(|e: String| format!("{e}, or min-replicas:N"))?;
        Ok(Mode {
            spec,
            durability,
            min_replicas: None,
            max_lag_s: None,
        })
    }
}

/// What strikes shard 0 during a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// No fault, closed loop: the cost of the mode alone.
    None,
    /// SIGSTOP of the master longer than node-timeout, then SIGCONT, with a client that waits
    /// longer than the pause (as redis-py or Lettuce do): it sees the writes the master takes on
    /// resume acknowledged, before the master learns it was replaced and drops them.
    Pause,
    /// The same pause with a client that gives up after 2 s: those writes time out instead.
    PauseShort,
    /// The master cut off the network in the scenario's partition shape, its clients still
    /// reaching it, then healed.
    Partition,
    /// SIGKILL of the master and its replicas, then a restart of each from its AOF.
    ShardKill,
}

impl Fault {
    /// How reports name it: "no fault" rather than "none", which reads as a mode.
    pub fn label(&self) -> &'static str {
        match self {
            Fault::None => "no fault",
            Fault::Pause => "pause",
            Fault::PauseShort => "pause-short",
            Fault::Partition => "partition",
            Fault::ShardKill => "shard-kill",
        }
    }

    pub fn all() -> Vec<Fault> {
        vec![
            Fault::None,
            Fault::Pause,
            Fault::PauseShort,
            Fault::Partition,
            Fault::ShardKill,
        ]
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Fault::None),
            "pause" => Ok(Fault::Pause),
            "pause-short" => Ok(Fault::PauseShort),
            "partition" => Ok(Fault::Partition),
            "shard-kill" | "kill-shard" => Ok(Fault::ShardKill),
            _ => Err(format!(
                "'{s}' is not a durability fault; use none, pause, pause-short, partition or shard-kill"
            )),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::None => "none",
            Fault::Pause => "pause",
            Fault::PauseShort => "pause-short",
            Fault::Partition => "partition",
            Fault::ShardKill => "shard-kill",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_faults_parse() {
        let all = Mode::all();
        assert_eq!(all.len(), 7);
        assert_eq!(all[5].min_replicas, Some(1));
        assert_eq!(all[5].max_lag_s, None);
        assert_eq!(all[6].max_lag_s, Some(1));
        assert_eq!(all[5].durability, Durability::None);
        assert!("min-replicas:0".parse::<Mode>().is_err());
        assert!("min-replicas:1:0"
            .parse::<Mode>()
            .unwrap_err()
            .contains("MAXLAG"));
        assert!("wait"
            .parse::<Mode>()
            .unwrap_err()
            .contains("min-replicas:N"));
        for f in Fault::all() {
            assert_eq!(f.to_string().parse::<Fault>(), Ok(f));
        }
        assert!("reboot".parse::<Fault>().is_err());
    }
}
