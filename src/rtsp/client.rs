//! Our RTSP/1.0 client session (RFC 2326) over TCP with interleaved RTP/RTCP.
//!
//! One [`RtspSession`] owns one control connection. Its methods are the RTSP steps in order:
//! [`RtspSession::connect`] (resolve + TCP), `options`, `describe`, `setup`, `play`, then
//! [`RtspSession::next_packet`] in a loop, which also sends keepalives at half the session
//! timeout; `teardown` ends it. Dropping a playing session sends TEARDOWN best-effort.
//! Every wait is bounded by [`ClientOptions::timeout`].

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Buf as _, BytesMut};
use rtsp_types::headers::{self, HeaderName};
use rtsp_types::{Method, Request, Response, Version};
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;
use url::Url;

use super::auth::{AttemptState, AuthFailure, Authenticator};
use super::error::{ErrorKind, RtspError, Step};
use super::message::{parse_incoming, serialize_request, Incoming, Parsed};
use super::sdp::{base_url_of, parse_presentation, Presentation};
use super::url::{CameraUrl, Credentials};

/// How RTP reaches us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Interleaved in the RTSP TCP connection (RFC 2326 §10.12).
    #[default]
    Tcp,
    /// Separate UDP ports.
    Udp,
    /// UDP, falling back to TCP (TCP until UDP support lands).
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

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub transport: Transport,
    /// Bound on connecting, on every response, and on silence while playing.
    pub timeout: Duration,
    /// Overrides credentials written in the URL.
    pub credentials: Option<Credentials>,
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            transport: Transport::Tcp,
            timeout: Duration::from_secs(10),
            credentials: None,
            user_agent: concat!("Vedette/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// One request sent and the status it got (`None` when no answer came).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodRecord {
    pub method: String,
    pub status: Option<u16>,
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

#[derive(Debug, Clone, Copy)]
struct SetupStream {
    stream: usize,
    rtp_channel: u8,
    rtcp_channel: u8,
}

/// The default session timeout when the server does not state one (RFC 2326 §12.37).
const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(60);
/// Interleaved packets buffered while waiting for a response before we give up on them.
const MAX_PENDING_PACKETS: usize = 4096;

pub struct RtspSession {
    stream: TcpStream,
    read_buf: BytesMut,
    url: CameraUrl,
    peer: String,
    opts: ClientOptions,
    auth: Authenticator,
    cseq: u32,
    session: Option<SessionHeader>,
    server_methods: Vec<String>,
    methods: Vec<MethodRecord>,
    presentation: Option<Presentation>,
    setup_streams: Vec<SetupStream>,
    pending_packets: VecDeque<Packet>,
    keepalive_at: Option<Instant>,
    played_once: bool,
    paused: bool,
    torn_down: bool,
}

impl std::fmt::Debug for RtspSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspSession")
            .field("url", &self.url.to_string())
            .field("peer", &self.peer)
            .field("session", &self.session.as_ref().map(|s| &s.id))
            .finish_non_exhaustive()
    }
}

impl RtspSession {
    /// Resolves the host and opens the TCP connection, each within the timeout.
    pub async fn connect(url: &CameraUrl, opts: ClientOptions) -> Result<Self, RtspError> {
        if url.is_tls() {
            return Err(RtspError::new(
                Step::Connect,
                ErrorKind::Unsupported("RTSPS (TLS) is not supported yet".into()),
            ));
        }
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
        let mut last_err = None;
        for addr in &addrs {
            match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    tracing::debug!(%addr, url = %url, "connected");
                    let credentials = opts
                        .credentials
                        .clone()
                        .or_else(|| url.credentials_in_url().cloned());
                    return Ok(Self {
                        stream,
                        read_buf: BytesMut::with_capacity(64 * 1024),
                        url: url.clone(),
                        peer: addr.to_string(),
                        auth: Authenticator::new(credentials),
                        opts,
                        cseq: 0,
                        session: None,
                        server_methods: Vec::new(),
                        methods: Vec::new(),
                        presentation: None,
                        setup_streams: Vec::new(),
                        pending_packets: VecDeque::new(),
                        keepalive_at: None,
                        played_once: false,
                        paused: false,
                        torn_down: false,
                    });
                }
                Ok(Err(source)) => {
                    last_err = Some(ErrorKind::ConnectFailed {
                        addr: addr.to_string(),
                        source,
                    })
                }
                Err(_) => {
                    last_err = Some(ErrorKind::ConnectTimeout {
                        addr: addr.to_string(),
                        after: opts.timeout,
                    });
                    break;
                }
            }
        }
        Err(RtspError::new(
            Step::Connect,
            last_err.unwrap_or_else(|| ErrorKind::Resolve {
                host: url.host().to_owned(),
                reason: "no addresses".into(),
            }),
        ))
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

    /// OPTIONS: learns which methods the server supports (for the keepalive choice).
    pub async fn options(&mut self) -> Result<(), RtspError> {
        let url = self.url.url().clone();
        let resp = self
            .request(Step::Options, Method::Options, &url, Vec::new())
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

    /// DESCRIBE: fetches and parses the SDP.
    pub async fn describe(&mut self) -> Result<&Presentation, RtspError> {
        let url = self.url.url().clone();
        let resp = self
            .request(
                Step::Describe,
                Method::Describe,
                &url,
                vec![(headers::ACCEPT, "application/sdp".into())],
            )
            .await?;
        let base = base_url_of(
            &url,
            resp.header(&headers::CONTENT_BASE).map(|v| v.as_str()),
            resp.header(&headers::CONTENT_LOCATION).map(|v| v.as_str()),
        );
        let presentation = parse_presentation(resp.body(), &base)
            .map_err(|e| RtspError::new(Step::Describe, ErrorKind::Protocol(e.to_string())))?;
        Ok(self.presentation.insert(presentation))
    }

    /// SETUP of one stream from the DESCRIBE answer.
    pub async fn setup(&mut self, stream: usize) -> Result<(), RtspError> {
        if self.opts.transport == Transport::Udp {
            return Err(RtspError::new(
                Step::Setup,
                ErrorKind::Unsupported("UDP transport is not supported yet; use tcp".into()),
            ));
        }
        let control = self
            .presentation
            .as_ref()
            .and_then(|p| p.streams.get(stream))
            .map(|s| s.control_url.clone())
            .ok_or_else(|| {
                RtspError::new(
                    Step::Setup,
                    ErrorKind::Protocol(format!("no stream {stream} in the description")),
                )
            })?;
        let rtp_channel = u8::try_from(self.setup_streams.len() * 2).unwrap_or(0);
        let transport = format!(
            "RTP/AVP/TCP;unicast;interleaved={}-{}",
            rtp_channel,
            rtp_channel + 1
        );
        let resp = self
            .request(
                Step::Setup,
                Method::Setup,
                &control,
                vec![(headers::TRANSPORT, transport)],
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
        // The server may pick other channels than we asked for.
        let (rtp, rtcp) = resp
            .header(&headers::TRANSPORT)
            .and_then(|t| interleaved_channels(t.as_str()))
            .unwrap_or((rtp_channel, rtp_channel + 1));
        self.setup_streams.push(SetupStream {
            stream,
            rtp_channel: rtp,
            rtcp_channel: rtcp,
        });
        Ok(())
    }

    /// PLAY of everything set up (aggregate control).
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
        Ok(())
    }

    /// The transport the streams run on once set up.
    pub fn transport_in_use(&self) -> Option<Transport> {
        (!self.setup_streams.is_empty()).then_some(Transport::Tcp)
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// PAUSE (RFC 2326 §10.6): the server stops sending and keeps the session; keepalives go
    /// on while paused. A camera that cannot pause answers 405, 455 or 501, which comes back
    /// as a `PAUSE failed` status error.
    pub async fn pause(&mut self) -> Result<(), RtspError> {
        let url = self.aggregate_url();
        self.request(Step::Pause, Method::Pause, &url, Vec::new())
            .await?;
        self.paused = true;
        Ok(())
    }

    /// TEARDOWN; the session is over afterwards, whatever the answer.
    pub async fn teardown(&mut self) -> Result<(), RtspError> {
        if self.session.is_none() || self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        let url = self.aggregate_url();
        let result = self
            .request(Step::Teardown, Method::Teardown, &url, Vec::new())
            .await
            .map(|_| ());
        self.session = None;
        self.keepalive_at = None;
        result
    }

    /// The next RTP or RTCP packet. Sends keepalives when due; fails with `receive` after
    /// `timeout` without data or when the server hangs up.
    pub async fn next_packet(&mut self) -> Result<Packet, RtspError> {
        if let Some(p) = self.pending_packets.pop_front() {
            return Ok(p);
        }
        let silence_deadline = Instant::now() + self.opts.timeout;
        loop {
            let silence_deadline = if self.paused {
                Instant::now() + Duration::from_secs(3600)
            } else {
                silence_deadline
            };
            let keepalive_at = self
                .keepalive_at
                .unwrap_or(silence_deadline + Duration::from_secs(3600));
            // Biased, data first: while packets are buffered the timers are never polled, so
            // none is registered per packet.
            tokio::select! {
                biased;
                incoming = self.next_incoming() => {
                    let incoming = incoming.map_err(|k| RtspError::new(Step::Receive, k))?;
                    match incoming {
                        Incoming::Data { channel, payload } => {
                            if let Some(packet) = self.classify(channel, payload) {
                                return Ok(packet);
                            }
                        }
                        Incoming::Response(resp) => self.on_unsolicited_response(&resp),
                        Incoming::Request(req) => {
                            tracing::debug!(method = ?req.method(), "ignoring request from server");
                        }
                    }
                }
                _ = tokio::time::sleep_until(keepalive_at) => self.send_keepalive().await?,
                _ = tokio::time::sleep_until(silence_deadline) => {
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

    fn classify(&self, channel: u8, data: Vec<u8>) -> Option<Packet> {
        let s = self
            .setup_streams
            .iter()
            .find(|s| s.rtp_channel == channel || s.rtcp_channel == channel)?;
        Some(if s.rtp_channel == channel {
            Packet::Rtp {
                stream: s.stream,
                data,
            }
        } else {
            Packet::Rtcp {
                stream: s.stream,
                data,
            }
        })
    }

    fn schedule_keepalive(&mut self) {
        let timeout = self
            .session
            .as_ref()
            .map_or(DEFAULT_SESSION_TIMEOUT, |s| s.timeout);
        self.keepalive_at = Some(Instant::now() + (timeout / 2).max(Duration::from_secs(1)));
    }

    /// Keepalive (RFC 2326 §12.37): GET_PARAMETER when the server lists it, else OPTIONS.
    /// The answer is read later by `next_packet`, so data keeps flowing meanwhile.
    async fn send_keepalive(&mut self) -> Result<(), RtspError> {
        let method = if self.server_methods.iter().any(|m| m == "GET_PARAMETER") {
            Method::GetParameter
        } else {
            Method::Options
        };
        let url = self.aggregate_url();
        let request = self.build_request(&method, &url, Vec::new(), &mut AttemptState::default());
        tracing::debug!(method = <&str>::from(&method), "keepalive");
        self.stream
            .write_all(&serialize_request(&request))
            .await
            .map_err(|e| RtspError::new(Step::Receive, ErrorKind::Io(e)))?;
        self.methods.push(MethodRecord {
            method: <&str>::from(&method).to_owned(),
            status: None,
        });
        self.schedule_keepalive();
        Ok(())
    }

    fn on_unsolicited_response(&mut self, resp: &Response<Vec<u8>>) {
        let status = u16::from(resp.status());
        // Fill in the status of the keepalive this answers.
        let Some(record) = self.methods.iter_mut().rev().find(|r| r.status.is_none()) else {
            return;
        };
        record.status = Some(status);
        if !resp.status().is_success() {
            tracing::warn!(status, method = %record.method, url = %self.url, "keepalive refused");
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
            let request = self.build_request(&method, url, extra.clone(), &mut attempt);
            let cseq = self.cseq;
            let method_name = <&str>::from(&method).to_owned();
            tracing::debug!(method = %method_name, url = %url, cseq, "request");
            self.methods.push(MethodRecord {
                method: method_name,
                status: None,
            });
            let record = self.methods.len() - 1;
            self.stream
                .write_all(&serialize_request(&request))
                .await
                .map_err(|e| RtspError::new(step, ErrorKind::Io(e)))?;
            let resp = tokio::time::timeout(self.opts.timeout, self.read_response(cseq))
                .await
                .map_err(|_| RtspError::new(step, ErrorKind::ResponseTimeout(self.opts.timeout)))?
                .map_err(|k| RtspError::new(step, k))?;
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

    /// Reads until the response with this CSeq; buffers interleaved data that comes first.
    async fn read_response(&mut self, cseq: u32) -> Result<Response<Vec<u8>>, ErrorKind> {
        loop {
            match self.next_incoming().await? {
                Incoming::Response(resp) => {
                    let resp_cseq = resp
                        .header(&headers::CSEQ)
                        .and_then(|v| v.as_str().trim().parse::<u32>().ok());
                    // Some cameras omit CSeq; with one request in flight the answer is ours.
                    if resp_cseq.is_none_or(|c| c == cseq) {
                        return Ok(resp);
                    }
                    self.on_unsolicited_response(&resp);
                }
                Incoming::Data { channel, payload } => {
                    if self.pending_packets.len() < MAX_PENDING_PACKETS {
                        if let Some(p) = self.classify(channel, payload) {
                            self.pending_packets.push_back(p);
                        }
                    }
                }
                Incoming::Request(_) => {}
            }
        }
    }

    /// The next unit off the connection. Cancel-safe: bytes read stay in `read_buf`.
    async fn next_incoming(&mut self) -> Result<Incoming, ErrorKind> {
        loop {
            match parse_incoming(&self.read_buf).map_err(|e| ErrorKind::Protocol(e.to_string()))? {
                Parsed::Message(m, used) => {
                    self.read_buf.advance(used);
                    return Ok(m);
                }
                Parsed::Skip(n) => {
                    tracing::debug!(bytes = n, "skipping junk on the control connection");
                    self.read_buf.advance(n);
                }
                Parsed::Incomplete => {
                    self.read_buf.reserve(64 * 1024);
                    let n = self.stream.read_buf(&mut self.read_buf).await?;
                    if n == 0 {
                        return Err(ErrorKind::Closed);
                    }
                }
            }
        }
    }
}

impl Drop for RtspSession {
    /// Best-effort TEARDOWN so the camera frees the session at once rather than at its timeout.
    /// Drop cannot wait, so this is a single non-blocking write of a small request.
    fn drop(&mut self) {
        if self.session.is_none() || self.torn_down {
            return;
        }
        let url = self.aggregate_url();
        let request = self.build_request(
            &Method::Teardown,
            &url,
            Vec::new(),
            &mut AttemptState::default(),
        );
        let bytes = serialize_request(&request);
        match self.stream.try_write(&bytes) {
            Ok(n) if n == bytes.len() => tracing::debug!(url = %self.url, "TEARDOWN sent on drop"),
            _ => tracing::debug!(url = %self.url, "could not send TEARDOWN on drop"),
        }
    }
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
}
