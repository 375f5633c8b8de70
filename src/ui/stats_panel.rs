//! The stats panel: one camera's figures over the last five minutes as plots (bitrate, fps,
//! jitter, loss, latency) and its counters as a table.

use std::collections::VecDeque;
use std::time::Instant;

use eframe::egui;
use egui_plot::{Corner, HoverPosition, Legend, Line, Plot, PlotPoints};

use super::tile::{format_bitrate, format_percent};
use super::ShownSample;
use crate::camera::{CameraHandle, STATS_HISTORY};
use crate::stats::{LatencyKind, StatsSnapshot};

/// Plot heights: each plot shares what the panel has left after the table, within these.
const PLOT_HEIGHT_MIN: f32 = 56.0;
const PLOT_HEIGHT_MAX: f32 = 160.0;
const PLOTS: usize = 5;

/// One named line of a plot: `[seconds ago (negative), value]` points, oldest first.
struct Series {
    name: String,
    points: Vec<[f64; 2]>,
}

/// The panel for `camera`: `stats` are its latest figures with what its tile measured merged
/// in, `shown` what the tile showed (one sample a second).
pub fn stats_panel_ui(
    ui: &mut egui::Ui,
    camera: &CameraHandle,
    stats: Option<&StatsSnapshot>,
    shown: &VecDeque<ShownSample>,
    now: Instant,
) {
    let latency_kind = stats
        .and_then(|s| s.latency_kind)
        .unwrap_or(LatencyKind::ArrivalToScreen);
    ui.add_space(4.0);
    ui.heading(camera.name.as_str());
    let status = camera.status();
    if let (Some(codec), Some(transport)) = (&status.codec, &status.transport) {
        let codec = match codec.as_str() {
            "h264" => "H.264".to_owned(),
            "h265" => "H.265".to_owned(),
            other => other.to_uppercase(),
        };
        ui.label(format!("{codec} over {}", transport.to_uppercase()));
    }
    ui.label(format!(
        "Latency shown: {} · last {} min",
        latency_kind.label(),
        STATS_HISTORY.as_secs() / 60
    ));
    ui.separator();

    let plots = PanelSeries::collect(camera, shown, now);
    let titles = plot_titles(stats);
    let row_height = ui.spacing().interact_size.y + ui.spacing().item_spacing.y;
    let table_height = COUNTER_ROWS as f32 * row_height + 16.0;
    let title_height = row_height + 4.0;
    let plot_height = ((ui.available_height() - table_height) / PLOTS as f32 - title_height)
        .clamp(PLOT_HEIGHT_MIN, PLOT_HEIGHT_MAX);
    egui::ScrollArea::vertical().show(ui, |ui| {
        // The y axis goes at least this high, so a flat line sits at the bottom.
        let [bitrate, fps, jitter, loss, latency] = titles;
        let plot = |ui: &mut egui::Ui, id, title, series, y_at_least| {
            plot_ui(ui, id, title, series, y_at_least, plot_height);
        };
        plot(ui, "bitrate", bitrate, plots.bitrate, 1.0);
        plot(ui, "fps", fps, plots.fps, 30.0);
        plot(ui, "jitter", jitter, plots.jitter, 5.0);
        plot(ui, "loss", loss, plots.loss, 1.0);
        plot(ui, "latency", latency, plots.latency, 50.0);
        ui.separator();
        match stats {
            Some(stats) => counters_ui(ui, stats),
            None => {
                ui.label("No figures yet: the camera is not playing.");
            }
        }
    });
}

/// The plots' titles, with the current value.
fn plot_titles(stats: Option<&StatsSnapshot>) -> [String; PLOTS] {
    let Some(s) = stats else {
        return [
            "Bitrate, Mb/s",
            "Frames per second",
            "Jitter, ms",
            "Loss, % per interval",
            "Latency, ms",
        ]
        .map(String::from);
    };
    let shown = s
        .fps_shown
        .map(|f| format!(", {f:.1} shown"))
        .unwrap_or_default();
    let latency = match s.latency_ms {
        Some(ms) => format!(
            "Latency, ms — {ms:.0} ms {}",
            s.latency_kind.map_or("", |k| k.label())
        ),
        None => "Latency, ms".to_owned(),
    };
    [
        format!(
            "Bitrate, Mb/s — {} now, {} over 10 s",
            format_bitrate(s.bitrate_bps),
            format_bitrate(s.bitrate_10s_bps)
        ),
        format!("Frames per second — {:.1} received{shown}", s.fps),
        format!("Jitter, ms — {:.1} ms now", s.jitter_ms),
        format!(
            "Loss, % per interval — {} now, {} in all",
            format_percent(s.fraction_lost_interval),
            format_percent(s.fraction_lost)
        ),
        latency,
    ]
}

/// Every plotted line, copied out of the histories (the camera's lock is held only for that).
struct PanelSeries {
    bitrate: Vec<Series>,
    fps: Vec<Series>,
    jitter: Vec<Series>,
    loss: Vec<Series>,
    latency: Vec<Series>,
}

impl PanelSeries {
    fn collect(camera: &CameraHandle, shown: &VecDeque<ShownSample>, now: Instant) -> Self {
        let history = camera
            .stats_history()
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let camera_series = |name: &str, value: &dyn Fn(&StatsSnapshot) -> Option<f64>| Series {
            name: name.to_owned(),
            points: history
                .iter()
                .filter_map(|(at, s)| Some([seconds_ago(*at, now), value(s)?]))
                .collect(),
        };
        let bitrate = vec![
            camera_series("1 s", &|s| Some(s.bitrate_bps / 1e6)),
            camera_series("10 s", &|s| Some(s.bitrate_10s_bps / 1e6)),
        ];
        let received = camera_series("received", &|s| Some(s.fps));
        let jitter = vec![camera_series("jitter", &|s| Some(s.jitter_ms))];
        let loss = vec![camera_series("loss", &|s| {
            Some(s.fraction_lost_interval * 100.0)
        })];
        // The camera's own latency, when it measures one (capture time in the picture).
        let camera_latency = history
            .iter()
            .rev()
            .find_map(|(_, s)| s.latency_ms.and(s.latency_kind))
            .map(|kind| camera_series(kind.label(), &|s| s.latency_ms));
        drop(history);

        let shown_series = |name: &str, value: &dyn Fn(&ShownSample) -> Option<f64>| Series {
            name: name.to_owned(),
            points: shown
                .iter()
                .filter_map(|s| Some([seconds_ago(s.at, now), value(s)?]))
                .collect(),
        };
        let fps = vec![received, shown_series("shown", &|s| Some(s.fps))];
        let mut latency = vec![shown_series(LatencyKind::ArrivalToScreen.label(), &|s| {
            s.latency_ms
        })];
        latency.extend(camera_latency);
        Self {
            bitrate,
            fps,
            jitter,
            loss,
            latency,
        }
    }
}

/// `at` on the plots' x axis: seconds before `now`, as a negative number.
fn seconds_ago(at: Instant, now: Instant) -> f64 {
    -now.saturating_duration_since(at).as_secs_f64()
}

/// An x axis tick: `120 s`, or `now` at zero (not `-0 s`).
fn seconds_ago_label(x: f64) -> String {
    if x.abs() < 0.5 {
        "now".to_owned()
    } else {
        format!("{:.0} s", -x)
    }
}

fn plot_ui(
    ui: &mut egui::Ui,
    id: &str,
    title: String,
    series: Vec<Series>,
    y_at_least: f64,
    height: f32,
) {
    ui.label(egui::RichText::new(title).strong());
    let several = series.len() > 1;
    let mut plot = Plot::new(("stats_plot", id))
        .height(height)
        .include_x(-(STATS_HISTORY.as_secs_f64()))
        .include_x(0.0)
        .include_y(0.0)
        .include_y(y_at_least)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .y_axis_min_width(36.0)
        .x_axis_formatter(|mark, _| seconds_ago_label(mark.value))
        .label_formatter(|hover| match hover {
            HoverPosition::NearDataPoint {
                plot_name,
                position,
                ..
            } => Some(format!(
                "{plot_name} {:.1}\n{:.0} s ago",
                position.y, -position.x
            )),
            HoverPosition::Elsewhere { .. } => None,
        });
    if several {
        plot = plot.legend(Legend::default().position(Corner::LeftTop));
    }
    plot.show(ui, |plot_ui| {
        for s in series {
            plot_ui.line(Line::new(s.name, PlotPoints::new(s.points)));
        }
    });
    ui.add_space(4.0);
}

/// Rows of the counters table (two counters a row).
const COUNTER_ROWS: usize = 6;

/// The current counters, two a row.
fn counters_ui(ui: &mut egui::Ui, stats: &StatsSnapshot) {
    let counters = counters(stats);
    egui::Grid::new("stats_counters")
        .num_columns(4)
        .striped(true)
        .show(ui, |ui| {
            for row in counters.chunks(2) {
                for (name, value) in row {
                    ui.label(*name);
                    ui.label(egui::RichText::new(value).monospace());
                }
                ui.end_row();
            }
        });
}

/// The table's counters: name and value.
fn counters(stats: &StatsSnapshot) -> [(&'static str, String); 2 * COUNTER_ROWS] {
    let or_dash = |value: Option<String>| value.unwrap_or_else(|| "—".to_owned());
    [
        ("expected", stats.packets_expected.to_string()),
        ("reordered", stats.reordered.to_string()),
        ("received", stats.packets_received.to_string()),
        ("duplicates", stats.duplicates.to_string()),
        ("lost", stats.packets_lost.to_string()),
        ("late", stats.late.to_string()),
        (
            "keyframe every",
            or_dash(stats.keyframe_interval_s.map(|s| format!("{s:.1} s"))),
        ),
        (
            "decode",
            or_dash(stats.decode_ms.map(|ms| format!("{ms:.1} ms"))),
        ),
        ("decoded", stats.frames_decoded.to_string()),
        ("dropped late", stats.frames_dropped_late.to_string()),
        (
            "decoder errors",
            stats.frames_dropped_decoder_error.to_string(),
        ),
        ("no keyframe", stats.frames_waiting_for_keyframe.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_titles_name_every_figure() {
        let stats = StatsSnapshot {
            bitrate_bps: 502_000.0,
            bitrate_10s_bps: 1_490_000.0,
            fps: 25.0,
            packets_expected: 1000,
            packets_received: 990,
            packets_lost: 10,
            fraction_lost: 0.01,
            keyframe_interval_s: Some(2.0),
            latency_ms: Some(41.6),
            latency_kind: Some(LatencyKind::ArrivalToScreen),
            ..StatsSnapshot::default()
        };
        let counters = counters(&stats);
        let value = |name: &str| {
            counters
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(value("lost"), "10");
        assert_eq!(value("keyframe every"), "2.0 s");
        assert_eq!(value("decode"), "—");
        let titles = plot_titles(Some(&stats));
        assert_eq!(
            titles[0],
            "Bitrate, Mb/s — 502 kb/s now, 1.5 Mb/s over 10 s"
        );
        assert_eq!(titles[1], "Frames per second — 25.0 received");
        assert_eq!(titles[3], "Loss, % per interval — 0.0 % now, 1.0 % in all");
        assert_eq!(titles[4], "Latency, ms — 42 ms arrival → screen");
        assert_eq!(plot_titles(None)[4], "Latency, ms");
    }

    #[test]
    fn older_samples_are_further_left() {
        let now = Instant::now();
        let earlier = now - std::time::Duration::from_secs(30);
        assert_eq!(seconds_ago(earlier, now), -30.0);
        assert_eq!(seconds_ago(now, earlier), 0.0);
        assert_eq!(seconds_ago_label(-120.0), "120 s");
        assert_eq!(seconds_ago_label(-0.0), "now");
    }
}
