//! The sections of the scenarios that compare settings over repeated runs: aof-compare (per
//! persistence mode), durability (per mode and fault) and servers (per server and AOF mode).

use maud::{html, Markup};

use super::run::{line, over_time, rate_points};
use super::{section, table, Cell, Frame};
use crate::report::chart::{bar_chart, Bar, Line, PALETTE};
use crate::scenario::aof::AofDetail;
use crate::scenario::durability::{Cell as DurabilityCell, DurabilityDetail, Fault};
use crate::scenario::servers::ServersDetail;
use crate::units::{compact, human_us, mean_count, micros, secs, thousands};

/// One bar per item, coloured in turn.
fn bars<T>(items: &[T], bar: impl Fn(&T) -> (String, f64, f64, String)) -> Vec<Bar> {
    items
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (label, value, err, note) = bar(t);
            Bar {
                label,
                value,
                err,
                dots: Vec::new(),
                note,
                color: PALETTE[i % PALETTE.len()],
            }
        })
        .collect()
}

fn signed_pct(p: f64) -> String {
    format!("{}{p:.1}%", if p >= 0.0 { "+" } else { "" })
}

pub(super) fn aof_charts(d: &AofDetail) -> Markup {
    if d.modes.is_empty() {
        return html! {};
    }
    let mut bars = bars(&d.modes, |m| {
        let note = if m.mode == d.baseline {
            format!("{:.3} s (baseline)", m.mean_seconds)
        } else {
            format!("{:.3} s ({})", m.mean_seconds, signed_pct(m.overhead_pct))
        };
        (
            format!("AOF {}", m.mode),
            m.mean_seconds,
            m.stddev_seconds,
            note,
        )
    });
    for b in bars.iter_mut() {
        b.dots = d
            .runs
            .iter()
            .filter(|r| format!("AOF {}", r.mode) == b.label)
            .map(|r| r.elapsed_seconds)
            .collect();
    }
    let lines: Vec<Line> = d
        .modes
        .iter()
        .enumerate()
        .map(|(i, m)| {
            line(
                &format!("AOF {}", m.mode),
                i,
                rate_points(&m.series, |s| s.acked),
                true,
            )
        })
        .collect();
    let any_series = lines.iter().any(|l| !l.points.is_empty());
    let x_max = d
        .modes
        .iter()
        .filter_map(|m| m.series.last().map(|s| s.t))
        .fold(0.0, f64::max);
    let chart = over_time(
        "Acked per second, first run of each mode",
        "messages / s",
        lines,
        &Frame { events: &[], x_max },
    );
    html! {
        (section(
            "Time for the same cycle, per persistence mode",
            "Bars: mean elapsed seconds; whiskers: ± one standard deviation; dots: the individual runs, each on a fresh cluster.",
            bar_chart("Elapsed seconds (lower is better)", "seconds", &bars, secs),
        ))
        @if any_series {
            (section("Throughput over time, per mode", "", chart.render()))
        }
    }
}

pub(super) fn aof_tables(d: &AofDetail) -> Markup {
    let modes: Vec<Vec<Cell>> = d
        .modes
        .iter()
        .map(|m| {
            vec![
                Cell::Key(m.mode.clone()),
                Cell::Num(m.runs.to_string()),
                Cell::Num(format!("{:.3} s ± {:.3}", m.mean_seconds, m.ci95_seconds)),
                Cell::Num(format!("{:.3} – {:.3} s", m.min_seconds, m.max_seconds)),
                Cell::Num(format!(
                    "{} msg/s",
                    thousands(m.mean_throughput_msgs_per_sec.round() as u64)
                )),
                Cell::Num(human_us(m.latency_us.p99)),
                Cell::Text(if m.mode == d.baseline {
                    "baseline".into()
                } else {
                    format!(
                        "{} ± {:.1}%{}",
                        signed_pct(m.overhead_pct),
                        m.overhead_ci95_pct,
                        if m.within_noise { ", within noise" } else { "" }
                    )
                }),
            ]
        })
        .collect();
    let runs: Vec<Vec<Cell>> = d
        .runs
        .iter()
        .map(|r| {
            vec![
                Cell::Key(r.mode.clone()),
                Cell::Num(r.run.to_string()),
                Cell::Num(format!("{:.3} s", r.elapsed_seconds)),
                Cell::Num(format!(
                    "{} msg/s",
                    thousands(r.throughput_msgs_per_sec.round() as u64)
                )),
                Cell::Num(human_us(r.latency_us.p99)),
                Cell::Num(crate::units::human_bytes(r.aof_bytes)),
                Cell::Text(r.verdict.to_string()),
            ]
        })
        .collect();
    html! {
        (section("Modes", "Mean elapsed ± its 95 % interval; overhead against the baseline ± the difference's 95 % interval.", table(
            &["mode", "runs", "mean elapsed", "range", "throughput", "send → ack p99", "vs baseline"], &modes)))
        (section("Runs", "", table(
            &["mode", "run", "elapsed", "throughput", "send → ack p99", "AOF on disk", "verdict"], &runs)))
    }
}

/// The durability scenario: per fault, acknowledged writes lost and unconfirmed per mode; for
/// the fault-free runs, throughput and confirm p99 per mode.
pub(super) fn durability_charts(d: &DurabilityDetail) -> Markup {
    let mut faults: Vec<Fault> = d.cells.iter().map(|c| c.fault).collect();
    faults.dedup();
    html! {
        @for fault in faults {
            @let of: Vec<&DurabilityCell> = d.cells.iter().filter(|c| c.fault == fault).collect();
            @if fault == Fault::None {
                (section(
                    "Cost of each durability mode (no fault, closed loop)",
                    "Bars: mean msg/s over the repeats; whiskers: ± one standard deviation; the note gives the ratio to mode none (no WAIT).",
                    bar_chart("Throughput (higher is better)", "msg/s", &bars(&of, |c| (c.mode.clone(), c.throughput_mean, c.throughput_stddev, format!("{} msg/s ({:.2}×)", thousands(c.throughput_mean.round() as u64), c.throughput_vs_none))), compact),
                ))
                (section(
                    "Producer confirm latency p99 (no fault)",
                    "Send → acknowledged at the producer (the XADD reply, or the WAIT / WAITAOF reply that confirmed it).",
                    bar_chart("Confirm p99 (lower is better)", "latency", &bars(&of, |c| (c.mode.clone(), c.confirm_p99_us, c.confirm_p99_stddev_us, format!("{} ({:.2}×)", human_us(c.confirm_p99_us as u64), c.p99_vs_none))), micros),
                ))
            } @else {
                (section(
                    &format!("Acknowledged writes lost under {}", fault.label()),
                    "Bars: mean over the repeats of writes the mode confirmed and that were gone at the end; the note adds the worst run.",
                    bar_chart("Acknowledged, then lost (lower is better)", "messages", &bars(&of, |c| (c.mode.clone(), c.acked_lost_mean, 0.0, format!("{} (max {})", mean_count(c.acked_lost_mean), thousands(c.acked_lost_max)))), compact),
                ))
                @if of.iter().any(|c| c.unconfirmed_mean > 0.0) {
                    (section(
                        &format!("Unconfirmed writes under {}", fault.label()),
                        "Bars: mean over the repeats of writes whose XADD succeeded but whose WAIT / WAITAOF fell short: not counted as acknowledged, so never as lost.",
                        bar_chart("Unconfirmed", "messages", &bars(&of, |c| (c.mode.clone(), c.unconfirmed_mean, 0.0, mean_count(c.unconfirmed_mean))), compact),
                    ))
                }
            }
        }
    }
}

pub(super) fn durability_tables(d: &DurabilityDetail) -> Markup {
    let rows: Vec<Vec<Cell>> = d
        .cells
        .iter()
        .map(|c| {
            vec![
                Cell::Key(c.fault.label().into()),
                Cell::Key(c.mode.clone()),
                Cell::Num(c.runs.to_string()),
                Cell::Num(format!(
                    "{} ({} – {})",
                    mean_count(c.acked_lost_mean),
                    thousands(c.acked_lost_min),
                    thousands(c.acked_lost_max)
                )),
                Cell::Num(mean_count(c.unconfirmed_mean)),
                Cell::Num(mean_count(c.failed_mean)),
                Cell::Num(format!(
                    "{} msg/s ({:.2}×)",
                    thousands(c.throughput_mean.round() as u64),
                    c.throughput_vs_none
                )),
                Cell::Num(format!(
                    "{} / {}",
                    human_us(c.confirm_p50_us as u64),
                    human_us(c.confirm_p99_us as u64)
                )),
            ]
        })
        .collect();
    section(
        "Per fault and mode",
        "Means over the repeats (latency: each fault's own runs, never pooled with another fault's or loop's); ratios against mode none (no WAIT) under the same fault.",
        table(
            &[
                "fault",
                "mode",
                "runs",
                "acknowledged lost (min – max)",
                "unconfirmed",
                "refused",
                "throughput",
                "confirm p50 / p99",
            ],
            &rows,
        ),
    )
}

/// The servers scenario: msg/s and p99 per server and AOF mode.
pub(super) fn server_charts(d: &ServersDetail) -> Markup {
    let label = |c: &crate::scenario::servers::ServerCell| format!("{} AOF {}", c.server, c.aof);
    let tput = bars(&d.server_cells, |c| {
        (
            label(c),
            c.throughput_mean,
            c.throughput_stddev,
            format!("{} msg/s", thousands(c.throughput_mean.round() as u64)),
        )
    });
    let p99 = bars(&d.server_cells, |c| {
        (
            label(c),
            c.p99_us,
            c.p99_stddev_us,
            human_us(c.p99_us as u64),
        )
    });
    html! {
        (section(
            "Throughput per server",
            "Bars: mean msg/s over the repeats, each on a fresh cluster; whiskers: ± one standard deviation.",
            bar_chart("Throughput (higher is better)", "msg/s", &tput, compact),
        ))
        (section("Send → XACK p99 per server", "", bar_chart("p99 (lower is better)", "latency", &p99, micros)))
    }
}

pub(super) fn server_tables(d: &ServersDetail) -> Markup {
    let rows: Vec<Vec<Cell>> = d
        .server_cells
        .iter()
        .map(|c| {
            vec![
                Cell::Key(c.server.clone()),
                Cell::Key(c.version.clone()),
                Cell::Key(c.aof.clone()),
                Cell::Num(c.runs.to_string()),
                Cell::Num(format!(
                    "{} ± {} msg/s",
                    thousands(c.throughput_mean.round() as u64),
                    thousands(c.throughput_stddev.round() as u64)
                )),
                Cell::Num(human_us(c.p50_us as u64)),
                Cell::Num(human_us(c.p99_us as u64)),
                Cell::Num(human_us(c.confirm_p99_us as u64)),
            ]
        })
        .collect();
    section(
        "Per server and AOF mode",
        "Means over the repeats.",
        table(
            &[
                "server",
                "version",
                "AOF",
                "runs",
                "throughput",
                "send → ack p50",
                "send → ack p99",
                "confirm p99",
            ],
            &rows,
        ),
    )
}
