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
}

impl Mode {
    /// The five modes of the issue, in order.
    pub fn all() -> Vec<Mode> {
        [
            "none",
            "wait:1",
            "waitaof:1:0",
            "waitaof:0:1",
            "min-replicas:1",
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
        if let Some(n) = spec.strip_prefix("min-replicas:") {
            let n: u32 = n
                .parse()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or_else(|| format!("'{s}': min-replicas:N needs N in 1..=5"))?;
            return Ok(Mode {
                spec,
                durability: Durability::None,
                min_replicas: Some(n),
            });
        }
        let durability: Durability = spec
            .parse()
            .map_err(|e: String| format!("{e}, or min-replicas:N"))?;
        Ok(Mode {
            spec,
            durability,
            min_replicas: None,
        })
    }
}

/// What strikes shard 0 during a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// No fault, closed loop: the cost of the mode alone.
    None,
    /// SIGSTOP of the master longer than node-timeout, then SIGCONT.
    Pause,
    /// SIGKILL of the master and its replicas, then a restart of each from its AOF.
    ShardKill,
}

impl Fault {
    /// How reports name it: "no fault" rather than "none", which reads as a mode.
    pub fn label(&self) -> &'static str {
        match self {
            Fault::None => "no fault",
            Fault::Pause => "pause",
            Fault::ShardKill => "shard-kill",
        }
    }

    pub fn all() -> Vec<Fault> {
        vec![Fault::None, Fault::Pause, Fault::ShardKill]
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Fault::None),
            "pause" => Ok(Fault::Pause),
            "shard-kill" | "kill-shard" => Ok(Fault::ShardKill),
            _ => Err(format!(
                "'{s}' is not a durability fault; use none, pause or shard-kill"
            )),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::None => "none",
            Fault::Pause => "pause",
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
        assert_eq!(all.len(), 5);
        assert_eq!(all[4].min_replicas, Some(1));
        assert_eq!(all[4].durability, Durability::None);
        assert!("min-replicas:0".parse::<Mode>().is_err());
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
