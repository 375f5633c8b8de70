//! Our RTSP/1.0 client session (RFC 2326), with RTP over TCP-interleaved or UDP.
//!
//! One [`RtspSession`] owns one control connection. Its methods are the RTSP steps in order:
//! [`RtspSession::connect`] (resolve + TCP), `options`, `describe`, `setup`, `play`, then
//! [`RtspSession::next_packet`] in a loop; `pause` and `play` again resume the same session, and
//! `teardown` ends it. Dropping a playing session sends TEARDOWN best-effort.
//!
//! While packets are pulled the session also does what RFC 2326 and RFC 3550 ask of a
//! receiver: keepalives at half the session timeout, RTCP receiver reports for every stream
//! (on UDP or on the interleaved RTCP channel), sender-report bookkeeping, and for UDP a bounded
//! reorder buffer. With [`Transport::Auto`] it tries UDP, falls back to TCP when the server
//! refuses UDP (461), no UDP packet arrives within [`UDP_FALLBACK_AFTER`] or UDP keeps losing
//! packets ([`super::lossy_udp`]), and tries UDP when the server refuses TCP. Every wait is
//! bounded by [`ClientOptions::timeout`].

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::task::Poll;
use std::time::Duration;

use rtsp_types::headers::{self, HeaderName};
use rtsp_types::{Method, Request, Response, StatusCode, Version};
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;
use url::Url;

use super::auth::{AttemptState, AuthFailure, Authenticator};
use super::error::{ErrorKind, RtspError, Step};
use super::lossy_udp::LossyUdpWatch;
use super::message::{interleaved_frame, serialize_request, serialize_response, Framer, Incoming};
use super::sdp::{base_url_of, parse_presentation, Presentation};
use super::tls::{handshake, TlsConnection, TlsOptions};
use super::url::{redact_url_text, CameraUrl, Credentials};
use crate::rtp::is_rtcp_on_rtp_port;
use crate::rtp::reorder::{PushResult, ReorderBuffer};
use crate::rtp::rtcp::{
    build_goodbye, build_receiver_report, parse_rtcp_items, ReceiverSnapshot, ReceiverStats,
    ReportBlock, RtcpItem,
};

/// How RTP reaches us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Interleaved in the RTSP TCP connection (RFC 2326 §10.12).
    #[default]
    Tcp,
    /// Separate UDP ports for RTP and RTCP.
    Udp,
    /// UDP first, TCP when UDP is refused, silent or steadily lossy; UDP when TCP is refused.
    Auto,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Auto => "auto",
        })
    }
}

/// Redirects followed for one OPTIONS or DESCRIBE.
const MAX_REDIRECTS: usize = 3;

/// Where a redirect from `current` to `location` (absolute, or relative to `current`) leads,
/// and whether it stays on the same host and port (credentials may go along). Refused: a URL
/// that is not a camera URL, and `rtsps://` to plain `rtsp://`.
fn redirect_target(current: &CameraUrl, location: &str) -> Result<(CameraUrl, bool), String> {
    let joined = current
        .url()
        .join(location)
        .map_err(|e| format!("the server redirects to an invalid URL: {e}"))?;
    let target = CameraUrl::parse(joined.as_str())
        .map_err(|e| format!("the server redirects to an unusable URL: {e}"))?;
    if current.is_tls() && !target.is_tls() {
        return Err(format!(
            "the server redirects this rtsps:// camera to {}, without TLS: not followed",
            target.redacted()
        ));
    }
    let same_host = target.host() == current.host() && target.port() == current.port();
    Ok((target, same_host))
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub transport: Transport,
    /// Bound on connecting, on every response, and on silence while playing.
    pub timeout: Duration,
    /// Overrides credentials written in the URL.
    pub credentials: Option<Credentials>,
    pub user_agent: String,
    /// Certificate checks for `rtsps://`.
    pub tls: TlsOptions,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            transport: Transport::Tcp,
            timeout: Duration::from_secs(10),
            credentials: None,
            user_agent: concat!("Vedette/", env!("CARGO_PKG_VERSION")).to_owned(),
            tls: TlsOptions::default(),
        }
    }
}

/// One request sent and the status it got (`None` when no answer came).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodRecord {
    pub method: String,
    pub status: Option<u16>,
}

/// A request on the wire (or queued for it, see [`Outgoing`]) whose answer has not been read.
#[derive(Debug)]
struct InFlight {
    cseq: u32,
    method: Method,
    url: Url,
    /// Index into `methods`.
    record: usize,
    /// The answer, when it was read by someone other than the request (`next_packet`).
    response: Option<Response<Vec<u8>>>,
}

/// The CSeq an answer carries, when it carries a readable one.
fn response_cseq(resp: &Response<Vec<u8>>) -> Option<u32> {
    resp.header(&headers::CSEQ)
        .and_then(|v| v.as_str().trim().parse::<u32>().ok())
}

/// Data received while playing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Rtp { stream: usize, data: Vec<u8> },
    Rtcp { stream: usize, data: Vec<u8> },
}

#[derive(Debug, Clone)]
struct SessionHeader {
    id: String,
    timeout: Duration,
}

/// The UDP sockets of one stream and where the server sends from.
#[derive(Debug)]
struct UdpPair {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// The server's RTP and RTCP ports (`server_port=`), where hole-punch packets and receiver
    /// reports go.
    server_rtp: Option<SocketAddr>,
    server_rtcp: Option<SocketAddr>,
    /// Where the server said it sends from (`source=`); packets from it or from `peer_ip`
    /// are taken, from any other host dropped (see [`datagram_from_server`]).
    source_ip: Option<IpAddr>,
    /// The control connection's peer.
    peer_ip: IpAddr,
}

#[derive(Debug)]
enum Carrier {
    Interleaved { rtp_channel: u8, rtcp_channel: u8 },
    Udp(UdpPair),
}

#[derive(Debug)]
struct SetupStream {
    stream: usize,
    carrier: Carrier,
    stats: ReceiverStats,
    /// UDP only: TCP keeps packets in order.
    reorder: Option<ReorderBuffer<Vec<u8>>>,
}

/// The default session timeout when the server does not state one (RFC 2326 §12.37).
const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(60);
/// Interleaved packets buffered while waiting for a response before we give up on them.
const MAX_PENDING_PACKETS: usize = 4096;
/// With `transport = auto`, how long PLAY over UDP may stay silent before we switch to TCP.
pub const UDP_FALLBACK_AFTER: Duration = Duration::from_secs(2);
/// Receiver reports go out every 2–3 s: RFC 3550's 5 s minimum is for large sessions, and a
/// camera that watches RTCP to keep a UDP session alive must see one well inside its timeout.
const RTCP_INTERVAL_MIN: Duration = Duration::from_millis(2000);
const RTCP_INTERVAL_SPREAD_MS: u64 = 1000;
/// UDP reorder buffer: how many packets it holds and how long it waits for a missing one.
const REORDER_WINDOW: usize = 64;
const REORDER_MAX_HOLD: Duration = Duration::from_millis(50);
/// A 1080p keyframe arrives as a burst of a few hundred packets.
const UDP_RECEIVE_BUFFER: usize = 4 << 20;
/// A hole-punch datagram for the RTP port (not valid RTP, so the server ignores it).
const HOLE_PUNCH: [u8; 4] = [0xce, 0xfa, 0xed, 0xfe];
/// The least time one address gets to connect in (the whole timeout when that is shorter),
/// however many addresses are left: a smaller share would fail a working address just
/// because a dead one came before it.
const MIN_CONNECT_ATTEMPT: Duration = Duration::from_secs(1);

/// The control connection: plain TCP, or TLS for `rtsps://`.
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsConnection>),
    /// A pipe with a small buffer, standing in for a peer that does not read (tests only:
    /// unlike a socket, it takes part of a write on demand).
    #[cfg(test)]
    Pipe(tokio::io::DuplexStream),
    /// Handed to a background TEARDOWN on drop.
    Closed,
}

impl tokio::io::AsyncRead for Conn {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
            #[cfg(test)]
            Conn::Pipe(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Conn::Closed => Poll::Ready(Ok(())),
        }
    }
}

impl tokio::io::AsyncWrite for Conn {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
            #[cfg(test)]
            Conn::Pipe(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Conn::Closed => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
            #[cfg(test)]
            Conn::Pipe(s) => std::pin::Pin::new(s).poll_flush(cx),
            Conn::Closed => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
            #[cfg(test)]
            Conn::Pipe(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Conn::Closed => Poll::Ready(Ok(())),
        }
    }
}

/// Bytes for the control connection that are not written yet: requests, answers and
/// interleaved RTCP, whole, in order. They are written by whoever reads the connection
/// ([`next_incoming`]), one `poll_write` at a time, and only what the connection took is
/// removed: a future dropped mid-way (the camera task drops `next_packet` on its own timers)
/// leaves the rest here, to go first next time, never half a `$` frame or request followed by
/// the next message.
#[derive(Debug, Default)]
struct Outgoing {
    bytes: Vec<u8>,
    /// Written since the last flush (TLS holds records back until flushed).
    unflushed: bool,
}

/// Receiver reports are not queued behind this many unwritten bytes: the server has stopped
/// reading, and reports are only worth anything when fresh.
const MAX_QUEUED_FOR_REPORTS: usize = 64 * 1024;

impl Outgoing {
    fn queue(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Writes as much as `stream` takes now; ready once all is written and flushed.
    fn poll_write_to(
        &mut self,
        stream: &mut Conn,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        use tokio::io::AsyncWrite as _;
        while !self.bytes.is_empty() {
            match std::pin::Pin::new(&mut *stream).poll_write(cx, &self.bytes) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    self.bytes.drain(..n.min(self.bytes.len()));
                    self.unflushed = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.unflushed {
            std::task::ready!(std::pin::Pin::new(stream).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }
}

pub struct RtspSession {
    stream: Conn,
    /// What is to be written on `stream`, in order (see [`Outgoing`]).
    outgoing: Outgoing,
    /// Bytes read off the control connection and not yet parsed.
    framer: Framer,
    url: CameraUrl,
    peer: SocketAddr,
    local_ip: IpAddr,
    opts: ClientOptions,
    auth: Authenticator,
    cseq: u32,
    session: Option<SessionHeader>,
    server_methods: Vec<String>,
    methods: Vec<MethodRecord>,
    presentation: Option<Presentation>,
    setup_streams: Vec<SetupStream>,
    /// The transport the streams were set up with (all streams use one).
    chosen: Option<Transport>,
    pending_packets: VecDeque<Packet>,
    keepalive_at: Option<Instant>,
    rtcp_at: Option<Instant>,
    /// `auto` over UDP: when to give up on UDP if no packet came.
    udp_fallback_at: Option<Instant>,
    /// The streams being switched to TCP, in order, while the switch is under way.
    fallback_streams: Option<Vec<usize>>,
    /// `auto` over UDP: the loss seen in each receiver-report interval.
    lossy_watch: LossyUdpWatch,
    /// `auto` over UDP: steady loss was seen (this fraction in the last interval); the
    /// session moves to TCP. Stays set until the switch is complete, like `udp_fallback_at`.
    udp_lossy_switch: Option<f64>,
    /// The request sent and not yet answered. `next_packet` runs requests of its own (the
    /// switch to TCP) and its caller may drop it at any await: the next attempt then waits
    /// for this answer instead of sending the request again (which would leave the server a
    /// session nobody uses).
    in_flight: Option<InFlight>,
    /// `(CSeq, index into methods)` of requests whose answers `next_packet` reads: keepalives,
    /// and a cut-off request that was not resumed. Answers come in request order.
    answered_later: VecDeque<(u32, usize)>,
    played_once: bool,
    paused: bool,
    torn_down: bool,
    our_ssrc: u32,
    /// Our RTCP canonical name, the same in every report we send (RFC 3550 §6.5.1: one CNAME
    /// per SSRC).
    cname: String,
    udp_buf: Vec<u8>,
}

impl std::fmt::Debug for RtspSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspSession")
            .field("url", &self.url.redacted())
            .field("peer", &self.peer)
            .field("session", &self.session.as_ref().map(|s| &s.id))
            .finish_non_exhaustive()
    }
}
impl RtspSession {
    /// Resolves the host and opens the TCP connection, each within the timeout.
    pub async fn connect(url: &CameraUrl, opts: ClientOptions) -> Result<Self, RtspError> {
        let port = url.port();
        let addrs: Vec<std::net::SocketAddr> = match url.url().host() {
            Some(url::Host::Ipv4(ip)) => vec![(ip, port).into()],
            Some(url::Host::Ipv6(ip)) => vec![(ip, port).into()],
            Some(url::Host::Domain(name)) => {
                let resolve_err = |reason: String| {
                    RtspError::new(
                        Step::Resolve,
                        ErrorKind::Resolve {
                            host: name.to_owned(),
                            reason,
                        },
                    )
                };
                tokio::time::timeout(opts.timeout, tokio::net::lookup_host((name, port)))
                    .await
                    .map_err(|_| resolve_err(format!("no answer within {:?}", opts.timeout)))?
                    .map_err(|e| resolve_err(e.to_string()))?
                    .collect()
            }
            None => return Err(RtspError::new(Step::Url, super::url::UrlError::MissingHost)),
        };
        let deadline = Instant::now() + opts.timeout;
        let (stream, addr) = connect_first(&addrs, opts.timeout, TcpStream::connect)
            .await
            .map_err(|last| {
                RtspError::new(
                    Step::Connect,
                    last.unwrap_or_else(|| ErrorKind::Resolve {
                        host: url.host().to_owned(),
                        reason: "no addresses".into(),
                    }),
                )
            })?;
        let _ = stream.set_nodelay(true);
        tracing::debug!(%addr, url = %url.redacted(), "connected");
        let local_ip = stream
            .local_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let stream = if url.is_tls() {
            let host = url.host().to_owned();
            // What the addresses before left of the timeout, but never less than one attempt.
            let tls_deadline = deadline.max(Instant::now() + MIN_CONNECT_ATTEMPT.min(opts.timeout));
            let tls = tokio::time::timeout_at(tls_deadline, handshake(stream, &host, &opts.tls))
                .await
                .map_err(|_| RtspError::new(Step::Tls, ErrorKind::ResponseTimeout(opts.timeout)))?
                .map_err(|e| RtspError::new(Step::Tls, e))?;
            Conn::Tls(Box::new(tls))
        } else {
            Conn::Plain(stream)
        };
        let credentials = opts
            .credentials
            .clone()
            .or_else(|| url.credentials_in_url().cloned());
        Ok(Self {
            stream,
            outgoing: Outgoing::default(),
            framer: Framer::new(),
            url: url.clone(),
            peer: addr,
            local_ip,
            auth: Authenticator::new(credentials),
            opts,
            cseq: 0,
            session: None,
            server_methods: Vec::new(),
            methods: Vec::new(),
            presentation: None,
            setup_streams: Vec::new(),
            chosen: None,
            pending_packets: VecDeque::new(),
            keepalive_at: None,
            rtcp_at: None,
            udp_fallback_at: None,
            fallback_streams: None,
            lossy_watch: LossyUdpWatch::default(),
            udp_lossy_switch: None,
            in_flight: None,
            answered_later: VecDeque::new(),
            played_once: false,
            paused: false,
            torn_down: false,
            our_ssrc: rand::random(),
            cname: format!("vedette@{local_ip}"),
            udp_buf: vec![0; 65536],
        })
    }

    /// Requests sent so far and their status codes, in order.
    pub fn methods(&self) -> &[MethodRecord] {
        &self.methods
    }

    pub fn presentation(&self) -> Option<&Presentation> {
        self.presentation.as_ref()
    }

    pub fn url(&self) -> &CameraUrl {
        &self.url
    }

    /// The transport the streams run on (`Tcp` or `Udp`) once set up.
    pub fn transport_in_use(&self) -> Option<Transport> {
        self.chosen
    }

    /// The camera runs on this host (its clock is ours, so its sender reports' wallclock can
    /// be compared with ours).
    pub fn peer_is_local(&self) -> bool {
        self.peer.ip().is_loopback() || self.peer.ip() == self.local_ip
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// RFC 3550 receive statistics of a set-up stream: what our receiver reports carry.
    pub fn receiver_stats(&self, stream: usize) -> Option<ReceiverSnapshot> {
        self.setup_streams
            .iter()
            .find(|s| s.stream == stream)
            .map(|s| s.stats.snapshot())
    }

    /// Packets the UDP reorder buffer dropped because they came after their turn.
    pub fn late_packets(&self, stream: usize) -> u64 {
        self.setup_streams
            .iter()
            .find(|s| s.stream == stream)
            .and_then(|s| s.reorder.as_ref())
            .map_or(0, |r| r.late())
    }

    /// OPTIONS: learns which methods the server supports (for the keepalive choice).
    pub async fn options(&mut self) -> Result<(), RtspError> {
        let resp = self
            .request_following_redirects(Step::Options, Method::Options, Vec::new())
            .await?;
        if let Some(public) = resp.header(&headers::PUBLIC) {
            self.server_methods = public
                .as_str()
                .split(',')
                .map(|m| m.trim().to_ascii_uppercase())
                .collect();
        }
        Ok(())
    }

    /// `method` on the session's URL; a redirect (at most [`MAX_REDIRECTS`] in a row) moves
    /// the session to where it points and asks there again.
    async fn request_following_redirects(
        &mut self,
        step: Step,
        method: Method,
        extra: Vec<(HeaderName, String)>,
    ) -> Result<Response<Vec<u8>>, RtspError> {
        let mut hops = 0;
        loop {
            let url = self.url.url().clone();
            match self
                .request(step, method.clone(), &url, extra.clone())
                .await
            {
                Err(e) if hops < MAX_REDIRECTS && e.redirect_location().is_some() => {
                    hops += 1;
                    let location = e.redirect_location().unwrap_or_default().to_owned();
                    self.follow_redirect(step, &location).await?;
                }
                other => return other,
            }
        }
    }

    /// Moves this session, which has not been set up yet, to where a redirect points
    /// (`location`, absolute or relative to the current URL): a new connection, the same
    /// options, and the requests so far kept in [`Self::methods`]. Credentials go along only
    /// to the same host and port, and an `rtsps://` camera is never redirected to plain
    /// `rtsp://` (the password would cross the network in clear).
    async fn follow_redirect(&mut self, step: Step, location: &str) -> Result<(), RtspError> {
        let (target, same_host) = redirect_target(&self.url, location)
            .map_err(|why| RtspError::new(step, ErrorKind::RedirectRefused(why)))?;
        let mut opts = self.opts.clone();
        if same_host {
            opts.credentials = opts
                .credentials
                .or_else(|| self.url.credentials_in_url().cloned());
        } else {
            opts.credentials = None;
            opts.tls.pinned = None;
        }
        tracing::info!(
            from = %self.url.redacted(),
            to = %target.redacted(),
            "the server redirects; following"
        );
        let mut next = RtspSession::connect(&target, opts).await?;
        let mut methods = std::mem::take(&mut self.methods);
        methods.append(&mut next.methods);
        next.methods = methods;
        *self = next;
        Ok(())
    }

    /// DESCRIBE: fetches and parses the SDP, following redirects.
    pub async fn describe(&mut self) -> Result<&Presentation, RtspError> {
        let resp = self
            .request_following_redirects(
                Step::Describe,
                Method::Describe,
                vec![(headers::ACCEPT, "application/sdp".into())],
            )
            .await?;
        let url = self.url.url().clone();
        let base = base_url_of(
            &url,
            resp.header(&headers::CONTENT_BASE).map(|v| v.as_str()),
            resp.header(&headers::CONTENT_LOCATION).map(|v| v.as_str()),
        );
        let presentation = parse_presentation(resp.body(), &base)
            .map_err(|e| RtspError::new(Step::Describe, ErrorKind::Protocol(e.to_string())))?;
        Ok(self.presentation.insert(presentation))
    }

    /// SETUP of one stream from the DESCRIBE answer, on the configured transport. With `auto`
    /// the first stream decides: UDP, or TCP when the server refuses UDP (and the reverse).
    pub async fn setup(&mut self, stream: usize) -> Result<(), RtspError> {
        let first = self.chosen.unwrap_or(match self.opts.transport {
            Transport::Tcp => Transport::Tcp,
            Transport::Udp | Transport::Auto => Transport::Udp,
        });
        match self.setup_with(stream, first).await {
            Err(e)
                if e.status() == Some(461)
                    && self.opts.transport == Transport::Auto
                    && self.chosen.is_none() =>
            {
                let other = if first == Transport::Udp {
                    Transport::Tcp
                } else {
                    Transport::Udp
                };
                tracing::info!(url = %self.url.redacted(), "the server refused {first} (461); trying {other}");
                self.setup_with(stream, other).await
            }
            result => result,
        }
    }

    async fn setup_with(&mut self, stream: usize, transport: Transport) -> Result<(), RtspError> {
        let description = self
            .presentation
            .as_ref()
            .and_then(|p| p.streams.get(stream))
            .ok_or_else(|| {
                RtspError::new(
                    Step::Setup,
                    ErrorKind::Protocol(format!("no stream {stream} in the description")),
                )
            })?;
        let control = description.control_url.clone();
        let clock_rate = description.clock_rate.max(1);
        let rtp_channel = u8::try_from(self.setup_streams.len() * 2).unwrap_or(0);
        let mut udp = None;
        let header = if transport == Transport::Udp {
            let (rtp, rtcp) = bind_udp_pair(self.local_ip)
                .map_err(|e| RtspError::new(Step::Setup, ErrorKind::Io(e)))?;
            let port = rtp
                .local_addr()
                .map_err(|e| RtspError::new(Step::Setup, ErrorKind::Io(e)))?
                .port();
            udp = Some((rtp, rtcp));
            format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1)
        } else {
            format!(
                "RTP/AVP/TCP;unicast;interleaved={}-{}",
                rtp_channel,
                rtp_channel + 1
            )
        };
        let resp = self
            .request(
                Step::Setup,
                Method::Setup,
                &control,
                vec![(headers::TRANSPORT, header)],
            )
            .await?;
        if let Some(value) = resp.header(&headers::SESSION) {
            self.session = Some(parse_session_header(value.as_str()).ok_or_else(|| {
                RtspError::new(
                    Step::Setup,
                    ErrorKind::Protocol(format!("bad Session header {:?}", value.as_str())),
                )
            })?);
        } else if self.session.is_none() {
            return Err(RtspError::new(
                Step::Setup,
                ErrorKind::Protocol("no Session header in the SETUP answer".into()),
            ));
        }
        let answer = resp
            .header(&headers::TRANSPORT)
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default();
        // The server may pick other channels or ports than we asked for, or even answer a UDP
        // request with interleaved channels.
        let carrier = match (udp, interleaved_channels(&answer)) {
            (Some((rtp, rtcp)), None) => {
                let source_ip = transport_param(&answer, "source")
                    .and_then(|s| s.parse::<IpAddr>().ok())
                    .filter(|ip| !ip.is_unspecified());
                let peer_ip = self.peer.ip();
                let server_ip = source_ip.unwrap_or(peer_ip);
                let (server_rtp, server_rtcp) = match port_pair(&answer, "server_port") {
                    Some((a, b)) => (
                        Some(SocketAddr::new(server_ip, a)),
                        Some(SocketAddr::new(server_ip, b)),
                    ),
                    None => (None, None),
                };
                let pair = UdpPair {
                    rtp,
                    rtcp,
                    server_rtp,
                    server_rtcp,
                    source_ip,
                    peer_ip,
                };
                pair.punch_holes(self.our_ssrc, &self.cname);
                Carrier::Udp(pair)
            }
            (_, channels) => {
                let (rtp, rtcp) = channels.unwrap_or((rtp_channel, rtp_channel + 1));
                Carrier::Interleaved {
                    rtp_channel: rtp,
                    rtcp_channel: rtcp,
                }
            }
        };
        let is_udp = matches!(carrier, Carrier::Udp(_));
        self.chosen = Some(if is_udp {
            Transport::Udp
        } else {
            Transport::Tcp
        });
        tracing::debug!(stream, transport = %answer, "set up");
        self.setup_streams.push(SetupStream {
            stream,
            carrier,
            stats: ReceiverStats::new(clock_rate),
            reorder: is_udp.then(|| ReorderBuffer::new(REORDER_WINDOW, REORDER_MAX_HOLD)),
        });
        Ok(())
    }

    /// PLAY of everything set up (aggregate control). After [`Self::pause`] this resumes the
    /// same session: no Range, so the server continues where it paused.
    pub async fn play(&mut self) -> Result<(), RtspError> {
        let url = self.aggregate_url();
        let extra = if self.played_once {
            Vec::new()
        } else {
            vec![(headers::RANGE, "npt=0.000-".into())]
        };
        self.request(Step::Play, Method::Play, &url, extra).await?;
        self.played_once = true;
        self.paused = false;
        self.schedule_keepalive();
        if self.rtcp_at.is_none() {
            self.rtcp_at = Some(Instant::now() + Duration::from_millis(500));
        }
        if self.opts.transport == Transport::Auto
            && self.chosen == Some(Transport::Udp)
            && self
                .setup_streams
                .iter()
                .all(|s| s.stats.snapshot().packets_received == 0)
        {
            self.udp_fallback_at = Some(Instant::now() + UDP_FALLBACK_AFTER);
        }
        Ok(())
    }

    /// PAUSE (RFC 2326 §10.6): the server stops sending and keeps the session; keepalives and
    /// receiver reports go on while paused. A camera that cannot pause answers 405, 455 or
    /// 501, which comes back as a `PAUSE failed` status error.
    pub async fn pause(&mut self) -> Result<(), RtspError> {
        let url = self.aggregate_url();
        self.request(Step::Pause, Method::Pause, &url, Vec::new())
            .await?;
        self.paused = true;
        self.udp_fallback_at = None;
        Ok(())
    }

    /// TEARDOWN; the session is over afterwards, whatever the answer.
    pub async fn teardown(&mut self) -> Result<(), RtspError> {
        if self.session.is_none() || self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        self.say_goodbye();
        let url = self.aggregate_url();
        let result = self
            .request(Step::Teardown, Method::Teardown, &url, Vec::new())
            .await
            .map(|_| ());
        self.session = None;
        self.keepalive_at = None;
        self.rtcp_at = None;
        self.udp_fallback_at = None;
        result
    }

    /// The next RTP or RTCP packet. Sends keepalives and receiver reports when due; fails with
    /// `receive` after `timeout` without data (except while paused) or when the server hangs
    /// up. Cancel-safe: nothing received is lost when the future is dropped.
    pub async fn next_packet(&mut self) -> Result<Packet, RtspError> {
        let silence_deadline = Instant::now() + self.opts.timeout;
        loop {
            if self.udp_lossy_switch.is_some() {
                self.fall_back_to_tcp().await?;
            }
            if let Some(p) = self.pending_packets.pop_front() {
                return Ok(p);
            }
            // Only packets whose turn has come: a gap is given up (below, when its hold time
            // ends) only once the sockets have nothing more, so a packet waiting there counts.
            if let Some(p) = self.pop_reordered(false) {
                return Ok(p);
            }
            let far = Instant::now() + Duration::from_secs(3600);
            let keepalive_at = self.keepalive_at.unwrap_or(far);
            let rtcp_at = self.rtcp_at.unwrap_or(far);
            let fallback_at = self.udp_fallback_at.unwrap_or(far);
            let reorder_at = self
                .setup_streams
                .iter()
                .filter_map(|s| s.reorder.as_ref()?.next_deadline())
                .min()
                .map_or(far, Instant::from_std);
            let silence_at = if self.paused { far } else { silence_deadline };
            // Biased, data first: while packets are buffered the timers are never polled, so
            // none is registered per packet.
            tokio::select! {
                biased;
                incoming = next_incoming(&mut self.stream, &mut self.framer, &mut self.outgoing) => {
                    let incoming = incoming.map_err(|k| RtspError::new(Step::Receive, k))?;
                    match incoming {
                        Incoming::Data { channel, payload } => {
                            if let Some(packet) = self.on_interleaved(channel, payload) {
                                return Ok(packet);
                            }
                        }
                        Incoming::Response(resp) => self.on_unsolicited_response(resp),
                        Incoming::Request(req) => self.answer_server_request(&req),
                    }
                }
                (index, is_rtcp, len) = recv_udp(&self.setup_streams, &mut self.udp_buf) => {
                    let data = self.udp_buf[..len].to_vec();
                    if let Some(packet) = self.on_packet(index, is_rtcp, data) {
                        return Ok(packet);
                    }
                }
                _ = tokio::time::sleep_until(reorder_at) => {
                    if let Some(p) = self.pop_reordered(true) {
                        return Ok(p);
                    }
                }
                _ = tokio::time::sleep_until(rtcp_at) => self.send_receiver_reports(),
                _ = tokio::time::sleep_until(keepalive_at) => self.send_keepalive(),
                _ = tokio::time::sleep_until(fallback_at) => self.fall_back_to_tcp().await?,
                _ = tokio::time::sleep_until(silence_at) => {
                    return Err(RtspError::new(Step::Receive, ErrorKind::DataTimeout(self.opts.timeout)));
                }
            }
        }
    }

    fn aggregate_url(&self) -> Url {
        self.presentation
            .as_ref()
            .map(|p| p.control_url.clone())
            .unwrap_or_else(|| self.url.url().clone())
    }

    /// An interleaved frame: which stream and whether RTP or RTCP, by channel.
    fn on_interleaved(&mut self, channel: u8, data: Vec<u8>) -> Option<Packet> {
        let (index, is_rtcp) = self
            .setup_streams
            .iter()
            .enumerate()
            .find_map(|(i, s)| match s.carrier {
                Carrier::Interleaved {
                    rtp_channel,
                    rtcp_channel,
                } if rtp_channel == channel || rtcp_channel == channel => {
                    Some((i, rtcp_channel == channel))
                }
                _ => None,
            })?;
        self.on_packet(index, is_rtcp, data)
    }

    /// Bookkeeping for every received packet: RTP statistics, sender reports, reordering.
    /// Returns the packet when it can be handed on now.
    fn on_packet(&mut self, index: usize, is_rtcp: bool, data: Vec<u8>) -> Option<Packet> {
        let arrival = std::time::Instant::now();
        // RTCP on the RTP port or channel (RFC 5761) is RTCP, never counted as RTP.
        let is_rtcp = is_rtcp || is_rtcp_on_rtp_port(&data);
        let s = self.setup_streams.get_mut(index)?;
        let stream = s.stream;
        if is_rtcp {
            // A damaged packet late in a compound one leaves the reports before it good.
            let (items, error) = parse_rtcp_items(&data);
            if let Some(error) = error {
                tracing::debug!(stream, "RTCP packet not read to the end: {error}");
            }
            for item in items {
                if let RtcpItem::SenderReport(sr) = item {
                    s.stats.on_sender_report(&sr, arrival);
                }
            }
            return Some(Packet::Rtcp { stream, data });
        }
        let Ok(rtp) = rtp_types::RtpPacket::parse(&data) else {
            // Not RTP (a hole-punch echo, junk): nothing to hand on.
            return None;
        };
        let (ssrc, seq) = (rtp.ssrc(), rtp.sequence_number());
        s.stats
            .on_rtp(ssrc, seq, rtp.timestamp(), rtp.payload_len(), arrival);
        self.udp_fallback_at = None;
        match &mut s.reorder {
            None => Some(Packet::Rtp { stream, data }),
            Some(reorder) => {
                match reorder.push(ssrc, seq, data, arrival) {
                    PushResult::Accepted => {}
                    PushResult::Late | PushResult::Duplicate => {
                        tracing::trace!(seq, "dropped a late or duplicate UDP packet");
                    }
                }
                None
            }
        }
    }

    /// The next packet the reorder buffers release, if any; with `skip_gaps`, also past gaps
    /// whose hold time is over.
    fn pop_reordered(&mut self, skip_gaps: bool) -> Option<Packet> {
        let now = std::time::Instant::now();
        self.setup_streams.iter_mut().find_map(|s| {
            let reorder = s.reorder.as_mut()?;
            let (_, data) = if skip_gaps {
                reorder.pop(now)?
            } else {
                reorder.pop_ready()?
            };
            Some(Packet::Rtp {
                stream: s.stream,
                data,
            })
        })
    }

    /// One RTCP receiver report per stream (RFC 3550 §6.4.2), on its UDP port or queued for
    /// its interleaved RTCP channel (not behind [`MAX_QUEUED_FOR_REPORTS`] the server does
    /// not read: a report is only worth anything fresh).
    fn send_receiver_reports(&mut self) {
        self.send_rtcp_per_stream(
            "receiver report",
            Some(MAX_QUEUED_FOR_REPORTS),
            build_receiver_report,
        );
        let spread = rand::random::<u64>() % RTCP_INTERVAL_SPREAD_MS;
        self.rtcp_at = Some(Instant::now() + RTCP_INTERVAL_MIN + Duration::from_millis(spread));
        if self.opts.transport == Transport::Auto
            && self.chosen == Some(Transport::Udp)
            && !self.paused
        {
            // The interval each stream's report block just closed.
            let (expected, lost) = self.setup_streams.iter().fold((0, 0), |(e, l), s| {
                let snapshot = s.stats.snapshot();
                (
                    e + snapshot.last_interval_expected,
                    l + snapshot.last_interval_lost,
                )
            });
            if let Some(fraction) = self.lossy_watch.on_interval(expected, lost) {
                self.udp_lossy_switch = Some(fraction);
            }
        }
    }

    /// RTCP BYE (RFC 3550 §6.3.7), after a last receiver report and SDES, on each UDP
    /// stream's RTCP port, at once (never waiting for the socket, so it never holds TEARDOWN
    /// back). Not on an interleaved channel: there TEARDOWN on the same connection says it
    /// all, and GstRtspServer 1.22 over TLS never answered a TEARDOWN that followed a BYE.
    fn say_goodbye(&mut self) {
        self.send_rtcp_per_stream("RTCP BYE", None, build_goodbye);
    }

    /// Sends each stream the compound RTCP packet `build` makes of our SSRC, CNAME and the
    /// stream's report block: on UDP at once (never waiting for the socket); on an
    /// interleaved channel queued on the connection when `interleaved_limit` is given and no
    /// more than that many bytes already wait there, else not at all.
    fn send_rtcp_per_stream(
        &mut self,
        what: &str,
        interleaved_limit: Option<usize>,
        build: fn(u32, &str, &[ReportBlock]) -> Vec<u8>,
    ) {
        let now = std::time::Instant::now();
        for s in &mut self.setup_streams {
            let block = s.stats.report_block(now);
            let packet = build(self.our_ssrc, &self.cname, block.as_slice());
            match &s.carrier {
                Carrier::Udp(pair) => {
                    if let Some(to) = pair.server_rtcp {
                        if let Err(e) = pair.rtcp.try_send_to(&packet, to) {
                            tracing::debug!("{what} not sent: {e}");
                        }
                    }
                }
                Carrier::Interleaved { rtcp_channel, .. } => match interleaved_limit {
                    None => {}
                    Some(limit) if self.outgoing.len() > limit => {
                        tracing::debug!("{what} not sent: the server reads nothing");
                    }
                    Some(_) => {
                        if let Some(frame) = interleaved_frame(*rtcp_channel, &packet) {
                            self.outgoing.queue(&frame);
                        }
                    }
                },
            }
        }
    }

    /// `auto`: PLAY over UDP brought nothing (a firewall or NAT in the way), or UDP keeps
    /// losing packets. Tear the UDP session down and set the same streams up again over TCP
    /// on this connection.
    async fn fall_back_to_tcp(&mut self) -> Result<(), RtspError> {
        // Callers drop `next_packet` on their own timers, so this can be cut off at any of its
        // requests: `udp_fallback_at` stays due until the switch is complete, each attempt
        // goes on where the last one stopped, and a request left unanswered is awaited, not
        // sent again (see `in_flight`).
        let streams = match &self.fallback_streams {
            Some(streams) => streams.clone(),
            None => {
                match self.udp_lossy_switch {
                    Some(fraction) => tracing::info!(
                        url = %self.url.redacted(),
                        "UDP lost {:.1} % of packets, steadily; switching to TCP",
                        fraction * 100.0
                    ),
                    None => tracing::info!(
                        url = %self.url.redacted(),
                        "no UDP packet within {} s; switching to TCP",
                        UDP_FALLBACK_AFTER.as_secs()
                    ),
                }
                let streams: Vec<usize> = self.setup_streams.iter().map(|s| s.stream).collect();
                self.fallback_streams = Some(streams.clone());
                streams
            }
        };
        // The switch only starts over UDP, so a transport still UDP means the UDP session is
        // still up.
        if self.chosen != Some(Transport::Tcp) {
            if self.session.is_some() {
                let url = self.aggregate_url();
                let _ = self
                    .request(Step::Teardown, Method::Teardown, &url, Vec::new())
                    .await;
            }
            self.session = None;
            self.setup_streams.clear();
            self.chosen = Some(Transport::Tcp);
            self.played_once = false;
        }
        for stream in streams {
            if !self.setup_streams.iter().any(|s| s.stream == stream) {
                self.setup_with(stream, Transport::Tcp).await?;
            }
        }
        self.play().await?;
        self.udp_fallback_at = None;
        self.udp_lossy_switch = None;
        self.fallback_streams = None;
        Ok(())
    }

    fn schedule_keepalive(&mut self) {
        let timeout = self
            .session
            .as_ref()
            .map_or(DEFAULT_SESSION_TIMEOUT, |s| s.timeout);
        self.keepalive_at = Some(Instant::now() + (timeout / 2).max(Duration::from_secs(1)));
    }

    /// Keepalive (RFC 2326 §12.37): GET_PARAMETER when the server lists it, else OPTIONS.
    /// Queued, and the answer read later by `next_packet`, so data keeps flowing meanwhile.
    fn send_keepalive(&mut self) {
        let method = if self.server_methods.iter().any(|m| m == "GET_PARAMETER") {
            Method::GetParameter
        } else {
            Method::Options
        };
        let url = self.aggregate_url();
        let request = self.build_request(&method, &url, Vec::new(), &mut AttemptState::default());
        let request_cseq = self.cseq;
        tracing::debug!(method = <&str>::from(&method), "keepalive");
        self.outgoing.queue(&serialize_request(&request));
        self.methods.push(MethodRecord {
            method: <&str>::from(&method).to_owned(),
            status: None,
        });
        self.answered_later
            .push_back((request_cseq, self.methods.len() - 1));
        self.schedule_keepalive();
    }

    fn on_unsolicited_response(&mut self, resp: Response<Vec<u8>>) {
        let status = u16::from(resp.status());
        let cseq = response_cseq(&resp);
        // The answer to a request that was cut off: kept for it when it is resumed.
        if let Some(f) = &mut self.in_flight {
            if cseq == Some(f.cseq) {
                f.response = Some(resp);
                return;
            }
        }
        // Fill in the status of the keepalive (or abandoned request) this answers; an answer
        // without CSeq (some cameras) answers the oldest.
        let position = match cseq {
            Some(cseq) => self.answered_later.iter().position(|(c, _)| *c == cseq),
            None => (!self.answered_later.is_empty()).then_some(0),
        };
        let Some((_, index)) = position.and_then(|p| self.answered_later.remove(p)) else {
            tracing::debug!(status, ?cseq, "answer to no request of ours");
            return;
        };
        let Some(record) = self.methods.get_mut(index) else {
            return;
        };
        record.status = Some(status);
        if !resp.status().is_success() {
            tracing::warn!(status, method = %record.method, url = %self.url.redacted(), "request refused");
            // Some cameras list GET_PARAMETER but refuse it: fall back to OPTIONS.
            if record.method == "GET_PARAMETER" {
                self.server_methods.retain(|m| m != "GET_PARAMETER");
            }
        }
    }

    fn next_cseq(&mut self) -> u32 {
        self.cseq += 1;
        self.cseq
    }

    fn build_request(
        &mut self,
        method: &Method,
        url: &Url,
        extra: Vec<(HeaderName, String)>,
        attempt: &mut AttemptState,
    ) -> Request<Vec<u8>> {
        let cseq = self.next_cseq();
        let mut builder = Request::builder(method.clone(), Version::V1_0)
            .request_uri(url.clone())
            .header(headers::CSEQ, cseq.to_string())
            .header(headers::USER_AGENT, self.opts.user_agent.clone());
        if let Some(session) = &self.session {
            builder = builder.header(headers::SESSION, session.id.clone());
        }
        if let Some(value) = self
            .auth
            .authorization(<&str>::from(method), url.as_str(), attempt)
        {
            builder = builder.header(headers::AUTHORIZATION, value);
        }
        for (name, value) in extra {
            builder = builder.header(name, value);
        }
        builder.build(Vec::new())
    }

    /// Sends a request and waits for its answer, answering authentication challenges.
    async fn request(
        &mut self,
        step: Step,
        method: Method,
        url: &Url,
        extra: Vec<(HeaderName, String)>,
    ) -> Result<Response<Vec<u8>>, RtspError> {
        let mut attempt = AttemptState::default();
        loop {
            // The same request cut off before its answer came: wait for that answer.
            let resumed = self
                .in_flight
                .as_ref()
                .filter(|f| f.method == method && &f.url == url)
                .map(|f| (f.cseq, f.record));
            let (cseq, record) = match resumed {
                Some(resumed) => {
                    tracing::debug!(cseq = resumed.0, "awaiting the answer to a cut-off request");
                    resumed
                }
                None => {
                    let request = self.build_request(&method, url, extra.clone(), &mut attempt);
                    let cseq = self.cseq;
                    let method_name = <&str>::from(&method).to_owned();
                    tracing::debug!(method = %method_name, url = %redact_url_text(url.as_str()), cseq, "request");
                    self.methods.push(MethodRecord {
                        method: method_name,
                        status: None,
                    });
                    let record = self.methods.len() - 1;
                    // A different request cut off earlier: its answer is only recorded.
                    if let Some(abandoned) = self.in_flight.take() {
                        self.answered_later
                            .push_back((abandoned.cseq, abandoned.record));
                    }
                    self.in_flight = Some(InFlight {
                        cseq,
                        method: method.clone(),
                        url: url.clone(),
                        record,
                        response: None,
                    });
                    // Written while the answer is awaited (`read_response`).
                    self.outgoing.queue(&serialize_request(&request));
                    (cseq, record)
                }
            };
            let early = self.in_flight.as_mut().and_then(|f| f.response.take());
            let resp = match early {
                Some(resp) => resp,
                None => {
                    match tokio::time::timeout(self.opts.timeout, self.read_response(cseq)).await {
                        Ok(resp) => resp.map_err(|k| RtspError::new(step, k))?,
                        Err(_) => {
                            // Given up on, unlike a request cut off by a dropped future: its late
                            // answer is only recorded, and asking again sends a new request.
                            if let Some(abandoned) = self.in_flight.take() {
                                self.answered_later
                                    .push_back((abandoned.cseq, abandoned.record));
                            }
                            return Err(RtspError::new(
                                step,
                                ErrorKind::ResponseTimeout(self.opts.timeout),
                            ));
                        }
                    }
                }
            };
            self.in_flight = None;
            let status = u16::from(resp.status());
            if let Some(r) = self.methods.get_mut(record) {
                r.status = Some(status);
            }
            tracing::debug!(status, cseq, "response");
            if status == 401 {
                let challenge = resp.header(&headers::WWW_AUTHENTICATE).map(|v| v.as_str());
                match self.auth.on_unauthorized(challenge, &mut attempt) {
                    Ok(()) => continue,
                    Err(failure) => {
                        let reason = match failure {
                            AuthFailure::NoCredentials | AuthFailure::Rejected => {
                                resp.reason_phrase().to_owned()
                            }
                            AuthFailure::BadChallenge(_) => failure.to_string(),
                        };
                        return Err(RtspError::new(step, ErrorKind::Status { status, reason }));
                    }
                }
            }
            if matches!(status, 301 | 302 | 303 | 307) {
                if let Some(location) = resp.header(&headers::LOCATION) {
                    return Err(RtspError::new(
                        step,
                        ErrorKind::Redirect {
                            status,
                            location: location.as_str().trim().to_owned(),
                        },
                    ));
                }
            }
            if !resp.status().is_success() {
                return Err(RtspError::new(
                    step,
                    ErrorKind::Status {
                        status,
                        reason: resp.reason_phrase().to_owned(),
                    },
                ));
            }
            return Ok(resp);
        }
    }

    /// Reads until the response with this CSeq; buffers data that comes first.
    async fn read_response(&mut self, cseq: u32) -> Result<Response<Vec<u8>>, ErrorKind> {
        loop {
            tokio::select! {
                biased;
                incoming = next_incoming(&mut self.stream, &mut self.framer, &mut self.outgoing) => match incoming? {
                    Incoming::Response(resp) => {
                        let resp_cseq = response_cseq(&resp);
                        // Some cameras omit CSeq; with one request in flight the answer is ours.
                        if resp_cseq.is_none_or(|c| c == cseq) {
                            return Ok(resp);
                        }
                        self.on_unsolicited_response(resp);
                    }
                    Incoming::Data { channel, payload } => {
                        if let Some(p) = self.on_interleaved(channel, payload) {
                            self.buffer_packet(p);
                        }
                    }
                    Incoming::Request(req) => {
                        self.answer_server_request(&req);
                    }
                },
                // UDP packets keep arriving while we wait (e.g. PLAY after PAUSE).
                (index, is_rtcp, len) = recv_udp(&self.setup_streams, &mut self.udp_buf) => {
                    let data = self.udp_buf[..len].to_vec();
                    if let Some(p) = self.on_packet(index, is_rtcp, data) {
                        self.buffer_packet(p);
                    }
                }
            }
        }
    }

    fn buffer_packet(&mut self, packet: Packet) {
        if self.pending_packets.len() < MAX_PENDING_PACKETS {
            self.pending_packets.push_back(packet);
        }
    }

    /// Answers a request the server sent (see [`answer_to_server_request`]) on the control
    /// connection (queued).
    fn answer_server_request(&mut self, request: &Request<Vec<u8>>) {
        let answer =
            answer_to_server_request(request, self.session.as_ref().map(|s| s.id.as_str()));
        let method = <&str>::from(request.method());
        let status = u16::from(answer.status());
        if *request.method() == Method::Redirect {
            // Following it (RFC 2326 §10.10) would mean a new session elsewhere.
            let location = request
                .header(&headers::LOCATION)
                .map(|v| redact_url_text(v.as_str()));
            tracing::warn!(
                url = %self.url.redacted(),
                ?location,
                "the server sent REDIRECT, which is not followed; answered {status}"
            );
        } else {
            tracing::debug!(method, status, "answered a request from the server");
        }
        self.outgoing.queue(&serialize_response(&answer));
    }
}

/// The answer to a request from the server: RFC 2326 §10 wants one for every request. OPTIONS
/// and GET_PARAMETER (a server checking we are alive) get 200, anything else 501 Not
/// Implemented, as FFmpeg answers them; the CSeq is echoed and our session named.
fn answer_to_server_request(
    request: &Request<Vec<u8>>,
    session: Option<&str>,
) -> Response<Vec<u8>> {
    let (status, reason) = match request.method() {
        Method::Options | Method::GetParameter => (StatusCode::Ok, "OK"),
        _ => (StatusCode::NotImplemented, "Not Implemented"),
    };
    // RFC 2326 §7.1.1's spelling ("rtsp-types" writes "Ok").
    let mut builder = Response::builder(Version::V1_0, status).reason_phrase(reason);
    // Echoed as a number: the value is the server's, and only a number belongs there.
    if let Some(cseq) = request
        .header(&headers::CSEQ)
        .and_then(|v| v.as_str().trim().parse::<u32>().ok())
    {
        builder = builder.header(headers::CSEQ, cseq.to_string());
    }
    if let Some(id) = session {
        builder = builder.header(headers::SESSION, id.to_owned());
    }
    builder.build(Vec::new())
}

/// How long to try the next of `addresses_left` addresses when `time_left` remains of the
/// connect `timeout`: an equal share, but at least [`MIN_CONNECT_ATTEMPT`] (or the whole
/// timeout when that is shorter). So a dead first address (an AAAA record whose traffic is
/// dropped) leaves time for the next, and the connect step takes at most the timeout or one
/// minimum attempt per address, whichever is longer.
fn connect_budget(time_left: Duration, addresses_left: usize, timeout: Duration) -> Duration {
    let share = time_left / u32::try_from(addresses_left.max(1)).unwrap_or(u32::MAX);
    share.max(MIN_CONNECT_ATTEMPT.min(timeout))
}

/// Connects to the first of `addrs` that answers, in order, each within its
/// [`connect_budget`]; a refusal or a timeout moves on to the next. Fails with the last
/// address's failure (`None` when there was no address).
async fn connect_first<T, F, Fut>(
    addrs: &[SocketAddr],
    timeout: Duration,
    mut connect: F,
) -> Result<(T, SocketAddr), Option<ErrorKind>>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    for (i, &addr) in addrs.iter().enumerate() {
        let time_left = deadline.saturating_duration_since(Instant::now());
        let budget = connect_budget(time_left, addrs.len() - i, timeout);
        match tokio::time::timeout(budget, connect(addr)).await {
            Ok(Ok(stream)) => return Ok((stream, addr)),
            Ok(Err(source)) => {
                tracing::debug!(%addr, "connect failed: {source}");
                last_err = Some(ErrorKind::ConnectFailed {
                    addr: addr.to_string(),
                    source,
                });
            }
            Err(_) => {
                tracing::debug!(%addr, "no answer within {budget:?}");
                last_err = Some(ErrorKind::ConnectTimeout {
                    addr: addr.to_string(),
                    after: budget,
                });
            }
        }
    }
    Err(last_err)
}

/// The next unit off the control connection, writing what `outgoing` holds meanwhile.
/// Cancel-safe: bytes read stay in `framer`, bytes not yet written in `outgoing`.
async fn next_incoming(
    stream: &mut Conn,
    framer: &mut Framer,
    outgoing: &mut Outgoing,
) -> Result<Incoming, ErrorKind> {
    let protocol = |e: super::message::FramingError| ErrorKind::Protocol(e.to_string());
    std::future::poll_fn(|cx| {
        // Pending here means the connection takes no more for now; reading goes on.
        if let Poll::Ready(Err(e)) = outgoing.poll_write_to(stream, cx) {
            return Poll::Ready(Err(ErrorKind::Io(e)));
        }
        loop {
            if let Some(unit) = framer.next_unit().map_err(protocol)? {
                return Poll::Ready(Ok(unit));
            }
            let read_buf = framer.read_buf();
            read_buf.reserve(64 * 1024);
            // One poll of a fresh read: `read_buf` is cancel-safe, and the waker stays set.
            let read = std::future::Future::poll(std::pin::pin!(stream.read_buf(read_buf)), cx);
            match read {
                Poll::Ready(Ok(0)) => {
                    // A peer that sent something other than RTSP and hung up: say what it sent.
                    return Poll::Ready(Err(framer
                        .junk_at_close()
                        .map_or(ErrorKind::Closed, protocol)));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(ErrorKind::Io(e))),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

/// The next datagram on any stream's UDP sockets: (stream index, is RTCP, length in `buf`).
/// Pending forever when no stream uses UDP. Cancel-safe. Datagrams from hosts other than the
/// server are dropped.
async fn recv_udp(streams: &[SetupStream], buf: &mut [u8]) -> (usize, bool, usize) {
    std::future::poll_fn(|cx| {
        for (index, s) in streams.iter().enumerate() {
            let Carrier::Udp(pair) = &s.carrier else {
                continue;
            };
            for (is_rtcp, socket) in [(false, &pair.rtp), (true, &pair.rtcp)] {
                // Drain junk from strangers without returning, so one poll sees real data.
                loop {
                    let mut read = ReadBuf::new(buf);
                    match socket.poll_recv_from(cx, &mut read) {
                        Poll::Ready(Ok(from)) => {
                            let len = read.filled().len();
                            if datagram_from_server(from.ip(), pair.source_ip, pair.peer_ip) {
                                return Poll::Ready((index, is_rtcp, len));
                            }
                            tracing::debug!(%from, "dropped a datagram from another host");
                        }
                        Poll::Ready(Err(e)) => {
                            // ICMP errors surface here on some systems; they are not fatal.
                            tracing::debug!("UDP receive: {e}");
                        }
                        Poll::Pending => break,
                    }
                }
            }
        }
        Poll::Pending
    })
    .await
}

/// Whether a datagram from `from` comes from the server: from the address SETUP's `source=`
/// named, or from the control connection's peer (cameras that name no source, or a wrong
/// one). Any loopback address matches a loopback peer: Debian maps the host name to
/// 127.0.1.1 while the server's UDP leaves from 127.0.0.1. Datagrams from any other host are
/// dropped, so nobody else can inject packets into the stream.
fn datagram_from_server(from: IpAddr, source: Option<IpAddr>, peer: IpAddr) -> bool {
    let (from, peer) = (from.to_canonical(), peer.to_canonical());
    from == peer
        || source.is_some_and(|s| s.to_canonical() == from)
        || (from.is_loopback() && peer.is_loopback())
}

impl UdpPair {
    /// Opens the path through NATs and firewalls on the way (RFC 7604 §3.3-ish): one datagram
    /// to each server port from the ports the server will send to; the RTCP one is an empty
    /// receiver report with our SSRC and CNAME.
    fn punch_holes(&self, our_ssrc: u32, cname: &str) {
        if let Some(to) = self.server_rtp {
            let _ = self.rtp.try_send_to(&HOLE_PUNCH, to);
        }
        if let Some(to) = self.server_rtcp {
            let _ = self
                .rtcp
                .try_send_to(&build_receiver_report(our_ssrc, cname, &[]), to);
        }
    }
}

/// Binds an even RTP port and the odd RTCP port above it (RFC 3550 §11), with a receive
/// buffer large enough for a keyframe burst.
fn bind_udp_pair(ip: IpAddr) -> std::io::Result<(UdpSocket, UdpSocket)> {
    for _ in 0..32 {
        let rtp = bind_udp(SocketAddr::new(ip, 0))?;
        let port = rtp.local_addr()?.port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = bind_udp(SocketAddr::new(ip, port + 1)) {
            return Ok((UdpSocket::from_std(rtp)?, UdpSocket::from_std(rtcp)?));
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no free pair of UDP ports for RTP and RTCP",
    ))
}

fn bind_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel caps it (net.core.rmem_max).
    let _ = socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

impl Drop for RtspSession {
    /// Best-effort TEARDOWN so the camera frees the session at once rather than at its timeout.
    /// Drop cannot wait, so this is a single non-blocking write of a small request.
    fn drop(&mut self) {
        if self.session.is_none() || self.torn_down {
            return;
        }
        self.say_goodbye();
        let url = self.aggregate_url();
        let request = self.build_request(
            &Method::Teardown,
            &url,
            Vec::new(),
            &mut AttemptState::default(),
        );
        // What is still queued goes first: it may be the rest of a frame already begun.
        let mut bytes = std::mem::take(&mut self.outgoing.bytes);
        bytes.extend_from_slice(&serialize_request(&request));
        let url = self.url.redacted();
        match std::mem::replace(&mut self.stream, Conn::Closed) {
            Conn::Plain(stream) => match stream.try_write(&bytes) {
                Ok(n) if n == bytes.len() => tracing::debug!(%url, "TEARDOWN sent on drop"),
                _ => tracing::debug!(%url, "could not send TEARDOWN on drop"),
            },
            // TLS cannot write without awaiting: finish in the background when a runtime runs.
            mut conn @ Conn::Tls(_) => {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move {
                        let sent = tokio::time::timeout(Duration::from_secs(2), async {
                            conn.write_all(&bytes).await?;
                            conn.flush().await?;
                            conn.shutdown().await
                        })
                        .await;
                        tracing::debug!(%url, ok = matches!(sent, Ok(Ok(()))), "TEARDOWN on drop (TLS)");
                    });
                }
            }
            #[cfg(test)]
            Conn::Pipe(_) => {}
            Conn::Closed => {}
        }
    }
}

/// A `name=value` parameter of a Transport header.
fn transport_param<'a>(transport: &'a str, name: &str) -> Option<&'a str> {
    transport.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `server_port=a-b` (or `client_port=`); a lone port means RTCP on the next one.
fn port_pair(transport: &str, name: &str) -> Option<(u16, u16)> {
    let spec = transport_param(transport, name)?;
    let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
    let a: u16 = a.trim().parse().ok()?;
    let b: u16 = b.trim().parse().unwrap_or(a.wrapping_add(1));
    Some((a, b))
}

/// `Session: 12345678;timeout=60` (RFC 2326 §12.37).
fn parse_session_header(value: &str) -> Option<SessionHeader> {
    let mut parts = value.split(';');
    let id = parts.next()?.trim();
    if id.is_empty() {
        return None;
    }
    let timeout = parts
        .filter_map(|p| p.trim().strip_prefix("timeout="))
        .find_map(|t| t.trim().parse::<u64>().ok())
        .filter(|&t| t > 0)
        .map_or(DEFAULT_SESSION_TIMEOUT, Duration::from_secs);
    Some(SessionHeader {
        id: id.to_owned(),
        timeout,
    })
}

/// The `interleaved=a-b` channels of a Transport header.
fn interleaved_channels(transport: &str) -> Option<(u8, u8)> {
    let spec = transport
        .split(';')
        .find_map(|p| p.trim().strip_prefix("interleaved="))?;
    let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
    let a: u8 = a.trim().parse().ok()?;
    let b: u8 = b.trim().parse().unwrap_or(a.wrapping_add(1));
    Some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::rtp::rtcp::parse_rtcp;

    #[test]
    fn session_header() {
        let s = parse_session_header("1A2B3C;timeout=30").unwrap();
        assert_eq!(s.id, "1A2B3C");
        assert_eq!(s.timeout, Duration::from_secs(30));
        let s = parse_session_header("abc").unwrap();
        assert_eq!(s.timeout, DEFAULT_SESSION_TIMEOUT);
        assert!(parse_session_header(";timeout=5").is_none());
    }

    #[test]
    fn transport_channels() {
        assert_eq!(
            interleaved_channels("RTP/AVP/TCP;unicast;interleaved=2-3;ssrc=1"),
            Some((2, 3))
        );
        assert_eq!(
            interleaved_channels("RTP/AVP/TCP;interleaved=4"),
            Some((4, 5))
        );
        assert_eq!(
            interleaved_channels("RTP/AVP;unicast;client_port=1-2"),
            None
        );
    }

    #[test]
    fn udp_transport_answer() {
        let answer =
            "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;source=10.0.0.9;ssrc=1A2B";
        assert_eq!(port_pair(answer, "server_port"), Some((6970, 6971)));
        assert_eq!(port_pair(answer, "client_port"), Some((5000, 5001)));
        assert_eq!(transport_param(answer, "source"), Some("10.0.0.9"));
        assert_eq!(
            port_pair("RTP/AVP;server_port=7000", "server_port"),
            Some((7000, 7001))
        );
        assert_eq!(port_pair("RTP/AVP;server_port=x-y", "server_port"), None);
        assert_eq!(transport_param(answer, "destination"), None);
    }

    #[test]
    fn udp_ports_are_an_even_odd_pair() {
        block_on(async {
            let (rtp, rtcp) = bind_udp_pair(IpAddr::from([127, 0, 0, 1])).unwrap();
            let a = rtp.local_addr().unwrap().port();
            let b = rtcp.local_addr().unwrap().port();
            assert_eq!(a % 2, 0);
            assert_eq!(b, a + 1);
        });
    }

    /// The smallest RTP packet `on_packet` takes: version 2, payload type 96, this sequence
    /// number, one payload byte.
    fn rtp_packet(seq: u8) -> Vec<u8> {
        vec![0x80, 96, 0, seq, 0, 0, 0, 0, 0, 0, 0, 1, 0xab]
    }

    /// Runs a test's async body on a runtime of its own (one thread, timers and I/O on).
    fn block_on<F: std::future::Future>(body: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(body)
    }

    /// A listener on a free loopback port, for a fake server, and the port.
    async fn fake_server() -> (tokio::net::TcpListener, u16) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    /// The CSeq of the first request in `request` (what a fake server echoes).
    fn cseq_of(request: &str) -> String {
        request
            .lines()
            .find_map(|l| l.strip_prefix("CSeq: "))
            .unwrap()
            .to_owned()
    }

    /// Reads what the client writes until `count` messages (header blocks) have come.
    async fn read_messages(socket: &mut tokio::net::TcpStream, count: usize) -> String {
        use tokio::io::AsyncReadExt as _;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while seen.windows(4).filter(|w| w == b"\r\n\r\n").count() < count {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "the client hung up: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    }

    /// A session connected to a fake server on loopback, set up as if SETUP had answered
    /// interleaved channels 0-1 with session `ABC123`.
    async fn interleaved_session(port: u16) -> RtspSession {
        let url = CameraUrl::parse(&format!("rtsp://127.0.0.1:{port}/cam")).unwrap();
        let opts = ClientOptions {
            timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let mut session = RtspSession::connect(&url, opts).await.unwrap();
        session.session = Some(SessionHeader {
            id: "ABC123".into(),
            timeout: DEFAULT_SESSION_TIMEOUT,
        });
        session.chosen = Some(Transport::Tcp);
        session.setup_streams.push(SetupStream {
            stream: 0,
            carrier: Carrier::Interleaved {
                rtp_channel: 0,
                rtcp_channel: 1,
            },
            stats: ReceiverStats::new(90_000),
            reorder: None,
        });
        session
    }

    #[test]
    fn a_request_from_the_server_is_answered_between_packets() {
        block_on(async {
            let (listener, port) = fake_server().await;
            let server = tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut out = interleaved_frame(0, &rtp_packet(1)).unwrap();
                out.extend_from_slice(b"OPTIONS * RTSP/1.0\r\nCSeq: 7\r\n\r\n");
                out.extend(interleaved_frame(0, &rtp_packet(2)).unwrap());
                socket.write_all(&out).await.unwrap();
                read_messages(&mut socket, 1).await
            });
            let mut session = interleaved_session(port).await;
            for seq in [1, 2] {
                let packet = tokio::time::timeout(Duration::from_secs(5), session.next_packet())
                    .await
                    .expect("a packet within 5 s")
                    .unwrap();
                assert_eq!(
                    packet,
                    Packet::Rtp {
                        stream: 0,
                        data: rtp_packet(seq)
                    }
                );
            }
            let answer = tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .expect("the client answered")
                .unwrap();
            assert!(answer.starts_with("RTSP/1.0 200 OK\r\n"), "{answer}");
            let lines: Vec<&str> = answer.lines().collect();
            assert!(lines.contains(&"CSeq: 7"), "{answer}");
            assert!(lines.contains(&"Session: ABC123"), "{answer}");
        });
    }

    /// A 28-byte sender report of SSRC 1 (NTP 0xe8f1_2a3b_8000_0000, RTP 90 000).
    fn sender_report() -> Vec<u8> {
        vec![
            0x80, 200, 0, 6, 0, 0, 0, 1, 0xe8, 0xf1, 0x2a, 0x3b, 0x80, 0, 0, 0, 0, 0x01, 0x5f,
            0x90, 0, 0, 1, 0x2c, 0, 4, 0x93, 0xe0,
        ]
    }

    /// RTCP on the RTP channel (RFC 5761) is applied as RTCP, not counted as a packet of a
    /// bogus SSRC (the NTP time's high word, read as RTP).
    #[test]
    fn rtcp_on_the_rtp_channel_is_taken_as_rtcp() {
        block_on(async {
            let (listener, port) = fake_server().await;
            let _server = tokio::spawn(async move { listener.accept().await });
            let mut session = interleaved_session(port).await;
            for seq in [1, 2, 3] {
                assert!(session.on_interleaved(0, rtp_packet(seq)).is_some());
            }
            let packet = session.on_interleaved(0, sender_report());
            assert_eq!(
                packet,
                Some(Packet::Rtcp {
                    stream: 0,
                    data: sender_report()
                })
            );
            let stats = session.receiver_stats(0).unwrap();
            assert_eq!(stats.ssrc, Some(1));
            assert_eq!((stats.packets_received, stats.seq_jumps), (2, 0));
            assert_eq!(
                stats.last_sr.map(|sr| sr.ntp_timestamp),
                Some(0xe8f1_2a3b_8000_0000)
            );
        });
    }

    /// The `$` frames in `bytes`, which must be whole RTCP receiver reports of `ssrc` on
    /// channel 1 with nothing left over: how many.
    fn whole_report_frames(bytes: &[u8], ssrc: u32) -> usize {
        let mut rest = bytes;
        let mut frames = 0;
        while !rest.is_empty() {
            let at = bytes.len() - rest.len();
            let (Some(b'$'), Some(1), Some(len)) = (
                rest.first(),
                rest.get(1),
                rest.get(2..4)
                    .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))),
            ) else {
                panic!("no frame header at byte {at} of {bytes:?}");
            };
            let payload = rest
                .get(4..4 + len)
                .unwrap_or_else(|| panic!("frame at byte {at} cut short: {bytes:?}"));
            let items = parse_rtcp(payload)
                .unwrap_or_else(|e| panic!("frame at byte {at} is no RTCP ({e}): {bytes:?}"));
            assert!(
                matches!(items.first(), Some(RtcpItem::ReceiverReport { ssrc: s, .. }) if *s == ssrc),
                "frame at byte {at}: {items:?}"
            );
            rest = &rest[4 + len..];
            frames += 1;
        }
        frames
    }

    /// A peer that reads nothing, behind a 100-byte buffer: receiver reports are due while
    /// `next_packet` is cut off again and again (as the camera task drops it on its stats
    /// tick). When the peer reads at last, it gets whole frames only, and all of them.
    #[test]
    fn cut_off_receiver_reports_leave_no_partial_frame() {
        block_on(async {
            use tokio::io::AsyncReadExt as _;
            let (listener, port) = fake_server().await;
            let _server = tokio::spawn(async move { listener.accept().await });
            let mut session = interleaved_session(port).await;
            let (ours, mut peer) = tokio::io::duplex(100);
            session.stream = Conn::Pipe(ours);
            for _ in 0..20 {
                session.rtcp_at = Some(Instant::now());
                let cut =
                    tokio::time::timeout(Duration::from_millis(10), session.next_packet()).await;
                assert!(cut.is_err(), "nothing to receive: {cut:?}");
            }
            session.rtcp_at = None;
            let reader = tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 64];
                let idle = Duration::from_millis(300);
                while let Ok(Ok(n @ 1..)) = tokio::time::timeout(idle, peer.read(&mut buf)).await {
                    seen.extend_from_slice(&buf[..n]);
                }
                seen
            });
            // The session writes what is left while it waits for packets.
            let _ = tokio::time::timeout(Duration::from_secs(1), session.next_packet()).await;
            let seen = reader.await.unwrap();
            let frames = whole_report_frames(&seen, session.our_ssrc);
            assert!(frames > 2, "{frames} frames: more than the buffer holds");
        });
    }

    /// A sender report followed by a truncated SDES: the report is applied all the same.
    #[test]
    fn a_sender_report_before_a_damaged_packet_is_applied() {
        block_on(async {
            let (listener, port) = fake_server().await;
            let _server = tokio::spawn(async move { listener.accept().await });
            let mut session = interleaved_session(port).await;
            for seq in [1, 2] {
                assert!(session.on_interleaved(0, rtp_packet(seq)).is_some());
            }
            let mut compound = sender_report();
            compound.extend_from_slice(&[0x81, 202, 0, 5, 0x11, 0x22, 0x33, 0x44]);
            assert!(matches!(
                session.on_interleaved(1, compound),
                Some(Packet::Rtcp { stream: 0, .. })
            ));
            let stats = session.receiver_stats(0).unwrap();
            assert_eq!(
                stats.last_sr.map(|sr| sr.rtp_timestamp),
                Some(90_000),
                "{stats:?}"
            );
        });
    }

    #[test]
    fn requests_from_the_server_are_answered_while_awaiting_a_response() {
        block_on(async {
            let (listener, port) = fake_server().await;
            let server = tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let request = read_messages(&mut socket, 1).await;
                let cseq = cseq_of(&request);
                let out = format!(
                    "SET_PARAMETER rtsp://127.0.0.1/cam RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 0\r\n\r\n\
                     GET_PARAMETER * RTSP/1.0\r\nCSeq: 4\r\n\r\n\
                     RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n\r\n"
                );
                socket.write_all(out.as_bytes()).await.unwrap();
                read_messages(&mut socket, 2).await
            });
            let url = CameraUrl::parse(&format!("rtsp://127.0.0.1:{port}/cam")).unwrap();
            let opts = ClientOptions {
                timeout: Duration::from_secs(5),
                ..Default::default()
            };
            let mut session = RtspSession::connect(&url, opts).await.unwrap();
            session.options().await.expect("OPTIONS is answered");
            let answers = tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .expect("the client answered both")
                .unwrap();
            let answers: Vec<Vec<&str>> = answers
                .split("\r\n\r\n")
                .filter(|a| !a.is_empty())
                .map(|a| a.lines().collect())
                .collect();
            assert_eq!(answers.len(), 2, "{answers:?}");
            assert_eq!(answers[0][0], "RTSP/1.0 501 Not Implemented");
            assert!(answers[0].contains(&"CSeq: 3"), "{answers:?}");
            assert_eq!(answers[1][0], "RTSP/1.0 200 OK");
            assert!(answers[1].contains(&"CSeq: 4"), "{answers:?}");
            // No session yet, so none is named.
            assert!(!answers.concat().iter().any(|l| l.starts_with("Session")));
        });
    }

    #[test]
    fn server_requests_get_200_or_501() {
        let request = |method: Method, cseq: &str| {
            Request::builder(method, Version::V1_0)
                .header(headers::CSEQ, cseq.to_owned())
                .build(Vec::new())
        };
        for (method, status) in [
            (Method::Options, StatusCode::Ok),
            (Method::GetParameter, StatusCode::Ok),
            (Method::SetParameter, StatusCode::NotImplemented),
            (Method::Announce, StatusCode::NotImplemented),
            (Method::Redirect, StatusCode::NotImplemented),
            (
                Method::Extension("X-VENDOR".into()),
                StatusCode::NotImplemented,
            ),
        ] {
            let answer = answer_to_server_request(&request(method.clone(), " 12 "), Some("S1"));
            assert_eq!(answer.status(), status, "{method:?}");
            let shown = if status == StatusCode::Ok {
                "OK"
            } else {
                "Not Implemented"
            };
            assert_eq!(answer.reason_phrase(), shown);
            assert_eq!(response_cseq(&answer), Some(12));
            assert_eq!(
                answer.header(&headers::SESSION).map(|v| v.as_str()),
                Some("S1")
            );
        }
        // A CSeq that is not a number is not echoed.
        let answer = answer_to_server_request(&request(Method::Options, "7\r\nX: y"), None);
        assert!(answer.header(&headers::CSEQ).is_none());
        assert!(answer.header(&headers::SESSION).is_none());
    }

    #[test]
    fn udp_is_taken_from_the_source_or_the_peer_only() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let peer = ip("192.168.1.20");
        let source = Some(ip("192.168.1.21"));
        // The peer, or the source SETUP named.
        assert!(datagram_from_server(peer, source, peer));
        assert!(datagram_from_server(ip("192.168.1.21"), source, peer));
        assert!(datagram_from_server(peer, None, peer));
        // A wrong `source=`: the peer still counts.
        assert!(datagram_from_server(peer, Some(ip("10.9.9.9")), peer));
        // Anyone else does not.
        assert!(!datagram_from_server(ip("192.168.1.66"), source, peer));
        assert!(!datagram_from_server(ip("192.168.1.66"), None, peer));
        assert!(!datagram_from_server(ip("127.0.0.1"), source, peer));
        // Loopback matches loopback: Debian's 127.0.1.1 host name, UDP from 127.0.0.1.
        assert!(datagram_from_server(ip("127.0.0.1"), None, ip("127.0.1.1")));
        assert!(datagram_from_server(ip("::1"), None, ip("127.0.0.1")));
        assert!(datagram_from_server(ip("127.0.0.1"), None, ip("::1")));
        assert!(!datagram_from_server(ip("10.0.0.1"), None, ip("127.0.1.1")));
        // An IPv4 peer seen through a dual-stack socket.
        assert!(datagram_from_server(ip("::ffff:192.168.1.20"), None, peer));
        assert!(!datagram_from_server(ip("::ffff:192.168.1.66"), None, peer));
    }

    #[test]
    fn connect_budget_shares_the_time_left() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(connect_budget(s(10), 1, s(10)), s(10));
        assert_eq!(connect_budget(s(10), 2, s(10)), s(5));
        assert_eq!(connect_budget(s(10), 8, s(10)), ms(1250));
        // Never less than a second, however many addresses are left or how little time.
        assert_eq!(connect_budget(s(2), 4, s(10)), s(1));
        assert_eq!(connect_budget(Duration::ZERO, 3, s(10)), s(1));
        // Unless the whole timeout is shorter.
        assert_eq!(connect_budget(ms(300), 1, ms(300)), ms(300));
        assert_eq!(connect_budget(Duration::ZERO, 2, ms(300)), ms(300));
        assert_eq!(connect_budget(s(10), 0, s(10)), s(10));
    }

    /// A connector for [`connect_first`]: port 1 never answers (its packets are dropped),
    /// port 2 refuses, any other port connects.
    async fn fake_connect(addr: SocketAddr) -> std::io::Result<u16> {
        match addr.port() {
            1 => std::future::pending().await,
            2 => Err(std::io::ErrorKind::ConnectionRefused.into()),
            port => Ok(port),
        }
    }

    #[test]
    fn a_silent_address_does_not_use_up_the_others_time() {
        block_on(async {
            let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
            let timeout = Duration::from_millis(200);
            // A dropped AAAA address first, then the working IPv4 one.
            let (port, used) = connect_first(
                &[addr("[2001:db8::1]:1"), addr("10.0.0.5:554")],
                timeout,
                fake_connect,
            )
            .await
            .unwrap();
            assert_eq!((port, used), (554, addr("10.0.0.5:554")));
            // All fail: the error is the last address's.
            let err = connect_first(
                &[addr("[2001:db8::1]:1"), addr("10.0.0.5:2")],
                timeout,
                fake_connect,
            )
            .await
            .unwrap_err();
            assert!(
                matches!(&err, Some(ErrorKind::ConnectFailed { addr, .. }) if addr == "10.0.0.5:2"),
                "{err:?}"
            );
            let err = connect_first(
                &[addr("10.0.0.5:2"), addr("10.0.0.6:1")],
                timeout,
                fake_connect,
            )
            .await
            .unwrap_err();
            assert!(
                matches!(&err, Some(ErrorKind::ConnectTimeout { addr, after }) if addr == "10.0.0.6:1" && *after == timeout),
                "{err:?}"
            );
            assert!(connect_first(&[], timeout, fake_connect)
                .await
                .unwrap_err()
                .is_none());
        });
    }

    /// Fault injection no real server produces on demand: answers nothing until the second
    /// request, then answers both, the late one first.
    async fn fake_server_answering_the_first_request_late(listener: tokio::net::TcpListener) {
        let (mut socket, _) = listener.accept().await.unwrap();
        let text = read_messages(&mut socket, 2).await;
        let cseqs: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("CSeq: "))
            .collect();
        assert_eq!(cseqs.len(), 2, "{text}");
        for cseq in cseqs {
            let answer =
                format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n");
            socket.write_all(answer.as_bytes()).await.unwrap();
        }
        // Keep the connection open until the client is done.
        use tokio::io::AsyncReadExt as _;
        let _ = socket.read(&mut [0u8; 64]).await;
    }

    #[test]
    fn a_request_that_timed_out_is_sent_again_and_its_late_answer_recorded() {
        block_on(async {
            let (listener, port) = fake_server().await;
            let server = tokio::spawn(fake_server_answering_the_first_request_late(listener));
            let url = CameraUrl::parse(&format!("rtsp://127.0.0.1:{port}/cam")).unwrap();
            let opts = ClientOptions {
                timeout: Duration::from_millis(300),
                ..Default::default()
            };
            let mut session = RtspSession::connect(&url, opts).await.unwrap();
            let first = session.options().await.unwrap_err();
            assert!(
                matches!(first.kind, ErrorKind::ResponseTimeout(_)),
                "{first}"
            );
            session
                .options()
                .await
                .expect("the second OPTIONS is answered");
            let record: Vec<_> = session
                .methods()
                .iter()
                .map(|m| (m.method.as_str(), m.status))
                .collect();
            assert_eq!(record, [("OPTIONS", Some(200)), ("OPTIONS", Some(200))]);
            drop(session);
            tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .expect("the fake server ends")
                .unwrap();
        });
    }

    #[test]
    fn redirect_targets_resolve_and_never_drop_tls() {
        let current = CameraUrl::parse("rtsps://cam.example:322/live?ch=1").unwrap();
        let (target, same) = redirect_target(&current, "/moved").unwrap();
        assert_eq!(target.url().as_str(), "rtsps://cam.example:322/moved");
        assert!(same);
        let (target, same) = redirect_target(&current, "rtsps://other.example/live").unwrap();
        assert_eq!(target.host(), "other.example");
        assert!(!same);
        let err = redirect_target(&current, "rtsp://cam.example/live").unwrap_err();
        assert!(err.contains("without TLS"), "{err}");
        assert!(redirect_target(&current, "http://cam.example/").is_err());
        let plain = CameraUrl::parse("rtsp://10.0.0.5/live").unwrap();
        assert!(redirect_target(&plain, "rtsps://10.0.0.5/live").is_ok());
    }

    /// A fake camera that answers DESCRIBEs on one connection, in turn, with `answers`
    /// (`{cseq}` is replaced), and returns what it was sent. Fault injection: redirects on
    /// demand, which the real servers here cannot send.
    async fn answering(listener: &tokio::net::TcpListener, answers: Vec<String>) -> Vec<String> {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut requests = Vec::new();
        for answer in answers {
            let request = read_messages(&mut socket, 1).await;
            let cseq = cseq_of(&request);
            socket
                .write_all(answer.replace("{cseq}", &cseq).as_bytes())
                .await
                .unwrap();
            requests.push(request);
        }
        requests
    }

    fn sdp_answer() -> String {
        let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n\
                   m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n";
        format!(
            "RTSP/1.0 200 OK\r\nCSeq: {{cseq}}\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    }

    fn redirected_options(url: &str) -> (CameraUrl, ClientOptions) {
        let opts = ClientOptions {
            timeout: Duration::from_secs(5),
            credentials: Some(Credentials {
                username: "admin".into(),
                password: "secret".into(),
            }),
            ..Default::default()
        };
        (CameraUrl::parse(url).unwrap(), opts)
    }

    /// The CNAME of the SDES item in an RTCP compound packet.
    fn cname_of(report: &[u8]) -> Vec<u8> {
        let compound = rtcp_types::Compound::parse(report).unwrap();
        for packet in compound {
            if let Ok(rtcp_types::Packet::Sdes(sdes)) = packet {
                let chunk = sdes.chunks().next().unwrap();
                return chunk.items().next().unwrap().value().to_vec();
            }
        }
        panic!("no SDES in {report:?}");
    }

    /// The next datagram on `socket`, within 5 s.
    async fn datagram(socket: &UdpSocket) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
            .await
            .expect("a datagram within 5 s")
            .unwrap();
        buf.truncate(n);
        buf
    }

    /// A session set up over UDP with a fake server whose RTP and RTCP ports are `server`.
    async fn udp_session(server: &(UdpSocket, UdpSocket)) -> (RtspSession, Vec<String>) {
        let (listener, port) = fake_server().await;
        let rtp_port = server.0.local_addr().unwrap().port();
        let setup = format!(
            "RTSP/1.0 200 OK\r\nCSeq: {{cseq}}\r\nSession: S1;timeout=60\r\n\
             Transport: RTP/AVP;unicast;client_port=0-1;server_port={}-{}\r\n\r\n",
            rtp_port,
            rtp_port + 1
        );
        let fake =
            tokio::spawn(async move { answering(&listener, vec![sdp_answer(), setup]).await });
        let url = CameraUrl::parse(&format!("rtsp://127.0.0.1:{port}/cam")).unwrap();
        let opts = ClientOptions {
            transport: Transport::Udp,
            timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let mut session = RtspSession::connect(&url, opts).await.unwrap();
        session.describe().await.unwrap();
        session.setup(0).await.unwrap();
        (session, fake.await.unwrap())
    }

    /// RFC 3550 §6.5.1: the hole-punch report and the receiver reports after it carry one
    /// CNAME for our SSRC.
    #[test]
    fn every_report_carries_the_same_cname() {
        block_on(async {
            let server = bind_udp_pair(IpAddr::from([127, 0, 0, 1])).unwrap();
            let (mut session, _) = udp_session(&server).await;
            let punch = datagram(&server.1).await;
            session.send_receiver_reports();
            let report = datagram(&server.1).await;
            assert_eq!(cname_of(&report), b"vedette@127.0.0.1");
            assert_eq!(cname_of(&punch), cname_of(&report));
        });
    }

    /// A fake server that reads until a TEARDOWN, answers it, and returns what came before.
    async fn bytes_before_teardown(listener: tokio::net::TcpListener) -> Vec<u8> {
        use tokio::io::AsyncReadExt as _;
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        let teardown = loop {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "hung up: {seen:?}");
            seen.extend_from_slice(&buf[..n]);
            let at = seen.windows(8).position(|w| w == b"TEARDOWN");
            if let Some(at) = at.filter(|&at| seen[at..].ends_with(b"\r\n\r\n")) {
                break at;
            }
        };
        let request = String::from_utf8_lossy(&seen[teardown..]).into_owned();
        let answer = format!("RTSP/1.0 200 OK\r\nCSeq: {}\r\n\r\n", cseq_of(&request));
        socket.write_all(answer.as_bytes()).await.unwrap();
        seen.truncate(teardown);
        seen
    }

    /// On an interleaved connection TEARDOWN goes alone, with no RTCP BYE in front of it,
    /// from `teardown` and from a dropped session alike: GstRtspServer 1.22 over TLS never
    /// answered a TEARDOWN that followed a BYE (`tests/rtsps.rs` failed with "TEARDOWN
    /// failed: no response within 10 s"), and the TEARDOWN says it all there.
    #[test]
    fn teardown_on_an_interleaved_connection_goes_without_a_bye() {
        block_on(async {
            let (listener, port) = fake_server().await;
            let server = tokio::spawn(bytes_before_teardown(listener));
            let mut session = interleaved_session(port).await;
            session.teardown().await.unwrap();
            assert_eq!(server.await.unwrap(), b"", "only TEARDOWN");

            let (listener, port) = fake_server().await;
            let server = tokio::spawn(bytes_before_teardown(listener));
            drop(interleaved_session(port).await);
            assert_eq!(server.await.unwrap(), b"", "only TEARDOWN");
        });
    }

    /// Over UDP the BYE goes to the server's RTCP port, with the session's CNAME.
    #[test]
    fn teardown_says_bye_on_udp() {
        block_on(async {
            let server = bind_udp_pair(IpAddr::from([127, 0, 0, 1])).unwrap();
            let (mut session, _) = udp_session(&server).await;
            let punch = datagram(&server.1).await;
            // The fake server has hung up: TEARDOWN fails, the BYE is out before it.
            let _ = session.teardown().await;
            let goodbye = datagram(&server.1).await;
            let items = parse_rtcp(&goodbye).unwrap();
            assert_eq!(items.last(), Some(&RtcpItem::Bye(session.our_ssrc)));
            assert_eq!(cname_of(&goodbye), cname_of(&punch));
        });
    }

    /// DESCRIBE answered 302 with a relative Location: the client connects again, to the same
    /// host, asks for the new path, answers its Basic challenge with the same credentials,
    /// and keeps every request in its record.
    #[test]
    fn a_describe_redirect_is_followed_with_the_credentials_on_the_same_host() {
        block_on(async {
            let (listener, port) = fake_server().await;
            let server = tokio::spawn(async move {
                let redirect = "RTSP/1.0 302 Moved\r\nCSeq: {cseq}\r\nLocation: /moved\r\n\r\n";
                let first = answering(&listener, vec![redirect.into()]).await;
                // A new connection: a challenge, then the stream.
                let challenge = "RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n\
                                 WWW-Authenticate: Basic realm=\"cam\"\r\n\r\n";
                let second = answering(&listener, vec![challenge.into(), sdp_answer()]).await;
                (first, second)
            });
            let (url, opts) = redirected_options(&format!("rtsp://127.0.0.1:{port}/old"));
            let mut session = RtspSession::connect(&url, opts).await.unwrap();
            let streams = session.describe().await.unwrap().streams.len();
            assert_eq!(streams, 1);
            let (first, second) = server.await.unwrap();
            assert!(
                first[0].starts_with("DESCRIBE rtsp://127.0.0.1:"),
                "{first:?}"
            );
            assert!(
                second[0].starts_with(&format!("DESCRIBE rtsp://127.0.0.1:{port}/moved ")),
                "{second:?}"
            );
            assert!(second[1].contains("Authorization: Basic "), "{second:?}");
            assert_eq!(session.url().url().path(), "/moved");
            let methods: Vec<_> = session
                .methods()
                .iter()
                .map(|m| format!("{} {}", m.method, m.status.unwrap_or(0)))
                .collect();
            assert_eq!(methods, ["DESCRIBE 302", "DESCRIBE 401", "DESCRIBE 200"]);
        });
    }

    /// A redirect to another server: the password stays behind, so that server's challenge
    /// fails with 401 and it is never sent an Authorization header.
    #[test]
    fn a_redirect_to_another_host_does_not_take_the_password_along() {
        block_on(async {
            let (other, other_port) = fake_server().await;
            let challenge = "RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n\
                             WWW-Authenticate: Basic realm=\"other\"\r\n\r\n";
            let other =
                tokio::spawn(async move { answering(&other, vec![challenge.into()]).await });
            let (first, port) = fake_server().await;
            let location = format!("rtsp://127.0.0.1:{other_port}/x");
            let redirect = format!(
                "RTSP/1.0 301 Moved Permanently\r\nCSeq: {{cseq}}\r\nLocation: {location}\r\n\r\n"
            );
            tokio::spawn(async move { answering(&first, vec![redirect]).await });
            let (url, opts) = redirected_options(&format!("rtsp://127.0.0.1:{port}/old"));
            let mut session = RtspSession::connect(&url, opts).await.unwrap();
            let err = session.describe().await.map(|_| ()).unwrap_err();
            assert_eq!(err.status(), Some(401), "{err}");
            let seen = other.await.unwrap();
            assert_eq!(seen.len(), 1);
            assert!(!seen[0].contains("Authorization"), "{seen:?}");
        });
    }
}
