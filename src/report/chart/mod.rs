//! Inline SVG charts for the HTML report, built with maud so every label is escaped by
//! construction: no script, no network, readable in any browser and in a screenshot. Three shapes
//! cover every scenario: lines over time with marked moments ([`LineChart`]), bars with error bars
//! and log-scale bars for latency percentiles ([`bars`]).

pub mod bars;
mod markers;

use maud::{html, Markup};

pub use bars::{bar_chart, log_bars, Bar};
pub use markers::{badge, numbered, Marker};

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

/// One series of a line chart. A point whose y is not finite (NaN: nothing measured in that
/// interval) is a gap: the line stops before it and starts again after it, never drawn as 0.
pub struct Line {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
    /// Drawn as steps (a rate per interval) rather than straight segments.
    pub steps: bool,
    /// An SVG dash pattern ("" for solid), so that lines that coincide stay visible.
    pub dash: &'static str,
}

/// Dash patterns for lines that may coincide (masters' memory, sent and acked): the n-th line of
/// a chart takes the n-th, so one drawn over another leaves it showing through.
pub const DASHES: [&str; 4] = ["", "7 4", "2 3", "10 3 2 3"];

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
    /// The x axis runs to this value when set: every chart of a page shares one range, so that
    /// their moments line up.
    pub x_max: Option<f64>,
    /// A log y axis (powers of ten), for rates that differ by more than [`LOG_RATIO`] on one
    /// chart; zero values are then gaps.
    pub log_y: bool,
}

/// Above this ratio between the highest value and the median positive one, a chart of rates
/// reads better on a log axis: on a linear one the lower rates sit on the floor.
pub const LOG_RATIO: f64 = 50.0;

/// True when `lines` hold values that differ by more than [`LOG_RATIO`] (highest to median
/// positive value).
pub fn wants_log(lines: &[Line]) -> bool {
    let mut v: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite() && *y > 0.0)
        .collect();
    if v.len() < 3 {
        return false;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() - 1] / v[v.len() / 2] > LOG_RATIO
}

/// The scales of a line chart: data → SVG coordinates.
struct Scale {
    x_right: f64,
    x_step: f64,
    y_top: f64,
    y_step: f64,
    /// With a log axis, the lowest power of ten shown (y_top is then a power of ten too).
    log_floor: Option<f64>,
}

impl Scale {
    fn sx(&self, x: f64) -> f64 {
        LEFT + x.clamp(0.0, self.x_right) / self.x_right * (W - LEFT - RIGHT)
    }
    fn sy(&self, y: f64) -> f64 {
        let ph = H - TOP - BOTTOM;
        let frac = match self.log_floor {
            Some(lo) => (y.clamp(lo, self.y_top) / lo).log10() / (self.y_top / lo).log10(),
            None => y.clamp(0.0, self.y_top) / self.y_top,
        };
        TOP + ph - frac * ph
    }
    /// The y values with a grid line and a label.
    fn y_ticks(&self) -> Vec<f64> {
        match self.log_floor {
            Some(lo) => (0..)
                .map(|i| lo * 10f64.powi(i))
                .take_while(|v| *v <= self.y_top * 1.001)
                .take(20)
                .collect(),
            None => linear_ticks(self.y_top, self.y_step),
        }
    }
    /// Whether a value can be placed (a log axis has no place for 0).
    fn shows(&self, y: f64) -> bool {
        y.is_finite() && (self.log_floor.is_none() || y > 0.0)
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
        let max_x = self
            .x_max
            .filter(|x| x.is_finite() && *x > 0.0)
            .unwrap_or(max_x);
        let x_step = nice_step(max_x, 10.0);
        let x_right = (max_x / x_step).ceil().max(1.0) * x_step;
        if self.log_y {
            let min_y = self
                .lines
                .iter()
                .flat_map(|l| l.points.iter().map(|p| p.1))
                .filter(|y| y.is_finite() && *y > 0.0)
                .fold(f64::INFINITY, f64::min);
            let top = 10f64.powf(max_y.max(1.0).log10().ceil());
            let floor = 10f64.powf(min_y.min(top / 10.0).max(1e-3).log10().floor());
            return Scale {
                x_right,
                x_step,
                y_top: top,
                y_step: 0.0,
                log_floor: Some(floor.min(top / 10.0)),
            };
        }
        Scale {
            x_right,
            x_step,
            y_top: (max_y / y_step).ceil().max(1.0) * y_step,
            y_step,
            log_floor: None,
        }
    }

    /// The chart; its numbered moments are keyed once per page, in the table of moments.
    pub fn render(&self) -> Markup {
        let s = self.scale();
        let bottom = H - BOTTOM;
        let x_ticks: Vec<f64> = (0..)
            .map(|i| i as f64 * s.x_step)
            .take_while(|x| *x <= s.x_right + s.x_step / 2.0)
            .take(100)
            .collect();
        let legend: Vec<(&str, &str, &str)> = self
            .lines
            .iter()
            .map(|l| (l.name.as_str(), l.color, l.dash))
            .collect();
        html! {
            svg viewBox=(format!("0 0 {W} {H}")) xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(self.title) {
                text x=(LEFT) y="18" class="ctitle" { (self.title) }
                (y_grid(&s.y_ticks(), &|y| s.sy(y), self.y_format))
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
        }
    }
}

/// The runs of drawable points of a line, split where a point cannot be drawn (a gap).
fn runs(line: &Line, s: &Scale) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for &(x, y) in &line.points {
        if x.is_finite() && s.shows(y) {
            if let Some(r) = runs.last_mut() {
                r.push((x, y));
            }
        } else if runs.last().is_some_and(|r| !r.is_empty()) {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// One line: a path with a gap wherever nothing was measured; a run of one point is a dot.
fn path(line: &Line, s: &Scale) -> Markup {
    let runs = runs(line, s);
    let mut d = String::new();
    let mut dots = Vec::new();
    for run in &runs {
        if run.len() == 1 {
            dots.push(run[0]);
            continue;
        }
        for (i, &(x, y)) in run.iter().enumerate() {
            let (px, py) = (f1(s.sx(x)), f1(s.sy(y)));
            d.push_str(&match (i, line.steps) {
                // A rate per interval covers the interval that ends at its time.
                (0, true) => {
                    let width = run.get(1).map_or(x, |n| n.0 - x).max(0.0);
                    format!(" M{},{py} H{px}", f1(s.sx(x - width)))
                }
                (0, false) => format!(" M{px},{py}"),
                (_, true) => format!(" V{py} H{px}"),
                (_, false) => format!(" L{px},{py}"),
            });
        }
    }
    html! {
        @for (x, y) in dots {
            circle cx=(f1(s.sx(x))) cy=(f1(s.sy(y))) r="3" fill=(line.color) {}
        }
        @if !d.is_empty() {
            path d=(d.trim_start()) fill="none" stroke=(line.color) stroke-width="2" stroke-linejoin="round" stroke-dasharray=[(!line.dash.is_empty()).then_some(line.dash)] {
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

/// One row under the title, left to right: a short stroke in each line's colour and dash.
fn legend_row(items: &[(&str, &str, &str)]) -> Markup {
    let mut x = LEFT;
    let placed: Vec<(f64, &str, &str, &str)> = items
        .iter()
        .map(|(name, color, dash)| {
            let at = x;
            x += 46.0 + 6.5 * name.chars().count() as f64;
            (at, *name, *color, *dash)
        })
        .collect();
    html! {
        @for (x, name, color, dash) in placed {
            line x1=(f1(x)) y1="32" x2=(f1(x + 24.0)) y2="32" stroke=(color) stroke-width="3" stroke-dasharray=[(!dash.is_empty()).then_some(dash)] {}
            text x=(f1(x + 28.0)) y="36" class="legend" { (name) }
        }
    }
}

/// Every `y_step` from 0 to `y_top`.
fn linear_ticks(y_top: f64, y_step: f64) -> Vec<f64> {
    (0..)
        .map(|i| i as f64 * y_step)
        .take_while(|v| *v <= y_top + y_step / 2.0)
        .take(100)
        .collect()
}

/// Horizontal grid lines with their y tick labels.
fn y_grid(ticks: &[f64], sy: &dyn Fn(f64) -> f64, y_format: fn(f64) -> String) -> Markup {
    html! {
        @for &v in ticks {
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
                dash: "",
            }],
            markers: vec![Marker {
                x: 1.5,
                label: "kill <1>".into(),
            }],
            reference: Some((4.0, "max".into())),
            y_format: compact,
            y_unit: 1.0,
            x_max: None,
            log_y: false,
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
