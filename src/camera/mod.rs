//! One camera: a tokio task that runs its RTSP session, reconnects with back-off, and hands
//! decoded frames to a [`FrameSlot`] the UI reads. The UI only reads [`CameraStatus`] snapshots
//! and sends commands through watch channels (play/pause/stop, main or sub-stream, stop); it
//! never waits on the network or the keychain: a configured camera's password is read from the
//! keychain in the camera's own task.

pub mod control;
pub mod state;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audio_out::AudioRouter;
use crate::config::CameraConfig;
use crate::credentials::{KeychainError, SecretStore};
use crate::decode::FrameSlot;
use crate::pipeline::{AudioTarget, VideoPipeline};
use crate::rtsp::{
    CameraUrl, ClientOptions, Credentials, ErrorKind, Fingerprint, RtspError, RtspSession, Step,
    TlsError, TlsOptions, Transport,
};
use crate::stats::{SenderClock, StatsSnapshot};
use control::{is_pause_refusal, Action, Controls, Intent};
use state::{ConnectionMachine, ConnectionState, Failure};

/// Where camera passwords are kept (the OS keychain; an in-memory store in tests), shared by
/// the camera tasks and the UI's background jobs.
#[derive(Clone)]
pub struct SharedSecrets(pub Arc<dyn SecretStore + Send + Sync>);

impl std::fmt::Debug for SharedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecrets")
    }
}

/// What to connect to.
#[derive(Debug, Clone, Default)]
pub struct CameraSpec {
    pub name: String,
    pub url: String,
    /// A lower-resolution stream played while the tile is one of a grid; the main `url` plays
    /// when it is maximized ([`CameraHandle::set_main_stream`]).
    pub sub_url: Option<String>,
    pub transport: Transport,
    /// Username and password known up front (a demo camera's, or a password typed for this
    /// session when the keychain could not give it). Kept in memory only.
    pub credentials: Option<Credentials>,
    /// The camera's id in the config file (`None` for the demo cameras): the key of its
    /// password in `secrets`.
    pub camera_id: Option<String>,
    /// The configured username. Without `credentials`, its password is read from `secrets`
    /// under `camera_id`, in the camera's task.
    pub username: Option<String>,
    pub secrets: Option<SharedSecrets>,
    /// `rtsps://`: the pinned certificate fingerprint, as written in the config.
    pub tls_fingerprint: Option<String>,
}

impl CameraSpec {
    /// A configured camera, its password to be read from `secrets`.
    pub fn from_config(camera: &CameraConfig, secrets: Option<SharedSecrets>) -> Self {
        Self {
            name: camera.name.clone(),
            url: camera.url.clone(),
            sub_url: camera.sub_url.clone().filter(|u| !u.trim().is_empty()),
            transport: camera.transport,
            credentials: None,
            camera_id: Some(camera.id.clone()),
            username: camera.username.clone(),
            secrets,
            tls_fingerprint: camera.tls_fingerprint.clone(),
        }
    }

    /// The URL to play: the sub-stream in a grid when there is one, else the main stream.
    pub fn url_for(&self, main: bool) -> &str {
        match &self.sub_url {
            Some(sub) if !main => sub,
            _ => &self.url,
        }
    }
}

/// What a tile says when the keychain cannot give a camera's password. Never contains the
/// password (the keychain's errors never do).
pub fn keychain_problem(error: &KeychainError) -> String {
    match error {
        KeychainError::Locked { detail } => format!(
            "keychain locked: unlock it and reconnect, or enter the password for this session \
             ({detail})"
        ),
        KeychainError::Unavailable { detail } => format!(
            "keychain unavailable: no Secret Service is running ({detail}); enter the \
             password for this session"
        ),
        KeychainError::AccessDenied { detail } => {
            format!("keychain access denied ({detail}); enter the password for this session")
        }
        KeychainError::Failed { detail } => {
            format!("keychain failed ({detail}); enter the password for this session")
        }
    }
}

/// A snapshot of a camera for display.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraStatus {
    pub state: ConnectionState,
    /// The latest failure, kept while reconnecting.
    pub last_error: Option<String>,
    pub codec: Option<String>,
    /// What the user last asked for.
    pub intent: Intent,
    /// Something the user should know that is not a failure, e.g. "this camera cannot pause".
    pub notice: Option<String>,
    /// The transport the session runs on ("tcp" or "udp").
    pub transport: Option<String>,
    /// The camera presented a certificate we do not trust: the user may pin this one.
    pub untrusted_certificate: Option<Fingerprint>,
    /// The codec of the camera's sound, when it has any.
    pub audio: Option<String>,
    /// The video stream's figures, refreshed every second while a session runs.
    pub stats: Option<StatsSnapshot>,
    /// The camera's wallclock from its sender reports, when it can be trusted (same host):
    /// lets the tile measure capture → screen.
    pub sender_clock: Option<SenderClock>,
    /// The keychain could not give the password: the tile offers "Enter password…".
    pub password_needed: bool,
    /// Pictures arrive but none has been shown for a while: the decoder waits for a keyframe
    /// (after PLAY or after packet loss).
    pub waiting_for_keyframe: bool,
}

/// How long the stats history goes back (the stats panel plots it).
pub const STATS_HISTORY: Duration = Duration::from_secs(300);
/// How often a camera refreshes its stats.
pub const STATS_EVERY: Duration = Duration::from_secs(1);

/// Stats snapshots of the last [`STATS_HISTORY`], oldest first.
pub type StatsHistory = Arc<Mutex<std::collections::VecDeque<(Instant, StatsSnapshot)>>>;

type Repaint = Arc<dyn Fn() + Send + Sync>;

/// The UI's side of a camera. Dropping it stops the session (TEARDOWN) in the background.
pub struct CameraHandle {
    pub id: u64,
    pub name: String,
    spec: CameraSpec,
    history: StatsHistory,
    status: Arc<Mutex<CameraStatus>>,
    slot: Arc<FrameSlot>,
    stop: watch::Sender<bool>,
    control: watch::Sender<Intent>,
    /// `true`: play the main stream; `false`: the sub-stream, when the camera has one.
    main_stream: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl CameraHandle {
    /// Starts the camera's task on `runtime` after `start_delay` (a wall of cameras connects
    /// staggered, so one NVR is not hit by every session in the same instant). `repaint` is
    /// called (from other threads) when a frame or the state changed.
    pub fn spawn(
        runtime: &tokio::runtime::Handle,
        id: u64,
        spec: CameraSpec,
        start_delay: Duration,
        repaint: Repaint,
        audio: Arc<AudioRouter>,
    ) -> Self {
        let slot = Arc::new(FrameSlot::default());
        let frame_repaint = repaint.clone();
        slot.set_waker(move || frame_repaint());
        let status = Arc::new(Mutex::new(CameraStatus {
            state: ConnectionState::Connecting { attempt: 1 },
            last_error: None,
            codec: None,
            intent: Intent::Play,
            notice: None,
            transport: None,
            untrusted_certificate: None,
            audio: None,
            stats: None,
            password_needed: false,
            waiting_for_keyframe: false,
            sender_clock: None,
        }));
        let history: StatsHistory = Arc::default();
        let (stop, stop_rx) = watch::channel(false);
        let (control, control_rx) = watch::channel(Intent::Play);
        // Tiles start in a grid: the sub-stream.
        let (main_stream, main_stream_rx) = watch::channel(false);
        let worker = CameraWorker {
            spec: spec.clone(),
            credentials: None,
            main_stream: main_stream_rx,
            status: status.clone(),
            slot: slot.clone(),
            repaint,
            stop: stop_rx,
            control: control_rx,
            controls: Controls::default(),
            machine: ConnectionMachine::default(),
            id,
            audio,
            history: history.clone(),
        };
        let task = runtime.spawn(async move {
            tokio::time::sleep(start_delay).await;
            worker.run().await;
        });
        Self {
            id,
            name: spec.name.clone(),
            spec,
            history,
            status,
            slot,
            stop,
            control,
            main_stream,
            task: Some(task),
        }
    }

    /// Plays the main stream (`true`, a maximized tile) or the sub-stream (`false`, a tile in a
    /// grid). When that changes the URL, the session is torn down and the other stream played;
    /// the tile keeps its last picture meanwhile. Does not wait.
    pub fn set_main_stream(&self, main: bool) {
        self.main_stream.send_if_modified(|current| {
            let changed = *current != main;
            *current = main;
            changed
        });
    }

    /// The stats of the last five minutes, for plots. Lock briefly.
    pub fn stats_history(&self) -> &StatsHistory {
        &self.history
    }

    /// What this camera connects to.
    pub fn spec(&self) -> &CameraSpec {
        &self.spec
    }

    /// Play, pause or stop this camera (PLAY, PAUSE, TEARDOWN on the wire). Does not wait.
    pub fn set_intent(&self, intent: Intent) {
        self.control.send_replace(intent);
        // Shown at once, also while the camera connects or waits to retry (when its task
        // has no session to act on yet); the task corrects it if the camera refuses.
        if let Ok(mut status) = self.status.lock() {
            status.intent = intent;
        }
    }

    /// What the camera is asked to do: the user's last request, unless the camera refused it
    /// (a camera that cannot pause keeps playing).
    pub fn intent(&self) -> Intent {
        self.status().intent
    }

    pub fn status(&self) -> CameraStatus {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    pub fn slot(&self) -> &Arc<FrameSlot> {
        &self.slot
    }

    /// Asks the task to tear the session down and end. Does not wait.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops the camera and returns its task, for callers that must wait (app exit).
    pub fn stop_and_take_task(mut self) -> Option<JoinHandle<()>> {
        self.stop();
        self.task.take()
    }
}

impl Drop for CameraHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

struct CameraWorker {
    spec: CameraSpec,
    /// What the sessions authenticate with, resolved once when the task starts.
    credentials: Option<Credentials>,
    main_stream: watch::Receiver<bool>,
    status: Arc<Mutex<CameraStatus>>,
    slot: Arc<FrameSlot>,
    repaint: Repaint,
    stop: watch::Receiver<bool>,
    control: watch::Receiver<Intent>,
    controls: Controls,
    machine: ConnectionMachine,
    id: u64,
    audio: Arc<AudioRouter>,
    history: StatsHistory,
}

/// How often a playing camera checks for a stall.
const STALL_CHECK_EVERY: Duration = Duration::from_millis(100);
/// A tile says it waits for a keyframe once pictures have arrived undecoded for this long.
const KEYFRAME_WAIT_SHOWN_AFTER: Duration = Duration::from_secs(1);
/// How long a TEARDOWN may take when stopping.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(2);

impl CameraWorker {
    /// `run_once` until stopped, with back-off between attempts.
    async fn run(mut self) {
        let mut stop = self.stop.clone();
        let credentials = tokio::select! {
            c = self.resolve_credentials() => c,
            _ = stopped(&mut stop) => Ok(None),
        };
        match credentials {
            Ok(credentials) => self.credentials = credentials,
            Err(e) => {
                let message = keychain_problem(&e);
                tracing::warn!(camera = %self.spec.name, "{message}");
                if let Ok(mut s) = self.status.lock() {
                    s.password_needed = true;
                }
                self.machine
                    .on_failure(Instant::now(), Failure::Permanent(message.clone()), 0.0);
                self.publish_state(Some(message));
                stopped(&mut stop).await;
                return;
            }
        }
        loop {
            let mut stop = self.stop.clone();
            if *self.stop.borrow() {
                break;
            }
            // Stopped by the user (TEARDOWN sent): wait until asked to play again.
            self.controls.set_intent(*self.control.borrow_and_update());
            if self.controls.next_action().is_none() {
                self.machine.on_stopped();
                self.publish_state(None);
                tokio::select! {
                    _ = self.control.changed() => {}
                    _ = stopped(&mut stop) => break,
                }
                self.machine.on_retry();
                continue;
            }
            self.publish_state(None);
            let result = tokio::select! {
                r = self.run_once() => r,
                _ = stopped(&mut stop) => Ok(()),
            };
            self.controls.on_session_ended();
            let error = match result {
                Ok(()) => continue,
                Err(e) => e,
            };
            let message = error.to_string();
            tracing::info!(camera = %self.spec.name, "{message}");
            let Some(wait) =
                self.machine
                    .on_failure(Instant::now(), classify(&error), rand::random::<f64>())
            else {
                self.publish_state(Some(message));
                stopped(&mut stop).await;
                break;
            };
            self.publish_state(Some(message));
            tracing::info!(camera = %self.spec.name, "reconnecting in {:.2} s", wait.as_secs_f32());
            // Tick once a second so the countdown on the tile stays true. Stop ends the wait
            // (the tile says "stopped" at once) and Play cuts it short (try now).
            let until = tokio::time::Instant::now() + wait;
            loop {
                let next = (tokio::time::Instant::now() + Duration::from_secs(1)).min(until);
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = stopped(&mut stop) => break,
                    changed = self.control.changed() => {
                        let intent = *self.control.borrow();
                        if changed.is_err() || intent != Intent::Pause {
                            break;
                        }
                    }
                }
                if tokio::time::Instant::now() >= until {
                    break;
                }
                (self.repaint)();
            }
            if *self.stop.borrow() {
                break;
            }
            self.machine.on_retry();
        }
        self.machine.on_stopped();
        self.publish_state(None);
        tracing::info!(camera = %self.spec.name, "stopped");
    }

    /// The credentials to connect with: the spec's, or the configured username with its
    /// password from the secret store. The store is asked on a blocking thread: a keychain call
    /// may wait on D-Bus or on an unlock prompt.
    async fn resolve_credentials(&self) -> Result<Option<Credentials>, KeychainError> {
        if let Some(credentials) = &self.spec.credentials {
            return Ok(Some(credentials.clone()));
        }
        let Some(username) = self.spec.username.clone() else {
            return Ok(None);
        };
        let password = match (&self.spec.secrets, &self.spec.camera_id) {
            (Some(secrets), Some(id)) => {
                let (secrets, id) = (secrets.0.clone(), id.clone());
                tokio::task::spawn_blocking(move || secrets.load(&id))
                    .await
                    .map_err(|e| KeychainError::Failed {
                        detail: e.to_string(),
                    })??
            }
            _ => None,
        };
        Ok(Some(Credentials {
            username,
            password: password.map(|p| p.expose().to_owned()).unwrap_or_default(),
        }))
    }

    /// One session: connect, play, and pump packets until stopped (Ok) or it fails. Also ends
    /// (Ok, after TEARDOWN) when the tile switches between the main and the sub-stream.
    async fn run_once(&mut self) -> Result<(), RtspError> {
        let main = *self.main_stream.borrow_and_update();
        let url_text = self.spec.url_for(main).to_owned();
        let url = CameraUrl::parse(&url_text).map_err(|e| RtspError::new(Step::Url, e))?;
        let pinned = match &self.spec.tls_fingerprint {
            Some(text) => Some(Fingerprint::parse(text).map_err(|e| RtspError::new(Step::Tls, e))?),
            None => None,
        };
        let opts = ClientOptions {
            transport: self.spec.transport,
            credentials: self.credentials.clone(),
            timeout: Duration::from_secs(5),
            tls: TlsOptions {
                pinned,
                insecure: false,
            },
            ..Default::default()
        };
        // Stop while connecting ends the attempt: nothing plays yet, and a session already set
        // up sends its TEARDOWN when dropped.
        let mut control = self.control.clone();
        let (session, pipeline) = tokio::select! {
            set_up = self.connect_and_set_up(&url, opts) => set_up?,
            _ = control.wait_for(|intent| *intent == Intent::Stop) => {
                tracing::info!(camera = %self.spec.name, "stopped by the user while connecting");
                return Ok(());
            }
        };
        self.play_and_pump(session, pipeline, url, url_text).await
    }

    /// Connect, OPTIONS, DESCRIBE and SETUP: a session ready for PLAY.
    async fn connect_and_set_up(
        &mut self,
        url: &CameraUrl,
        opts: ClientOptions,
    ) -> Result<(RtspSession, VideoPipeline), RtspError> {
        let connected = RtspSession::connect(url, opts).await;
        if let Ok(mut s) = self.status.lock() {
            s.untrusted_certificate = match &connected {
                Err(RtspError {
                    kind: ErrorKind::Tls(TlsError::Untrusted { fingerprint, .. }),
                    ..
                }) => Some(*fingerprint),
                _ => None,
            };
        }
        let mut session = connected?;
        session.options().await?;
        let mut pipeline =
            VideoPipeline::setup(&mut session, &self.spec.name, self.slot.clone()).await?;
        pipeline.set_audio_target(Some(AudioTarget {
            router: self.audio.clone(),
            camera: self.id,
        }));
        if let Ok(mut s) = self.status.lock() {
            s.codec = Some(pipeline.codec.as_str().to_owned());
            s.audio = pipeline
                .audio_summary()
                .map(|a| a.codec.as_str().to_owned());
        }
        Ok((session, pipeline))
    }

    /// PLAY, then pump packets until stopped (Ok) or the session fails.
    async fn play_and_pump(
        &mut self,
        mut session: RtspSession,
        mut pipeline: VideoPipeline,
        url: CameraUrl,
        url_text: String,
    ) -> Result<(), RtspError> {
        session.play().await?;
        self.controls.on_playing();
        self.machine.on_playing(Instant::now());
        if let Ok(mut s) = self.status.lock() {
            s.transport = session.transport_in_use().map(|t| t.to_string());
            s.notice = None;
            s.waiting_for_keyframe = false;
        }
        self.publish_state(None);
        tracing::info!(camera = %self.spec.name, url = %url.redacted(), "playing");

        let stats = pipeline.decoder().stats().clone();
        let mut frames_seen = 0;
        // What has arrived for the decoder, taken or dropped, for the stall check.
        let arrived = |stats: &crate::decode::DecoderStats| {
            stats.access_units.load(Ordering::Relaxed)
                + stats.dropped_queue_full.load(Ordering::Relaxed)
        };
        let mut arrived_seen = arrived(&stats);
        // When the last picture was decoded (PLAY, at first), and the units held back by then.
        let mut last_picture_at = Instant::now();
        let mut held_back_then = stats.held_back.load(Ordering::Relaxed);
        let mut waiting_for_keyframe = false;
        let mut check = tokio::time::interval(STALL_CHECK_EVERY);
        let mut stats_tick = tokio::time::interval(STATS_EVERY);
        let mut stop = self.stop.clone();
        let mut control = self.control.clone();
        let mut main_stream = self.main_stream.clone();
        loop {
            // Bring the session to what the user asked for: PAUSE, PLAY or TEARDOWN.
            while let Some(action) = self.controls.next_action() {
                match action {
                    Action::Connect => break,
                    Action::Pause => match session.pause().await {
                        Ok(()) => {
                            self.controls.on_paused();
                            self.machine.on_paused();
                            tracing::info!(camera = %self.spec.name, "paused");
                        }
                        Err(e) if e.status().is_some_and(is_pause_refusal) => {
                            let status = e.status().unwrap_or_default();
                            self.controls.on_pause_refused(status);
                            let notice =
                                format!("this camera cannot pause (PAUSE answered {status})");
                            tracing::info!(camera = %self.spec.name, "{notice}");
                            if let Ok(mut s) = self.status.lock() {
                                s.notice = Some(notice);
                            }
                        }
                        Err(e) => return Err(e),
                    },
                    Action::Resume => {
                        session.play().await?;
                        self.controls.on_playing();
                        self.machine.on_playing(Instant::now());
                        tracing::info!(camera = %self.spec.name, "resumed");
                    }
                    Action::Teardown => {
                        let _ = tokio::time::timeout(TEARDOWN_TIMEOUT, session.teardown()).await;
                        finish(pipeline).await;
                        tracing::info!(camera = %self.spec.name, "stopped by the user");
                        return Ok(());
                    }
                }
                self.publish_state(None);
            }
            tokio::select! {
                packet = session.next_packet() => pipeline.handle(packet?),
                _ = stats_tick.tick() => {
                    let snapshot = pipeline.stats(&session);
                    let now = Instant::now();
                    if let Ok(mut h) = self.history.lock() {
                        h.push_back((now, snapshot.clone()));
                        while h.front().is_some_and(|(t, _)| now.duration_since(*t) > STATS_HISTORY) {
                            h.pop_front();
                        }
                    }
                    let sender_clock = session
                        .receiver_stats(pipeline.stream())
                        .and_then(|r| r.last_sr)
                        .filter(|_| session.peer_is_local())
                        .map(|sr| SenderClock {
                            ntp: sr.ntp_timestamp,
                            rtp: sr.rtp_timestamp,
                            clock_rate: pipeline.clock_rate(),
                        });
                    if let Ok(mut s) = self.status.lock() {
                        s.stats = Some(snapshot);
                        s.sender_clock = sender_clock;
                        // `auto` may have moved the session from UDP to TCP since PLAY.
                        s.transport = session.transport_in_use().map(|t| t.to_string());
                    }
                }
                _ = control.changed() => {
                    self.controls.set_intent(*control.borrow_and_update());
                    self.publish_state(None);
                }
                Ok(()) = main_stream.changed() => {
                    let main = *main_stream.borrow_and_update();
                    if self.spec.url_for(main) != url_text {
                        let _ = tokio::time::timeout(TEARDOWN_TIMEOUT, session.teardown()).await;
                        finish(pipeline).await;
                        let which = if main { "main" } else { "sub" };
                        tracing::info!(camera = %self.spec.name, "switching to the {which} stream");
                        // The slot keeps the last picture until the other stream's first one.
                        self.machine.on_retry();
                        return Ok(());
                    }
                }
                _ = check.tick() => {
                    let frames = stats.frames();
                    let now = Instant::now();
                    let arrived_now = arrived(&stats);
                    if arrived_now != arrived_seen {
                        arrived_seen = arrived_now;
                        self.machine.on_media(now);
                    }
                    let held_back = stats.held_back.load(Ordering::Relaxed);
                    if frames != frames_seen {
                        if frames_seen == 0 {
                            tracing::info!(camera = %self.spec.name, "first picture");
                        }
                        frames_seen = frames;
                        self.machine.on_picture(now);
                        last_picture_at = now;
                        held_back_then = held_back;
                    }
                    let waiting = held_back > held_back_then
                        && now.duration_since(last_picture_at) >= KEYFRAME_WAIT_SHOWN_AFTER;
                    if waiting != waiting_for_keyframe {
                        waiting_for_keyframe = waiting;
                        if let Ok(mut s) = self.status.lock() {
                            s.waiting_for_keyframe = waiting;
                        }
                        (self.repaint)();
                    }
                    if self.machine.is_stalled(now) {
                        return Err(RtspError::new(
                            Step::Receive,
                            ErrorKind::DataTimeout(state::STALL_AFTER),
                        ));
                    }
                }
                _ = stopped(&mut stop) => {
                    let _ = tokio::time::timeout(TEARDOWN_TIMEOUT, session.teardown()).await;
                    return Ok(());
                }
            }
        }
    }

    fn publish_state(&mut self, error: Option<String>) {
        // The intent as last asked (a Pause during connecting included), refusals applied.
        self.controls.set_intent(*self.control.borrow());
        if let Ok(mut s) = self.status.lock() {
            s.state = self.machine.state().clone();
            s.intent = self.controls.intent();
            if error.is_some() {
                s.last_error = error;
            } else if s.state == ConnectionState::Playing {
                s.last_error = None;
            }
        }
        (self.repaint)();
    }
}

/// Ends the pipeline's decode thread and waits for it (at most the picture it is decoding),
/// on a blocking thread: the runtime's few workers carry every other camera's packets.
async fn finish(pipeline: VideoPipeline) {
    let _ = tokio::task::spawn_blocking(move || pipeline.finish()).await;
}

/// Resolves once a stop was requested (or the handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await: drop it here.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// The retry class of a session error.
fn classify(error: &RtspError) -> Failure {
    let message = error.to_string();
    match (&error.kind, error.step) {
        (ErrorKind::InvalidUrl(_), _) | (_, Step::Url) => Failure::Permanent(message),
        (ErrorKind::Unsupported(_), _) => Failure::Permanent(message),
        // An untrusted or changed certificate stays so until the user decides.
        (ErrorKind::Tls(TlsError::Handshake(_)), _) => Failure::Transient(message),
        (ErrorKind::Tls(_), _) => Failure::Permanent(message),
        (ErrorKind::Status { .. } | ErrorKind::Redirect { .. }, _) => Failure::Refused(message),
        // A redirect to plain RTSP from RTSPS, or to nonsense: the user must look at it.
        (ErrorKind::RedirectRefused(_), _) => Failure::Permanent(message),
        _ => Failure::Transient(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::MemorySecrets;
    use crate::demo::{DemoOptions, DemoServer};

    /// The camera of `spec` as a wall starts it, with nothing to repaint and no sound.
    fn spawn(runtime: &tokio::runtime::Runtime, spec: CameraSpec) -> CameraHandle {
        CameraHandle::spawn(
            runtime.handle(),
            1,
            spec,
            Duration::ZERO,
            Arc::new(|| {}),
            Arc::default(),
        )
    }

    /// Waits (at most 15 s) until `done` holds for the camera.
    fn wait_for(camera: &CameraHandle, what: &str, done: impl Fn(&CameraHandle) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done(camera) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                camera.status()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn maximizing_switches_to_the_main_stream_and_back_keeping_the_picture() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let server = runtime
            .block_on(DemoServer::start(DemoOptions {
                port: 0,
                cameras: 1,
                width: 320,
                height: 240,
                ..DemoOptions::default()
            }))
            .unwrap();
        // The sub-stream is a port where nothing listens, so which one plays is plain to see.
        let spec = CameraSpec {
            name: "Door".into(),
            url: server.camera_url(0),
            sub_url: Some("rtsp://127.0.0.1:9/sub".into()),
            ..CameraSpec::default()
        };
        let camera = spawn(&runtime, spec);
        wait_for(&camera, "the sub-stream to fail", |c| {
            c.status().last_error.is_some()
        });
        assert_eq!(camera.slot().generation(), 0);
        camera.set_main_stream(true);
        wait_for(&camera, "pictures from the main stream", |c| {
            c.status().state == ConnectionState::Playing && c.slot().generation() > 0
        });
        camera.set_main_stream(false);
        wait_for(&camera, "the switch back", |c| {
            c.status().state != ConnectionState::Playing
        });
        assert!(camera.slot().latest().0.is_some(), "the last picture stays");
        drop(camera);
        drop(server);
    }

    /// Stop on a camera that does not answer: the tile says "stopped" at once, whether the
    /// camera is in the middle of an attempt (connected, OPTIONS unanswered) or waiting to
    /// retry. Before, Stop waited for the attempt's 5 s timeout and the back-off after it,
    /// while the tile still said "connecting".
    #[test]
    fn stop_ends_an_attempt_in_progress_and_the_wait_to_retry() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        // Accepts connections and reads requests, and never answers.
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        runtime.spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let spec = CameraSpec {
            name: "Silent".into(),
            url: format!("rtsp://127.0.0.1:{port}/live"),
            ..CameraSpec::default()
        };
        // Stop, and the tile says "stopped" within 2 s.
        let stop_within_2_s = |camera: &CameraHandle| {
            let asked = Instant::now();
            camera.set_intent(Intent::Stop);
            wait_for(camera, "stopped", |c| {
                c.status().state == ConnectionState::Stopped
            });
            assert!(
                asked.elapsed() < Duration::from_secs(2),
                "{:?}",
                asked.elapsed()
            );
        };
        let camera = spawn(&runtime, spec);
        std::thread::sleep(Duration::from_millis(500));
        assert!(matches!(
            camera.status().state,
            ConnectionState::Connecting { .. }
        ));
        // Pause while connecting shows at once (Space twice would otherwise pause twice).
        camera.set_intent(Intent::Pause);
        assert_eq!(camera.intent(), Intent::Pause);
        stop_within_2_s(&camera);

        // Play again: the attempt times out (5 s), and Stop during the wait to retry.
        camera.set_intent(Intent::Play);
        std::thread::sleep(Duration::from_millis(200));
        camera.set_intent(Intent::Pause);
        wait_for(&camera, "the wait to retry", |c| {
            matches!(c.status().state, ConnectionState::Reconnecting { .. })
        });
        // The failed attempt's report keeps the Pause asked for while it ran.
        assert_eq!(camera.intent(), Intent::Pause);
        stop_within_2_s(&camera);
    }

    #[test]
    fn a_locked_keychain_fails_the_tile_with_a_way_out() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let spec = CameraSpec {
            name: "Door".into(),
            url: "rtsp://127.0.0.1:9/live".into(),
            camera_id: Some("0123456789abcdef".into()),
            username: Some("admin".into()),
            secrets: Some(SharedSecrets(Arc::new(MemorySecrets::locked()))),
            ..CameraSpec::default()
        };
        let camera = spawn(&runtime, spec);
        wait_for(&camera, "the keychain error", |c| {
            c.status().password_needed
        });
        let status = camera.status();
        let ConnectionState::Failed { reason } = &status.state else {
            panic!("{status:?}");
        };
        assert!(reason.starts_with("keychain locked: "), "{reason}");
    }
}
