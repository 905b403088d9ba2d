//! What happens to the chosen master at each step of the failover experiment ([`Fault`]).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::cluster::partition::Shape;

/// What happens to the chosen master at each step; a compact spec in the spirit of tikv/fail-rs:
/// `kill`, `pause:7000` (ms), `manual`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL: a crash. Its replica is promoted after node-timeout plus an election; writes not
    /// yet replicated are lost.
    Kill,
    /// SIGSTOP for `ms`, then SIGCONT: a node that hangs with its sockets open. Longer than
    /// node-timeout, a replica takes over and the old master rejoins as its replica; shorter, it
    /// is only a stall.
    Pause { ms: u64 },
    /// `CLUSTER FAILOVER` on a replica: a coordinated switch, the control where nothing may be lost.
    ManualFailover,
    /// The master cut off the network for `ms` in `shape` (its clients still reach it), then
    /// healed: it acknowledges writes until it notices it lost the majority, and they are
    /// discarded when it learns of its replica's promotion.
    Partition { shape: Shape, ms: u64 },
}

/// How long a partition lasts by default: past node-timeout (2 s here) and an election.
pub const DEFAULT_PARTITION_MS: u64 = 6_000;

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let spec = s.trim().to_ascii_lowercase();
        let pause_ms = spec.strip_prefix("pause:").or_else(|| {
            spec.strip_prefix("pause(")
                .and_then(|r| r.strip_suffix(')'))
        });
        if let Some(rest) = spec.strip_prefix("partition") {
            let mut parts = rest.trim_start_matches(':').split(':');
            let shape = match parts.next().filter(|p| !p.is_empty()) {
                Some(p) => p.parse::<Shape>()?,
                None => Shape::IsolateMaster,
            };
            let ms = match parts.next() {
                Some(ms) => ms.parse::<u64>().ok().filter(|ms| *ms > 0).ok_or_else(|| {
                    format!("'{s}': the partition needs a duration in ms above 0, e.g. partition:halves:6000")
                })?,
                None => DEFAULT_PARTITION_MS,
            };
            return Ok(Fault::Partition { shape, ms });
        }
        match (spec.as_str(), pause_ms) {
            ("kill", _) => Ok(Fault::Kill),
            ("manual" | "failover" | "manual-failover", _) => Ok(Fault::ManualFailover),
            (_, Some(ms)) => match ms.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => Ok(Fault::Pause { ms }),
                _ => Err(format!(
                    "'{s}': the pause needs a duration in ms above 0, e.g. pause:7000"
                )),
            },
            _ => Err(format!(
                "'{s}' is not a fault; use kill, pause:MS (e.g. pause:7000), manual or partition:SHAPE:MS"
            )),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Kill => f.write_str("kill"),
            Fault::Pause { ms } => write!(f, "pause:{ms}"),
            Fault::ManualFailover => f.write_str("manual"),
            Fault::Partition { shape, ms } => write!(f, "partition:{shape}:{ms}"),
        }
    }
}

impl Serialize for Fault {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_and_print_back() {
        for (spec, fault) in [
            ("kill", Fault::Kill),
            ("KILL", Fault::Kill),
            ("pause:7000", Fault::Pause { ms: 7000 }),
            ("pause(1500)", Fault::Pause { ms: 1500 }),
            ("manual", Fault::ManualFailover),
            ("failover", Fault::ManualFailover),
        ] {
            assert_eq!(spec.parse::<Fault>(), Ok(fault), "{spec}");
            assert_eq!(fault.to_string().parse::<Fault>(), Ok(fault));
        }
        assert!("pause"
            .parse::<Fault>()
            .unwrap_err()
            .contains("kill, pause:MS"));
        assert!("pause:0".parse::<Fault>().unwrap_err().contains("above 0"));
        assert!("pause:x".parse::<Fault>().is_err());
        assert!("reboot".parse::<Fault>().is_err());
    }

    #[test]
    fn partition_specs_parse_with_shape_and_duration() {
        let p = |shape, ms| Fault::Partition { shape, ms };
        assert_eq!(
            "partition".parse(),
            Ok(p(Shape::IsolateMaster, DEFAULT_PARTITION_MS))
        );
        assert_eq!(
            "partition:halves".parse(),
            Ok(p(Shape::Halves, DEFAULT_PARTITION_MS))
        );
        assert_eq!("partition:one-way:7000".parse(), Ok(p(Shape::OneWay, 7000)));
        let f = p(Shape::Bridge, 8000);
        assert_eq!(f.to_string().parse::<Fault>(), Ok(f));
        assert!("partition:sideways".parse::<Fault>().is_err());
        assert!("partition:halves:0"
            .parse::<Fault>()
            .unwrap_err()
            .contains("above 0"));
    }
}
