//! Acceptance tests of the live statistics (`vedette probe --json`, field `stats`) against a real
//! GstRtspServer over UDP, with loss and delay injected where their true size is known: loss by
//! an nftables rule in a network namespace (counted by the kernel), delay by [`FaultRelay`].

mod common;

use std::process::{Command, Output};

use common::relay::{Fault, FaultRelay};
use common::{probe, GstServer, ProbeRun};
use serde_json::Value;

/// The final `stats` object of a probe run, after checking the probe succeeded.
fn final_stats(run: &ProbeRun) -> Value {
    final_report(run)["stats"].clone()
}

/// The probe's report (its last line, after any `--every` lines), after checking it succeeded.
fn final_report(run: &ProbeRun) -> Value {
    assert_eq!(
        run.code(),
        Some(0),
        "probe failed:\n{}\n{}",
        run.stdout(),
        run.stderr()
    );
    run.json()
}

/// `(elapsed_s, stats)` of each `--every` line.
fn interval_stats(run: &ProbeRun) -> Vec<(f64, Value)> {
    run.stdout()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Some((v["elapsed_s"].as_f64()?, v["stats"].clone())))
        .collect()
}

fn num(stats: &Value, field: &str) -> f64 {
    stats[field]
        .as_f64()
        .unwrap_or_else(|| panic!("stats.{field} is not a number: {stats}"))
}

#[test]
fn no_loss_gives_zero_loss_and_low_jitter() {
    let _serial = common::serial();
    let server = GstServer::start(&["--width", "640", "--height", "360", "--fps", "25"]);
    let run = probe(
        &[
            &server.url(),
            "--transport",
            "udp",
            "--seconds",
            "6",
            "--json",
        ],
        &[],
    );
    let s = final_stats(&run);
    eprintln!("no loss: {s}");

    assert_eq!(s["packets_lost"], 0, "{s}");
    assert_eq!(num(&s, "fraction_lost"), 0.0, "{s}");
    assert!(num(&s, "packets_received") > 0.0, "{s}");
    assert_eq!(s["packets_expected"], s["packets_received"], "{s}");
    // Loopback adds next to nothing; what remains is the sender's own timing (encode time).
    assert!(num(&s, "jitter_ms") < 2.0, "{s}");
    assert!(num(&s, "bitrate_bps") > 0.0, "{s}");
    let fps = num(&s, "fps");
    assert!((20.0..=30.0).contains(&fps), "fps {fps}: {s}");
}

// ---------------------------------------------------------------------------------------------
// Loss: an nftables rule in a network namespace.

/// A network namespace joined to the host by a veth pair; the GstServer runs inside it and an
/// nftables rule on its end of the pair drops RTP going to the host. The kernel has no netem;
/// nftables' `numgen random` gives independent (Bernoulli) loss, and its counters give the
/// true number dropped. `Drop` removes the namespace and the veth even when the test panicked.
struct LossNamespace {
    name: String,
    host_veth: String,
    ns_veth: String,
    host_ip: String,
    ns_ip: String,
}

/// Runs a command, panicking with its stderr when it fails.
fn run_ok(args: &[&str]) -> Output {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e} (scripts/install-deps.sh)"));
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The loss test changes the network configuration: it needs root and `ip` and `nft`. Fails,
/// rather than skips, without them, so a CI that lost root does not pass silently.
fn require_root_with_ip_and_nft() {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert_eq!(
        uid, "0",
        "this test needs root: it creates a network namespace, a veth pair and an nftables \
         rule (CI runs the tests as root; locally: sudo -E cargo test --test stats)"
    );
    for tool in ["ip", "nft"] {
        assert!(
            Command::new(tool).arg("-V").output().is_ok(),
            "this test needs `{tool}` (packages iproute2 and nftables; scripts/install-deps.sh)"
        );
    }
}

impl LossNamespace {
    fn create() -> Self {
        require_root_with_ip_and_nft();
        let pid = std::process::id();
        // A /24 no interface of the host uses yet (tests of other checkouts may run beside).
        let addresses =
            String::from_utf8_lossy(&run_ok(&["ip", "-4", "-o", "addr"]).stdout).into_owned();
        let subnet = (0..250)
            .map(|i| 1 + (pid + i) % 250)
            .find(|x| !addresses.contains(&format!("10.200.{x}.")))
            .expect("a free 10.200.x.0/24");
        // Interface names are at most 15 bytes: "vdl" + pid (at most 7 digits) + "h"/"n".
        let ns = Self {
            name: format!("vedette-loss-{pid}"),
            host_veth: format!("vdl{pid}h"),
            ns_veth: format!("vdl{pid}n"),
            host_ip: format!("10.200.{subnet}.1"),
            ns_ip: format!("10.200.{subnet}.2"),
        };
        // From here on `ns` is dropped on panic, which removes whatever was created.
        run_ok(&["ip", "netns", "add", &ns.name]);
        run_ok(&[
            "ip",
            "link",
            "add",
            &ns.host_veth,
            "type",
            "veth",
            "peer",
            "name",
            &ns.ns_veth,
        ]);
        run_ok(&["ip", "link", "set", &ns.ns_veth, "netns", &ns.name]);
        run_ok(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", ns.host_ip),
            "dev",
            &ns.host_veth,
        ]);
        run_ok(&["ip", "link", "set", &ns.host_veth, "up"]);
        ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", ns.ns_ip),
            "dev",
            &ns.ns_veth,
        ]);
        ns.exec(&["ip", "link", "set", &ns.ns_veth, "up"]);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    fn exec(&self, args: &[&str]) -> Output {
        run_ok(&[&["ip", "netns", "exec", &self.name], args].concat())
    }

    /// Drops `percent` % of the RTP packets leaving the namespace for the host, at random.
    ///
    /// The rule sits on the `egress` hook of the namespace's veth (netdev family), not on
    /// `output`: a drop in `output` fails the sender's `sendmsg` with EPERM, which GStreamer
    /// reports, while a drop at egress is as silent as a lost packet on a wire. RTP is told from
    /// RTCP by its payload type (96, the 7 low bits of the second byte after the UDP header),
    /// so the server's sender reports pass and the counters count RTP only.
    fn drop_rtp_at_random(&self, percent: u32) {
        let script = format!(
            r#"table netdev vedette_loss {{
                counter dropped {{}}
                counter passed {{}}
                chain egress {{
                    type filter hook egress device "{dev}" priority 0; policy accept;
                    ip daddr {host} meta l4proto udp @th,73,7 96 numgen random mod 100 < {percent} counter name "dropped" drop
                    ip daddr {host} meta l4proto udp @th,73,7 96 counter name "passed"
                }}
            }}"#,
            dev = self.ns_veth,
            host = self.host_ip,
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run nft");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .expect("nft stdin")
            .write_all(script.as_bytes())
            .expect("write the nft script");
        let output = child.wait_with_output().expect("wait for nft");
        assert!(
            output.status.success(),
            "nft refused the loss rule (the kernel needs nf_tables with the netdev egress \
             hook): {}\n{script}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A GstRtspServer in the namespace sending 640x360 snow at 25 fps and 6 Mbit/s (some 550
    /// RTP packets a second; each keyframe well over a hundred), and its URL.
    fn snow_server(&self) -> (GstServer, String) {
        let server = GstServer::start_with_prefix(
            &["ip", "netns", "exec", &self.name],
            &[
                "--port",
                "0",
                "--address",
                &self.ns_ip,
                "--width",
                "640",
                "--height",
                "360",
                "--fps",
                "25",
                "--pattern",
                "snow",
                "--bitrate",
                "6000",
            ],
        );
        let url = format!("rtsp://{}:{}/test", self.ns_ip, server.port);
        (server, url)
    }

    /// Packets counted by a named counter of the loss table.
    fn counter(&self, name: &str) -> u64 {
        let output = self.exec(&["nft", "list", "counter", "netdev", "vedette_loss", name]);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.split_whitespace()
            .skip_while(|w| *w != "packets")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no packet count in {text}"))
    }
}

impl Drop for LossNamespace {
    fn drop(&mut self) {
        // Deleting the namespace destroys its veth end and with it the pair, but only once the
        // kernel gets round to it: delete the host end too. Errors mean "already gone".
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_veth])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn injected_random_loss_is_reported_within_one_point() {
    let _serial = common::serial();
    let ns = LossNamespace::create();
    ns.drop_rtp_at_random(5);
    // Snow does not compress: x264 spends the whole 6 Mbit/s, some 550 RTP packets a second,
    // so 16 s give some 9000 packets and the observed loss of a 5 % Bernoulli process has a
    // standard deviation of sqrt(0.05 * 0.95 / 9000) = 0.23 points: one point is 4 sigma.
    let (server, url) = ns.snow_server();
    let run = probe(
        &[&url, "--transport", "udp", "--seconds", "16", "--json"],
        &[],
    );
    let s = final_stats(&run);
    drop(server);
    let (dropped, passed) = (ns.counter("dropped"), ns.counter("passed"));
    let injected = dropped as f64 / (dropped + passed) as f64;
    let fraction_lost = num(&s, "fraction_lost");
    eprintln!(
        "loss: nft dropped {dropped} passed {passed} ({:.4}); stats {s}",
        injected
    );

    assert!(
        num(&s, "packets_expected") >= 3000.0,
        "too few packets: {s}"
    );
    assert!(
        (fraction_lost - 0.05).abs() <= 0.01,
        "fraction_lost {fraction_lost} is not 5 % ± 1 point (nft dropped {dropped} of {})",
        dropped + passed
    );
    assert!(
        (fraction_lost - injected).abs() <= 0.01,
        "fraction_lost {fraction_lost} vs nft's {injected} ({dropped} of {})",
        dropped + passed
    );
    // Every packet the rule let through arrived, and none was counted twice.
    let received = num(&s, "packets_received");
    assert!(
        received <= passed as f64,
        "received {received} > passed {passed}"
    );
    assert_eq!(s["duplicates"], 0, "{s}");
    // The tile keeps showing pictures (concealed) under steady loss: each keyframe here spans
    // well over a hundred packets, so hardly any arrives whole. 16 s at 25 fps are 400.
    assert!(
        num(&s, "frames_decoded") >= 200.0 && num(&s, "frames_concealed") > 0.0,
        "too few pictures shown under 5 % loss: {s}"
    );
}

#[test]
fn auto_moves_to_tcp_when_udp_keeps_losing_packets() {
    let _serial = common::serial();
    let ns = LossNamespace::create();
    ns.drop_rtp_at_random(5);
    // The stream of the loss test above: at 5 % hardly a keyframe arrives whole over UDP.
    let (server, url) = ns.snow_server();
    let run = probe(
        &[
            &url,
            "--transport",
            "auto",
            "--seconds",
            "16",
            "--every",
            "1",
            "--json",
        ],
        &[("VEDETTE_LOG", "info")],
    );
    let report = final_report(&run);
    let s = report["stats"].clone();
    drop(server);
    let dropped = ns.counter("dropped");
    let methods = run.methods();
    eprintln!("nft dropped {dropped}; methods {methods:?}; final stats {s}");
    // Started on UDP, lost packets there, and moved the same session to TCP: the UDP session
    // torn down, the streams set up again, played again.
    assert!(
        dropped > 20,
        "no loss was injected over UDP: {dropped} dropped"
    );
    assert_eq!(report["transport"], "tcp", "{report}");
    assert_eq!(
        methods.get(..7),
        Some(
            &[
                "OPTIONS 200",
                "DESCRIBE 200",
                "SETUP 200",
                "PLAY 200",
                "TEARDOWN 200",
                "SETUP 200",
                "PLAY 200"
            ]
            .map(String::from)[..]
        ),
        "{methods:?}"
    );
    assert!(
        run.stderr().contains("switching to TCP") && run.stderr().contains("UDP lost"),
        "the switch is not logged with its reason:\n{}",
        run.stderr()
    );
    // Over TCP nothing is lost: the last five seconds show pictures and no concealment.
    assert_eq!(num(&s, "packets_lost"), 0.0, "{s}");
    let intervals = interval_stats(&run);
    let last = intervals.last().expect("interval stats").1.clone();
    let earlier = intervals
        .iter()
        .rev()
        .find(|(t, _)| *t <= intervals.last().map_or(0.0, |l| l.0) - 5.0)
        .expect("stats from five seconds before the end")
        .1
        .clone();
    assert_eq!(
        num(&last, "frames_concealed"),
        num(&earlier, "frames_concealed"),
        "pictures were still concealed after the switch: {earlier} then {last}"
    );
    assert!(
        num(&last, "frames_decoded") - num(&earlier, "frames_decoded") >= 100.0,
        "too few pictures in the last five seconds: {earlier} then {last}"
    );
}

// ---------------------------------------------------------------------------------------------
// Delay: FaultRelay's `Fault::Delay`.

/// splitmix64: a small deterministic generator, so the prediction is the same on every run.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// What RFC 3550 A.8 reads, sampled at a random moment, for the test server's stream behind
/// `Fault::Delay { max_ms }`.
struct JitterPrediction {
    mean_ms: f64,
    /// Of one sample; samples a second apart are nearly independent (the estimator forgets
    /// with (15/16)^n, and some 50 packets arrive in a second).
    sd_ms: f64,
    /// Packets that arrive behind a higher sequence number (A.1's reordered), per packet.
    reordered_per_packet: f64,
}

/// Runs the A.8 estimator over a model of the stream and the relay.
///
/// Why a model and not just E|D|: for i.i.d. delays d uniform on 0..=M, two *consecutive
/// packets* see D = d_j - d_i (the sender's own spacing cancels against the timestamps), a
/// triangular variable with E|D| = M/3 (6.7 ms for M = 20; 7.0 ms for the relay's whole
/// milliseconds, M(M+2)/(3(M+1))). But A.8 takes packets in *arrival* order, and the stream is
/// not one packet per timestamp: x264enc + rtph264pay send each picture as an access unit
/// delimiter and a slice with the same timestamp, back to back (a keyframe as AUD, SPS, PPS
/// and a fragmented IDR). Arrival order sorts the delays within a picture, so the pair inside
/// a picture gives |d_a - d_b| (mean M/3) and the pair across pictures min(next) - max(this)
/// (mean 0.4 M for two packets each): the expectation moves, and the relay's reordering (the
/// slice overtaking its AUD about half the time) is part of the answer. The mean of J is the
/// mean of |D| over the packets after which the probe reads it: it writes a line after
/// handling the first packet past each second, that is, mostly after the first packet of a
/// picture. So J is sampled after the first arrival following each simulated millisecond.
fn predict_jitter(max_delay_ms: u64, fps: u32, keyframe_packets: u32) -> JitterPrediction {
    let period_ms = 1000.0 / f64::from(fps);
    let mut rng = SplitMix64(0x5EED_CAFE);
    // (arrival ms, sequence number, timestamp in ms)
    let mut packets = Vec::new();
    for picture in 0..20_000u32 {
        let sent = f64::from(picture) * period_ms;
        // key-int-max = fps in tests/support/gst_rtsp_server.py.
        let count = if picture % fps == 0 {
            keyframe_packets
        } else {
            2
        };
        for _ in 0..count {
            // As the relay draws it: whole milliseconds, 0..=max_ms.
            let delay = rng.next() % (max_delay_ms + 1);
            let seq = packets.len();
            packets.push((sent + delay as f64, seq, sent));
        }
    }
    // Equal due times leave the relay in the order they came.
    packets.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));

    let (mut jitter, mut previous, mut highest_seq, mut reordered) = (0.0, None, None, 0u64);
    let mut samples = Vec::new();
    let mut next_sample_ms = 2000.5; // after the estimator's warm-up
    for &(arrival, seq, timestamp) in &packets {
        if let Some((previous_arrival, previous_timestamp)) = previous {
            let d: f64 = (arrival - previous_arrival) - (timestamp - previous_timestamp);
            jitter += (d.abs() - jitter) / 16.0;
        }
        previous = Some((arrival, timestamp));
        // The probe writes a line after handling the first packet past each second: J right
        // after the first arrival following a random moment (the grid is offset by half a
        // millisecond, as arrivals here fall on whole ones).
        while next_sample_ms < arrival {
            samples.push(jitter);
            next_sample_ms += 1.0;
        }
        if highest_seq.is_some_and(|h| seq < h) {
            reordered += 1;
        } else {
            highest_seq = Some(seq);
        }
    }
    let n = samples.len() as f64;
    let mean_ms = samples.iter().sum::<f64>() / n;
    let variance = samples.iter().map(|j| (j - mean_ms).powi(2)).sum::<f64>() / n;
    JitterPrediction {
        mean_ms,
        sd_ms: variance.sqrt(),
        reordered_per_packet: reordered as f64 / packets.len() as f64,
    }
}

/// Jitter of the `--every 1` lines from 2 s on (the estimator starts at 0 and needs some 50
/// packets to settle) and of the final object.
fn settled_jitter_samples(run: &ProbeRun) -> Vec<f64> {
    let mut samples: Vec<f64> = interval_stats(run)
        .iter()
        .filter(|(elapsed, _)| *elapsed >= 2.0)
        .map(|(_, s)| num(s, "jitter_ms"))
        .collect();
    samples.push(num(&final_stats(run), "jitter_ms"));
    samples
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

#[test]
fn injected_random_delay_raises_jitter_into_the_predicted_range() {
    let _serial = common::serial();
    const FPS: u32 = 25;
    const MAX_DELAY_MS: u64 = 20;
    // Small pictures, so every slice fits one RTP packet (the layout the model assumes).
    let server = GstServer::start(&["--width", "320", "--height", "180", "--fps", "25"]);
    let play = |relay: &FaultRelay, seconds: &str| {
        probe(
            &[
                &relay.url("/test"),
                "--transport",
                "udp",
                "--seconds",
                seconds,
                "--every",
                "1",
                "--json",
            ],
            &[],
        )
    };

    // Baseline through the same relay path with zero delay: the sender's own timing (encode
    // time varies) and the relay's scheduling, which add to D in the delayed run too.
    let relay = FaultRelay::start(server.port, Fault::Delay { max_ms: 0 });
    let baseline_run = play(&relay, "5");
    drop(relay);
    let baseline = final_stats(&baseline_run);
    let baseline_samples = settled_jitter_samples(&baseline_run);
    let baseline_ms = mean(&baseline_samples);
    eprintln!("baseline samples {baseline_samples:.2?}");

    // The picture layout the model needs, from the baseline: P pictures of 2 packets and one
    // keyframe of K packets a second.
    let packets = num(&baseline, "packets_received");
    let pictures = num(&baseline, "frames_decoded");
    let per_picture = packets / pictures;
    assert!(
        (2.0..2.6).contains(&per_picture),
        "the model assumes AUD + one slice per picture; got {per_picture:.2} packets per \
         picture: {baseline}"
    );
    let keyframe_packets = (2.0 + (packets - 2.0 * pictures) * f64::from(FPS) / pictures)
        .round()
        .max(2.0) as u32;
    let predicted = predict_jitter(MAX_DELAY_MS, FPS, keyframe_packets);

    let relay = FaultRelay::start(
        server.port,
        Fault::Delay {
            max_ms: MAX_DELAY_MS,
        },
    );
    let delayed_run = play(&relay, "8");
    let relayed = relay.stats().relayed;
    drop(relay);
    let delayed = final_stats(&delayed_run);
    let samples = settled_jitter_samples(&delayed_run);
    let delayed_ms = mean(&samples);
    eprintln!(
        "delay: baseline {baseline_ms:.3} ms; with 0..={MAX_DELAY_MS} ms: samples {samples:.2?}, \
         mean {delayed_ms:.3} ms; predicted {:.3} ± {:.3} ms (keyframe of {keyframe_packets} \
         packets), reordered/packet {:.3} predicted {:.3}; lost/late per line {:?}\n{delayed}",
        predicted.mean_ms,
        predicted.sd_ms,
        num(&delayed, "reordered") / num(&delayed, "packets_received"),
        predicted.reordered_per_packet,
        interval_stats(&delayed_run)
            .iter()
            .map(|(_, s)| (num(s, "packets_lost"), num(s, "late")))
            .collect::<Vec<_>>(),
    );

    // First, that the relay behaves as the model says: everything relayed, nothing twice, and
    // reordering as predicted (the slice overtakes its AUD about half the time), which holds
    // only if each packet is delayed independently. About 400 packets: 4 sigma is some 0.08.
    assert_eq!(delayed["duplicates"], 0, "{delayed}");
    assert!(relayed as f64 >= num(&delayed, "packets_received"));
    assert_eq!(delayed["frames_dropped_decoder_error"], 0, "{delayed}");
    let reordered = num(&delayed, "reordered") / num(&delayed, "packets_received");
    assert!(
        (reordered - predicted.reordered_per_packet).abs() < 0.08,
        "reordered {reordered:.3} per packet, predicted {:.3}: {delayed}",
        predicted.reordered_per_packet
    );

    // The mean of n nearly independent samples: within 4 standard errors of the model, which
    // the baseline's own D may raise by at most its mean |D| (triangle inequality).
    let margin = 4.0 * predicted.sd_ms / (samples.len() as f64).sqrt();
    let range = predicted.mean_ms - margin..=predicted.mean_ms + baseline_ms + margin;
    assert!(
        range.contains(&delayed_ms),
        "mean jitter {delayed_ms:.3} ms outside the predicted {range:.3?} (samples \
         {samples:.2?}, baseline {baseline_ms:.3} ms)"
    );
    // Any single reading: within 4 standard deviations.
    let final_ms = num(&delayed, "jitter_ms");
    let wide = predicted.mean_ms - 4.0 * predicted.sd_ms
        ..=predicted.mean_ms + baseline_ms + 4.0 * predicted.sd_ms;
    assert!(
        wide.contains(&final_ms),
        "final jitter {final_ms:.3} ms outside {wide:.3?}"
    );
    assert!(
        delayed_ms > baseline_ms + 3.0,
        "jitter {delayed_ms:.3} ms is not well above the baseline {baseline_ms:.3} ms"
    );

    // The relay delays without losing: overtaking packets are put back in order by the
    // client's 50 ms reorder window, and none can be later than 20 ms, so none is dropped late.
    assert_eq!(
        delayed["late"], 0,
        "packets dropped as late behind a 20 ms delay (see the lines: from the first second on, \
         the stream began reordered): {delayed}"
    );
    // A.3's loss may still be off by a few packets of one picture, as RFC 3550 A.1 counts:
    // packets of the first keyframe that arrive during A.1's probation are never counted (+1
    // each when above the base sequence number probation ends on), those below it that come
    // later count as received but not expected (-1 each), and at the instant of the snapshot
    // packets behind the highest one may still be in the relay (sent less than 20 ms before:
    // one picture at most).
    let lost = num(&delayed, "packets_lost");
    assert!(
        lost.abs() < f64::from(keyframe_packets),
        "{lost} lost: {delayed}"
    );
}
