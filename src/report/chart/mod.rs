//! Inline SVG charts for the HTML report, built with maud so every label is escaped by
//! construction: no script, no network, readable in any browser and in a screenshot. Three shapes
//! cover every scenario: lines over time with marked moments ([`LineChart`]), bars with error bars
//! and log-scale bars for latency percentiles ([`bars`]).

pub mod bars;
mod markers;

use maud::{html, Markup};

pub use bars::{bar_chart, log_bars, Bar};
pub use markers::Marker;

/// Width and height of every chart, in SVG units (the page scales them to its width).
const W: f64 = 960.0;
const H: f64 = 300.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
/// Room above the plot for the title and the legend.
const TOP: f64 = 52.0;
const BOTTOM: f64 = 44.0;

/// A colour per series, in order (Tableau 10: tells apart in print and for most colour vision).
pub const PALETTE: [&str; 8] = [
    "#4e79a7", "#59a14f", "#e15759", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
];

/// One decimal, the precision of every coordinate.
fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// A step of 1, 2 or 5 × 10^k giving about `n` ticks up to `max`.
fn nice_step(max: f64, n: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let raw = max / n;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// One series of a line chart.
pub struct Line {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
    /// Drawn as steps (a rate per interval) rather than straight segments.
    pub steps: bool,
}

/// Lines over time sharing one y axis.
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub lines: Vec<Line>,
    pub markers: Vec<Marker>,
    /// A horizontal reference (e.g. maxmemory) with its label.
    pub reference: Option<(f64, String)>,
    pub y_format: fn(f64) -> String,
    /// Ticks are round numbers of this unit (1 for counts, 1 MiB for bytes).
    pub y_unit: f64,
}

/// The scales of a line chart: data → SVG coordinates.
struct Scale {
    x_right: f64,
    x_step: f64,
    y_top: f64,
    y_step: f64,
}

impl Scale {
    fn sx(&self, x: f64) -> f64 {
        LEFT + x.clamp(0.0, self.x_right) / self.x_right * (W - LEFT - RIGHT)
    }
    fn sy(&self, y: f64) -> f64 {
        let ph = H - TOP - BOTTOM;
        TOP + ph - y.clamp(0.0, self.y_top) / self.y_top * ph
    }
}

impl LineChart {
    fn scale(&self) -> Scale {
        let pts = self.lines.iter().flat_map(|l| l.points.iter());
        let max_x = pts
            .clone()
            .map(|p| p.0)
            .chain(self.markers.iter().map(|m| m.x))
            .filter(|v| v.is_finite())
            .fold(1.0f64, f64::max);
        let max_y = pts
            .map(|p| p.1)
            .chain(self.reference.iter().map(|r| r.0))
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let unit = if self.y_unit > 0.0 { self.y_unit } else { 1.0 };
        let y_step = nice_step((max_y / unit).max(1.0), 5.0) * unit;
        let x_step = nice_step(max_x, 10.0);
        Scale {
            x_right: (max_x / x_step).ceil().max(1.0) * x_step,
            x_step,
            y_top: (max_y / y_step).ceil().max(1.0) * y_step,
            y_step,
        }
    }

    /// The chart, then (outside the SVG, as text) the key of its numbered moments.
    pub fn render(&self) -> Markup {
        let s = self.scale();
        let bottom = H - BOTTOM;
        let x_ticks: Vec<f64> = (0..)
            .map(|i| i as f64 * s.x_step)
            .take_while(|x| *x <= s.x_right + s.x_step / 2.0)
            .take(100)
            .collect();
        let legend: Vec<(&str, &str)> = self
            .lines
            .iter()
            .map(|l| (l.name.as_str(), l.color))
            .collect();
        html! {
            svg viewBox=(format!("0 0 {W} {H}")) xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(self.title) {
                text x=(LEFT) y="18" class="ctitle" { (self.title) }
                (y_grid(s.y_top, s.y_step, &|y| s.sy(y), self.y_format))
                @for x in &x_ticks {
                    line x1=(f1(s.sx(*x))) y1=(f1(bottom)) x2=(f1(s.sx(*x))) y2=(f1(bottom + 4.0)) stroke="#9ca3af" {}
                    text x=(f1(s.sx(*x))) y=(f1(bottom + 16.0)) text-anchor="middle" class="tick" { (crate::units::trim(*x)) }
                }
                (axes(&self.x_label, &self.y_label))
                @if let Some((y, label)) = &self.reference {
                    line x1=(LEFT) y1=(f1(s.sy(*y))) x2=(f1(W - RIGHT)) y2=(f1(s.sy(*y))) stroke="#111827" stroke-dasharray="6 4" {}
                    text x=(f1(W - RIGHT - 4.0)) y=(f1(s.sy(*y) - 5.0)) text-anchor="end" class="ref" { (label) }
                }
                @for line in &self.lines {
                    (path(line, &s))
                }
                (markers::draw(&self.markers, |x| s.sx(x), TOP, bottom))
                (legend_row(&legend))
            }
            (markers::key(&self.markers))
        }
    }
}

/// One line: a path (a circle when it has one point); non-finite points are left out.
fn path(line: &Line, s: &Scale) -> Markup {
    let valid: Vec<(f64, f64)> = line
        .points
        .iter()
        .copied()
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let mut d = String::new();
    for (i, &(x, y)) in valid.iter().enumerate() {
        let (px, py) = (f1(s.sx(x)), f1(s.sy(y)));
        d.push_str(&match (i, line.steps) {
            // A rate per interval covers the interval that ends at its time.
            (0, true) => {
                let width = valid.get(1).map_or(x, |n| n.0 - x).max(0.0);
                format!("M{},{py} H{px}", f1(s.sx(x - width)))
            }
            (0, false) => format!("M{px},{py}"),
            (_, true) => format!(" V{py} H{px}"),
            (_, false) => format!(" L{px},{py}"),
        });
    }
    html! {
        @if valid.len() == 1 {
            circle cx=(f1(s.sx(valid[0].0))) cy=(f1(s.sy(valid[0].1))) r="3" fill=(line.color) {}
        } @else if !d.is_empty() {
            path d=(d) fill="none" stroke=(line.color) stroke-width="2" stroke-linejoin="round" {
                title { (line.name) }
            }
        }
    }
}

fn axes(x_label: &str, y_label: &str) -> Markup {
    let bottom = H - BOTTOM;
    let mid_y = TOP + (H - TOP - BOTTOM) / 2.0;
    html! {
        line x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(f1(bottom)) stroke="#6b7280" {}
        line x1=(LEFT) y1=(f1(bottom)) x2=(f1(W - RIGHT)) y2=(f1(bottom)) stroke="#6b7280" {}
        text x=(f1(LEFT + (W - LEFT - RIGHT) / 2.0)) y=(f1(H - 6.0)) text-anchor="middle" class="axis" { (x_label) }
        text transform=(format!("translate(14 {}) rotate(-90)", f1(mid_y))) text-anchor="middle" class="axis" { (y_label) }
    }
}

/// One row under the title, left to right.
fn legend_row(items: &[(&str, &str)]) -> Markup {
    let mut x = LEFT;
    let placed: Vec<(f64, &str, &str)> = items
        .iter()
        .map(|(name, color)| {
            let at = x;
            x += 34.0 + 6.5 * name.chars().count() as f64;
            (at, *name, *color)
        })
        .collect();
    html! {
        @for (x, name, color) in placed {
            rect x=(f1(x)) y="26" width="12" height="12" rx="2" fill=(color) {}
            text x=(f1(x + 16.0)) y="36" class="legend" { (name) }
        }
    }
}

/// Horizontal grid lines with their y tick labels, every `y_step` from 0 to `y_top`.
fn y_grid(y_top: f64, y_step: f64, sy: &dyn Fn(f64) -> f64, y_format: fn(f64) -> String) -> Markup {
    let ticks: Vec<f64> = (0..)
        .map(|i| i as f64 * y_step)
        .take_while(|v| *v <= y_top + y_step / 2.0)
        .take(100)
        .collect();
    html! {
        @for v in ticks {
            line x1=(LEFT) y1=(f1(sy(v))) x2=(f1(W - RIGHT)) y2=(f1(sy(v))) stroke="#e5e7eb" {}
            text x=(f1(LEFT - 6.0)) y=(f1(sy(v) + 4.0)) text-anchor="end" class="tick" { (y_format(v)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{compact, micros, secs};

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        assert_eq!(nice_step(7.0, 5.0), 2.0);
        assert_eq!(nice_step(0.0, 5.0), 1.0);
    }

    #[test]
    fn charts_are_svg_without_nan_even_when_empty() {
        let c = LineChart {
            title: "t".into(),
            x_label: "s".into(),
            y_label: "y".into(),
            lines: vec![Line {
                name: "a".into(),
                color: PALETTE[0],
                points: vec![(0.0, f64::NAN), (1.0, 2.0), (2.0, 3.0)],
                steps: true,
            }],
            markers: vec![Marker {
                x: 1.5,
                label: "kill <1>".into(),
            }],
            reference: Some((4.0, "max".into())),
            y_format: compact,
            y_unit: 1.0,
        };
        let line = c.render().into_string();
        for svg in [
            line.clone(),
            bar_chart("b", "s", &[], secs).into_string(),
            log_bars("l", &[], micros).into_string(),
            log_bars("l", &[("p50".into(), 0.0)], micros).into_string(),
        ] {
            assert!(svg.starts_with("<svg") && svg.contains("</svg>"));
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        }
        assert!(line.contains("kill &lt;1&gt;"), "{line}");
        assert!(!line.contains("<1>"));
    }
}
