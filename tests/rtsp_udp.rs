//! RTP over UDP against a real GstRtspServer, directly and through a fault-injection relay:
//! reordering is undone, injected loss is what the RTCP receiver reports count, and receiver
//! reports reach the server over UDP and TCP-interleaved alike.

mod common;

use std::time::{Duration, Instant};

use common::relay::{Fault, FaultRelay};
use common::{probe, serial, GstServer, ProbeRun};

const SERVER_ARGS: [&str; 6] = ["--width", "640", "--height", "360", "--fps", "25"];

/// RFC 3550 §6.4.1 allows 5 s between reports; Vedette sends one every 2 to 3 s.
const MAX_REPORT_GAP: Duration = Duration::from_secs(5);

/// One `RTCP RR ...` line of the server.
#[derive(Debug)]
struct ReceiverReport {
    fraction: u32,
    lost: i64,
    highest: u32,
}

impl ReceiverReport {
    fn parse(line: &str) -> Self {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        };
        Self {
            fraction: field("fraction").parse().unwrap(),
            lost: field("lost").parse().unwrap(),
            highest: field("highest").parse().unwrap(),
        }
    }
}

fn receiver_reports(server: &GstServer) -> Vec<ReceiverReport> {
    server
        .lines("RTCP RR ")
        .iter()
        .map(|l| ReceiverReport::parse(l))
        .collect()
}

/// Runs `vedette probe` while noting when each `RTCP RR` line of the server appears; returns the
/// run, the arrival times, and when the probe ended.
fn probe_noting_reports(server: &GstServer, args: &[&str]) -> (ProbeRun, Vec<Instant>, Instant) {
    let mut arrivals = Vec::new();
    let run = std::thread::scope(|scope| {
        let prober = scope.spawn(|| probe(args, &[]));
        while !prober.is_finished() {
            let seen = server.lines("RTCP RR ").len();
            arrivals.resize(seen.max(arrivals.len()), Instant::now());
            std::thread::sleep(Duration::from_millis(50));
        }
        prober.join().expect("probe thread")
    });
    let ended = Instant::now();
    // A report sent just before TEARDOWN may still be on its way to the server's stdout.
    std::thread::sleep(Duration::from_millis(500));
    (run, arrivals, ended)
}

fn assert_probe_ok(run: &ProbeRun) -> serde_json::Value {
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    run.json()
}

#[test]
fn reordered_udp_packets_all_decode() {
    let _serial = serial();
    let server = GstServer::start(&SERVER_ARGS);
    let relay = FaultRelay::start(server.port, Fault::Reorder { every: 7 });
    let url = relay.url("/test");
    let run = probe(
        &[&url, "--transport", "udp", "--frames", "150", "--json"],
        &[],
    );
    let json = assert_probe_ok(&run);
    let stats = relay.stats();
    eprintln!("relay: {stats:?}\nprobe: {json}");
    assert_eq!(json["transport"], "udp", "{json}");
    assert!(json["frames_decoded"].as_u64().unwrap() >= 150, "{json}");
    assert_eq!(json["decode_errors"], 0, "{json}");
    assert_eq!(json["packets_lost"], 0, "{json}");
    assert_eq!(json["frames_held_back"], 0, "{json}");
    assert!(
        stats.reordered > 20,
        "too little reordering to test: {stats:?}"
    );
}

#[test]
fn receiver_reports_count_the_injected_loss() {
    let _serial = serial();
    let server = GstServer::start(&SERVER_ARGS);
    let relay = FaultRelay::start(server.port, Fault::Drop { every: 20 });
    let url = relay.url("/test");
    let (run, arrivals, ended) = probe_noting_reports(
        &server,
        &[&url, "--transport", "udp", "--frames", "250", "--json"],
    );
    let json = assert_probe_ok(&run);
    let stats = relay.stats();
    let reports = receiver_reports(&server);
    let last = reports
        .last()
        .expect("the server received receiver reports");
    let dropped_up_to_last = stats
        .dropped_extended_seqs
        .iter()
        .filter(|&&seq| seq <= last.highest)
        .count();
    eprintln!(
        "relay dropped {} (of {} relayed), {dropped_up_to_last} up to highest={}; last report: \
         {last:?}; {} reports\nprobe: {json}",
        stats.dropped,
        stats.relayed,
        last.highest,
        reports.len()
    );
    assert!(stats.dropped > 0, "{stats:?}");

    // Reports came regularly: no gap longer than RFC 3550 allows, up to the end of the run.
    assert!(arrivals.len() >= 2, "{} reports", arrivals.len());
    for (a, b) in arrivals.iter().zip(arrivals.iter().skip(1)) {
        assert!(b.duration_since(*a) <= MAX_REPORT_GAP, "{arrivals:?}");
    }
    let since_last = ended.duration_since(*arrivals.last().unwrap());
    assert!(
        since_last <= MAX_REPORT_GAP,
        "last report {since_last:?} before the end"
    );

    // Cumulative loss counts exactly the packets the relay dropped.
    assert_eq!(
        last.lost,
        i64::try_from(dropped_up_to_last).unwrap(),
        "dropped: {:?}",
        stats.dropped_extended_seqs
    );
    assert!(reports.iter().any(|r| r.fraction > 0), "{reports:?}");
}

/// Plays `transport` straight from the server and returns the probe's JSON and the server's
/// receiver reports.
fn play_direct(transport: &str) -> (serde_json::Value, Vec<ReceiverReport>) {
    let _serial = serial();
    let server = GstServer::start(&SERVER_ARGS);
    let url = server.url();
    let (run, _, _) = probe_noting_reports(
        &server,
        &[&url, "--transport", transport, "--frames", "150", "--json"],
    );
    let json = assert_probe_ok(&run);
    assert_eq!(json["transport"], transport, "{json}");
    (json, receiver_reports(&server))
}

#[test]
fn receiver_reports_over_tcp_interleaved() {
    let (_, reports) = play_direct("tcp");
    assert!(reports.len() >= 2, "{reports:?}");
    assert!(reports.iter().all(|r| r.lost == 0), "{reports:?}");
}

#[test]
fn udp_plays_without_loss() {
    let (json, reports) = play_direct("udp");
    assert_eq!(json["packets_lost"], 0, "{json}");
    assert!(json["frames_decoded"].as_u64().unwrap() >= 150, "{json}");
    assert!(reports.len() >= 2, "{reports:?}");
    assert!(reports.iter().all(|r| r.lost == 0), "{reports:?}");
}

/// `transport = auto` against a server that offers only `protocols`: returns the probe JSON.
fn auto_against(protocols: &str) -> serde_json::Value {
    let server = GstServer::start(&[&SERVER_ARGS[..], &["--protocols", protocols]].concat());
    let run = probe(
        &[
            &server.url(),
            "--json",
            "--transport",
            "auto",
            "--frames",
            "50",
        ],
        &[],
    );
    assert_probe_ok(&run)
}

#[test]
fn auto_uses_udp_when_offered_and_tcp_when_udp_is_refused() {
    let _serial = serial();
    let json = auto_against("both");
    assert_eq!(json["transport"], "udp", "{json}");
    let json = auto_against("tcp");
    assert_eq!(json["transport"], "tcp", "{json}");
    assert_eq!(
        json["methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| format!("{} {}", m["method"].as_str().unwrap(), m["status"]))
            .collect::<Vec<_>>(),
        [
            "OPTIONS 200",
            "DESCRIBE 200",
            "SETUP 461",
            "SETUP 200",
            "PLAY 200",
            "TEARDOWN 200"
        ]
    );
}

#[test]
fn auto_falls_back_to_tcp_when_no_udp_packet_arrives() {
    let _serial = serial();
    let server = GstServer::start(&SERVER_ARGS);
    // Every UDP packet lost on the way, as behind a firewall that lets RTSP through.
    let relay = FaultRelay::start(server.port, Fault::Drop { every: 1 });
    let started = Instant::now();
    let run = probe(
        &[
            &relay.url("/test"),
            "--json",
            "--transport",
            "auto",
            "--frames",
            "50",
        ],
        &[],
    );
    let json = assert_probe_ok(&run);
    assert_eq!(json["transport"], "tcp", "{json}");
    // The probe polls every 100 ms, so the switch is cut off at its requests more often than
    // not; each goes on where it stopped and awaits the answer it was waiting for: every
    // request is sent once and answered, with no orphan SETUP left on the server.
    assert_eq!(
        run.methods(),
        [
            "OPTIONS 200",
            "DESCRIBE 200",
            "SETUP 200",
            "PLAY 200",
            "TEARDOWN 200",
            "SETUP 200",
            "PLAY 200",
            "TEARDOWN 200"
        ],
        "{json}"
    );
    // 2 s of silence on UDP, then TCP: 50 frames at 25 fps take another 2 s.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(relay.stats().dropped > 0);
}
