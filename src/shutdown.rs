//! Shutdown as a value: SIGINT, SIGTERM and SIGHUP turned into cancellation tokens in one place
//! and passed down to whatever waits, as mini-redis passes `ctrl_c()` into its server.
//!
//! The first signal asks the command to stop: a run ends early and still reports what it has.
//! A second one cuts it short. Either way every guard is dropped, so nodes are killed and temp
//! dirs removed.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::{Error, Result};

/// Handle on the shutdown of one command: cheap to clone, every clone sees the same signals.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    /// Cancelled by the first signal: stop and report.
    stop: CancellationToken,
    /// Cancelled by a second signal: stop now, no report.
    abort: CancellationToken,
    /// The first signal's number (0 until one came).
    signal: Arc<AtomicI32>,
}

impl Shutdown {
    /// A shutdown nothing triggers but [`Shutdown::trigger`] (tests, library callers).
    pub fn new() -> Self {
        Shutdown::default()
    }

    /// Listens for SIGINT, SIGTERM and SIGHUP from now on (inside a tokio runtime). From then on
    /// these signals never kill the process outright: each one triggers this shutdown, so one that
    /// arrives between two waits (say, after the cluster started and before the run began) still
    /// stops the command at its next wait, and every guard gets to clean up.
    pub fn from_signals() -> Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        let listen = |kind: SignalKind| {
            signal(kind).map_err(|e| Error::io("cannot listen for SIGINT / SIGTERM / SIGHUP", e))
        };
        let (mut int, mut term, mut hup) = (
            listen(SignalKind::interrupt())?,
            listen(SignalKind::terminate())?,
            listen(SignalKind::hangup())?,
        );
        let shutdown = Shutdown::new();
        let trigger = shutdown.clone();
        // Ends with the runtime; two signals are all it acts on.
        tokio::spawn(async move {
            while !trigger.abort.is_cancelled() {
                let sig = tokio::select! {
                    _ = int.recv() => nix::libc::SIGINT,
                    _ = term.recv() => nix::libc::SIGTERM,
                    _ = hup.recv() => nix::libc::SIGHUP,
                };
                trigger.trigger(sig);
            }
        });
        Ok(shutdown)
    }

    /// What a signal does: the first asks to stop, the next one aborts.
    pub fn trigger(&self, sig: i32) {
        if self.stop.is_cancelled() {
            self.abort.cancel();
        } else {
            self.signal.store(sig, Ordering::SeqCst);
            self.stop.cancel();
        }
    }

    /// Resolves once a stop was asked for (at once if it already was); returns the signal.
    pub async fn requested(&self) -> i32 {
        self.stop.cancelled().await;
        self.signal()
    }

    /// Resolves once a second signal asked to abort.
    pub async fn aborted(&self) -> i32 {
        self.abort.cancelled().await;
        self.signal()
    }

    /// True once a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// The first signal's number, 0 if none came.
    pub fn signal(&self) -> i32 {
        self.signal.load(Ordering::SeqCst)
    }
}

/// `SIGINT`, `SIGTERM`, `SIGHUP` or the number, for messages.
pub fn signal_name(sig: i32) -> String {
    match sig {
        nix::libc::SIGINT => "SIGINT".into(),
        nix::libc::SIGTERM => "SIGTERM".into(),
        nix::libc::SIGHUP => "SIGHUP".into(),
        n => format!("signal {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first trigger asks to stop and keeps its signal; the second aborts.
    #[tokio::test]
    async fn first_signal_stops_second_aborts() {
        let s = Shutdown::new();
        assert!(!s.is_requested());
        s.clone().trigger(15);
        assert_eq!(s.requested().await, 15);
        assert!(!s.abort.is_cancelled());
        s.trigger(2);
        assert_eq!(
            s.aborted().await,
            15,
            "the first signal is the one reported"
        );
        assert_eq!(signal_name(15), "SIGTERM");
    }
}
