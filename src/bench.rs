//! `vedette bench`: the headless receive path for N tiles (network, depacketize, decode,
//! hand-off to the latest-frame slot; no window), measured over a window after warm-up. The
//! driver (`make bench`) measures CPU and memory from outside, the same way for every client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::decode::DecoderStats;
use crate::pipeline::VideoPipeline;
use crate::rtsp::{CameraUrl, ClientOptions, RtspError, RtspSession, Step};

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub url: String,
    pub tiles: usize,
    /// Delay between session starts.
    pub stagger: Duration,
    /// Measuring starts this long after the first session starts.
    pub warmup: Duration,
    pub measure: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub tiles: usize,
    pub seconds: f64,
    /// Decoded frames per second of each stream over the measuring window.
    pub fps: Vec<f64>,
    pub fps_min: f64,
    pub fps_mean: f64,
    /// Capture→decoded latency over all streams, for streams carrying a capture timecode.
    pub latency_p50_ms: Option<u64>,
    pub latency_p95_ms: Option<u64>,
    pub errors: Vec<String>,
}

/// Runs the bench; sessions that fail are reported in `errors`.
pub async fn run_bench(opts: BenchOptions) -> BenchReport {
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut all_stats = Vec::new();
    for i in 0..opts.tiles {
        let (stats_tx, stats_rx) = tokio::sync::oneshot::channel();
        let url = opts.url.clone();
        let delay = opts.stagger * i as u32;
        let stop_at = started + opts.warmup + opts.measure + Duration::from_millis(200);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            play_until(&url, i, stop_at, stats_tx).await
        }));
        all_stats.push(stats_rx);
    }
    let mut stats: Vec<Option<Arc<DecoderStats>>> = Vec::new();
    for rx in all_stats {
        stats.push(
            tokio::time::timeout(opts.warmup, rx)
                .await
                .ok()
                .and_then(Result::ok),
        );
    }
    tokio::time::sleep_until((started + opts.warmup).into()).await;
    let before: Vec<u64> = stats
        .iter()
        .map(|s| s.as_ref().map_or(0, |s| s.frames()))
        .collect();
    // Latency samples from the warm-up (the server's cached pictures) do not count.
    for s in stats.iter().flatten() {
        if let Ok(mut l) = s.latency_ms.lock() {
            l.clear();
        }
    }
    tokio::time::sleep(opts.measure).await;
    let seconds = opts.measure.as_secs_f64();
    let fps: Vec<f64> = stats
        .iter()
        .zip(&before)
        .map(|(s, b)| {
            s.as_ref()
                .map_or(0.0, |s| (s.frames() - b) as f64 / seconds)
        })
        .collect();
    let mut latencies: Vec<u64> = stats
        .iter()
        .flatten()
        .flat_map(|s| {
            s.latency_ms
                .lock()
                .map(|l| l.iter().copied().collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect();
    latencies.sort_unstable();
    let percentile = |p: f64| -> Option<u64> {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(i).copied()
    };
    // A session stuck in a request (a server that stops answering) must not hold the report
    // back: its figures are already counted.
    let give_up = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut errors = Vec::new();
    for t in tasks {
        match tokio::time::timeout_at(give_up, t).await {
            Ok(Ok(Err(e))) => errors.push(e.to_string()),
            Err(_) => errors.push("a session did not end within 5 s of the stop".into()),
            _ => {}
        }
    }
    BenchReport {
        tiles: opts.tiles,
        seconds,
        fps_min: fps.iter().copied().fold(f64::INFINITY, f64::min),
        fps_mean: fps.iter().sum::<f64>() / fps.len().max(1) as f64,
        fps,
        latency_p50_ms: percentile(0.50),
        latency_p95_ms: percentile(0.95),
        errors,
    }
}

async fn play_until(
    url: &str,
    index: usize,
    stop_at: Instant,
    stats_tx: tokio::sync::oneshot::Sender<Arc<DecoderStats>>,
) -> Result<(), RtspError> {
    let url = CameraUrl::parse(url).map_err(|e| RtspError::new(Step::Url, e))?;
    let mut session = RtspSession::connect(&url, ClientOptions::default()).await?;
    session.options().await?;
    let name = format!("bench{index}");
    let mut pipeline = VideoPipeline::setup(&mut session, &name, Default::default()).await?;
    let _ = stats_tx.send(pipeline.decoder().stats().clone());
    session.play().await?;
    let deadline = tokio::time::Instant::from_std(stop_at);
    loop {
        tokio::select! {
            packet = session.next_packet() => pipeline.handle(packet?),
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    let _ = session.teardown().await;
    pipeline.finish();
    Ok(())
}
