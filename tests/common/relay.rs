//! `FaultRelay`: a fault-injection relay between Vedette and a real RTSP server, for tests only.
//!
//! Nothing in the real world behaves like this on purpose; it exists so tests can reorder, drop
//! or delay RTP over UDP on loopback, where packets otherwise arrive perfectly.
//!
//! - RTSP control: a TCP proxy on a free loopback port. It forwards bytes both ways unchanged
//!   except the `Transport` header of SETUP: in requests `client_port=A-B` becomes the relay's
//!   own UDP pair `R-R+1` (a fresh pair per SETUP); in responses `client_port=R-R+1` goes back to
//!   `A-B` and `server_port=S-T` becomes `R-R+1` too, so the client sends its hole-punch packets
//!   and RTCP receiver reports through the relay and the server sees them come from the address
//!   it was told (as behind a NAT). Interleaved `$` frames and bodies pass untouched; messages
//!   split across reads are reassembled before the header is rewritten.
//! - UDP: what the server sends to `R` goes to the client's `A`, to `R+1` to `B`; what the
//!   client sends from `A`/`B` goes to the server's `S`/`T` (from `server_port=`, or else the
//!   port the server's first datagram came from). Faults apply to server→client RTP only.
//!
//! Threads, not tokio: each one polls a stop flag at least every 100 ms, and `Drop` joins them
//! all.

use std::collections::{BinaryHeap, HashMap};
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the relay does to RTP packets going from the server to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Relay everything as it comes.
    None,
    /// Every `every`-th packet is held back and sent after the next 1 to 3 packets (random).
    /// A held packet that nothing overtakes within 500 ms (the stream stopped) is sent as it is;
    /// once one packet overtook it, it is sent at most 10 ms later, well inside the client's
    /// 50 ms reorder hold, so reordering never turns into loss.
    Reorder { every: u64 },
    /// Every `every`-th packet is dropped; its sequence number is recorded.
    Drop { every: u64 },
    /// Each packet is held a uniform random 0..=max_ms ms. Delays are independent, so packets
    /// may overtake each other as on a real network (order is not preserved).
    Delay { max_ms: u64 },
}

/// Counters of server→client RTP (all streams together; the tests use one video stream).
#[derive(Debug, Clone, Default)]
pub struct RelayStats {
    /// RTP packets sent on to the client (reordered and delayed ones included).
    pub relayed: u64,
    /// Held packets that at least one later packet overtook.
    pub reordered: u64,
    /// Packets dropped by [`Fault::Drop`].
    pub dropped: u64,
    /// Sequence numbers of the dropped packets, as in their RTP header, in drop order.
    pub dropped_seqs: Vec<u16>,
    /// The same, extended to 32 bits as RFC 3550 A.1 does (wrap cycles counted from the first
    /// packet the relay saw on that stream), so they compare with a receiver report's
    /// extended highest sequence number.
    pub dropped_extended_seqs: Vec<u32>,
}

pub struct FaultRelay {
    port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    stop: AtomicBool,
    fault: Fault,
    server: SocketAddr,
    stats: Mutex<RelayStats>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn spawn(self: &Arc<Self>, name: &str, job: impl FnOnce(Arc<Shared>) + Send + 'static) {
        let shared = self.clone();
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || job(shared))
            .expect("spawn a relay thread");
        self.threads.lock().unwrap().push(handle);
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, RelayStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl FaultRelay {
    /// Starts relaying to the RTSP server on `127.0.0.1:server_port`.
    pub fn start(server_port: u16, fault: Fault) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the relay");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let port = listener.local_addr().expect("relay address").port();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            fault,
            server: SocketAddr::from((Ipv4Addr::LOCALHOST, server_port)),
            stats: Mutex::new(RelayStats::default()),
            threads: Mutex::new(Vec::new()),
        });
        shared.spawn("relay-accept", move |shared| {
            accept_loop(&shared, &listener)
        });
        Self { port, shared }
    }

    /// The URL a client plays through the relay, e.g. `url("/test")`.
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("rtsp://127.0.0.1:{}{slash}{path}", self.port)
    }

    pub fn stats(&self) -> RelayStats {
        self.shared.stats().clone()
    }
}

impl Drop for FaultRelay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Threads may start others until they see the flag: join until none is left.
        loop {
            let handles: Vec<_> = std::mem::take(&mut *self.shared.threads.lock().unwrap());
            if handles.is_empty() {
                break;
            }
            for h in handles {
                let _ = h.join();
            }
        }
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    while !shared.stopping() {
        match listener.accept() {
            Ok((client, _)) => {
                if let Err(e) = start_connection(shared, client) {
                    eprintln!("relay: cannot proxy a connection to {}: {e}", shared.server);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                eprintln!("relay: accept failed: {e}");
                return;
            }
        }
    }
}

/// UDP pairs created by this connection's SETUPs, by the relay's RTP port.
type PairsByPort = Arc<Mutex<HashMap<u16, Arc<UdpPair>>>>;

fn start_connection(shared: &Arc<Shared>, client: TcpStream) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    let server = TcpStream::connect_timeout(&shared.server, Duration::from_secs(5))?;
    let client_ip = client.peer_addr()?.ip();
    for s in [&client, &server] {
        s.set_read_timeout(Some(Duration::from_millis(100)))?;
        s.set_write_timeout(Some(Duration::from_secs(5)))?;
    }
    let pairs: PairsByPort = Arc::default();

    let (from, to) = (client.try_clone()?, server.try_clone()?);
    let (pairs_up, client_ip_up) = (pairs.clone(), client_ip);
    shared.spawn("relay-rtsp-up", move |shared| {
        let mut rewrite = |line: &str| {
            rewrite_port_param(line, "client_port", |a, b| {
                let pair = match UdpPair::start(&shared, SocketAddr::new(client_ip_up, a), b) {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("relay: cannot bind a UDP pair: {e}");
                        return None;
                    }
                };
                let port = pair.rtp.socket.local_addr().ok()?.port();
                pairs_up.lock().unwrap().insert(port, pair);
                Some(format!("{port}-{}", port + 1))
            })
        };
        pump(&shared, from, to, &mut rewrite);
    });

    shared.spawn("relay-rtsp-down", move |shared| {
        let mut rewrite = |line: &str| {
            // The client_port of the answer names which pair this SETUP made.
            let relay_port = port_pair_in(line, "client_port")?.0;
            let pair = pairs.lock().unwrap().get(&relay_port)?.clone();
            let line = rewrite_port_param(line, "client_port", |_, _| {
                let (a, b) = (pair.rtp.client.port(), pair.rtcp.client.port());
                Some(format!("{a}-{b}"))
            })
            .unwrap_or_else(|| line.to_owned());
            let rewritten = rewrite_port_param(&line, "server_port", |s, t| {
                pair.rtp.set_server_port(s);
                pair.rtcp.set_server_port(t.unwrap_or(s.wrapping_add(1)));
                Some(format!("{relay_port}-{}", relay_port + 1))
            });
            Some(rewritten.unwrap_or(line))
        };
        pump(&shared, server, client, &mut rewrite);
    });
    Ok(())
}

/// Copies one direction of an RTSP connection, message by message, passing each `Transport:`
/// header line through `rewrite` (None leaves it as it is). Ends both directions at EOF.
fn pump(
    shared: &Shared,
    mut from: TcpStream,
    mut to: TcpStream,
    rewrite: &mut dyn FnMut(&str) -> Option<String>,
) {
    let mut splitter = MessageSplitter::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    while !shared.stopping() {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        out.clear();
        splitter.push(&buf[..n], &mut out, rewrite);
        if !out.is_empty() && to.write_all(&out).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Where the byte stream is: between messages, or inside a body or an interleaved frame.
#[derive(Default)]
struct MessageSplitter {
    pending: Vec<u8>,
    /// Bytes of a body or `$` frame still to pass through untouched.
    passthrough: usize,
}

/// Headers longer than this are passed on unparsed rather than buffered for ever.
const MAX_HEADER: usize = 64 * 1024;

impl MessageSplitter {
    fn push(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        rewrite: &mut dyn FnMut(&str) -> Option<String>,
    ) {
        self.pending.extend_from_slice(data);
        let mut at = 0;
        loop {
            let rest = &self.pending[at..];
            if rest.is_empty() {
                break;
            }
            if self.passthrough > 0 {
                let n = self.passthrough.min(rest.len());
                out.extend_from_slice(&rest[..n]);
                self.passthrough -= n;
                at += n;
                continue;
            }
            if rest[0] == b'$' {
                // RFC 2326 §10.12: '$', channel, 16-bit length, data.
                let Some(len) = rest.get(2..4) else { break };
                self.passthrough = usize::from(u16::from_be_bytes([len[0], len[1]]));
                out.extend_from_slice(&rest[..4]);
                at += 4;
                continue;
            }
            let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
                if rest.len() > MAX_HEADER {
                    out.extend_from_slice(rest);
                    at = self.pending.len();
                }
                break;
            };
            let head = &rest[..end + 4];
            self.passthrough = content_length(head);
            out.extend_from_slice(&rewrite_head(head, rewrite));
            at += end + 4;
        }
        self.pending.drain(..at);
    }
}

fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// The header block with each `Transport:` line passed through `rewrite`; other bytes as they
/// were.
fn rewrite_head(head: &[u8], rewrite: &mut dyn FnMut(&str) -> Option<String>) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(head) else {
        return head.to_vec();
    };
    let mut out = String::with_capacity(text.len() + 16);
    for (i, line) in text.split("\r\n").enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let is_transport = line
            .split_once(':')
            .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("transport"));
        match is_transport.then(|| rewrite(line)).flatten() {
            Some(new) => out.push_str(&new),
            None => out.push_str(line),
        }
    }
    out.into_bytes()
}

/// The first `name=A-B` (or `name=A`) in a header line.
fn port_pair_in(line: &str, name: &str) -> Option<(u16, Option<u16>)> {
    let key = format!("{name}=");
    let start = line.find(&key)? + key.len();
    let value = line[start..].split([';', ',']).next()?.trim();
    match value.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, Some(b.parse().ok()?))),
        None => Some((value.parse().ok()?, None)),
    }
}

/// Replaces the value of every `name=A-B` in a line with what `replace(A, B)` returns; None if
/// nothing was replaced.
fn rewrite_port_param(
    line: &str,
    name: &str,
    mut replace: impl FnMut(u16, Option<u16>) -> Option<String>,
) -> Option<String> {
    let key = format!("{name}=");
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    let mut changed = false;
    while let Some(i) = rest.find(&key) {
        let value_start = i + key.len();
        let value_len = rest[value_start..]
            .find([';', ',', ' ', '\r', '\n'])
            .unwrap_or(rest.len() - value_start);
        let value = &rest[value_start..value_start + value_len];
        out.push_str(&rest[..value_start]);
        let parsed = match value.split_once('-') {
            Some((a, b)) => a.parse().ok().zip(b.parse().ok().map(Some)),
            None => value.parse().ok().map(|a| (a, None)),
        };
        match parsed.and_then(|(a, b)| replace(a, b)) {
            Some(new) => {
                out.push_str(&new);
                changed = true;
            }
            None => out.push_str(value),
        }
        rest = &rest[value_start + value_len..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// One socket of a relay pair: the client's port on one side, the server's on the other.
struct Leg {
    socket: UdpSocket,
    client: SocketAddr,
    /// Learnt from `server_port=` or from the first datagram that did not come from the client.
    server: Mutex<Option<SocketAddr>>,
}

impl Leg {
    fn set_server_port(&self, port: u16) {
        let ip = self.client.ip();
        *self.server.lock().unwrap() = Some(SocketAddr::new(ip, port));
    }
}

/// The relay's UDP ports `R` (RTP) and `R+1` (RTCP) for one SETUP.
struct UdpPair {
    rtp: Leg,
    rtcp: Leg,
}

impl UdpPair {
    /// Binds an even/odd pair for a client at `client_rtp` (RTCP on `client_rtcp`, else the next
    /// port) and starts relaying.
    fn start(
        shared: &Arc<Shared>,
        client_rtp: SocketAddr,
        client_rtcp: Option<u16>,
    ) -> std::io::Result<Arc<Self>> {
        let (rtp, rtcp) = bind_pair()?;
        let rtcp_port = client_rtcp.unwrap_or(client_rtp.port().wrapping_add(1));
        let leg = |socket, client| Leg {
            socket,
            client,
            server: Mutex::new(None),
        };
        let pair = Arc::new(Self {
            rtp: leg(rtp, client_rtp),
            rtcp: leg(rtcp, SocketAddr::new(client_rtp.ip(), rtcp_port)),
        });
        let p = pair.clone();
        shared.spawn("relay-udp-rtp", move |shared| relay_rtp(&shared, &p.rtp));
        let p = pair.clone();
        shared.spawn("relay-udp-rtcp", move |shared| {
            relay_plain(&shared, &p.rtcp)
        });
        Ok(pair)
    }
}

fn bind_pair() -> std::io::Result<(UdpSocket, UdpSocket)> {
    for _ in 0..100 {
        let rtp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = rtp.local_addr()?.port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind((Ipv4Addr::LOCALHOST, port + 1)) {
            return Ok((rtp, rtcp));
        }
    }
    Err(std::io::Error::other("no free even/odd UDP port pair"))
}

/// A datagram read from a leg: from the client (to go up) or from the server (to go down).
enum Datagram {
    Up(usize),
    Down(usize),
    Nothing,
}

fn receive(leg: &Leg, buf: &mut [u8], wait: Duration) -> Result<Datagram, ()> {
    let _ = leg.socket.set_read_timeout(Some(wait));
    match leg.socket.recv_from(buf) {
        Ok((n, from)) if from == leg.client => Ok(Datagram::Up(n)),
        Ok((n, from)) => {
            leg.server.lock().unwrap().get_or_insert(from);
            Ok(Datagram::Down(n))
        }
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
            ) =>
        {
            Ok(Datagram::Nothing)
        }
        // Loopback reports an ICMP port unreachable from an earlier send this way.
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => Ok(Datagram::Nothing),
        Err(_) => Err(()),
    }
}

fn send_up(leg: &Leg, data: &[u8]) {
    let server = *leg.server.lock().unwrap();
    if let Some(server) = server {
        let _ = leg.socket.send_to(data, server);
    }
}

/// RTCP both ways, untouched.
fn relay_plain(shared: &Shared, leg: &Leg) {
    let mut buf = vec![0u8; 65536];
    while !shared.stopping() {
        match receive(leg, &mut buf, Duration::from_millis(50)) {
            Ok(Datagram::Up(n)) => send_up(leg, &buf[..n]),
            Ok(Datagram::Down(n)) => {
                let _ = leg.socket.send_to(&buf[..n], leg.client);
            }
            Ok(Datagram::Nothing) => {}
            Err(()) => return,
        }
    }
}

/// A packet [`Fault::Reorder`] holds back.
struct Held {
    data: Vec<u8>,
    since: Instant,
    /// Packets sent after it so far, and how many it waits for.
    overtaken_by: u32,
    release_after: u32,
    first_overtaken_at: Option<Instant>,
}

/// A held packet nothing overtook is sent after this (the stream stopped).
const HOLD_ALONE: Duration = Duration::from_millis(500);
/// Once overtaken, a held packet is sent at most this much later.
const HOLD_OVERTAKEN: Duration = Duration::from_millis(10);

/// RTP: client→server untouched; server→client through the fault.
fn relay_rtp(shared: &Arc<Shared>, leg: &Leg) {
    let mut buf = vec![0u8; 65536];
    let mut count = 0u64;
    let mut held: Option<Held> = None;
    let mut extender = SeqExtender::default();
    let delayed = match shared.fault {
        Fault::Delay { max_ms } => {
            let (tx, rx) = mpsc::channel();
            let (socket, client) = (leg.socket.try_clone(), leg.client);
            match socket {
                Ok(socket) => {
                    shared.spawn("relay-udp-delay", move |shared| {
                        send_when_due(&shared, &socket, client, &rx)
                    });
                    Some((tx, max_ms))
                }
                Err(e) => {
                    eprintln!("relay: no delay thread: {e}");
                    return;
                }
            }
        }
        _ => None,
    };
    while !shared.stopping() {
        let wait = if held.is_some() {
            Duration::from_millis(2)
        } else {
            Duration::from_millis(50)
        };
        let n = match receive(leg, &mut buf, wait) {
            Ok(Datagram::Up(n)) => {
                send_up(leg, &buf[..n]);
                continue;
            }
            Ok(Datagram::Down(n)) => Some(n),
            Ok(Datagram::Nothing) => None,
            Err(()) => return,
        };
        let now = Instant::now();
        let Some(n) = n else {
            release_if_due(shared, leg, &mut held, now);
            continue;
        };
        let packet = &buf[..n];
        let seq = packet.get(2..4).map(|s| u16::from_be_bytes([s[0], s[1]]));
        let extended = seq.map(|s| extender.extend(s));
        count += 1;
        match shared.fault {
            Fault::None => send_down(shared, leg, packet),
            Fault::Drop { every } => {
                if count.is_multiple_of(every.max(1)) {
                    let mut stats = shared.stats();
                    stats.dropped += 1;
                    if let (Some(seq), Some(ext)) = (seq, extended) {
                        stats.dropped_seqs.push(seq);
                        stats.dropped_extended_seqs.push(ext);
                    }
                } else {
                    send_down(shared, leg, packet);
                }
            }
            Fault::Delay { .. } => {
                if let Some((tx, max_ms)) = &delayed {
                    let delay = rand::random::<u64>() % (max_ms + 1);
                    let _ = tx.send((now + Duration::from_millis(delay), packet.to_vec()));
                    shared.stats().relayed += 1;
                }
            }
            Fault::Reorder { every } => {
                if held.is_none() && count.is_multiple_of(every.max(1)) {
                    held = Some(Held {
                        data: packet.to_vec(),
                        since: now,
                        overtaken_by: 0,
                        release_after: 1 + rand::random::<u32>() % 3,
                        first_overtaken_at: None,
                    });
                    continue;
                }
                send_down(shared, leg, packet);
                if let Some(h) = &mut held {
                    h.overtaken_by += 1;
                    h.first_overtaken_at.get_or_insert(now);
                }
                release_if_due(shared, leg, &mut held, now);
            }
        }
    }
}

fn send_down(shared: &Shared, leg: &Leg, packet: &[u8]) {
    let _ = leg.socket.send_to(packet, leg.client);
    shared.stats().relayed += 1;
}

fn release_if_due(shared: &Shared, leg: &Leg, held: &mut Option<Held>, now: Instant) {
    let Some(h) = held else { return };
    let due = h.overtaken_by >= h.release_after
        || h.first_overtaken_at
            .is_some_and(|t| now.duration_since(t) >= HOLD_OVERTAKEN)
        || now.duration_since(h.since) >= HOLD_ALONE;
    if !due {
        return;
    }
    if h.overtaken_by > 0 {
        shared.stats().reordered += 1;
    }
    send_down(shared, leg, &h.data);
    *held = None;
}

/// Sends delayed packets at their due time, earliest first.
fn send_when_due(
    shared: &Shared,
    socket: &UdpSocket,
    client: SocketAddr,
    rx: &mpsc::Receiver<(Instant, Vec<u8>)>,
) {
    // Min-heap by due time; the counter keeps equal times in arrival order.
    let mut queue: BinaryHeap<std::cmp::Reverse<(Instant, u64, Vec<u8>)>> = BinaryHeap::new();
    let mut arrivals = 0u64;
    while !shared.stopping() {
        let now = Instant::now();
        while let Some(std::cmp::Reverse((due, _, _))) = queue.peek() {
            if *due > now {
                break;
            }
            if let Some(std::cmp::Reverse((_, _, data))) = queue.pop() {
                let _ = socket.send_to(&data, client);
            }
        }
        let wait = match queue.peek() {
            Some(std::cmp::Reverse((due, _, _))) => due.saturating_duration_since(now),
            None => Duration::from_millis(50),
        };
        match rx.recv_timeout(wait.min(Duration::from_millis(50))) {
            Ok((due, data)) => {
                arrivals += 1;
                queue.push(std::cmp::Reverse((due, arrivals, data)));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Extends 16-bit RTP sequence numbers to 32 bits (RFC 3550 A.1): cycles count from the first
/// packet, and a packet a little behind the highest one (reordered) stays in its cycle.
#[derive(Default)]
struct SeqExtender {
    highest: Option<u32>,
}

impl SeqExtender {
    fn extend(&mut self, seq: u16) -> u32 {
        let Some(highest) = self.highest else {
            self.highest = Some(u32::from(seq));
            return u32::from(seq);
        };
        let delta = i64::from(seq.wrapping_sub(highest as u16) as i16);
        let extended = u32::try_from(i64::from(highest) + delta).unwrap_or(0);
        if extended > highest {
            self.highest = Some(extended);
        }
        extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(chunks: &[&[u8]], rewrite: &mut dyn FnMut(&str) -> Option<String>) -> Vec<u8> {
        let mut splitter = MessageSplitter::default();
        let mut out = Vec::new();
        for c in chunks {
            splitter.push(c, &mut out, rewrite);
        }
        out
    }

    #[test]
    fn rewrites_only_the_transport_header_even_when_split() {
        let request = b"SETUP rtsp://h/test/stream=0 RTSP/1.0\r\nCSeq: 3\r\n\
            Transport: RTP/AVP;unicast;client_port=5000-5001\r\n\r\n";
        let interleaved = b"$\x01\x00\x05hello";
        let body = b"GET_PARAMETER * RTSP/1.0\r\nContent-Length: 15\r\n\r\nclient_port=1-2";
        let whole: Vec<u8> = [&request[..], interleaved, body].concat();
        let mut rewrite =
            |line: &str| rewrite_port_param(line, "client_port", |_, _| Some("6000-6001".into()));
        for cut in 1..whole.len() {
            let out = split_all(&[&whole[..cut], &whole[cut..]], &mut rewrite);
            let expected = String::from_utf8_lossy(&whole).replacen("5000-5001", "6000-6001", 1);
            assert_eq!(String::from_utf8_lossy(&out), expected, "cut at {cut}");
        }
    }

    #[test]
    fn port_params() {
        let line = "Transport: RTP/AVP;unicast;client_port=5000-5001;server_port=7000-7001";
        assert_eq!(port_pair_in(line, "server_port"), Some((7000, Some(7001))));
        assert_eq!(
            rewrite_port_param(line, "server_port", |a, b| Some(format!(
                "{}-{}",
                a + 1,
                b? + 1
            ))),
            Some("Transport: RTP/AVP;unicast;client_port=5000-5001;server_port=7001-7002".into())
        );
        assert_eq!(
            rewrite_port_param(line, "source", |_, _| Some("x".into())),
            None
        );
    }

    #[test]
    fn sequence_numbers_extend_across_the_wrap() {
        let mut ext = SeqExtender::default();
        let seqs = [65534u16, 65535, 1, 0, 2];
        let got: Vec<u32> = seqs.iter().map(|&s| ext.extend(s)).collect();
        assert_eq!(got, [65534, 65535, 65537, 65536, 65538]);
    }
}
