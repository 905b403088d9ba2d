//! The fault loop: pick the next master, hit it, watch the survivors until a replica serves its
//! slots (or the cluster is down for good), optionally restart it, let the load settle, repeat.

use std::time::{Duration, Instant};

use super::observer::{Observer, Paused};
use super::{Ending, FailoverOptions, Fault, KillRecord, Rejoin, NAMED_ERRORS};
use crate::cluster::partition::Shape;
use crate::cluster::LocalCluster;
use crate::metrics::finite;
use crate::scenario::cut::partition_and_watch;
use crate::scenario::Event;
use crate::workload::Live;
use crate::{Error, Result};

/// Applies the faults one at a time and watches the cluster through a survivor.
pub(super) struct Driver<'a> {
    pub(super) cluster: &'a LocalCluster,
    pub(super) live: &'a Live,
    pub(super) opts: &'a FailoverOptions,
    pub(super) observer: Observer<'a>,
    pub(super) events: Vec<Event>,
    pub(super) steps: Vec<KillRecord>,
}

/// Where one step stands while it watches the survivors.
struct Watch<'a> {
    began: Instant,
    /// The paused master, until it is resumed.
    pause: Option<Paused<'a>>,
    /// Since when the survivors say `cluster_state:fail`.
    fail_since: Option<Instant>,
}

/// A master chosen for the next fault.
struct Target {
    index: usize,
    port: u16,
    id: String,
    slots: Vec<(u16, u16)>,
}

impl<'a> Driver<'a> {
    fn event(&mut self, label: String) {
        // The progress line says the latest moment ("kill master :7000").
        self.live
            .set_phase(format!("step {}: {label}", self.steps.len().max(1)));
        self.events.push(Event {
            t: finite(self.live.secs()),
            label,
        });
    }

    /// Sleeps `d` unless the load ends first; false if it did.
    async fn settle<T>(&self, d: Duration, load: &tokio::task::JoinHandle<T>) -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if load.is_finished() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        !load.is_finished()
    }

    pub(super) async fn drive<T>(&mut self, load: &tokio::task::JoinHandle<T>) -> Result<Ending> {
        // The load must be running before the first fault (it connects and plans its shards).
        let start_by = Instant::now() + Duration::from_secs(60);
        while self.live.started.get().is_none() {
            if load.is_finished() {
                return Ok(Ending::Recovered);
            }
            if Instant::now() >= start_by {
                return Err(Error::Timeout {
                    what: "the load to start".into(),
                    secs: 60.0,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let settle = Duration::from_millis(self.opts.settle_ms);
        if !self.settle(settle, load).await {
            return Ok(Ending::Recovered);
        }
        for step in 1..=self.opts.max_steps() {
            let Some(target) = self.next_target().await else {
                break;
            };
            let ending = self.step(step, target).await?;
            if !matches!(ending, Ending::Recovered) {
                return Ok(ending);
            }
            if !self.settle(settle, load).await {
                break;
            }
        }
        Ok(Ending::Recovered)
    }

    /// The running master with the lowest node index: the original masters in order, then the
    /// promoted replicas, as the seed went through 7000, 7001, 7002, 7003.
    async fn next_target(&mut self) -> Option<Target> {
        let view = self.observer.look(None).await?;
        view.nodes
            .iter()
            .filter(|n| n.is_master() && !n.is_failing() && !n.slots.is_empty())
            .filter_map(|n| {
                let port = n.port()?;
                let index = self.cluster.index_of_port(port)?;
                self.cluster.is_running(index).then(|| Target {
                    index,
                    port,
                    id: n.id.clone(),
                    slots: n.slots.clone(),
                })
            })
            .min_by_key(|t| t.index)
    }

    /// Hits `target` with the fault; a pause is returned to be resumed when its time is up.
    async fn strike(&mut self, target: &Target) -> Result<Option<Paused<'a>>> {
        match self.opts.fault {
            Fault::Kill => {
                self.cluster.kill(target.index);
                self.event(format!("kill master :{}", target.port));
                Ok(None)
            }
            Fault::Pause { ms } => {
                let paused = Paused::new(self.cluster, target.index)?;
                self.event(format!("pause master :{} for {ms} ms", target.port));
                Ok(Some(paused))
            }
            // Struck, watched and healed in `step` (`cut`), before the watch here.
            Fault::Partition { .. } => Ok(None),
            Fault::ManualFailover => {
                let replica = self.replica_of(target).await.ok_or_else(|| {
                    Error::ClusterUnavailable(format!(
                        "master :{} has no running replica to fail over to",
                        target.port
                    ))
                })?;
                self.observer.failover(replica).await?;
                self.event(format!(
                    "CLUSTER FAILOVER on :{replica} (replica of :{})",
                    target.port
                ));
                Ok(None)
            }
        }
    }

    /// One fault and the wait for its outcome.
    async fn step(&mut self, step: usize, target: Target) -> Result<Ending> {
        let mut watch = Watch {
            began: Instant::now(),
            pause: None,
            fail_since: None,
        };
        let t = finite(self.live.secs());
        watch.pause = self.strike(&target).await?;
        let mut rec = KillRecord {
            step,
            fault: self.opts.fault.to_string(),
            node: format!(":{}", target.port),
            t,
            errors: NAMED_ERRORS.iter().map(|k| (k.to_string(), 0)).collect(),
            slots: target.slots.clone(),
            ..KillRecord::default()
        };
        if let Fault::Partition { shape, ms } = self.opts.fault {
            self.cut(&target, &mut rec, shape, ms).await?;
        }
        let ending = self.watch(&target, &mut rec, &mut watch).await;
        if let Some(p) = watch.pause.take() {
            p.resume()?;
        }
        let ending = ending?;
        if let Some(since) = watch.fail_since {
            rec.cluster_state_fail_s += since.elapsed().as_secs_f64();
        }
        rec.cluster_state_fail_s = finite(rec.cluster_state_fail_s);
        if self.opts.restart
            && self.opts.fault == Fault::Kill
            && matches!(ending, Ending::Recovered)
        {
            rec.restarted = Some(self.restart(&target).await?);
        }
        self.steps.push(rec);
        Ok(ending)
    }

    /// Watches the survivors every 100 ms until a node serves the target's slots, the cluster is
    /// down for good, or the step's bound passes; resumes a pause when its time is up.
    async fn watch(
        &mut self,
        target: &Target,
        rec: &mut KillRecord,
        w: &mut Watch<'a>,
    ) -> Result<Ending> {
        let resume_at = match self.opts.fault {
            Fault::Pause { ms } => Some(w.began + Duration::from_millis(ms)),
            _ => None,
        };
        let deadline = w.began + self.opts.step_timeout();
        loop {
            let now = Instant::now();
            if resume_at.is_some_and(|at| now >= at) {
                if let Some(p) = w.pause.take() {
                    p.resume()?;
                    self.event(format!("resume :{}", target.port));
                }
            }
            if let Some(ending) = self.look(target, rec, w, now).await {
                return Ok(ending);
            }
            if now >= deadline {
                rec.outcome = "not recovered".into();
                let why = format!(
                    "no node served the slots of :{} within {:.0} s",
                    target.port,
                    self.opts.step_timeout().as_secs_f64()
                );
                return Ok(if self.observer.all_fail(Some(target.index)).await {
                    Ending::Down(why)
                } else {
                    Ending::Stuck(why)
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One look at the survivors: records FAIL, cluster_state changes and the promotion; the
    /// ending once the slots are served again or the cluster is down for good.
    async fn look(
        &mut self,
        target: &Target,
        rec: &mut KillRecord,
        w: &mut Watch<'a>,
        now: Instant,
    ) -> Option<Ending> {
        let view = self.observer.look(Some(target.index)).await?;
        let me = view.nodes.iter().find(|n| n.id == target.id);
        if rec.marked_fail_after_s.is_none() && me.is_some_and(|n| n.has_flag("fail")) {
            rec.marked_fail_after_s = Some(secs_since(w.began));
            self.event(format!("FAIL :{}", target.port));
        }
        match (view.info.state == "fail", w.fail_since) {
            (true, None) => {
                w.fail_since = Some(now);
                self.event("cluster_state fail".into());
            }
            (false, Some(since)) => {
                rec.cluster_state_fail_s += now.duration_since(since).as_secs_f64();
                w.fail_since = None;
                self.event("cluster_state ok".into());
            }
            _ => {}
        }
        let first_slot = target.slots.first().map_or(0, |s| s.0);
        let server = view
            .nodes
            .iter()
            .find(|n| n.is_master() && !n.is_failing() && n.serves_slot(first_slot));
        if let Some(s) = server.filter(|s| s.id != target.id) {
            if rec.promoted.is_none() {
                rec.promoted = Some(format!(":{}", s.port().unwrap_or(0)));
                rec.promoted_after_s = Some(secs_since(w.began));
                self.event(format!("promoted :{}", s.port().unwrap_or(0)));
            }
        }
        let served = server.is_some() && view.info.is_healthy();
        // A pause or a bridge may end with the old master serving again: no promotion owed.
        let needs_promotion = !matches!(
            self.opts.fault,
            Fault::Pause { .. } | Fault::Partition { .. }
        );
        if served && w.pause.is_none() && (rec.promoted.is_some() || !needs_promotion) {
            rec.outcome = if rec.promoted.is_some() {
                "promoted".into()
            } else {
                "no failover".into()
            };
            return Some(Ending::Recovered);
        }
        if w.fail_since
            .is_some_and(|s| now.duration_since(s) >= self.opts.down_after())
            && w.pause.is_none()
            && self.replica_of(target).await.is_none()
            && self.observer.all_fail(Some(target.index)).await
        {
            rec.outcome = "cluster down".into();
            self.event(format!("cluster down for good after :{}", target.port));
            return Some(Ending::Down(format!(
                "master :{} had no replica left to promote; every survivor says cluster_state:fail",
                target.port
            )));
        }
        None
    }

    /// Cuts `target` off in `shape` for `ms`, watching it, then heals; its timeline goes into
    /// `rec` and the moments into the events.
    async fn cut(
        &mut self,
        target: &Target,
        rec: &mut KillRecord,
        shape: Shape,
        ms: u64,
    ) -> Result<()> {
        let start = self
            .live
            .started
            .get()
            .copied()
            .unwrap_or_else(Instant::now);
        let since_load = |i: Instant| finite(i.saturating_duration_since(start).as_secs_f64());
        let tl = partition_and_watch(
            self.cluster,
            shape,
            target.index,
            Duration::from_millis(ms),
            since_load,
        )
        .await?;
        let at = |after: Option<f64>| after.map(|a| finite(tl.cut_at_s + a));
        let mut moments = vec![(
            Some(tl.cut_at_s),
            format!("partition {shape} around master :{}", target.port),
        )];
        moments.push((
            at(tl.refusing_after_s),
            format!(":{} refuses writes (CLUSTERDOWN)", target.port),
        ));
        if let (Some(after), Some(replica)) = (tl.replica_promoted_after_s, &tl.replica) {
            let port = replica.rsplit(':').next().unwrap_or(replica);
            rec.promoted = Some(format!(":{port}"));
            rec.promoted_after_s = Some(after);
            moments.push((at(Some(after)), format!("promoted :{port}")));
        }
        moments.push((Some(tl.healed_at_s), "heal".into()));
        moments.push((
            tl.demoted_after_heal_s.map(|d| finite(tl.healed_at_s + d)),
            format!(":{} demoted to replica", target.port),
        ));
        for (t, label) in moments {
            if let Some(t) = t {
                self.events.push(Event { t, label });
            }
        }
        rec.partition = Some(tl);
        Ok(())
    }

    /// The running replica of `target` with the lowest index, as the survivors see it.
    async fn replica_of(&mut self, target: &Target) -> Option<u16> {
        let view = self.observer.look(Some(target.index)).await?;
        view.nodes
            .iter()
            .filter(|n| n.master_id.as_deref() == Some(target.id.as_str()) && !n.is_failing())
            .filter_map(|n| n.port())
            .filter(|&p| {
                self.cluster
                    .index_of_port(p)
                    .is_some_and(|i| self.cluster.is_running(i))
            })
            .min()
    }

    /// Starts the killed node again and waits (bounded) until it says it is a replica.
    async fn restart(&mut self, target: &Target) -> Result<Rejoin> {
        let began = Instant::now();
        let t = finite(self.live.secs());
        self.cluster.restart(target.index).await?;
        self.event(format!("restart :{}", target.port));
        let deadline = began + Duration::from_millis(4 * self.opts.node_timeout_ms + 10_000);
        while Instant::now() < deadline {
            if let Some(master) = self.observer.replica_master(target.port).await {
                let role = format!("replica of :{master}");
                self.event(format!("rejoined :{} as {role}", target.port));
                return Ok(Rejoin {
                    t,
                    rejoined_after_s: Some(secs_since(began)),
                    role,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Rejoin {
            t,
            rejoined_after_s: None,
            role: "not rejoined in time".into(),
        })
    }
}

fn secs_since(i: Instant) -> f64 {
    finite(i.elapsed().as_secs_f64())
}
