//! The demo's and eval's plots as SVG (no system fonts needed).

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

/// One round's trust counts for the lower panel of [`demo_svg`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RoundCounts {
    /// The round.
    pub round: u64,
    /// Accepted submissions with positive trust (all accepted ones for
    /// FedAvg rules).
    pub positive: u64,
    /// Accepted submissions with zero trust.
    pub zero_trust: u64,
    /// Submissions that failed a check.
    pub rejected: u64,
    /// Workers that said they sat the round out.
    pub sat_out: u64,
    /// Whether the round moved the model.
    pub updated: bool,
}

/// A line of the lower panel: label, value of a round, colour.
type CountSeries = (&'static str, fn(&RoundCounts) -> u64, RGBColor);

/// What [`demo_svg`] draws.
#[derive(Debug)]
pub struct DemoPlot<'a> {
    /// Says the rule, workers, Byzantine count, attack, partition and seed.
    pub title: &'a str,
    /// Legend label of the main curve (its rule).
    pub label: &'a str,
    /// (round, test accuracy); round 0 is the initial model.
    pub accuracy: &'a [(u64, f64)],
    /// Per-round trust counts of the main run.
    pub counts: &'a [RoundCounts],
    /// A baseline's label and curve, drawn in a second colour.
    pub baseline: Option<(&'a str, &'a [(u64, f64)])>,
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the plot: {e}")
}

/// Draws the demo's plot to `path` as SVG: test accuracy per round on top
/// (round 0 = the initial model; a red cross marks a round that did not
/// move the model; the y-axis fits the data), and below it the submissions
/// per round — positive trust, zero trust, rejected, sat out.
pub fn demo_svg(path: &Path, p: &DemoPlot<'_>) -> Result<()> {
    let root = SVGBackend::new(path, (900, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(p.title, ("sans-serif", 18)).map_err(err)?;
    let (top, bottom) = root.split_vertically(460);
    let curves = std::iter::once(p.accuracy).chain(p.baseline.map(|b| b.1));
    let max_round = curves
        .clone()
        .flat_map(|c| c.iter().map(|q| q.0))
        .chain(p.counts.iter().map(|c| c.round))
        .max()
        .unwrap_or(1)
        .max(1);
    let (lo, hi) = curves
        .flat_map(|c| c.iter().map(|q| q.1))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
    let (lo, hi) = if lo.is_finite() {
        let pad = ((hi - lo) * 0.08).max(0.01);
        ((lo - pad).max(0.0), (hi + pad).min(1.0))
    } else {
        (0.0, 1.0)
    };
    let mut chart = ChartBuilder::on(&top)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0u64..max_round, lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("round")
        .y_desc("test accuracy")
        .draw()
        .map_err(err)?;
    let mut line = |label: &str, pts: &[(u64, f64)], c: RGBColor| -> Result<()> {
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(err)?
            .label(label.to_string())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 2, c.filled())))
            .map_err(err)?;
        Ok(())
    };
    line(p.label, p.accuracy, PALETTE[0])?;
    if let Some((label, pts)) = p.baseline {
        line(label, pts, PALETTE[1])?;
    }
    let stalled: Vec<(u64, f64)> = p
        .counts
        .iter()
        .filter(|c| !c.updated)
        .filter_map(|c| p.accuracy.iter().find(|q| q.0 == c.round).copied())
        .collect();
    if !stalled.is_empty() {
        let red = PALETTE[3];
        chart
            .draw_series(
                stalled
                    .iter()
                    .map(|&pt| Cross::new(pt, 5, red.stroke_width(2))),
            )
            .map_err(err)?
            .label("no update this round")
            .legend(move |(x, y)| Cross::new((x + 8, y), 5, red.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;

    counts_panel(&bottom, max_round, p.counts)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Colours of [`lines_svg`]'s series, in order (repeated past the end).
const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(255, 215, 0),
];

/// Several named lines (y in 0..1) on one chart with a legend, as SVG.
pub fn lines_svg(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<()> {
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let xs = series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let pad = (hi - lo) * 0.03;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d((lo - pad)..(hi + pad), 0f64..1f64)
        .map_err(|e| anyhow!("{e}"))?;
    let tick = |x: &f64| {
        let t = format!("{x:.2}");
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    chart
        .configure_mesh()
        .x_label_formatter(&tick)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for (k, (name, pts)) in series.iter().enumerate() {
        let c = PALETTE[k % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(|e| anyhow!("{e}"))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 2, c.filled())))
            .map_err(|e| anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// The lower panel of [`demo_svg`]: workers per round with positive trust,
/// zero trust, rejected and sat out (a line only when it is ever non-zero).
fn counts_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    max_round: u64,
    rounds: &[RoundCounts],
) -> Result<()> {
    let max_count = rounds
        .iter()
        .map(|c| c.positive.max(c.zero_trust).max(c.rejected).max(c.sat_out))
        .max()
        .unwrap_or(1)
        .max(1);
    let mut counts = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0u64..max_round, 0u64..max_count + 1)
        .map_err(err)?;
    counts
        .configure_mesh()
        .x_desc("round")
        .y_desc("workers")
        .draw()
        .map_err(err)?;
    let kinds: [CountSeries; 4] = [
        ("positive trust", |c| c.positive, PALETTE[2]),
        ("zero trust", |c| c.zero_trust, PALETTE[1]),
        ("rejected", |c| c.rejected, PALETTE[3]),
        ("sat out", |c| c.sat_out, PALETTE[7]),
    ];
    for (label, get, c) in kinds {
        if rounds.iter().all(|r| get(r) == 0) && label != "positive trust" {
            continue;
        }
        counts
            .draw_series(LineSeries::new(
                rounds.iter().map(|r| (r.round, get(r))),
                c.stroke_width(2),
            ))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
    }
    counts
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}
