//! A run spread over many processes (`rcstress worker` × N, then `rcstress merge DIR`), on any
//! engine that starts N copies of one command: Docker Swarm (`deploy/swarm-stack.yaml`),
//! Kubernetes (`deploy/k8s-indexed-job.yaml`), or a shell loop.
//!
//! The contract between the two halves is one JSON file per worker ([`WorkerFile`]) in a shared
//! directory: its counts, its ledger (bit sets, deflated), its histograms (HdrHistogram V2 +
//! deflate, the form OpenMessaging Benchmark ships), and its series with the wall-clock time it
//! started. The merge adds the histograms, aligns the series on the wall clock, runs the checker
//! over the union of the ledgers, and checks XLEN / XPENDING against Redis once.
//!
//! - [`worker`]: a worker's share of the run, the workload it runs, and its result file.
//! - [`merge`]: the merge of all result files and its check against Redis.
//!
//! The commands (`rcstress worker`, `rcstress merge DIR`: flags, environment, cluster, reports)
//! are in `commands`; this module imports nothing from `commands`, `cli` or `config`.

pub mod merge;
mod page;
pub mod worker;

pub use page::MergePage;

use std::collections::BTreeMap;
use std::io::{Read, Write};

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::check::{BookSnapshot, Counts, EventCounts, LedgerSnapshot};
use crate::metrics::{FirstError, SecondSample};
use crate::{Error, Result};

/// The `format` of a worker's result file; a merge refuses any other.
pub const FORMAT: &str = "rcstress-worker/1";

/// One worker's result file (`worker-<index>-of-<count>.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkerFile {
    pub format: String,
    /// 0-based index and number of workers of the run.
    pub index: usize,
    pub workers: usize,
    /// The whole run, as every worker was told.
    pub run: RunPlan,
    /// This worker's part of it.
    pub share: Share,
    /// The common start and this worker's actual start (µs since the epoch); `series[i].t` counts
    /// from `start_us`.
    pub start_at_us: u64,
    pub start_us: u64,
    pub host: String,
    pub stream: String,
    pub group: String,
    pub shard_keys: Vec<String>,
    /// First XADD to last XACK of this worker, from `start_us`.
    pub elapsed_seconds: f64,
    pub ended_by: String,
    /// This worker's own view (its lost / unexpected mean nothing alone; the merge judges).
    pub counts: Counts,
    pub errors: BTreeMap<String, u64>,
    pub first_errors: BTreeMap<String, FirstError>,
    pub series: Vec<SecondSample>,
    pub consumer_crashes: u64,
    pub client_peak_rss_bytes: u64,
    /// Send → XACK and send → delivery, HdrHistogram V2 + deflate, base64.
    pub latency_histogram: String,
    pub delivery_histogram: String,
    /// Pipeline reply → WAIT / WAITAOF reply (`--durability`), the same form; empty in files of
    /// older workers.
    #[serde(default)]
    pub confirm_histogram: String,
    pub ledger: EncodedLedger,
    /// The worker's client CPU and what it read of the servers' CPU over its run; zero in files
    /// of older workers.
    #[serde(default)]
    pub cost: crate::cost::Cost,
    /// The worker's workload and cluster, for the report's configuration.
    pub config: serde_json::Value,
}

/// What the whole run is: the numbers every worker gets alike.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    pub messages: u64,
    pub producers: usize,
    pub consumers: usize,
    pub rate: Option<f64>,
}

/// One worker's share of a [`RunPlan`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub producer_offset: u32,
    pub producers: usize,
    pub consumer_offset: usize,
    pub consumers: usize,
    pub messages: u64,
    pub rate: Option<f64>,
}

/// A [`LedgerSnapshot`] in a file: every bit set deflated and base64-encoded (a run where all
/// went well is long runs of ones: 300,000 messages take a few hundred bytes).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EncodedLedger {
    /// The counters beside the bits (each field at the top level, as files always had them).
    #[serde(flatten)]
    pub events: EventCounts,
    /// By global producer id.
    pub producers: Vec<EncodedBook>,
}

/// One producer's bit sets by name (attempted, produced, indeterminate, delivered, recovered,
/// acked, claimed), each deflated little-endian 64-bit words in base64.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EncodedBook {
    pub messages: u64,
    pub sets: BTreeMap<String, String>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn encode_words(words: &[u64]) -> String {
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    for w in words {
        // Writing to a Vec cannot fail.
        let _ = z.write_all(&w.to_le_bytes());
    }
    b64().encode(z.finish().unwrap_or_default())
}

fn decode_words(text: &str, expect: usize, what: &str) -> Result<Vec<u64>> {
    let bad = |why: String| Error::Config(format!("a worker file's ledger ({what}) {why}"));
    let raw = b64()
        .decode(text)
        .map_err(|e| bad(format!("is not base64: {e}")))?;
    let mut bytes = Vec::new();
    flate2::read::DeflateDecoder::new(&raw[..])
        .take(expect as u64 * 8 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("does not inflate: {e}")))?;
    if bytes.len() != expect * 8 && !(expect == 0 && bytes.is_empty()) {
        return Err(bad(format!(
            "has {} bytes where {} were expected",
            bytes.len(),
            expect * 8
        )));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}

impl EncodedLedger {
    pub fn encode(l: &LedgerSnapshot) -> Self {
        EncodedLedger {
            events: l.events,
            producers: l
                .producers
                .iter()
                .map(|b| EncodedBook {
                    messages: b.messages,
                    sets: BookSnapshot::NAMES
                        .iter()
                        .zip(b.sets())
                        .map(|(name, words)| (name.to_string(), encode_words(words)))
                        .collect(),
                })
                .collect(),
        }
    }

    pub fn decode(&self) -> Result<LedgerSnapshot> {
        let mut producers = Vec::with_capacity(self.producers.len());
        for (p, b) in self.producers.iter().enumerate() {
            if b.messages > 1_000_000_000 {
                return Err(Error::Config(format!(
                    "a worker file's ledger says producer {p} sent {} messages (more than a run can track)",
                    b.messages
                )));
            }
            let n = b.messages.div_ceil(64) as usize;
            let mut sets = Vec::with_capacity(BookSnapshot::NAMES.len());
            for name in BookSnapshot::NAMES {
                let text = b.sets.get(name).ok_or_else(|| {
                    Error::Config(format!(
                        "a worker file's ledger has no '{name}' set for producer {p}"
                    ))
                })?;
                sets.push(decode_words(text, n, &format!("producer {p} {name}"))?);
            }
            let sets: [Vec<u64>; 7] = sets.try_into().unwrap_or_default();
            producers.push(BookSnapshot::from_sets(b.messages, sets));
        }
        Ok(LedgerSnapshot {
            producers,
            events: self.events,
        })
    }
}

/// A histogram in HdrHistogram's V2 + deflate form, base64 (what other HdrHistogram tools read).
pub fn encode_histogram(h: &Histogram<u64>) -> Result<String> {
    let mut out = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut out)
        .map_err(|e| Error::Config(format!("cannot serialize a histogram: {e:?}")))?;
    Ok(b64().encode(out))
}

/// The inverse of [`encode_histogram`]; `what` names the file in the error.
pub fn decode_histogram(text: &str, what: &str) -> Result<Histogram<u64>> {
    let bytes = b64()
        .decode(text)
        .map_err(|e| Error::Config(format!("{what}: histogram is not base64: {e}")))?;
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| Error::Config(format!("{what}: not an HdrHistogram V2 histogram: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Ledger, Via};
    use crate::stream::MessageTag;

    #[test]
    fn a_ledger_survives_encoding_and_a_clean_run_is_small() {
        let l = Ledger::for_worker(&[150_000, 160_000], 1, 0);
        for p in 0..2u32 {
            for s in 0..150_000 {
                l.attempted(p, s);
                l.produced(p, s);
                let t = MessageTag {
                    producer: p,
                    seq: s,
                    sent_us: 1,
                };
                let via = if s == 7 { Via::Claim } else { Via::New };
                l.delivered(Some(&t), via, None);
                l.acked(&t);
            }
        }
        let snap = l.snapshot();
        let enc = EncodedLedger::encode(&snap);
        let text = serde_json::to_string(&enc).unwrap();
        assert!(text.len() < 10_000, "{} bytes", text.len());
        assert_eq!(enc.decode().unwrap(), snap);
        let mut broken = enc.clone();
        broken.producers[1].sets = broken.producers[0].sets.clone();
        assert!(broken.decode().is_err(), "a set of the wrong length");
    }

    #[test]
    fn histograms_survive_v2_deflate() {
        let mut h = crate::metrics::new_histogram();
        for v in [1u64, 50, 999, 12_345, 3_000_000] {
            h.record(v).unwrap();
        }
        let back = decode_histogram(&encode_histogram(&h).unwrap(), "t").unwrap();
        assert_eq!(back, h);
        assert!(decode_histogram("bm90IGEgaGlzdG9ncmFt", "t").is_err());
    }
}
