//! The bench as a picture: throughput (MiB/s) against worker threads, with
//! the ideal linear line and the measured limits, drawn as SVG with plotters'
//! SVG backend (text is left to the viewer's fonts, so no font files are
//! needed). The title, the legend under the chart and the label on each point
//! say what was measured and where, so the picture reads without the table.

use std::path::Path;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::output::{rate, thousands, Report, Row};
use super::BenchError;

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 680;
const HEAD: u32 = 92;
const LEGEND: u32 = 78;
const FONT: &str = "sans-serif";
/// Rough width of one character of 14 px sans-serif text, for label boxes.
const CHAR_PX: f64 = 7.6;

const VIGIL: RGBColor = RGBColor(31, 94, 180);
const IDEAL: RGBColor = RGBColor(120, 120, 120);
const READ_ONLY: RGBColor = RGBColor(40, 150, 70);
const HASH_BOUND: RGBColor = RGBColor(220, 120, 20);
const READ_PLUS_HASH: RGBColor = RGBColor(150, 60, 160);

/// Draws `report` to `path` as SVG.
pub fn draw(report: &Report, path: &Path) -> Result<(), BenchError> {
    draw_inner(report, path).map_err(|reason| BenchError::Plot {
        path: path.to_path_buf(),
        reason,
    })
}

/// One line of the chart and its legend entry.
struct Series {
    label: String,
    color: RGBColor,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

fn series(report: &Report) -> Vec<Series> {
    let rows = &report.rows;
    let at = |f: &dyn Fn(&Row) -> Option<f64>| -> Option<Vec<(f64, f64)>> {
        rows.iter()
            .map(|r| f(r).map(|y| (r.threads as f64, y)))
            .collect()
    };
    let base = rows
        .iter()
        .find(|r| r.threads == 1)
        .map_or(0.0, |r| r.mib_per_sec.median);
    let mut out = vec![Series {
        label: "ideal: the 1-worker rate × workers".into(),
        color: IDEAL,
        dashed: true,
        points: at(&|r| Some(base * r.threads as f64)).unwrap_or_default(),
    }];
    if let Some(points) = at(&|r| r.hash_bound_mib_per_sec) {
        let one = rows[0].hash_bound_mib_per_sec.unwrap_or(0.0) / rows[0].threads as f64;
        let algo = report.signatures.algorithm.unwrap_or("hash");
        out.push(Series {
            label: format!(
                "hash-only: workers × {algo} on one core ({} MiB/s)",
                rate(one)
            ),
            color: HASH_BOUND,
            dashed: true,
            points,
        });
    }
    out.push(Series {
        label: "read-only limit: same walk and workers, no hashing".into(),
        color: READ_ONLY,
        dashed: false,
        points: at(&|r| Some(r.read_only_mib_per_sec.median)).unwrap_or_default(),
    });
    if let Some(points) = at(&|r| r.read_plus_hash_mib_per_sec) {
        out.push(Series {
            label: "read + hash: each byte costs its read plus its hash".into(),
            color: READ_PLUS_HASH,
            dashed: false,
            points,
        });
    }
    out.push(Series {
        label: format!(
            "vigil scan: median of {} run{}, bars min to max",
            report.repeat,
            if report.repeat == 1 { "" } else { "s" }
        ),
        color: VIGIL,
        dashed: false,
        points: at(&|r| Some(r.mib_per_sec.median)).unwrap_or_default(),
    });
    out
}

/// The parts of a polyline below `top`, cut where it crosses `top`.
fn clip(points: &[(f64, f64)], top: f64) -> Vec<Vec<(f64, f64)>> {
    let mut parts = Vec::new();
    let mut current = Vec::new();
    for (i, &p) in points.iter().enumerate() {
        if let Some(&q) = i.checked_sub(1).map(|j| &points[j]) {
            if (q.1 <= top) != (p.1 <= top) {
                let t = (top - q.1) / (p.1 - q.1);
                current.push((q.0 + t * (p.0 - q.0), top));
                if p.1 > top {
                    parts.push(std::mem::take(&mut current));
                }
            }
        }
        if p.1 <= top {
            current.push(p);
        }
    }
    parts.push(current);
    parts.retain(|part| part.len() > 1);
    parts
}

fn draw_inner(report: &Report, path: &Path) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let rows = &report.rows;
    let max_threads = rows.iter().map(|r| r.threads).max().unwrap_or(1) as f64;
    let all = series(report);
    // Scale to vigil and the limits near it: a hash-only line far above the
    // rest is cut at the top rather than squashing everything else.
    let near = rows
        .iter()
        .flat_map(|r| {
            [
                r.mib_per_sec.max,
                r.read_only_mib_per_sec.max,
                r.read_plus_hash_mib_per_sec.unwrap_or(0.0),
            ]
        })
        .chain(all[0].points.iter().map(|p| p.1))
        .fold(1.0, f64::max);
    let highest = all
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(near, f64::max);
    let y_top = if highest <= near * 1.6 { highest } else { near } * 1.15;

    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (head, rest) = root.split_vertically(HEAD);
    let (body, foot) = rest.split_vertically(HEIGHT - HEAD - LEGEND);
    draw_head(report, &head).map_err(|e| err(&e))?;

    let mut chart = ChartBuilder::on(&body)
        .margin_left(16)
        .margin_right(36)
        .margin_top(8)
        .x_label_area_size(52)
        .y_label_area_size(84)
        .build_cartesian_2d(
            0.5f64..max_threads + (0.15 * max_threads).max(0.6),
            0f64..y_top,
        )
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("worker threads (--threads)")
        .y_desc("throughput, MiB/s")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_labels((max_threads as usize * 2 + 2).min(40))
        .x_label_formatter(&|x| {
            let r = x.round();
            if (x - r).abs() < 1e-6 && rows.iter().any(|row| row.threads as f64 == r) {
                format!("{r:.0}")
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| thousands(*y))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| err(&e))?;

    for s in &all {
        let is_vigil = s.color == VIGIL;
        let style = s.color.stroke_width(if is_vigil { 3 } else { 2 });
        let x_span = max_threads - 0.5;
        // A sliver of a line just under the top would read as a stray mark.
        for part in clip(&s.points, y_top)
            .into_iter()
            .filter(|p| p[p.len() - 1].0 - p[0].0 > 0.03 * x_span)
        {
            if s.dashed {
                chart.draw_series(DashedLineSeries::new(part, 8, 6, style))
            } else {
                chart.draw_series(LineSeries::new(part, style))
            }
            .map_err(|e| err(&e))?;
        }
        if !s.dashed {
            let radius = if is_vigil { 5 } else { 4 };
            chart
                .draw_series(
                    s.points
                        .iter()
                        .filter(|p| p.1 <= y_top)
                        .map(|&p| Circle::new(p, radius, s.color.filled())),
                )
                .map_err(|e| err(&e))?;
        }
    }
    chart
        .draw_series(rows.iter().map(|r| {
            let s = &r.mib_per_sec;
            ErrorBar::new_vertical(
                r.threads as f64,
                s.min,
                s.median,
                s.max,
                VIGIL.stroke_width(2),
                12,
            )
        }))
        .map_err(|e| err(&e))?;
    // Each point says what it is worth, on a light box so lines don't hide it.
    chart
        .draw_series(rows.iter().map(|r| {
            let font = (FONT, 14).into_font().color(&VIGIL);
            let first = format!("{} MiB/s", rate(r.mib_per_sec.median));
            let second = format!("×{:.2}, eff. {:.2}", r.speedup, r.efficiency);
            let width = (first.chars().count().max(second.chars().count()) as f64 * CHAR_PX) as i32;
            // Below the point, or above it when the point is near the x axis.
            let dy = if r.mib_per_sec.median < 0.15 * y_top {
                -44
            } else {
                0
            };
            EmptyElement::at((r.threads as f64, r.mib_per_sec.median))
                + Rectangle::new(
                    [(10, 4 + dy), (16 + width, 40 + dy)],
                    WHITE.mix(0.85).filled(),
                )
                + Text::new(first, (13, 6 + dy), font.clone())
                + Text::new(second, (13, 23 + dy), font)
        }))
        .map_err(|e| err(&e))?;

    draw_legend(&all, highest > y_top, &foot).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult<'a> =
    Result<(), DrawingAreaErrorKind<<SVGBackend<'a> as DrawingBackend>::ErrorType>>;

fn draw_head<'a>(report: &Report, head: &Area<'a>) -> DrawResult<'a> {
    let m = &report.machine;
    let c = &report.corpus;
    let what = match report.signatures.algorithm {
        Some(a) => {
            format!("one {a} signature of any size that matches nothing: every byte is hashed")
        }
        None => format!(
            "{} signatures from -d",
            thousands(report.signatures.count as f64)
        ),
    };
    let lines = [
        (
            format!(
                "vigil scan throughput against worker threads, {} cores ({})",
                m.cores, m.cpu
            ),
            (FONT, 22).into_font().style(FontStyle::Bold),
        ),
        (
            format!(
                "corpus: {} files, {}{}; {what}",
                thousands(c.files as f64),
                indicatif::HumanBytes(c.bytes),
                if c.generated { " generated" } else { "" },
            ),
            (FONT, 15).into_font(),
        ),
        (
            format!(
                "{} page cache, after a warm-up run; vigil {}, Linux {}, {}",
                report.cache, report.vigil_version, m.kernel, report.date
            ),
            (FONT, 15).into_font(),
        ),
    ];
    for (i, (text, font)) in lines.into_iter().enumerate() {
        head.draw(&Text::new(text, (24, 14 + 26 * i as i32), font))?;
    }
    Ok(())
}

/// The legend, in two columns under the chart.
fn draw_legend<'a>(all: &[Series], cut: bool, foot: &Area<'a>) -> DrawResult<'a> {
    for (i, s) in all.iter().rev().enumerate() {
        let x = 40 + (i % 2) as i32 * 450;
        let y = 8 + (i / 2) as i32 * 22;
        let style = s.color.stroke_width(if s.color == VIGIL { 3 } else { 2 });
        let sample = vec![(x, y + 8), (x + 28, y + 8)];
        if s.dashed {
            foot.draw(&DashedPathElement::new(sample, 6, 4, style))?;
        } else {
            foot.draw(&PathElement::new(sample, style))?;
        }
        let mut label = s.label.clone();
        if cut && s.color == HASH_BOUND {
            label += ", cut at the top";
        }
        foot.draw(&Text::new(label, (x + 36, y), (FONT, 14)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_lines_at_the_top() {
        assert_eq!(
            clip(&[(1.0, 1.0), (2.0, 2.0)], 5.0),
            vec![vec![(1.0, 1.0), (2.0, 2.0)]]
        );
        assert_eq!(
            clip(&[(1.0, 2.0), (2.0, 6.0)], 4.0),
            vec![vec![(1.0, 2.0), (1.5, 4.0)]]
        );
        assert!(clip(&[(1.0, 5.0), (2.0, 6.0)], 4.0).is_empty());
        assert_eq!(
            clip(&[(1.0, 6.0), (2.0, 2.0)], 4.0),
            vec![vec![(1.5, 4.0), (2.0, 2.0)]]
        );
    }
}
