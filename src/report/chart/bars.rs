//! Bars: vertical ones with error bars and dots (one per mode, server or cell of a comparison),
//! and horizontal log-scale ones for latency percentiles.

use maud::{html, Markup};

use super::{axes, f1, linear_ticks, nice_step, y_grid, BOTTOM, H, LEFT, PALETTE, RIGHT, TOP, W};

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

/// Vertical bars with error bars and dots, one per category.
pub fn bar_chart(title: &str, y_label: &str, bars: &[Bar], y_format: fn(f64) -> String) -> Markup {
    let max_y = bars
        .iter()
        .flat_map(|b| std::iter::once(b.value + b.err).chain(b.dots.iter().copied()))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    // All zero: an axis to 1, not one whose every label reads 0.
    let max_y = if max_y > 0.0 { max_y } else { 1.0 / 1.15 };
    let y_step = nice_step(max_y * 1.15, 5.0);
    let y_top = (max_y * 1.15 / y_step).ceil().max(1.0) * y_step;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let sy = |y: f64| TOP + ph - y.clamp(0.0, y_top) / y_top * ph;
    let slot = pw / bars.len().max(1) as f64;
    let bw = (slot * 0.5).min(120.0);
    html! {
        svg viewBox=(format!("0 0 {W} {H}")) xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title) {
            text x=(LEFT) y="18" class="ctitle" { (title) }
            (y_grid(&linear_ticks(y_top, y_step), &sy, y_format))
            (axes("", y_label))
            @for (i, b) in bars.iter().enumerate() {
                @let cx = LEFT + slot * (i as f64 + 0.5);
                @let (top, base) = (sy(b.value), sy(0.0));
                rect x=(f1(cx - bw / 2.0)) y=(f1(top)) width=(f1(bw)) height=(f1((base - top).max(0.0))) fill=(b.color) opacity="0.85" {
                    title { (b.label) ": " (y_format(b.value)) }
                }
                @if b.err > 0.0 {
                    @let (e1, e2) = (f1(sy(b.value - b.err)), f1(sy(b.value + b.err)));
                    path d=(format!("M{0},{e1} V{e2} M{1},{e1} H{2} M{1},{e2} H{2}", f1(cx), f1(cx - 8.0), f1(cx + 8.0))) stroke="#111827" stroke-width="1.5" {}
                }
                @for (j, d) in b.dots.iter().enumerate() {
                    @let dx = (j as f64 - (b.dots.len() as f64 - 1.0) / 2.0) * 7.0;
                    circle cx=(f1(cx + dx)) cy=(f1(sy(*d))) r="3.5" fill="#111827" fill-opacity="0.7" {
                        title { "run " (j + 1) ": " (y_format(*d)) }
                    }
                }
                // Above the whisker and every dot, so the note never sits on them.
                @let highest = b.dots.iter().copied().filter(|d| d.is_finite()).fold(b.value + b.err, f64::max);
                text x=(f1(cx)) y=(f1(sy(highest).min(top) - 8.0)) text-anchor="middle" class="note" { (b.note) }
                text x=(f1(cx)) y=(f1(base + 18.0)) text-anchor="middle" class="axis" { (b.label) }
            }
        }
    }
}

/// Horizontal bars on a log scale: latency percentiles from p50 to max, where max is often
/// 100× p50 and a linear axis would hide everything else.
pub fn log_bars(title: &str, items: &[(String, f64)], format: fn(f64) -> String) -> Markup {
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
    let decades: Vec<f64> = (0..20)
        .map(|i| lo * 10f64.powi(i))
        .take_while(|p| *p <= hi * 1.0001)
        .collect();
    html! {
        svg viewBox=(format!("0 0 {W} {h}")) xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title) {
            text x=(left) y="18" class="ctitle" { (title) }
            @for p in decades {
                line x1=(f1(sx(p))) y1="34" x2=(f1(sx(p))) y2=(f1(h - 24.0)) stroke="#e5e7eb" {}
                text x=(f1(sx(p))) y=(f1(h - 10.0)) text-anchor="middle" class="tick" { (format(p)) }
            }
            @for (i, (name, v)) in items.iter().enumerate() {
                @let y = 40.0 + 30.0 * i as f64;
                text x=(f1(left - 8.0)) y=(f1(y + 15.0)) text-anchor="end" class="axis" { (name) }
                rect x=(left) y=(f1(y)) width=(f1((sx(*v) - left).max(1.0))) height="20" rx="2" fill=(PALETTE[i % PALETTE.len()]) {}
                text x=(f1(sx(*v) + 6.0)) y=(f1(y + 15.0)) class="note" { (format(*v)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The y attribute of the first element that holds `text`.
    fn y_of(svg: &str, text: &str) -> f64 {
        let at = svg.find(text).expect(text);
        let y = svg[..at].rfind(" y=\"").expect("a y") + 4;
        svg[y..].split('"').next().unwrap().parse().unwrap()
    }

    /// A bar's note sits above its whisker and above a run's dot that is higher than the
    /// whisker, so it never sits on either.
    #[test]
    fn notes_sit_above_whiskers_and_dots() {
        let bar = Bar {
            label: "AOF off".into(),
            value: 10.0,
            err: 1.0,
            dots: vec![9.0, 14.0],
            note: "10 s (baseline)".into(),
            color: PALETTE[0],
        };
        let svg = bar_chart("t", "seconds", &[bar], crate::units::secs).into_string();
        let top_dot = svg
            .match_indices("cy=\"")
            .map(|(i, _)| {
                svg[i + 4..]
                    .split('"')
                    .next()
                    .unwrap()
                    .parse::<f64>()
                    .unwrap()
            })
            .fold(f64::INFINITY, f64::min);
        let note = y_of(&svg, "10 s (baseline)");
        assert!(
            note < top_dot - 3.5,
            "note at {note}, highest dot at {top_dot}"
        );
    }
}
