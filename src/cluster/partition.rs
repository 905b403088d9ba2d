//! Network partitions of a local cluster, in the shapes Jepsen's nemeses use: nftables rules that
//! drop packets between nodes, each node on its own loopback address. The client (on 127.0.0.1)
//! is never cut: it still reaches every node, as a client next to an isolated master does.
//!
//! Rules go only into the private namespace [`netns::enter`](super::netns::enter) made; a
//! [`Cut`] deletes them when healed or dropped, and the namespace takes them along if we die.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::Serialize;

use super::netns;
use super::options::NodeRole;
use crate::{Error, Result};

/// The nftables table that holds every drop rule of a cut.
const TABLE: &str = "rcstress_partition";

/// Which links a partition cuts, with one shard's master (the target) at its centre.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// The target master cut off from every other node, both ways (the case the Redis Cluster
    /// specification names for losing acknowledged writes).
    IsolateMaster,
    /// Two halves: the target with the replicas of the other shards (a minority of masters)
    /// against the other masters and the target's replicas.
    Halves,
    /// The halves, but one master of the majority side (the bridge) still reaches both sides.
    Bridge,
    /// One way only: the target's packets to the other nodes are dropped, theirs reach it.
    OneWay,
}

impl Shape {
    pub const ALL: [Shape; 4] = [
        Shape::IsolateMaster,
        Shape::Halves,
        Shape::Bridge,
        Shape::OneWay,
    ];

    /// The directed links `(from, to)` whose packets are dropped, as node indices, for a
    /// cluster whose nodes have `roles` (as formed) and `target` as the master at the centre.
    pub fn cuts(self, roles: &[NodeRole], target: usize) -> Vec<(usize, usize)> {
        let n = roles.len();
        let others = || (0..n).filter(move |&i| i != target);
        let both = |a: &[usize], b: &[usize]| -> Vec<(usize, usize)> {
            let mut out = Vec::new();
            for &x in a {
                for &y in b {
                    out.push((x, y));
                    out.push((y, x));
                }
            }
            out
        };
        match self {
            Shape::IsolateMaster => both(&[target], &others().collect::<Vec<_>>()),
            Shape::OneWay => others().map(|o| (target, o)).collect(),
            Shape::Halves | Shape::Bridge => {
                let (minority, majority) = halves(roles, target);
                let majority: Vec<usize> = match self {
                    Shape::Bridge => {
                        let bridge = majority
                            .iter()
                            .copied()
                            .find(|&i| roles[i] == NodeRole::Master);
                        majority
                            .into_iter()
                            .filter(|&i| Some(i) != bridge)
                            .collect()
                    }
                    _ => majority,
                };
                both(&minority, &majority)
            }
        }
    }
}

/// The minority side (the target and replicas of other shards, at most half the nodes) and the
/// majority side (everything else: the other masters and the target's replicas).
fn halves(roles: &[NodeRole], target: usize) -> (Vec<usize>, Vec<usize>) {
    let n = roles.len();
    let mut minority = vec![target];
    for (i, role) in roles.iter().enumerate() {
        if minority.len() >= n / 2 {
            break;
        }
        if matches!(role, NodeRole::Replica(m) if *m != target) {
            minority.push(i);
        }
    }
    let majority = (0..n).filter(|i| !minority.contains(i)).collect();
    (minority, majority)
}

impl FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "isolate-master" | "isolate" => Ok(Shape::IsolateMaster),
            "halves" => Ok(Shape::Halves),
            "bridge" => Ok(Shape::Bridge),
            "one-way" | "oneway" => Ok(Shape::OneWay),
            _ => Err(format!(
                "'{s}' is not a partition shape; use isolate-master, halves, bridge or one-way"
            )),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Shape::IsolateMaster => "isolate-master",
            Shape::Halves => "halves",
            Shape::Bridge => "bridge",
            Shape::OneWay => "one-way",
        })
    }
}

/// The address node `index` of a cluster with own addresses listens on and sends from:
/// 127.0.0.2 onwards (127.0.0.1 stays the client's, so no rule ever names it).
pub fn node_address(index: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)) + index as u32)
}

/// The nftables script that drops the packets of `cuts` (node indices).
fn script(cuts: &[(usize, usize)]) -> String {
    let mut s = format!(
        "table ip {TABLE} {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n"
    );
    for &(from, to) in cuts {
        s.push_str(&format!(
            "    ip saddr {} ip daddr {} drop\n",
            node_address(from),
            node_address(to)
        ));
    }
    s.push_str("  }\n}\n");
    s
}

/// A partition in force: its rules are deleted by [`Cut::heal`], or when it is dropped.
#[derive(Debug)]
pub struct Cut {
    healed: bool,
}

impl Cut {
    /// Drops the packets of `cuts` (node indices of a cluster with own addresses) until healed.
    pub fn apply(cuts: &[(usize, usize)]) -> Result<Cut> {
        if !netns::is_private() {
            return Err(Error::NoPrivateNetwork(
                "a partition is made only inside rcstress's own network namespace, and this run is not in one".into(),
            ));
        }
        let file = tempfile::NamedTempFile::new()
            .map_err(|e| Error::io("cannot write the partition's rules", e))?;
        std::fs::write(file.path(), script(cuts))
            .map_err(|e| Error::io("cannot write the partition's rules", e))?;
        let path = file.path().display().to_string();
        netns::run_tool("nft", &["-f", &path], "nftables")?;
        Ok(Cut { healed: false })
    }

    /// Deletes the rules: every link works again.
    pub fn heal(mut self) -> Result<()> {
        self.healed = true;
        netns::run_tool("nft", &["delete", "table", "ip", TABLE], "nftables")
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        if !self.healed {
            let _ = netns::run_tool("nft", &["delete", "table", "ip", TABLE], "nftables");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> Vec<NodeRole> {
        use NodeRole::*;
        vec![Master, Master, Master, Replica(0), Replica(1), Replica(2)]
    }

    #[test]
    fn shapes_parse_print_back_and_refuse_others() {
        for s in Shape::ALL {
            assert_eq!(s.to_string().parse::<Shape>(), Ok(s));
        }
        let e = "split-brain".parse::<Shape>().unwrap_err();
        assert!(
            e.contains("isolate-master, halves, bridge or one-way"),
            "{e}"
        );
    }

    #[test]
    fn isolate_master_cuts_the_target_from_every_node_both_ways() {
        let cuts = Shape::IsolateMaster.cuts(&roles(), 0);
        assert_eq!(cuts.len(), 10);
        for o in 1..6 {
            assert!(cuts.contains(&(0, o)) && cuts.contains(&(o, 0)));
        }
        assert!(!cuts.iter().any(|&(a, b)| a != 0 && b != 0));
    }

    #[test]
    fn halves_leave_the_target_with_a_minority_of_masters() {
        let (minority, majority) = halves(&roles(), 0);
        assert_eq!(
            minority,
            vec![0, 4, 5],
            "the target and the other shards' replicas"
        );
        assert_eq!(
            majority,
            vec![1, 2, 3],
            "two masters and the target's replica"
        );
        assert_eq!(Shape::Halves.cuts(&roles(), 0).len(), 18);
    }

    #[test]
    fn the_bridge_reaches_both_sides_and_one_way_drops_only_the_targets_packets() {
        let bridge = Shape::Bridge.cuts(&roles(), 0);
        assert!(
            !bridge.iter().any(|&(a, b)| a == 1 || b == 1),
            "master 1 bridges"
        );
        assert!(bridge.contains(&(0, 2)) && bridge.contains(&(2, 0)));
        let one_way = Shape::OneWay.cuts(&roles(), 0);
        assert_eq!(one_way, vec![(0, 1), (0, 2), (0, 3), (0, 4), (0, 5)]);
    }

    #[test]
    fn rules_name_node_addresses_never_the_clients() {
        let s = script(&[(0, 3)]);
        assert!(
            s.contains("ip saddr 127.0.0.2 ip daddr 127.0.0.5 drop"),
            "{s}"
        );
        assert!(!s.contains("127.0.0.1 "));
        assert_eq!(node_address(254), Ipv4Addr::new(127, 0, 1, 0));
    }
}
