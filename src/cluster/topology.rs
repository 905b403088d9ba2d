//! Parsers for `CLUSTER INFO` and `CLUSTER NODES`: pure functions over the text Redis sends.

use std::collections::BTreeMap;

/// The fields of `CLUSTER INFO` we act on, plus every field as text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterInfo {
    /// `cluster_state`: "ok" or "fail".
    pub state: String,
    pub slots_assigned: u32,
    pub slots_ok: u32,
    pub known_nodes: u32,
    /// `cluster_size`: masters that serve at least one slot.
    pub size: u32,
    /// Every `key:value` line, as sent.
    pub fields: BTreeMap<String, String>,
}

impl ClusterInfo {
    /// Parses `CLUSTER INFO` (or any `key:value` INFO text); unknown or malformed lines are kept or
    /// skipped, never a panic.
    pub fn parse(text: &str) -> Self {
        let fields = parse_info_fields(text);
        let num = |k: &str| fields.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
        ClusterInfo {
            state: fields.get("cluster_state").cloned().unwrap_or_default(),
            slots_assigned: num("cluster_slots_assigned"),
            slots_ok: num("cluster_slots_ok"),
            known_nodes: num("cluster_known_nodes"),
            size: num("cluster_size"),
            fields,
        }
    }

    /// True when the node says the whole cluster serves: state ok and all 16384 slots ok.
    pub fn is_healthy(&self) -> bool {
        self.state == "ok" && self.slots_ok == 16384
    }
}

/// Splits INFO-style text into `key -> value`, skipping `# Section` headers and blank lines.
pub fn parse_info_fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Why a node is not ready to serve as a full member of a replicated cluster, from its `INFO`
/// fields (the default sections: `replication` and `persistence`): a replica whose link to its
/// master is not up or that is still receiving a sync, or any node still loading its data set.
/// `None` when the node is in sync. A cluster measured while a replica syncs is another cluster:
/// its masters replicate nothing, so its server CPU per message is half of the steady figure.
pub fn replica_sync_problem(info: &BTreeMap<String, String>) -> Option<String> {
    let field = |k: &str| info.get(k).map(String::as_str);
    if field("loading") == Some("1") {
        return Some("still loading its data set (loading:1)".into());
    }
    if field("role") != Some("slave") {
        return None;
    }
    match field("master_link_status") {
        Some("up") => {}
        other => {
            return Some(format!(
                "replica link to its master is not up (master_link_status:{})",
                other.unwrap_or("missing")
            ))
        }
    }
    (field("master_sync_in_progress") == Some("1"))
        .then(|| "replica still syncing from its master (master_sync_in_progress:1)".into())
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeEntry {
    pub id: String,
    /// `host:port` of the client port, without the `@bus` part.
    pub addr: String,
    pub flags: Vec<String>,
    /// The master's id for a replica, `None` for a master.
    pub master_id: Option<String>,
    pub link_connected: bool,
    /// Slot ranges served (inclusive), importing/migrating markers ignored.
    pub slots: Vec<(u16, u16)>,
}

impl NodeEntry {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
    pub fn is_master(&self) -> bool {
        self.has_flag("master")
    }
    /// `fail` or `fail?` (PFAIL).
    pub fn is_failing(&self) -> bool {
        self.has_flag("fail") || self.has_flag("fail?")
    }
    pub fn is_myself(&self) -> bool {
        self.has_flag("myself")
    }
    /// Host and client port, if the address has both.
    pub fn host_port(&self) -> Option<(String, u16)> {
        let (host, port) = self.addr.rsplit_once(':')?;
        Some((host.to_string(), port.parse().ok()?))
    }
    /// The client port, if the address has one.
    pub fn port(&self) -> Option<u16> {
        self.addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
    }
    pub fn serves_slot(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
    }
    pub fn slot_count(&self) -> u32 {
        self.slots.iter().map(|&(a, b)| u32::from(b - a) + 1).sum()
    }
}

/// Parses `CLUSTER NODES`; lines that do not have the 8 fixed fields are skipped.
pub fn parse_cluster_nodes(text: &str) -> Vec<NodeEntry> {
    text.lines().filter_map(parse_node_line).collect()
}

fn parse_node_line(line: &str) -> Option<NodeEntry> {
    let parts: Vec<&str> = line.split_whitespace().collect();
    if parts.len() < 8 {
        return None;
    }
    // `127.0.0.1:7000@17000` or, with hostnames, `127.0.0.1:7000@17000,host`.
    let addr = parts[1].split(['@', ',']).next().unwrap_or("").to_string();
    let flags = parts[2].split(',').map(str::to_string).collect();
    let master_id = (parts[3] != "-").then(|| parts[3].to_string());
    let slots = parts[8..]
        .iter()
        .filter(|s| !s.starts_with('['))
        .filter_map(|s| match s.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => {
                let v = s.parse().ok()?;
                Some((v, v))
            }
        })
        .filter(|&(a, b): &(u16, u16)| a <= b && b < 16384)
        .collect();
    Some(NodeEntry {
        id: parts[0].to_string(),
        addr,
        flags,
        master_id,
        link_connected: parts[7] == "connected",
        slots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // From the seed's write-up, after the first master was killed and its replica promoted.
    const SEED_NODES: &str = "\
461be0b4a4543e5d9acd00942dd9b93b882115b7 26.9.179.171:7000@17000 master,fail - 1718974349457 1718974347534 1 connected
d2cc64d7259a4230b757e5b52c74f742b4bc9e03 26.9.179.171:7004@17004 master - 0 1718974388562 7 connected 0-5460
c3f97ac46e687af0940c42e56ad5b1774cdcfa2d 26.9.179.171:7001@17001 master - 0 1718974388864 2 connected 5461-10922
52b55e41072d08db5710971d62b5dbd23676286a 26.9.179.171:7002@17002 master - 0 1718974388000 3 connected 10923-16383
d4103efba01a43ff73a0dde1a00962d9c49015cb 26.9.179.171:7003@17003 slave 52b55e41072d08db5710971d62b5dbd23676286a 0 1718974387000 3 connected
49c048b897ef0a9fd8fc90326bb9c7a5945e325f 26.9.179.171:7005@17005 myself,slave c3f97ac46e687af0940c42e56ad5b1774cdcfa2d 0 1718974387000 2 connected
";

    #[test]
    fn parses_the_seeds_cluster_nodes_after_a_failover() {
        let nodes = parse_cluster_nodes(SEED_NODES);
        assert_eq!(nodes.len(), 6);
        assert!(nodes[0].is_failing() && nodes[0].slots.is_empty());
        assert_eq!(nodes[1].addr, "26.9.179.171:7004");
        assert_eq!(nodes[1].slots, vec![(0, 5460)]);
        assert_eq!(nodes[1].slot_count(), 5461);
        assert_eq!(
            nodes[4].master_id.as_deref(),
            Some("52b55e41072d08db5710971d62b5dbd23676286a")
        );
        assert!(nodes[5].is_myself() && !nodes[5].is_master());
        assert_eq!(nodes[5].port(), Some(7005));
        let served: u32 = nodes
            .iter()
            .filter(|n| n.is_master())
            .map(NodeEntry::slot_count)
            .sum();
        assert_eq!(served, 16384);
    }

    #[test]
    fn skips_migrating_markers_single_slots_and_garbage() {
        let text =
            "abc 127.0.0.1:1@2 master - 0 0 1 connected 5 7-9 [10->-def] 99999\nshort line\n";
        let nodes = parse_cluster_nodes(text);
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].slots, vec![(5, 5), (7, 9)]);
        assert!(nodes[0].serves_slot(8) && !nodes[0].serves_slot(6));
    }

    #[test]
    fn parses_the_seeds_cluster_info() {
        let info = ClusterInfo::parse(
            "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\n\
             cluster_slots_pfail:0\r\ncluster_known_nodes:6\r\ncluster_size:3\r\n",
        );
        assert!(info.is_healthy());
        assert_eq!((info.known_nodes, info.size), (6, 3));
        let down = ClusterInfo::parse("cluster_state:fail\ncluster_slots_ok:10923\n");
        assert!(!down.is_healthy());
        assert_eq!(ClusterInfo::parse("nonsense\n::\n").state, "");
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        /// Tokens that CLUSTER NODES lines are made of, mixed with junk.
        fn token() -> impl Strategy<Value = String> {
            prop_oneof![
                "[0-9a-f]{40}",
                "[0-9.]{1,15}:[0-9]{0,6}(@[0-9]{0,6})?(,[a-z.]{0,10})?",
                "(master|slave|myself|fail\\?|fail|handshake|noaddr|nofailover)(,(master|slave|myself|fail))*",
                "-",
                "[0-9]{1,20}",
                "[0-9]{1,6}-[0-9]{1,6}",
                "\\[[0-9]{1,5}-[<>]-[0-9a-f]{0,40}\\]",
                "connected|disconnected",
                "\\PC{0,12}",
            ]
        }

        fn line() -> impl Strategy<Value = String> {
            prop::collection::vec(token(), 0..14).prop_map(|t| t.join(" "))
        }

        proptest! {
            /// No input makes the CLUSTER NODES parser panic, and what it returns is sane.
            #[test]
            fn cluster_nodes_never_panics(lines in prop::collection::vec(line(), 0..8), junk in "\\PC*") {
                let text = format!("{}\n{junk}", lines.join("\n"));
                let nodes = parse_cluster_nodes(&text);
                prop_assert!(nodes.len() <= text.lines().count());
                for n in &nodes {
                    for &(a, b) in &n.slots {
                        prop_assert!(a <= b && b < 16384);
                    }
                    prop_assert!(n.slot_count() <= 16384 * n.slots.len() as u32);
                    let _ = (n.port(), n.is_failing(), n.serves_slot(0));
                }
            }

            /// Any bytes at all, as text.
            #[test]
            fn any_text_is_safe(text in "\\PC*|[\\x00-\\x7f]*") {
                let _ = parse_cluster_nodes(&text);
                let info = ClusterInfo::parse(&text);
                let _ = info.is_healthy();
                let _ = parse_info_fields(&text);
            }

            /// CLUSTER INFO fields come back as written, junk lines or not.
            #[test]
            fn cluster_info_reads_its_fields(state in "ok|fail", ok in 0u32..=16384, known in 0u32..1000, junk in "[^:\r\n]{0,20}") {
                let text = format!("# Cluster\r\ncluster_state:{state}\r\n{junk}\r\ncluster_slots_ok:{ok}\r\ncluster_known_nodes:{known}\r\n");
                let info = ClusterInfo::parse(&text);
                prop_assert_eq!(&info.state, &state);
                prop_assert_eq!(info.slots_ok, ok);
                prop_assert_eq!(info.known_nodes, known);
                prop_assert_eq!(info.is_healthy(), state == "ok" && ok == 16384);
            }
        }
    }

    /// A replica is in sync only with its link up and no sync or load in progress; a master
    /// counts as in sync unless it is loading.
    #[test]
    fn replica_sync_state_comes_from_info_fields() {
        let info = |text: &str| parse_info_fields(text);
        let synced = "# Persistence\r\nloading:0\r\n# Replication\r\nrole:slave\r\nmaster_link_status:up\r\nmaster_sync_in_progress:0\r\n";
        assert_eq!(replica_sync_problem(&info(synced)), None);
        let down = synced.replace("master_link_status:up", "master_link_status:down");
        assert!(replica_sync_problem(&info(&down))
            .unwrap()
            .contains("master_link_status:down"));
        let syncing = synced.replace("master_sync_in_progress:0", "master_sync_in_progress:1");
        assert!(replica_sync_problem(&info(&syncing))
            .unwrap()
            .contains("syncing"));
        let loading = synced.replace("loading:0", "loading:1");
        assert!(replica_sync_problem(&info(&loading))
            .unwrap()
            .contains("loading"));
        let master = "loading:0\r\nrole:master\r\nconnected_slaves:1\r\n";
        assert_eq!(replica_sync_problem(&info(master)), None);
        let no_link = "loading:0\r\nrole:slave\r\n";
        assert!(replica_sync_problem(&info(no_link))
            .unwrap()
            .contains("missing"));
    }
}
