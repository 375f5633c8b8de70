//! A minimal independent client for `make bench`: N sessions with `retina` (RTSP/RTP) and
//! `ffmpeg-next` (decode), measured like `vedette bench` and printing the same JSON fields.
//!
//! Usage: retina_client URL TILES WARMUP_SECS MEASURE_SECS [STAGGER_MS]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ffmpeg_next as ffmpeg;
use futures::StreamExt as _;
use retina::client::{PlayOptions, SessionOptions, SetupOptions};
use retina::codec::{CodecItem, FrameFormat};

#[derive(Default)]
struct Stats {
    frames: AtomicU64,
    latency_ms: Mutex<Vec<u64>>,
    measuring: std::sync::atomic::AtomicBool,
}

async fn play(url: url::Url, stats: Arc<Stats>, stop_at: Instant) -> Result<(), String> {
    let mut session = retina::client::Session::describe(url, SessionOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let index = session
        .streams()
        .iter()
        .position(|s| s.media() == "video")
        .ok_or("no video")?;
    session
        .setup(
            index,
            SetupOptions::default()
                .transport(retina::client::Transport::Tcp(Default::default()))
                .frame_format(FrameFormat::SIMPLE),
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut demuxed = session
        .play(PlayOptions::default())
        .await
        .map_err(|e| e.to_string())?
        .demuxed()
        .map_err(|e| e.to_string())?;
    let codec = ffmpeg::decoder::find(ffmpeg::codec::Id::H264).ok_or("no H.264 decoder")?;
    let mut context = ffmpeg::codec::Context::new_with_codec(codec);
    context.set_flags(ffmpeg::codec::Flags::LOW_DELAY);
    let mut decoder = context.decoder().video().map_err(|e| e.to_string())?;
    let mut frame = ffmpeg::frame::Video::empty();
    let deadline = tokio::time::Instant::from_std(stop_at);
    loop {
        let item = tokio::select! {
            item = demuxed.next() => item,
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let Some(item) = item else { break };
        let Ok(CodecItem::VideoFrame(video)) = item else {
            continue;
        };
        if decoder
            .send_packet(&ffmpeg::Packet::copy(video.data()))
            .is_err()
        {
            continue;
        }
        while decoder.receive_frame(&mut frame).is_ok() {
            stats.frames.fetch_add(1, Ordering::Relaxed);
            let (w, h) = (frame.width() as usize, frame.height() as usize);
            if let Some(capture) =
                vedette::timecode::read_timecode(frame.data(0), frame.stride(0), w, h)
            {
                if stats.measuring.load(Ordering::Relaxed) {
                    let now = vedette::decode::unix_millis();
                    if let Some(l) = now.checked_sub(capture) {
                        stats.latency_ms.lock().unwrap().push(l);
                    }
                }
            }
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: retina_client URL TILES WARMUP_SECS MEASURE_SECS [STAGGER_MS]");
        std::process::exit(2);
    }
    let url = url::Url::parse(&args[1]).expect("URL");
    let tiles: usize = args[2].parse().expect("TILES");
    let warmup = Duration::from_secs_f64(args[3].parse().expect("WARMUP"));
    let measure = Duration::from_secs_f64(args[4].parse().expect("MEASURE"));
    let stagger = Duration::from_millis(args.get(5).and_then(|s| s.parse().ok()).unwrap_or(200));
    ffmpeg::init().expect("ffmpeg");
    ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let stop_at = started + warmup + measure + Duration::from_millis(200);
    let stats: Vec<Arc<Stats>> = (0..tiles).map(|_| Arc::default()).collect();
    let report = rt.block_on(async {
        let tasks: Vec<_> = stats
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (url, s) = (url.clone(), s.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(stagger * i as u32).await;
                    play(url, s, stop_at).await
                })
            })
            .collect();
        tokio::time::sleep_until((started + warmup).into()).await;
        let before: Vec<u64> = stats
            .iter()
            .map(|s| s.frames.load(Ordering::Relaxed))
            .collect();
        for s in &stats {
            s.measuring.store(true, Ordering::Relaxed);
        }
        tokio::time::sleep(measure).await;
        let secs = measure.as_secs_f64();
        let fps: Vec<f64> = stats
            .iter()
            .zip(before)
            .map(|(s, b)| (s.frames.load(Ordering::Relaxed) - b) as f64 / secs)
            .collect();
        let mut errors = Vec::new();
        // A session stuck in a request (a server that stops answering) must not hold the
        // report back: its figures are already counted.
        let give_up = tokio::time::Instant::now() + Duration::from_secs(5);
        for t in tasks {
            match tokio::time::timeout_at(give_up, t).await {
                Ok(Ok(Err(e))) => errors.push(e),
                Err(_) => errors.push("a session did not end within 5 s of the stop".into()),
                _ => {}
            }
        }
        let mut lat: Vec<u64> = stats
            .iter()
            .flat_map(|s| s.latency_ms.lock().unwrap().clone())
            .collect();
        lat.sort_unstable();
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
                .copied()
        };
        serde_json::json!({
            "tiles": tiles,
            "seconds": secs,
            "fps_min": fps.iter().copied().fold(f64::INFINITY, f64::min),
            "fps_mean": fps.iter().sum::<f64>() / fps.len().max(1) as f64,
            "fps": fps,
            "latency_p50_ms": pct(0.5),
            "latency_p95_ms": pct(0.95),
            "errors": errors,
        })
    });
    println!("{report}");
}
