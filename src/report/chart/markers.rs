//! Moments marked on a chart (a kill, a promotion, the first OOM): a dashed vertical line with a
//! numbered badge at its top, and the labels as a numbered key under the chart. Text never sits
//! on the plot, so labels cannot run into each other or across the other dashed lines, however
//! close the moments are.

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

/// The markers worth drawing, in time order, numbered from 1 as the key numbers them.
fn ordered(list: &[Marker]) -> Vec<(usize, &Marker)> {
    let mut sorted: Vec<&Marker> = list.iter().filter(|m| m.x.is_finite()).collect();
    sorted.sort_by(|a, b| a.x.total_cmp(&b.x));
    sorted
        .into_iter()
        .enumerate()
        .map(|(i, m)| (i + 1, m))
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

/// The dashed lines and their numbered badges, from `top` to `bottom` of the plot.
pub(super) fn draw(list: &[Marker], sx: impl Fn(f64) -> f64, top: f64, bottom: f64) -> Markup {
    let ordered = ordered(list);
    let px: Vec<f64> = ordered.iter().map(|(_, m)| sx(m.x)).collect();
    let rows = rows(&px);
    html! {
        @for (((n, m), x), row) in ordered.iter().zip(&px).zip(&rows) {
            @let cy = top + R + 2.0 + *row as f64 * (2.0 * R + 2.0);
            g class="marker" {
                title { (n) ". " (m.label) " at " (format!("{:.2}", m.x)) " s" }
                line x1=(f1(*x)) y1=(f1(top)) x2=(f1(*x)) y2=(f1(bottom)) stroke="#7c3aed" stroke-width="1.5" stroke-dasharray="4 3" {}
                circle cx=(f1(*x)) cy=(f1(cy)) r=(R) fill="#fff" stroke="#7c3aed" stroke-width="1.5" {}
                text x=(f1(*x)) y=(f1(cy + 3.5)) text-anchor="middle" class="mbadge" { (n) }
            }
        }
    }
}

/// The numbered labels, as text under the chart.
pub(super) fn key(list: &[Marker]) -> Markup {
    let ordered = ordered(list);
    html! {
        @if !ordered.is_empty() {
            p class="mkey" {
                @for (n, m) in &ordered {
                    span { b { (n) } " " (m.label) " (" (format!("{:.2}", m.x)) " s)" }
                }
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

    #[test]
    fn labels_go_to_the_key_in_time_order() {
        let list = vec![
            Marker {
                x: 2.0,
                label: "promoted <:7003>".into(),
            },
            Marker {
                x: 1.0,
                label: "kill".into(),
            },
        ];
        let key = key(&list).into_string();
        let kill = key.find("kill").unwrap();
        let promoted = key.find("promoted &lt;:7003&gt;").unwrap();
        assert!(kill < promoted, "{key}");
        let svg = draw(&list, |x| x * 100.0, 52.0, 256.0).into_string();
        // Numbered in time order: the kill (x 1.0) is badge 1.
        assert!(
            svg.contains(r#"x="100.0" y="65.5" text-anchor="middle" class="mbadge">1<"#),
            "{svg}"
        );
    }
}
