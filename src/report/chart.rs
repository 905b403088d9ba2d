//! Inline SVG charts for the HTML report: no script, no network, readable in any browser and in a
//! screenshot. Three shapes cover every scenario: lines over time with marked moments, bars with
//! error bars, and log-scale bars for latency percentiles.

use std::fmt::Write;

/// Width and height of every chart, in SVG units (the page scales them to its width).
const W: f64 = 960.0;
const H: f64 = 300.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 52.0;
const BOTTOM: f64 = 44.0;

/// A colour per series, in order (Tableau 10: tells apart in print and for most colour vision).
pub const PALETTE: [&str; 8] = [
    "#4e79a7", "#59a14f", "#e15759", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
];

/// Escapes text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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

/// 1234 → "1.2k", 2_500_000 → "2.5M".
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// Bytes as "1.5 MB" / "512 KB".
pub fn bytes(v: f64) -> String {
    if v >= 1_048_576.0 {
        format!("{} MB", trim(v / 1_048_576.0))
    } else if v >= 1024.0 {
        format!("{} KB", trim(v / 1024.0))
    } else {
        format!("{} B", trim(v))
    }
}

/// Seconds as "1.5 s".
pub fn secs(v: f64) -> String {
    format!("{} s", trim(v))
}

/// µs as "850 µs" / "1.2 ms" / "2 s".
pub fn micros(v: f64) -> String {
    if v >= 1e6 {
        format!("{} s", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{} ms", trim(v / 1e3))
    } else {
        format!("{} µs", trim(v))
    }
}

fn trim(v: f64) -> String {
    let s = if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// One series of a line chart.
pub struct Line {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
    /// Drawn as steps (a rate per interval) rather than straight segments.
    pub steps: bool,
}

/// A moment marked with a vertical line (a kill, the first OOM, ...).
pub struct Marker {
    pub x: f64,
    pub label: String,
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

impl LineChart {
    pub fn svg(&self) -> String {
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
        let y_top = (max_y / y_step).ceil().max(1.0) * y_step;
        let x_step = nice_step(max_x, 10.0);
        let x_right = (max_x / x_step).ceil().max(1.0) * x_step;
        let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
        let sx = |x: f64| LEFT + x.clamp(0.0, x_right) / x_right * pw;
        let sy = |y: f64| TOP + ph - y.clamp(0.0, y_top) / y_top * ph;

        let mut s = open_svg(&self.title);
        y_grid(&mut s, y_top, y_step, &sy, self.y_format);
        let mut x = 0.0;
        while x <= x_right + x_step / 2.0 {
            let px = sx(x);
            let _ = write!(
                s,
                r##"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="#9ca3af"/><text x="{px:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"##,
                TOP + ph,
                TOP + ph + 4.0,
                TOP + ph + 16.0,
                trim(x)
            );
            x += x_step;
        }
        axes(&mut s, &self.x_label, &self.y_label);
        if let Some((y, label)) = &self.reference {
            let py = sy(*y);
            let _ = write!(
                s,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#111827" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="ref">{}</text>"##,
                W - RIGHT,
                W - RIGHT - 4.0,
                py - 5.0,
                esc(label)
            );
        }
        for line in &self.lines {
            let mut d = String::new();
            let mut prev: Option<(f64, f64)> = None;
            let valid: Vec<(f64, f64)> = line
                .points
                .iter()
                .copied()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            for &(x, y) in &valid {
                let (px, py) = (sx(x), sy(y));
                match prev {
                    // A rate per interval covers the interval that ends at its time.
                    None if line.steps => {
                        let width = valid.get(1).map_or(x, |n| n.0 - x).max(0.0);
                        let _ = write!(d, "M{:.1},{py:.1} H{px:.1}", sx(x - width));
                    }
                    None => {
                        let _ = write!(d, "M{px:.1},{py:.1}");
                    }
                    Some(_) if line.steps => {
                        let _ = write!(d, " V{py:.1} H{px:.1}");
                    }
                    Some(_) => {
                        let _ = write!(d, " L{px:.1},{py:.1}");
                    }
                }
                prev = Some((px, py));
            }
            if line.points.len() == 1 {
                if let Some((px, py)) = prev {
                    let _ = write!(
                        s,
                        r##"<circle cx="{px:.1}" cy="{py:.1}" r="3" fill="{}"/>"##,
                        line.color
                    );
                }
            } else if !d.is_empty() {
                let _ = write!(
                    s,
                    r##"<path d="{d}" fill="none" stroke="{}" stroke-width="2" stroke-linejoin="round"><title>{}</title></path>"##,
                    line.color,
                    esc(&line.name)
                );
            }
        }
        markers(&mut s, &self.markers, sx, TOP + ph);
        let legend: Vec<(&str, &str)> = self
            .lines
            .iter()
            .map(|l| (l.name.as_str(), l.color))
            .collect();
        legend_row(&mut s, &legend);
        s.push_str("</svg>");
        s
    }
}

fn open_svg(title: &str) -> String {
    format!(
        r##"<svg viewBox="0 0 {W} {H}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{t}"><text x="{LEFT}" y="18" class="ctitle">{t}</text>"##,
        t = esc(title)
    )
}

fn axes(s: &mut String, x_label: &str, y_label: &str) {
    let ph = H - TOP - BOTTOM;
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#6b7280"/><line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#6b7280"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text><text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle" class="axis">{}</text>"##,
        TOP + ph,
        TOP + ph,
        W - RIGHT,
        TOP + ph,
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - 6.0,
        esc(x_label),
        TOP + ph / 2.0,
        esc(y_label)
    );
}

/// Vertical marker lines; each label goes on the first of five rows where it does not run into
/// the label before it, so that close moments stay legible.
fn markers(s: &mut String, list: &[Marker], sx: impl Fn(f64) -> f64, bottom: f64) {
    let mut sorted: Vec<&Marker> = list.iter().filter(|m| m.x.is_finite()).collect();
    sorted.sort_by(|a, b| a.x.total_cmp(&b.x));
    let mut row_end = [f64::NEG_INFINITY; 5];
    for (i, m) in sorted.iter().enumerate() {
        let px = sx(m.x);
        let width = 6.0 * m.label.chars().count() as f64 + 8.0;
        let anchor = if px + width > W - RIGHT {
            "end"
        } else {
            "start"
        };
        let (from, to) = if anchor == "end" {
            (px - width, px)
        } else {
            (px, px + width)
        };
        let row = row_end
            .iter()
            .position(|&end| end < from)
            .unwrap_or(i % row_end.len());
        row_end[row] = to;
        let dx = if anchor == "end" { -4.0 } else { 4.0 };
        let _ = write!(
            s,
            r##"<g class="marker"><title>{label} at {x:.2} s</title><line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{bottom:.1}" stroke="#7c3aed" stroke-width="1.5" stroke-dasharray="4 3"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="{anchor}" class="mlabel">{label}</text></g>"##,
            label = esc(&m.label),
            x = m.x,
            tx = px + dx,
            ty = TOP + 12.0 + row as f64 * 13.0,
        );
    }
}

fn legend_row(s: &mut String, items: &[(&str, &str)]) {
    // One row under the title, left to right.
    let mut x = LEFT;
    for (name, color) in items {
        let _ = write!(
            s,
            r##"<rect x="{x:.1}" y="26" width="12" height="12" rx="2" fill="{color}"/><text x="{:.1}" y="36" class="legend">{}</text>"##,
            x + 16.0,
            esc(name)
        );
        x += 34.0 + 6.5 * name.chars().count() as f64;
    }
}

/// One bar: a mean with its spread and the individual runs as dots.
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// ± this much (e.g. a standard deviation) as an error bar.
    pub err: f64,
    pub dots: Vec<f64>,
    /// Text above the bar (e.g. "12.8 s  +2.1%").
    pub note: String,
    pub color: &'static str,
}

/// Horizontal grid lines with their y tick labels, every `y_step` from 0 to `y_top`.
fn y_grid(
    s: &mut String,
    y_top: f64,
    y_step: f64,
    sy: &dyn Fn(f64) -> f64,
    y_format: fn(f64) -> String,
) {
    let mut v = 0.0;
    while v <= y_top + y_step / 2.0 {
        let y = sy(v);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            esc(&y_format(v))
        );
        v += y_step;
    }
}

/// Vertical bars with error bars and dots, one per category.
pub fn bar_chart(title: &str, y_label: &str, bars: &[Bar], y_format: fn(f64) -> String) -> String {
    let max_y = bars
        .iter()
        .flat_map(|b| std::iter::once(b.value + b.err).chain(b.dots.iter().copied()))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let y_step = nice_step(max_y.max(1e-9) * 1.15, 5.0);
    let y_top = (max_y * 1.15 / y_step).ceil().max(1.0) * y_step;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let sy = |y: f64| TOP + ph - y.clamp(0.0, y_top) / y_top * ph;
    let mut s = open_svg(title);
    y_grid(&mut s, y_top, y_step, &sy, y_format);
    axes(&mut s, "", y_label);
    let slot = pw / bars.len().max(1) as f64;
    let bw = (slot * 0.5).min(120.0);
    for (i, b) in bars.iter().enumerate() {
        let cx = LEFT + slot * (i as f64 + 0.5);
        let (top, base) = (sy(b.value), sy(0.0));
        let _ = write!(
            s,
            r##"<rect x="{:.1}" y="{top:.1}" width="{bw:.1}" height="{:.1}" fill="{}" opacity="0.85"><title>{}: {}</title></rect>"##,
            cx - bw / 2.0,
            (base - top).max(0.0),
            b.color,
            esc(&b.label),
            esc(&y_format(b.value))
        );
        if b.err > 0.0 {
            let (e1, e2) = (sy(b.value - b.err), sy(b.value + b.err));
            let _ = write!(
                s,
                r##"<path d="M{cx:.1},{e1:.1} V{e2:.1} M{:.1},{e1:.1} H{:.1} M{:.1},{e2:.1} H{:.1}" stroke="#111827" stroke-width="1.5"/>"##,
                cx - 8.0,
                cx + 8.0,
                cx - 8.0,
                cx + 8.0
            );
        }
        for (j, d) in b.dots.iter().enumerate() {
            let dx = (j as f64 - (b.dots.len() as f64 - 1.0) / 2.0) * 7.0;
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="#111827" fill-opacity="0.7"><title>run {}: {}</title></circle>"##,
                cx + dx,
                sy(*d),
                j + 1,
                esc(&y_format(*d))
            );
        }
        let note_y = sy(b.value + b.err).min(top) - 8.0;
        let _ = write!(
            s,
            r##"<text x="{cx:.1}" y="{note_y:.1}" text-anchor="middle" class="note">{}</text><text x="{cx:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text>"##,
            esc(&b.note),
            base + 18.0,
            esc(&b.label)
        );
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars on a log scale: latency percentiles from p50 to max, where max is often
/// 100× p50 and a linear axis would hide everything else.
pub fn log_bars(title: &str, items: &[(String, f64)], format: fn(f64) -> String) -> String {
    let h = 40.0 + 30.0 * items.len() as f64 + 30.0;
    let left = 110.0;
    let pw = W - left - RIGHT - 80.0;
    let max = items.iter().map(|i| i.1).fold(1.0f64, f64::max);
    let min = items
        .iter()
        .map(|i| i.1)
        .filter(|v| *v > 0.0)
        .fold(max, f64::min);
    let mut lo = 10f64.powf(min.max(1.0).log10().floor());
    let hi = 10f64.powf(max.log10().ceil()).max(lo * 10.0);
    // At least two decades, so that values just above a power of ten do not look like nothing.
    if hi / lo < 100.0 && lo >= 10.0 {
        lo /= 10.0;
    }
    let sx = |v: f64| left + (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()) * pw;
    let mut s = format!(
        r##"<svg viewBox="0 0 {W} {h}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{t}"><text x="{left}" y="18" class="ctitle">{t}</text>"##,
        t = esc(title)
    );
    let mut p = lo;
    while p <= hi * 1.0001 {
        let x = sx(p);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="34" x2="{x:.1}" y2="{:.1}" stroke="#e5e7eb"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"##,
            h - 24.0,
            h - 10.0,
            esc(&format(p))
        );
        p *= 10.0;
    }
    for (i, (name, v)) in items.iter().enumerate() {
        let y = 40.0 + 30.0 * i as f64;
        let x = sx(*v);
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" class="axis">{}</text><rect x="{left}" y="{y:.1}" width="{:.1}" height="20" rx="2" fill="{}"/><text x="{:.1}" y="{:.1}" class="note">{}</text>"##,
            left - 8.0,
            y + 15.0,
            esc(name),
            (x - left).max(1.0),
            PALETTE[i % PALETTE.len()],
            x + 6.0,
            y + 15.0,
            esc(&format(*v))
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round_and_labels_short() {
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        assert_eq!(nice_step(7.0, 5.0), 2.0);
        assert_eq!(nice_step(0.0, 5.0), 1.0);
        assert_eq!(compact(1500.0), "1.5k");
        assert_eq!(compact(2_000_000.0), "2M");
        assert_eq!(bytes(3.0 * 1_048_576.0), "3 MB");
        assert_eq!(micros(1250.0), "1.25 ms");
        assert_eq!(esc("<a&'\">"), "&lt;a&amp;&#39;&quot;&gt;");
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
        for svg in [
            c.svg(),
            bar_chart("b", "s", &[], secs),
            log_bars("l", &[], micros),
            log_bars("l", &[("p50".into(), 0.0)], micros),
        ] {
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        }
        assert!(c.svg().contains("kill &lt;1&gt;"));
    }
}
