//! Moments marked on a chart (a kill, a promotion, the first OOM): a dashed vertical line with a
//! numbered badge at its top, coloured and shaped by its kind; the labels are in the page's one
//! table of moments, numbered the same way ([`numbered`]). Text never sits on the plot, so labels
//! cannot run into each other or across the other dashed lines, however close the moments are.

use maud::{html, Markup};

use super::f1;

/// A moment marked with a vertical line.
pub struct Marker {
    pub x: f64,
    pub label: String,
}

/// Badge radius; badges in one row keep two radii and a little apart.
const R: f64 = 8.0;
const GAP: f64 = 2.0 * R + 3.0;
const ROWS: usize = 4;

/// Colours of the moment kinds, in order of first appearance (distinct from the lines' palette's
/// first entries where it matters: purple, teal, brown, magenta, …).
const KIND_COLORS: [&str; 6] = [
    "#7c3aed", "#0f766e", "#92400e", "#be185d", "#1d4ed8", "#4d7c0f",
];

/// Badge shapes of the moment kinds, so two kinds differ in shape as well as colour.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    Circle,
    Square,
    Diamond,
}

/// How one kind of moment is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Style {
    pub color: &'static str,
    pub shape: Shape,
}

/// A moment's kind: the first word of its label ("kill", "promoted", "FAIL", "consumers").
fn kind(label: &str) -> &str {
    label.split_whitespace().next().unwrap_or("")
}

/// The style of each moment, by the order in which its kind first appears among `labels`: the
/// same events give the same styles on every chart of a page and in its table of moments.
pub fn styles<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<Style> {
    let mut kinds: Vec<&str> = Vec::new();
    labels
        .map(|l| {
            let k = kind(l);
            let i = kinds.iter().position(|x| *x == k).unwrap_or_else(|| {
                kinds.push(k);
                kinds.len() - 1
            });
            let shape = [Shape::Circle, Shape::Square, Shape::Diamond][i % 3];
            Style {
                color: KIND_COLORS[i % KIND_COLORS.len()],
                shape,
            }
        })
        .collect()
}

/// The markers worth drawing, in time order, numbered from 1 as the page's table numbers them,
/// each with its kind's style.
pub fn numbered(list: &[Marker]) -> Vec<(usize, &Marker, Style)> {
    let mut sorted: Vec<&Marker> = list.iter().filter(|m| m.x.is_finite()).collect();
    sorted.sort_by(|a, b| a.x.total_cmp(&b.x));
    let styles = styles(sorted.iter().map(|m| m.label.as_str()));
    sorted
        .into_iter()
        .zip(styles)
        .enumerate()
        .map(|(i, (m, s))| (i + 1, m, s))
        .collect()
}

/// The badge row of each position (sorted ascending): the first row whose last badge is at
/// least [`GAP`] to the left; when all rows are taken, the row whose last badge is farthest.
pub(super) fn rows(px: &[f64]) -> Vec<usize> {
    let mut last = [f64::NEG_INFINITY; ROWS];
    px.iter()
        .map(|&x| {
            let row = last.iter().position(|&l| x - l >= GAP).unwrap_or_else(|| {
                (0..ROWS)
                    .min_by(|&a, &b| last[a].total_cmp(&last[b]))
                    .unwrap_or(0)
            });
            last[row] = x;
            row
        })
        .collect()
}

/// A badge of `style` centred on (x, y).
pub fn badge(x: f64, y: f64, style: Style) -> Markup {
    let (c, s) = (style.color, "1.5");
    html! {
        @match style.shape {
            Shape::Circle => circle cx=(f1(x)) cy=(f1(y)) r=(R) fill="#fff" stroke=(c) stroke-width=(s) {},
            Shape::Square => rect x=(f1(x - R)) y=(f1(y - R)) width=(2.0 * R) height=(2.0 * R) fill="#fff" stroke=(c) stroke-width=(s) {},
            Shape::Diamond => path d=(format!("M{},{} L{},{} L{},{} L{},{} Z", f1(x), f1(y - R - 1.0), f1(x + R + 1.0), f1(y), f1(x), f1(y + R + 1.0), f1(x - R - 1.0), f1(y))) fill="#fff" stroke=(c) stroke-width=(s) {},
        }
    }
}

/// The dashed lines and their numbered badges, from `top` to `bottom` of the plot.
pub(super) fn draw(list: &[Marker], sx: impl Fn(f64) -> f64, top: f64, bottom: f64) -> Markup {
    let ordered = numbered(list);
    let px: Vec<f64> = ordered.iter().map(|(_, m, _)| sx(m.x)).collect();
    let rows = rows(&px);
    html! {
        @for (((n, m, style), x), row) in ordered.iter().zip(&px).zip(&rows) {
            @let cy = top + R + 2.0 + *row as f64 * (2.0 * R + 2.0);
            g class="marker" {
                title { (n) ". " (m.label) " at " (format!("{:.2}", m.x)) " s" }
                line x1=(f1(*x)) y1=(f1(top)) x2=(f1(*x)) y2=(f1(bottom)) stroke=(style.color) stroke-width="1.5" stroke-dasharray="4 3" {}
                (badge(*x, cy, *style))
                text x=(f1(*x)) y=(f1(cy + 3.5)) text-anchor="middle" class="mbadge" fill=(style.color) { (n) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Close moments (a kill, its FAIL and its promotion within a second) get badges in
    /// different rows, and no two badges of one row overlap.
    #[test]
    fn badges_of_close_moments_do_not_overlap() {
        let px = [100.0, 104.0, 110.0, 130.0, 300.0, 305.0];
        let rows = rows(&px);
        assert_eq!(rows, vec![0, 1, 2, 0, 0, 1]);
        for (i, a) in px.iter().enumerate() {
            for (j, b) in px.iter().enumerate().skip(i + 1) {
                if rows[i] == rows[j] {
                    assert!((b - a).abs() >= GAP, "{i} and {j} overlap");
                }
            }
        }
    }

    /// Moments are numbered in time order; kinds differ in colour, moments of one kind share it.
    #[test]
    fn moments_are_numbered_in_time_order_and_styled_by_kind() {
        let list = vec![
            Marker {
                x: 2.0,
                label: "promoted <:7003>".into(),
            },
            Marker {
                x: 1.0,
                label: "kill master :7000".into(),
            },
            Marker {
                x: 3.0,
                label: "kill master :7001".into(),
            },
        ];
        let n = numbered(&list);
        assert_eq!(n[0].1.label, "kill master :7000");
        assert_eq!(n[0].2, n[2].2, "two kills, one style");
        assert_ne!(n[0].2.color, n[1].2.color, "a kill and a promotion differ");
        let svg = draw(&list, |x| x * 100.0, 52.0, 256.0).into_string();
        assert!(svg.contains("promoted &lt;:7003&gt;"), "{svg}");
        // Numbered in time order: the kill (x 1.0) is badge 1.
        assert!(
            svg.contains(
                r##"x="100.0" y="65.5" text-anchor="middle" class="mbadge" fill="#7c3aed">1<"##
            ),
            "{svg}"
        );
    }
}
