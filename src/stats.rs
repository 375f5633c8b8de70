//! Live figures of one stream, as plain data shared by the tile overlay, the stats panel and
//! `vedette probe --json` (the same field names everywhere).
//!
//! RFC 3550 receive statistics (expected / received / lost, fraction lost, jitter) come from
//! [`crate::rtp::rtcp::ReceiverStats`], the same numbers our receiver reports carry. This
//! module adds what RTCP does not count: bitrate over 1 s and 10 s windows, pictures per
//! second, the keyframe interval, and the decoder's figures. [`StreamMeter`] is sans-I/O: the
//! caller passes the time of each event.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::decode::DecoderStats;
use crate::rtp::rtcp::ReceiverSnapshot;

/// Which latency `latency_ms` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyKind {
    /// From the last packet of a picture arriving to the picture on screen: always known.
    ArrivalToScreen,
    /// From capture (the sender report's NTP clock, trusted because the camera runs on this
    /// host) to the picture on screen.
    CaptureToScreen,
    /// From capture (a time code in the picture, Vedette demo server) to decoded.
    CaptureToDecoded,
    /// From the last packet of a picture arriving to the picture decoded.
    ArrivalToDecoded,
}

impl LatencyKind {
    pub fn label(self) -> &'static str {
        match self {
            LatencyKind::ArrivalToScreen => "arrival → screen",
            LatencyKind::CaptureToScreen => "capture → screen",
            LatencyKind::CaptureToDecoded => "capture → decoded",
            LatencyKind::ArrivalToDecoded => "arrival → decoded",
        }
    }
}

/// One stream's figures at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatsSnapshot {
    /// Bits per second over the last second (RTP payload + header, as received).
    pub bitrate_bps: f64,
    /// Bits per second over the last 10 seconds.
    pub bitrate_10s_bps: f64,
    /// Pictures received per second (last second).
    pub fps: f64,
    /// Pictures shown per second, when a window shows them.
    pub fps_shown: Option<f64>,
    /// RFC 3550 interarrival jitter, in milliseconds.
    pub jitter_ms: f64,
    pub packets_expected: u64,
    pub packets_received: u64,
    /// Cumulative, as the receiver report counts it (duplicates can make it negative).
    pub packets_lost: i64,
    /// Cumulative fraction lost, 0..1.
    pub fraction_lost: f64,
    /// Fraction lost in the last receiver-report interval, 0..1.
    pub fraction_lost_interval: f64,
    pub reordered: u64,
    pub duplicates: u64,
    /// UDP packets that came after their turn had passed (dropped by the reorder buffer).
    pub late: u64,
    /// Seconds between the last two keyframes.
    pub keyframe_interval_s: Option<f64>,
    /// Mean decode time per picture, in milliseconds.
    pub decode_ms: Option<f64>,
    pub frames_decoded: u64,
    /// Pictures dropped because decoding fell behind.
    pub frames_dropped_late: u64,
    /// Pictures the decoder rejected.
    pub frames_dropped_decoder_error: u64,
    /// Pictures skipped after loss until the next keyframe.
    pub frames_waiting_for_keyframe: u64,
    /// Pictures shown although they follow loss (when loss is persistent), concealed.
    pub frames_concealed: u64,
    pub latency_ms: Option<f64>,
    pub latency_kind: Option<LatencyKind>,
}

impl StatsSnapshot {
    /// Fills the RFC 3550 figures from the receiver statistics.
    pub fn with_receiver(mut self, r: &ReceiverSnapshot, late: u64) -> Self {
        self.jitter_ms = r.jitter_ms;
        self.packets_expected = r.packets_expected;
        self.packets_received = r.packets_received;
        self.packets_lost = r.packets_lost;
        self.fraction_lost = r.fraction_lost_cumulative;
        self.fraction_lost_interval = r.last_fraction_lost;
        self.reordered = r.reordered;
        self.duplicates = r.duplicates;
        self.late = late;
        self
    }

    /// Fills the decoder's figures.
    pub fn with_decoder(mut self, d: &DecoderStats) -> Self {
        let frames = d.frames_decoded.load(Ordering::Relaxed);
        self.frames_decoded = frames;
        self.decode_ms = (frames > 0)
            .then(|| d.decode_us_total.load(Ordering::Relaxed) as f64 / frames as f64 / 1000.0);
        self.frames_dropped_late = d.dropped_queue_full.load(Ordering::Relaxed);
        self.frames_dropped_decoder_error = d.decode_errors.load(Ordering::Relaxed);
        self.frames_waiting_for_keyframe = d.held_back.load(Ordering::Relaxed);
        self.frames_concealed = d.concealed.load(Ordering::Relaxed);
        self
    }

    /// The loss or jitter passed the level where a viewer sees it: the overlay turns amber.
    pub fn is_degraded(&self) -> bool {
        self.fraction_lost_interval > LOSS_WARNING || self.jitter_ms > JITTER_WARNING_MS
    }
}

/// Loss in a report interval above which the overlay warns (1 %: artefacts until the next
/// keyframe are then common).
pub const LOSS_WARNING: f64 = 0.01;
/// Jitter above which the overlay warns.
pub const JITTER_WARNING_MS: f64 = 30.0;

const SHORT_WINDOW: Duration = Duration::from_secs(1);
const LONG_WINDOW: Duration = Duration::from_secs(10);

/// Bitrate, picture rate and keyframe interval of one stream, from events with their times.
#[derive(Debug, Default)]
pub struct StreamMeter {
    /// Packet arrivals and sizes over the long window.
    packets: VecDeque<(Instant, usize)>,
    long_bytes: usize,
    /// Picture completion times over the short window.
    pictures: VecDeque<Instant>,
    first_packet: Option<Instant>,
    last_keyframe: Option<Instant>,
    keyframe_interval: Option<Duration>,
}

impl StreamMeter {
    pub fn on_packet(&mut self, at: Instant, bytes: usize) {
        self.first_packet.get_or_insert(at);
        self.packets.push_back((at, bytes));
        self.long_bytes += bytes;
        self.expire(at);
    }

    /// A picture was complete at `at`.
    pub fn on_picture(&mut self, at: Instant, keyframe: bool) {
        self.pictures.push_back(at);
        if keyframe {
            if let Some(last) = self.last_keyframe {
                self.keyframe_interval = Some(at.saturating_duration_since(last));
            }
            self.last_keyframe = Some(at);
        }
        self.expire(at);
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(t, bytes)) = self.packets.front() {
            if now.saturating_duration_since(t) <= LONG_WINDOW {
                break;
            }
            self.long_bytes -= bytes;
            self.packets.pop_front();
        }
        while let Some(&t) = self.pictures.front() {
            if now.saturating_duration_since(t) <= SHORT_WINDOW {
                break;
            }
            self.pictures.pop_front();
        }
    }

    /// Bitrates, picture rate and keyframe interval at `now`. A window longer than the stream
    /// is so far is measured over the stream's age instead, so the first seconds read right.
    pub fn snapshot(&mut self, now: Instant) -> StatsSnapshot {
        self.expire(now);
        let age = self
            .first_packet
            .map_or(Duration::ZERO, |f| now.saturating_duration_since(f));
        let rate = |bytes: usize, window: Duration| {
            let span = window.min(age).max(Duration::from_millis(100));
            bytes as f64 * 8.0 / span.as_secs_f64()
        };
        let short_bytes: usize = self
            .packets
            .iter()
            .rev()
            .take_while(|(t, _)| now.saturating_duration_since(*t) <= SHORT_WINDOW)
            .map(|(_, b)| b)
            .sum();
        let pictures = self.pictures.len() as f64;
        let fps = pictures
            / SHORT_WINDOW
                .min(age)
                .max(Duration::from_millis(100))
                .as_secs_f64();
        StatsSnapshot {
            bitrate_bps: rate(short_bytes, SHORT_WINDOW),
            bitrate_10s_bps: rate(self.long_bytes, LONG_WINDOW),
            fps,
            keyframe_interval_s: self.keyframe_interval.map(|d| d.as_secs_f64()),
            ..Default::default()
        }
    }
}

/// A camera's wallclock from its last RTCP sender report: which NTP time goes with which RTP
/// time. Only kept when the clock can be trusted (the camera runs on this host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderClock {
    pub ntp: u64,
    pub rtp: u32,
    pub clock_rate: u32,
}

impl SenderClock {
    /// The capture time of the picture with RTP timestamp `rtp_ts`, in Unix milliseconds.
    pub fn capture_unix_ms(&self, rtp_ts: u32) -> Option<f64> {
        let base = ntp_to_unix_ms(self.ntp)?;
        // Signed distance, the short way round the 32-bit wrap.
        let ticks = rtp_ts.wrapping_sub(self.rtp) as i32;
        Some(base + f64::from(ticks) * 1000.0 / f64::from(self.clock_rate.max(1)))
    }
}

/// Milliseconds since the Unix epoch now.
pub fn unix_now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Turns an NTP 32.32 timestamp into milliseconds since the Unix epoch; `None` before 1970.
///
/// The seconds field wraps on 2036-02-07 (era 1 starts, RFC 5905 §6): like SNTP (RFC 4330 §3)
/// seconds below 2^31 are taken to be in era 1 (2036–2104), the rest in era 0 (1968–2036).
pub fn ntp_to_unix_ms(ntp: u64) -> Option<f64> {
    const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;
    const ERA_S: u64 = 1 << 32;
    let secs_in_era = ntp >> 32;
    let secs_since_1900 = if secs_in_era < 1 << 31 {
        secs_in_era + ERA_S
    } else {
        secs_in_era
    };
    let secs = secs_since_1900.checked_sub(NTP_UNIX_OFFSET_S)?;
    let frac = (ntp & 0xffff_ffff) as f64 / 4_294_967_296.0;
    Some((secs as f64 + frac) * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrate_over_one_and_ten_seconds() {
        let t0 = Instant::now();
        let mut m = StreamMeter::default();
        // 100 packets of 1250 bytes per second (1 Mbit/s) for 12 s, then 2 Mbit/s for 1 s.
        for i in 0..1200u64 {
            m.on_packet(t0 + Duration::from_millis(i * 10), 1250);
        }
        for i in 0..100u64 {
            m.on_packet(t0 + Duration::from_millis(12_000 + i * 10), 2500);
        }
        let s = m.snapshot(t0 + Duration::from_millis(12_995));
        assert!(
            (s.bitrate_bps - 2_000_000.0).abs() < 30_000.0,
            "{}",
            s.bitrate_bps
        );
        // The 10 s window holds 9 s at 1 Mbit/s and 1 s at 2 Mbit/s.
        assert!(
            (s.bitrate_10s_bps - 1_100_000.0).abs() < 30_000.0,
            "{}",
            s.bitrate_10s_bps
        );
    }

    #[test]
    fn a_young_stream_is_measured_over_its_age() {
        let t0 = Instant::now();
        let mut m = StreamMeter::default();
        for i in 0..50u64 {
            m.on_packet(t0 + Duration::from_millis(i * 10), 1250);
        }
        let s = m.snapshot(t0 + Duration::from_millis(500));
        assert!(
            (s.bitrate_bps - 1_000_000.0).abs() < 30_000.0,
            "{}",
            s.bitrate_bps
        );
        assert!((s.bitrate_10s_bps - 1_000_000.0).abs() < 30_000.0);
    }

    #[test]
    fn pictures_per_second_and_keyframe_interval() {
        let t0 = Instant::now();
        let mut m = StreamMeter::default();
        m.on_packet(t0, 100);
        for i in 0..75u64 {
            // 25 fps, a keyframe every 50 pictures (2 s).
            m.on_picture(t0 + Duration::from_millis(i * 40), i % 50 == 0);
        }
        let s = m.snapshot(t0 + Duration::from_millis(2_980));
        assert!((s.fps - 25.0).abs() <= 1.0, "{}", s.fps);
        assert_eq!(s.keyframe_interval_s, Some(2.0));
        // No pictures for 2 s: the rate falls to 0.
        assert_eq!(m.snapshot(t0 + Duration::from_secs(6)).fps, 0.0);
    }

    #[test]
    fn ntp_epoch() {
        // 2026-01-01T00:00:00Z is 1767225600 s after the Unix epoch.
        let ntp = (1_767_225_600u64 + 2_208_988_800) << 32 | 0x8000_0000;
        assert_eq!(ntp_to_unix_ms(ntp), Some(1_767_225_600_500.0));
        // Era 0's last years before 1970 (its seconds from 2^31 on) have no Unix time.
        assert_eq!(ntp_to_unix_ms(2_200_000_000 << 32), None);
    }

    /// RFC 5905 §6: the seconds wrap on 2036-02-07T06:28:16Z; small values are era 1.
    #[test]
    fn ntp_era_rollover() {
        const ERA_1_START_UNIX_S: u64 = (1 << 32) - 2_208_988_800;
        assert_eq!(ERA_1_START_UNIX_S, 2_085_978_496);
        assert_eq!(ntp_to_unix_ms(0), Some(ERA_1_START_UNIX_S as f64 * 1000.0));
        // The last second of era 0 and the first of era 1 are one second apart.
        let last = ntp_to_unix_ms(0xffff_ffff << 32).unwrap();
        assert_eq!(ntp_to_unix_ms(0).unwrap() - last, 1000.0);
        // 2040-01-01T00:00:00Z, 2_208_988_800 s after the Unix epoch.
        let ntp = (2_208_988_800u64 + 2_208_988_800 - (1 << 32)) << 32;
        assert_eq!(ntp_to_unix_ms(ntp), Some(2_208_988_800_000.0));
    }

    #[test]
    fn capture_time_from_the_sender_clock() {
        let ntp = (1_767_225_600u64 + 2_208_988_800) << 32;
        let clock = SenderClock {
            ntp,
            rtp: 4_294_967_000,
            clock_rate: 90_000,
        };
        // 9000 ticks later (across the 32-bit wrap) is 100 ms later; 4500 before, 50 ms before.
        let later = clock
            .capture_unix_ms(4_294_967_000u32.wrapping_add(9000))
            .unwrap();
        assert!((later - 1_767_225_600_100.0).abs() < 1e-3, "{later}");
        let before = clock.capture_unix_ms(4_294_967_000 - 4500).unwrap();
        assert!((before - 1_767_225_599_950.0).abs() < 1e-3, "{before}");
    }

    #[test]
    fn degraded_when_loss_or_jitter_is_high() {
        let ok = StatsSnapshot::default();
        assert!(!ok.is_degraded());
        let lossy = StatsSnapshot {
            fraction_lost_interval: 0.05,
            ..Default::default()
        };
        assert!(lossy.is_degraded());
        let jittery = StatsSnapshot {
            jitter_ms: 45.0,
            ..Default::default()
        };
        assert!(jittery.is_degraded());
    }

    #[test]
    fn snapshot_serialises_with_the_shared_field_names() {
        let json = serde_json::to_value(StatsSnapshot::default()).unwrap();
        for field in [
            "bitrate_bps",
            "fps",
            "jitter_ms",
            "packets_expected",
            "packets_received",
            "packets_lost",
            "fraction_lost",
            "reordered",
            "latency_ms",
        ] {
            assert!(json.get(field).is_some(), "{field} missing in {json}");
        }
    }
}
