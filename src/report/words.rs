//! The words every report shares, so the summary, the page and the README say the same thing:
//! what the latency figures measure, and what each count and error kind means.

use crate::metrics::Latency;
use crate::units::{human_us, thousands};

/// What send→ack measures in a run with this open-loop rate (`None`: closed loop).
pub fn latency_basis(rate: Option<f64>) -> String {
    match rate {
        Some(r) => format!(
            "open loop at {} msg/s: from each message's scheduled send time to its XACK",
            thousands(r.round() as u64)
        ),
        None => "closed loop: time in the system from XADD sent to XACK, queueing behind earlier messages included, so it grows with --messages; for latency at a set load use --rate".into(),
    }
}

/// "p50 1.2 ms  p99 3.4 ms", or `None` when nothing was measured (0 µs would read as instant).
pub fn percentiles(l: &Latency, quantiles: &[(&str, u64)]) -> Option<String> {
    (l.count > 0).then(|| {
        quantiles
            .iter()
            .map(|(name, us)| format!("{name} {}", human_us(*us)))
            .collect::<Vec<_>>()
            .join("  ")
    })
}

/// The per-command round trip beside send→ack: "XADD reply p50 … p99 …".
pub fn round_trip(confirm: &Latency) -> Option<String> {
    percentiles(confirm, &[("p50", confirm.p50), ("p99", confirm.p99)])
        .map(|p| format!("per-command round trip (send → XADD reply) {p}"))
}

/// Each term a report shows, with what it means: the glossary of every page.
pub const GLOSSARY: [(&str, &str); 22] = [
    ("send→ack", "from a message's send (closed loop: its XADD; open loop: its scheduled time) to its XACK: time in the system, queueing included."),
    ("round trip", "send → the XADD reply (with --durability, the WAIT / WAITAOF reply): what one pipelined command costs a producer."),
    ("attempted", "messages a producer tried to send (XADD)."),
    ("produced", "messages whose XADD Redis acknowledged (with --durability: whose WAIT / WAITAOF also confirmed)."),
    ("refused", "XADDs Redis answered with an error (OOM, CLUSTERDOWN, …): known not written."),
    ("indeterminate", "XADDs whose reply never came (timeout, connection lost): written or not, nobody knows; never counted as lost."),
    ("unconfirmed", "XADDs that succeeded but whose WAIT / WAITAOF fell short: not counted as acknowledged, so never as lost."),
    ("delivered", "messages a consumer read (XREADGROUP or XAUTOCLAIM)."),
    ("acked", "messages a consumer acknowledged (XACK)."),
    ("lost", "acknowledged writes that were never delivered and are not in the stream at the end: what the verdict counts."),
    ("unverifiable", "messages on a shard that could not be read at the end: neither lost nor safe."),
    ("duplicated", "messages delivered more than once (at-least-once delivery: expected after a crash or a claim)."),
    ("duplicate writes", "messages found twice in a stream (a retried XADD that had in fact been written)."),
    ("recovered", "messages delivered only by the claimer (XAUTOCLAIM) after their consumer stopped."),
    ("unexpected", "deliveries of messages nobody sent: with lost, what makes the verdict fail."),
    ("pending at end", "messages delivered but not acknowledged when the run ended (XPENDING)."),
    ("CLUSTERDOWN", "Redis error: the cluster cannot serve this slot (a master is down and not yet replaced)."),
    ("MOVED", "Redis error: the slot is served by another node; the client follows it."),
    ("TRYAGAIN", "Redis error: the slot is being moved; the client retries."),
    ("NOGROUP", "Redis error: the stream or its consumer group does not exist (e.g. evicted under maxmemory)."),
    ("UNBLOCKED", "Redis error: a blocked XREADGROUP was released because its node changed role."),
    ("OOM", "Redis error: maxmemory reached; writes are refused."),
];

/// Error kinds of the client itself, keyed as in `errors`.
pub const CLIENT_ERRORS: [(&str, &str); 2] = [
    (
        "io",
        "the connection failed or closed (the node was killed or paused).",
    ),
    ("timeout", "no reply within the client's response timeout."),
];
