//! The backlog experiment's phases (lead, consumers stopped, draining, tail) as a state machine
//! fed one sample at a time, and the figures each phase fills.

use std::sync::atomic::Ordering::Relaxed;

use super::{BacklogFigures, BacklogOptions};
use crate::metrics::finite;
use crate::workload::Live;

/// Where the experiment is.
#[derive(PartialEq)]
pub(super) enum Phase {
    Lead,
    Paused,
    Draining,
    /// Caught up at this time; the load goes on for `tail_ms` to show the steady state again.
    Tail(f64),
}

/// The phases and the figures they fill, one sample at a time.
pub(super) struct Phases<'a> {
    pub o: &'a BacklogOptions,
    pub pause_bound_ms: u64,
    pub phase: Phase,
    pub fig: BacklogFigures,
    pub acked_at_resume: u64,
}

/// What the controller should do after a sample.
#[derive(PartialEq)]
pub(super) enum Next {
    GoOn,
    /// Never caught up within the drain budget: stop the run.
    Stop,
}

impl Phases<'_> {
    /// Takes one sample at `t` and moves between the phases, pausing and resuming the consumers.
    pub fn step(
        &mut self,
        live: &Live,
        t: f64,
        backlog: u64,
        acked: u64,
        used: &[(String, u64)],
    ) -> Next {
        let o = self.o;
        match self.phase {
            Phase::Lead => {
                self.fig.steady_backlog = self.fig.steady_backlog.max(backlog);
                if t * 1000.0 >= o.lead_ms as f64 {
                    live.pause_consumers.store(true, Relaxed);
                    self.fig.stopped_at = t;
                    self.fig.used_memory_at_stop = used.to_vec();
                    self.phase = Phase::Paused;
                }
            }
            Phase::Paused => {
                if let Some(why) = self.resume_reason(t, backlog, used) {
                    self.fig.resumed_by = why.to_string();
                    live.pause_consumers.store(false, Relaxed);
                    self.fig.resumed_at = t;
                    self.acked_at_resume = acked;
                    self.phase = Phase::Draining;
                }
            }
            Phase::Draining => return self.drain(t, backlog, acked),
            Phase::Tail(since) => {
                if (t - since) * 1000.0 >= o.tail_ms as f64 {
                    live.drain.store(true, Relaxed);
                }
            }
        }
        Next::GoOn
    }

    /// Why the consumers come back now, if they do: enough messages wait, a master reached the
    /// memory level, or the pause lasted its time.
    fn resume_reason(&self, t: f64, backlog: u64, used: &[(String, u64)]) -> Option<&'static str> {
        let o = self.o;
        let level = o
            .pause_memory
            .is_some_and(|max| used.iter().any(|(_, b)| *b >= max));
        if o.pause_messages.is_some_and(|n| backlog >= n) {
            Some("messages")
        } else if level {
            Some("memory")
        } else {
            ((t - self.fig.stopped_at) * 1000.0 >= self.pause_bound_ms as f64).then_some("time")
        }
    }

    /// The drain so far: its rate, and whether it caught up or ran out of budget.
    fn drain(&mut self, t: f64, backlog: u64, acked: u64) -> Next {
        let (o, fig) = (self.o, &mut self.fig);
        let spent = t - fig.resumed_at;
        let consumed = acked.saturating_sub(self.acked_at_resume) as f64;
        if spent > 0.0 {
            fig.consume_rate_msgs_per_sec = finite(consumed / spent);
            fig.drain_ratio = finite(fig.consume_rate_msgs_per_sec / o.rate);
            fig.net_drain_msgs_per_sec = finite(fig.consume_rate_msgs_per_sec - o.rate).max(0.0);
        }
        // Caught up: back to the steady level (at least a tenth of a second's messages, so that
        // one late pipeline does not count as a backlog).
        let level = fig.steady_backlog.max((o.rate / 10.0) as u64).max(1);
        if backlog <= level {
            fig.catch_up_seconds = Some(finite(spent));
            self.phase = Phase::Tail(t);
        } else if spent * 1000.0 >= o.drain_budget_ms as f64 {
            return Next::Stop;
        }
        Next::GoOn
    }

    /// The peak backlog and each master's peak used_memory, once the consumers have stopped.
    pub fn record_peak(&mut self, backlog: u64, used: &[(String, u64)]) {
        if self.phase == Phase::Lead {
            return;
        }
        let fig = &mut self.fig;
        fig.peak_messages = fig.peak_messages.max(backlog);
        fig.used_memory_peak = match fig.used_memory_peak.len() {
            0 => used.to_vec(),
            _ => fig
                .used_memory_peak
                .iter()
                .map(|(n, b)| {
                    let now = used.iter().find(|(m, _)| m == n).map_or(0, |(_, u)| *u);
                    (n.clone(), (*b).max(now))
                })
                .collect(),
        };
    }
}
