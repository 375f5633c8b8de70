//! Vedette's client and `retina`, an independent RTSP client, play the same shared stream from
//! a real GstRtspServer at the same time and must see the same access units for the same RTP
//! timestamps.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use retina::client::{PlayOptions, SessionOptions, SetupOptions};
use retina::codec::{CodecItem, FrameFormat};

type UnitsByTimestamp = BTreeMap<u32, Vec<Vec<u8>>>;

const UNITS: usize = 100;

async fn retina_units(url: &str) -> UnitsByTimestamp {
    let url = url::Url::parse(url).unwrap();
    let mut session = retina::client::Session::describe(url, SessionOptions::default())
        .await
        .unwrap();
    let index = session
        .streams()
        .iter()
        .position(|s| s.media() == "video")
        .unwrap();
    session
        .setup(
            index,
            SetupOptions::default()
                .transport(retina::client::Transport::Tcp(Default::default()))
                .frame_format(FrameFormat::MP4),
        )
        .await
        .unwrap();
    let mut demuxed = session
        .play(PlayOptions::default())
        .await
        .unwrap()
        .demuxed()
        .unwrap();
    let mut out = UnitsByTimestamp::new();
    while out.len() < UNITS {
        match demuxed.next().await {
            Some(Ok(CodecItem::VideoFrame(frame))) => {
                out.insert(
                    frame.timestamp().timestamp() as u32,
                    split_length_prefixed(frame.data()),
                );
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("retina: {e}"),
            None => break,
        }
    }
    out
}

/// MP4 framing: 4-byte big-endian length before each NAL unit.
fn split_length_prefixed(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut nals = Vec::new();
    while data.len() >= 4 {
        let len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        nals.push(data[4..4 + len].to_vec());
        data = &data[4 + len..];
    }
    nals
}

async fn vedette_units(url: &str) -> UnitsByTimestamp {
    common::collect_access_units(url, UNITS)
        .await
        .into_iter()
        .map(|au| {
            let nals = au.nal_units().into_iter().map(<[u8]>::to_vec).collect();
            (au.ts_in_90khz, nals)
        })
        .collect()
}

#[test]
fn vedette_and_retina_see_the_same_access_units() {
    let _serial = common::serial();
    let server = common::GstServer::start(&["--width", "640", "--height", "480", "--shared"]);
    let url = server.url();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ours, theirs) = rt.block_on(async {
        let ours = tokio::spawn({
            let url = url.clone();
            async move { vedette_units(&url).await }
        });
        // GstRtspServer 1.22 can crash when clients connect in the same instant: stagger.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let theirs = tokio::time::timeout(Duration::from_secs(60), retina_units(&url))
            .await
            .expect("retina finished");
        let ours = tokio::time::timeout(Duration::from_secs(60), ours)
            .await
            .expect("vedette finished")
            .unwrap();
        (ours, theirs)
    });
    // Retina does not keep in-band parameter sets in frame data (it moves them to its
    // parameters), and under load it was seen to drop an access unit delimiter at the start
    // of a picture: compare everything else, i.e. the slices and SEI a decoder uses.
    let is_framing = |n: &Vec<u8>| matches!(n.first().map(|b| b & 0x1f), Some(7..=9));
    let strip = |units: &UnitsByTimestamp| -> UnitsByTimestamp {
        units
            .iter()
            .map(|(ts, nals)| {
                (
                    *ts,
                    nals.iter().filter(|n| !is_framing(n)).cloned().collect(),
                )
            })
            .collect()
    };
    let (ours, theirs) = (strip(&ours), strip(&theirs));
    let common_ts: Vec<u32> = ours
        .keys()
        .filter(|ts| theirs.contains_key(ts))
        .copied()
        .collect();
    assert!(
        common_ts.len() >= 50,
        "both clients should overlap on most of the stream: {} common of {} / {}",
        common_ts.len(),
        ours.len(),
        theirs.len()
    );
    for ts in &common_ts {
        assert_eq!(ours[ts], theirs[ts], "access unit at RTP time {ts} differs");
    }
    eprintln!("{} access units compared, all identical", common_ts.len());
}
