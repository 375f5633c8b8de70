//! One demo camera: draws the test pattern at a steady frame rate on its own thread and
//! encodes it to H.264 with FFmpeg (libx264), publishing each access unit to every viewer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ffmpeg_next as ffmpeg;
use tokio::sync::{broadcast, watch};

use super::pattern::{I420Picture, TestPattern};
use crate::decode::{init_ffmpeg, unix_millis};
use crate::rtp::h264::{nal_type, nal_unit_type, split_annex_b};

/// One encoded picture, shared by all sessions of a camera.
#[derive(Debug)]
pub struct EncodedFrame {
    pub ts_in_90khz: u32,
    pub nal_units: Vec<Vec<u8>>,
    pub is_idr: bool,
}

/// SPS and PPS, for the SDP's `sprop-parameter-sets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterSets {
    pub sps: Vec<u8>,
    pub pps: Vec<u8>,
}

/// What viewers of one camera share.
#[derive(Debug)]
pub struct CameraFeed {
    pub frames: broadcast::Sender<Arc<EncodedFrame>>,
    /// The pictures since the newest IDR, so a new viewer starts at once.
    pub gop: Mutex<Vec<Arc<EncodedFrame>>>,
    pub parameter_sets: watch::Receiver<Option<ParameterSets>>,
}

#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("FFmpeg has no H.264 encoder (libx264); install FFmpeg with libx264")]
    NoEncoder,
    #[error("FFmpeg: {0}")]
    Ffmpeg(#[from] ffmpeg::Error),
    #[error("cannot start the camera thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// A running demo camera; dropping it stops its thread.
pub struct DemoCamera {
    pub feed: Arc<CameraFeed>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DemoCamera {
    pub fn start(index: usize, width: u32, height: u32, fps: u32) -> Result<Self, EncoderError> {
        init_ffmpeg();
        let encoder = open_encoder(width, height, fps)?;
        let (frames, _) = broadcast::channel(128);
        let (params_tx, parameter_sets) = watch::channel(None);
        let feed = Arc::new(CameraFeed {
            frames,
            gop: Mutex::new(Vec::new()),
            parameter_sets,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let worker = CameraWorker {
            pattern: TestPattern::new(&format!("DEMO CAMERA {}", index + 1), index),
            picture: I420Picture::new(width as usize, height as usize),
            encoder,
            fps,
            feed: feed.clone(),
            params_tx,
            stop: stop.clone(),
            ts_offset: rand::random::<u32>(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("demo-cam{}", index + 1))
            .spawn(move || worker.run())?;
        Ok(Self {
            feed,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for DemoCamera {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn open_encoder(
    width: u32,
    height: u32,
    fps: u32,
) -> Result<ffmpeg::encoder::video::Encoder, EncoderError> {
    let codec = ffmpeg::encoder::find_by_name("libx264")
        .or_else(|| ffmpeg::encoder::find(ffmpeg::codec::Id::H264))
        .ok_or(EncoderError::NoEncoder)?;
    let mut video = ffmpeg::codec::Context::new_with_codec(codec)
        .encoder()
        .video()?;
    video.set_width(width);
    video.set_height(height);
    video.set_format(ffmpeg::format::Pixel::YUV420P);
    video.set_time_base((1, fps as i32));
    video.set_frame_rate(Some((fps as i32, 1)));
    // One IDR a second: a new viewer waits at most that long, and loss heals as fast.
    video.set_gop(fps);
    video.set_max_b_frames(0);
    video.set_bit_rate((width as usize * height as usize * fps as usize) / 8);
    video.set_colorspace(ffmpeg::color::Space::BT470BG);
    video.set_color_range(ffmpeg::color::Range::MPEG);
    let mut options = ffmpeg::Dictionary::new();
    options.set("preset", "ultrafast");
    options.set("tune", "zerolatency");
    options.set("threads", "1");
    // SPS/PPS are repeated in band before every IDR (libx264's default without global headers).
    Ok(video.open_with(options)?)
}

struct CameraWorker {
    pattern: TestPattern,
    picture: I420Picture,
    encoder: ffmpeg::encoder::video::Encoder,
    fps: u32,
    feed: Arc<CameraFeed>,
    params_tx: watch::Sender<Option<ParameterSets>>,
    stop: Arc<AtomicBool>,
    ts_offset: u32,
}

impl CameraWorker {
    fn run(mut self) {
        let interval = Duration::from_secs_f64(1.0 / f64::from(self.fps.max(1)));
        let start = Instant::now();
        let mut frame = ffmpeg::frame::Video::new(
            ffmpeg::format::Pixel::YUV420P,
            self.picture.width as u32,
            self.picture.height as u32,
        );
        let mut packet = ffmpeg::Packet::empty();
        let mut index: u64 = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let due = start + interval.mul_f64(index as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            } else if now - due > interval * 10 {
                // Far behind (machine was busy): skip ahead rather than burst.
                index = ((now - start).as_secs_f64() / interval.as_secs_f64()) as u64;
            }
            let capture_ms = unix_millis();
            self.pattern.draw(index, capture_ms, &mut self.picture);
            copy_into_frame(&self.picture, &mut frame);
            frame.set_pts(Some(index as i64));
            let ts_in_90khz = self
                .ts_offset
                .wrapping_add((index * 90_000 / u64::from(self.fps.max(1))) as u32);
            if let Err(e) = self.encoder.send_frame(&frame) {
                tracing::warn!("demo encoder: {e}");
                return;
            }
            while self.encoder.receive_packet(&mut packet).is_ok() {
                if let Some(data) = packet.data() {
                    self.publish(ts_in_90khz, data);
                }
            }
            index += 1;
        }
    }

    fn publish(&mut self, ts_in_90khz: u32, annex_b: &[u8]) {
        let nal_units: Vec<Vec<u8>> = split_annex_b(annex_b)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        let is_idr = nal_units
            .iter()
            .any(|n| nal_unit_type(n) == Some(nal_type::IDR));
        if is_idr && self.params_tx.borrow().is_none() {
            let find = |t| {
                nal_units
                    .iter()
                    .find(|n| nal_unit_type(n) == Some(t))
                    .cloned()
            };
            if let (Some(sps), Some(pps)) = (find(nal_type::SPS), find(nal_type::PPS)) {
                let _ = self.params_tx.send(Some(ParameterSets { sps, pps }));
            }
        }
        let frame = Arc::new(EncodedFrame {
            ts_in_90khz,
            nal_units,
            is_idr,
        });
        if let Ok(mut gop) = self.feed.gop.lock() {
            if is_idr {
                gop.clear();
            }
            gop.push(frame.clone());
        }
        // No receivers is fine: nobody is watching this camera right now.
        let _ = self.feed.frames.send(frame);
    }
}

fn copy_into_frame(picture: &I420Picture, frame: &mut ffmpeg::frame::Video) {
    let planes: [(&[u8], usize); 3] = [
        (&picture.y, picture.width),
        (&picture.u, picture.width / 2),
        (&picture.v, picture.width / 2),
    ];
    for (i, (src, width)) in planes.into_iter().enumerate() {
        let stride = frame.stride(i);
        let dst = frame.data_mut(i);
        for (src_row, dst_row) in src.chunks_exact(width).zip(dst.chunks_mut(stride)) {
            if let Some(d) = dst_row.get_mut(..width) {
                d.copy_from_slice(src_row);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{FrameSlot, VideoCodec, VideoDecoder};
    use crate::rtp::h264::{AccessUnit, H264Depacketizer, H264Packetizer, START_CODE};
    use crate::rtp::parse_rtp;

    const WIDTH: usize = 320;
    const HEIGHT: usize = 240;

    /// The test pattern's first picture, encoded by libx264 as an IDR: its NAL units.
    fn encoded_keyframe() -> (I420Picture, Vec<Vec<u8>>) {
        init_ffmpeg();
        let mut encoder = open_encoder(WIDTH as u32, HEIGHT as u32, 25).expect("libx264");
        let mut picture = I420Picture::new(WIDTH, HEIGHT);
        TestPattern::new("LOSS TEST", 0).draw(0, 0, &mut picture);
        let mut frame =
            ffmpeg::frame::Video::new(ffmpeg::format::Pixel::YUV420P, WIDTH as u32, HEIGHT as u32);
        copy_into_frame(&picture, &mut frame);
        frame.set_pts(Some(0));
        encoder.send_frame(&frame).unwrap();
        encoder.send_eof().unwrap();
        let mut packet = ffmpeg::Packet::empty();
        encoder.receive_packet(&mut packet).unwrap();
        let nal_units = split_annex_b(packet.data().unwrap())
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        (picture, nal_units)
    }

    /// Mean absolute difference of the luma rows `rows` between the source and a decoded frame.
    fn luma_difference(
        source: &I420Picture,
        decoded: &crate::decode::VideoFrame,
        rows: std::ops::Range<usize>,
    ) -> f64 {
        let y = &decoded.planes[0];
        let mut total = 0u64;
        for row in rows.clone() {
            let src = &source.y[row * WIDTH..(row + 1) * WIDTH];
            let dec = &y.data[row * y.stride..row * y.stride + WIDTH];
            total += src
                .iter()
                .zip(dec)
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum::<u64>();
        }
        total as f64 / (rows.len() * WIDTH) as f64
    }

    /// The whole path a lossy network takes: a real keyframe loses one RTP packet in the middle
    /// of its slice, and the tile still gets a picture (concealed), whose top, which arrived,
    /// matches the camera's picture. Before, the damaged keyframe was dropped and a camera whose
    /// keyframes span more packets than a few percent of loss lets through stayed black.
    #[test]
    fn a_keyframe_that_lost_a_packet_is_decoded_and_concealed() {
        let (source, nal_units) = encoded_keyframe();
        let units: Vec<&[u8]> = nal_units.iter().map(Vec::as_slice).collect();
        let mut packetizer = H264Packetizer::new(96, 1, 0, 200);
        let mut packets = packetizer.packetize(0, &units);
        assert!(packets.len() > 10, "only {} packets", packets.len());
        let lost = packets.len() * 2 / 3;
        packets.remove(lost);

        let mut depacketizer = H264Depacketizer::new();
        let mut access_units = Vec::new();
        for p in &packets {
            let (info, payload) = parse_rtp(p).unwrap();
            depacketizer.push(&info, payload).unwrap();
            access_units.extend(std::iter::from_fn(|| depacketizer.pull()));
        }
        assert_eq!(access_units.len(), 1);
        let au = access_units.remove(0);
        assert!(au.is_idr && au.loss);

        let slot = Arc::new(FrameSlot::default());
        let mut decoder =
            VideoDecoder::spawn("loss-test", VideoCodec::H264, Vec::new(), slot.clone()).unwrap();
        assert!(decoder.push(au));
        let (frame, _) = slot
            .wait_newer(0, Duration::from_secs(10))
            .expect("the damaged keyframe gave no picture");
        assert_eq!((frame.width, frame.height), (WIDTH as u32, HEIGHT as u32));
        assert_eq!(decoder.stats().concealed.load(Ordering::Relaxed), 1);
        let top = luma_difference(&source, &frame, 0..16);
        assert!(
            top < 4.0,
            "the rows that arrived differ by {top:.1} on average"
        );
        decoder.stop_and_join();
    }

    /// A camera that sends SPS and PPS in an access unit of their own (with a timestamp of
    /// their own, or a marker bit on the PPS) and no sprop-parameter-sets: the decoder keeps
    /// them from that unit, which it does not decode, and feeds them in front of the keyframe.
    /// Before, the unit was dropped whole and the camera never showed a picture.
    #[test]
    fn parameter_sets_in_an_access_unit_of_their_own_reach_the_keyframe() {
        let (_, nal_units) = encoded_keyframe();
        let (sets, picture): (Vec<&Vec<u8>>, Vec<&Vec<u8>>) = nal_units
            .iter()
            .partition(|n| matches!(nal_unit_type(n), Some(nal_type::SPS) | Some(nal_type::PPS)));
        assert_eq!(sets.len(), 2, "x264 sends one SPS and one PPS");
        let access_unit = |nals: &[&Vec<u8>], ts_in_90khz, is_idr| AccessUnit {
            ts_in_90khz,
            data: nals
                .iter()
                .flat_map(|n| START_CODE.iter().chain(n.iter()).copied())
                .collect(),
            is_idr,
            loss: false,
            packets: 1,
        };
        let slot = Arc::new(FrameSlot::default());
        let mut decoder =
            VideoDecoder::spawn("sets-test", VideoCodec::H264, Vec::new(), slot.clone()).unwrap();
        assert!(decoder.push(access_unit(&sets, 0, false)));
        assert!(decoder.push(access_unit(&picture, 3000, true)));
        let (frame, _) = slot
            .wait_newer(0, Duration::from_secs(10))
            .expect("the keyframe whose parameter sets came apart gave no picture");
        assert_eq!((frame.width, frame.height), (WIDTH as u32, HEIGHT as u32));
        assert_eq!(decoder.stats().decode_errors.load(Ordering::Relaxed), 0);
        decoder.stop_and_join();
    }

    /// Stopping a decoder whose queue is full (a camera whose decoding fell behind, when the
    /// user stops it or switches stream) ends its thread after the picture in hand. Before,
    /// `Command::Stop` found no room, the thread went through the queue and then waited for
    /// more forever, and the camera's task hung in `join`.
    #[test]
    fn stopping_a_decoder_with_a_full_queue_returns() {
        let (_, nal_units) = encoded_keyframe();
        let units: Vec<&[u8]> = nal_units.iter().map(Vec::as_slice).collect();
        let mut depacketizer = H264Depacketizer::new();
        for p in &H264Packetizer::new(96, 1, 0, 1200).packetize(0, &units) {
            let (info, payload) = parse_rtp(p).unwrap();
            depacketizer.push(&info, payload).unwrap();
        }
        let keyframe = depacketizer.pull().expect("one access unit");
        assert!(keyframe.is_idr && !keyframe.loss);

        // The thread publishes its first picture and then waits in the slot's waker (as a
        // slow reader could hold it) while the queue behind it fills up.
        let gate = Arc::new(std::sync::Mutex::new(()));
        let closed = gate.lock().unwrap();
        let slot = Arc::new(FrameSlot::default());
        let waiting = gate.clone();
        slot.set_waker(move || drop(waiting.lock()));
        let mut decoder =
            VideoDecoder::spawn("stop-test", VideoCodec::H264, Vec::new(), slot.clone()).unwrap();
        assert!(decoder.push(keyframe.clone()));
        let stats = decoder.stats().clone();
        let deadline = Instant::now() + Duration::from_secs(10);
        while stats.frames() == 0 {
            assert!(Instant::now() < deadline, "the keyframe gave no picture");
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut queued = 0;
        while decoder.push(keyframe.clone()) {
            queued += 1;
            assert!(queued < 1000, "the queue never filled");
        }

        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            decoder.stop_and_join();
            let _ = done_tx.send(());
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(closed);
        assert!(
            done.recv_timeout(Duration::from_secs(10)).is_ok(),
            "stop_and_join still waits, 10 s after the stop ({queued} units were queued)"
        );
        // It stopped after the picture in hand, not after the queue.
        assert!(
            stats.frames() < 1 + queued as u64,
            "{} pictures",
            stats.frames()
        );
    }
}
