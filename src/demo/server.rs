//! A small RTSP/1.0 server for the demo cameras: OPTIONS, DESCRIBE, SETUP (TCP interleaved),
//! PLAY, PAUSE, GET_PARAMETER, TEARDOWN. One tokio task per connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rtsp_types::headers;
use rtsp_types::{Method, Request, Response, StatusCode, Version};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::digest::{self, DemoCredentials};
use super::encoder::{CameraFeed, DemoCamera, EncodedFrame, EncoderError};
use crate::rtp::h264::H264Packetizer;
use crate::rtsp::message::{interleaved_frame, serialize_response, Framer, Incoming};

/// Deliberate misbehaviour, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// Answer DESCRIBE with half a response, then close the connection.
    CloseInDescribe,
    /// Never answer DESCRIBE (the connection stays open).
    StallDescribe,
    /// With `--auth-user`: answer the first authenticated PLAY with 401 `stale=TRUE` and a new
    /// nonce, as a camera whose nonce expired would.
    StaleNonce,
    /// Leave GET_PARAMETER out of `Public` and answer it with 501, like cameras that only take
    /// OPTIONS as keepalive.
    NoGetParameter,
    /// Drop one RTP packet in every 150, as a lossy network would.
    DropPackets,
}

/// Packets per dropped packet under [`Fault::DropPackets`].
const DROP_ONE_IN: u64 = 150;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub port: u16,
    pub cameras: usize,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub fault: Option<Fault>,
    /// Require Digest authentication with these credentials.
    pub auth: Option<DemoCredentials>,
    /// The session timeout announced in SETUP answers, in seconds.
    pub session_timeout: u32,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            port: 0,
            cameras: 4,
            width: 640,
            height: 360,
            fps: 25,
            fault: None,
            auth: None,
            session_timeout: 60,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    #[error("width and height must be even and at least 128x64 (got {0}x{1})")]
    BadSize(u32, u32),
}

/// A running demo server; dropping it stops the cameras and closes the listener.
pub struct DemoServer {
    addr: SocketAddr,
    accept_task: JoinHandle<()>,
    _cameras: Vec<DemoCamera>,
}

struct Shared {
    feeds: Vec<Arc<CameraFeed>>,
    fault: Option<Fault>,
    fps: u32,
    auth: Option<DemoCredentials>,
    session_timeout: u32,
}

impl DemoServer {
    pub async fn start(opts: DemoOptions) -> Result<Self, DemoError> {
        if opts.width < 128
            || opts.height < 64
            || !opts.width.is_multiple_of(2)
            || !opts.height.is_multiple_of(2)
        {
            return Err(DemoError::BadSize(opts.width, opts.height));
        }
        let listener = TcpListener::bind(("127.0.0.1", opts.port))
            .await
            .map_err(|source| DemoError::Bind {
                port: opts.port,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| DemoError::Bind {
            port: opts.port,
            source,
        })?;
        let cameras = (0..opts.cameras)
            .map(|i| DemoCamera::start(i, opts.width, opts.height, opts.fps))
            .collect::<Result<Vec<_>, _>>()?;
        let shared = Arc::new(Shared {
            feeds: cameras.iter().map(|c| c.feed.clone()).collect(),
            fault: opts.fault,
            fps: opts.fps,
            auth: opts.auth,
            session_timeout: opts.session_timeout,
        });
        let accept_task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let shared = shared.clone();
                        tokio::spawn(async move {
                            let _ = stream.set_nodelay(true);
                            if let Err(e) = Connection::new(stream, addr, shared).serve().await {
                                tracing::debug!(%peer, "demo connection ended: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!("demo server accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(Self {
            addr,
            accept_task,
            _cameras: cameras,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of camera `index` (0-based).
    pub fn camera_url(&self, index: usize) -> String {
        format!("rtsp://{}/cam{}", self.addr, index + 1)
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

struct Playing {
    frames: tokio::sync::broadcast::Receiver<Arc<EncodedFrame>>,
    /// Cached pictures of the current GOP still to send before live ones.
    backlog: Vec<Arc<EncodedFrame>>,
    waiting_for_idr: bool,
}

struct Connection {
    stream: TcpStream,
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// What the client sent and was not yet parsed; junk beyond the framer's cap ends the
    /// connection.
    framer: Framer,
    session_id: String,
    /// Camera index and interleaved RTP channel after SETUP.
    setup: Option<(usize, u8)>,
    packetizer: H264Packetizer,
    playing: Option<Playing>,
    nonce: String,
    stale_nonce_sent: bool,
    packets_sent: u64,
}

enum Event {
    Request(Request<Vec<u8>>),
    Frame(Arc<EncodedFrame>),
    Closed,
}

impl Connection {
    fn new(stream: TcpStream, addr: SocketAddr, shared: Arc<Shared>) -> Self {
        Self {
            stream,
            addr,
            shared,
            framer: Framer::new(),
            session_id: format!("{:016X}", rand::random::<u64>()),
            setup: None,
            packetizer: H264Packetizer::new(96, rand::random(), rand::random(), 1400),
            playing: None,
            nonce: digest::new_nonce(),
            stale_nonce_sent: false,
            packets_sent: 0,
        }
    }

    async fn serve(mut self) -> std::io::Result<()> {
        loop {
            match self.next_event().await? {
                Event::Closed => return Ok(()),
                Event::Request(req) => {
                    if !self.answer(req).await? {
                        return Ok(());
                    }
                }
                Event::Frame(frame) => self.send_frame(&frame).await?,
            }
        }
    }

    async fn next_event(&mut self) -> std::io::Result<Event> {
        loop {
            // Requests already buffered come first.
            match self.framer.next_unit() {
                Ok(Some(Incoming::Request(r))) => return Ok(Event::Request(r)),
                // RTCP from the client or a stray response: nothing to do.
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(_) => return Ok(Event::Closed),
            }
            if let Some(frame) = self.next_backlog_frame() {
                return Ok(Event::Frame(frame));
            }
            let read = self.stream.read_buf(self.framer.read_buf());
            match &mut self.playing {
                Some(playing) => {
                    tokio::select! {
                        n = read => if n? == 0 { return Ok(Event::Closed) },
                        frame = playing.frames.recv() => match frame {
                            Ok(f) => {
                                if playing.waiting_for_idr && !f.is_idr {
                                    continue;
                                }
                                playing.waiting_for_idr = false;
                                return Ok(Event::Frame(f));
                            }
                            Err(RecvError::Lagged(_)) => playing.waiting_for_idr = true,
                            Err(RecvError::Closed) => return Ok(Event::Closed),
                        },
                    }
                }
                None => {
                    if read.await? == 0 {
                        return Ok(Event::Closed);
                    }
                }
            }
        }
    }

    fn next_backlog_frame(&mut self) -> Option<Arc<EncodedFrame>> {
        let playing = self.playing.as_mut()?;
        if playing.backlog.is_empty() {
            None
        } else {
            Some(playing.backlog.remove(0))
        }
    }

    async fn send_frame(&mut self, frame: &EncodedFrame) -> std::io::Result<()> {
        let Some((_, channel)) = self.setup else {
            return Ok(());
        };
        let nal_refs: Vec<&[u8]> = frame.nal_units.iter().map(Vec::as_slice).collect();
        let mut out = Vec::with_capacity(nal_refs.iter().map(|n| n.len() + 32).sum());
        for packet in self.packetizer.packetize(frame.ts_in_90khz, &nal_refs) {
            self.packets_sent += 1;
            if self.shared.fault == Some(Fault::DropPackets)
                && self.packets_sent.is_multiple_of(DROP_ONE_IN)
            {
                continue;
            }
            if let Some(f) = interleaved_frame(channel, &packet) {
                out.extend_from_slice(&f);
            }
        }
        self.stream.write_all(&out).await
    }

    /// Answers one request. Returns false to close the connection.
    async fn answer(&mut self, req: Request<Vec<u8>>) -> std::io::Result<bool> {
        let cseq = req
            .header(&headers::CSEQ)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_else(|| "0".into());
        let uri = req.request_uri().map(|u| u.to_string()).unwrap_or_default();
        tracing::debug!(method = ?req.method(), %uri, "demo request");
        let camera = self.camera_of(&uri);
        let mut builder = Response::builder(Version::V1_0, StatusCode::Ok)
            .header(headers::CSEQ, cseq.clone())
            .header(headers::SERVER, "Vedette demo server");
        let mut body = Vec::new();
        if let Some(challenge) = self.authentication_challenge(&req) {
            builder = builder.header(headers::WWW_AUTHENTICATE, challenge);
            let mut response = builder.reason_phrase("Unauthorized").build(Vec::new());
            response.set_status(StatusCode::Unauthorized);
            self.stream
                .write_all(&serialize_response(&response))
                .await?;
            return Ok(true);
        }
        let no_get_parameter = self.shared.fault == Some(Fault::NoGetParameter);
        let session_header = format!(
            "{};timeout={}",
            self.session_id, self.shared.session_timeout
        );
        let status = match req.method() {
            Method::Options => {
                builder = builder.header(
                    headers::PUBLIC,
                    if no_get_parameter {
                        "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN"
                    } else {
                        "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, GET_PARAMETER, TEARDOWN"
                    },
                );
                StatusCode::Ok
            }
            Method::Describe => match (camera, self.shared.fault) {
                (_, Some(Fault::CloseInDescribe)) => {
                    let half = format!(
                        "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\nContent-Length: 400\r\n\r\nv=0\r\n"
                    );
                    self.stream.write_all(half.as_bytes()).await?;
                    return Ok(false);
                }
                (_, Some(Fault::StallDescribe)) => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return Ok(false);
                }
                (Some(cam), _) => match self.sdp(cam).await {
                    Some(sdp) => {
                        builder = builder
                            .header(headers::CONTENT_TYPE, "application/sdp")
                            .header(
                                headers::CONTENT_BASE,
                                format!("rtsp://{}/cam{}/", self.addr, cam + 1),
                            );
                        body = sdp.into_bytes();
                        StatusCode::Ok
                    }
                    None => StatusCode::ServiceUnavailable,
                },
                (None, _) => StatusCode::NotFound,
            },
            Method::Setup => {
                let transport = req
                    .header(&headers::TRANSPORT)
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default();
                match camera {
                    None => StatusCode::NotFound,
                    Some(_) if !transport.contains("RTP/AVP/TCP") => {
                        StatusCode::UnsupportedTransport
                    }
                    Some(cam) => {
                        let channel = transport
                            .split(';')
                            .find_map(|p| p.trim().strip_prefix("interleaved="))
                            .and_then(|c| c.split('-').next()?.parse::<u8>().ok())
                            .unwrap_or(0);
                        self.setup = Some((cam, channel));
                        builder = builder
                            .header(
                                headers::TRANSPORT,
                                format!(
                                    "RTP/AVP/TCP;unicast;interleaved={}-{}",
                                    channel,
                                    channel.wrapping_add(1)
                                ),
                            )
                            .header(headers::SESSION, session_header);
                        StatusCode::Ok
                    }
                }
            }
            Method::Play => match self.check_session(&req) {
                Err(status) => status,
                Ok((cam, _)) => {
                    let feed = &self.shared.feeds[cam];
                    if self.playing.is_none() {
                        let frames = feed.frames.subscribe();
                        let backlog = feed.gop.lock().map(|g| g.clone()).unwrap_or_default();
                        self.playing = Some(Playing {
                            waiting_for_idr: backlog.is_empty(),
                            frames,
                            backlog,
                        });
                    }
                    builder = builder
                        .header(headers::SESSION, session_header)
                        .header(headers::RANGE, "npt=now-")
                        .header(
                            headers::RTP_INFO,
                            format!(
                                "url=rtsp://{}/cam{}/track1;seq={}",
                                self.addr,
                                cam + 1,
                                self.packetizer.next_sequence_number()
                            ),
                        );
                    StatusCode::Ok
                }
            },
            Method::Pause => match self.check_session(&req) {
                Err(status) => status,
                Ok(_) => {
                    self.playing = None;
                    builder = builder.header(headers::SESSION, self.session_id.clone());
                    StatusCode::Ok
                }
            },
            Method::GetParameter if no_get_parameter => StatusCode::NotImplemented,
            Method::GetParameter => match self.check_session(&req) {
                Err(status) if self.setup.is_some() => status,
                _ => StatusCode::Ok,
            },
            Method::Teardown => match self.check_session(&req) {
                Err(status) => status,
                Ok(_) => {
                    self.playing = None;
                    self.setup = None;
                    self.session_id = format!("{:016X}", rand::random::<u64>());
                    StatusCode::Ok
                }
            },
            _ => StatusCode::NotImplemented,
        };
        builder = builder.reason_phrase(reason(status));
        let mut response = builder.build(body);
        response.set_status(status);
        self.stream
            .write_all(&serialize_response(&response))
            .await?;
        Ok(true)
    }

    /// With authentication on, the challenge to answer this request with, if any. OPTIONS is
    /// open, as on most cameras.
    fn authentication_challenge(&mut self, req: &Request<Vec<u8>>) -> Option<String> {
        let creds = self.shared.auth.as_ref()?;
        if *req.method() == Method::Options {
            return None;
        }
        let method = <&str>::from(req.method());
        let authorized = req
            .header(&headers::AUTHORIZATION)
            .is_some_and(|a| digest::verify(a.as_str(), method, creds, &self.nonce));
        if !authorized {
            return Some(digest::challenge(&self.nonce, false));
        }
        if self.shared.fault == Some(Fault::StaleNonce)
            && *req.method() == Method::Play
            && !self.stale_nonce_sent
        {
            self.stale_nonce_sent = true;
            self.nonce = digest::new_nonce();
            return Some(digest::challenge(&self.nonce, true));
        }
        None
    }

    fn check_session(&self, req: &Request<Vec<u8>>) -> Result<(usize, u8), StatusCode> {
        let given = req
            .header(&headers::SESSION)
            .map(|s| s.as_str().split(';').next().unwrap_or("").trim().to_owned());
        match (self.setup, given) {
            (Some(setup), Some(id)) if id == self.session_id => Ok(setup),
            _ => Err(StatusCode::SessionNotFound),
        }
    }

    /// `/camN`, `/camN/`, `/camN/track1` → camera N-1.
    fn camera_of(&self, uri: &str) -> Option<usize> {
        let path = url::Url::parse(uri).ok()?.path().to_owned();
        let first = path.trim_start_matches('/').split('/').next()?;
        let n: usize = first.strip_prefix("cam")?.parse().ok()?;
        (1..=self.shared.feeds.len()).contains(&n).then(|| n - 1)
    }

    async fn sdp(&self, cam: usize) -> Option<String> {
        let mut params = self.shared.feeds.get(cam)?.parameter_sets.clone();
        let sets = tokio::time::timeout(Duration::from_secs(5), params.wait_for(Option::is_some))
            .await
            .ok()?
            .ok()?
            .clone()?;
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        let profile_level_id = sets
            .sps
            .get(1..4)
            .map(|p| format!("{:02X}{:02X}{:02X}", p[0], p[1], p[2]))
            .unwrap_or_else(|| "42C01E".into());
        Some(format!(
            "v=0\r\n\
             o=- {id} 1 IN IP4 127.0.0.1\r\n\
             s=Vedette demo camera {n}\r\n\
             t=0 0\r\n\
             a=control:*\r\n\
             a=range:npt=now-\r\n\
             m=video 0 RTP/AVP 96\r\n\
             c=IN IP4 0.0.0.0\r\n\
             a=rtpmap:96 H264/90000\r\n\
             a=fmtp:96 packetization-mode=1;profile-level-id={profile_level_id};sprop-parameter-sets={sps},{pps}\r\n\
             a=framerate:{fps}\r\n\
             a=control:track1\r\n",
            id = rand::random::<u32>(),
            n = cam + 1,
            sps = b64(&sets.sps),
            pps = b64(&sets.pps),
            fps = self.shared.fps,
        ))
    }
}

fn reason(status: StatusCode) -> &'static str {
    match status {
        StatusCode::Ok => "OK",
        StatusCode::Unauthorized => "Unauthorized",
        StatusCode::NotFound => "Not Found",
        StatusCode::SessionNotFound => "Session Not Found",
        StatusCode::UnsupportedTransport => "Unsupported Transport",
        StatusCode::NotImplemented => "Not Implemented",
        StatusCode::ServiceUnavailable => "Service Unavailable",
        _ => "Error",
    }
}
