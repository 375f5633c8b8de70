//! One camera: a tokio task that runs its RTSP session, reconnects with back-off, and hands
//! decoded frames to a [`FrameSlot`] the UI reads. The UI only reads [`CameraStatus`] snapshots
//! and calls [`CameraHandle::stop`]; it never waits on the network.

pub mod control;
pub mod state;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audio_out::AudioRouter;
use crate::decode::FrameSlot;
use crate::pipeline::{AudioTarget, VideoPipeline};
use crate::rtsp::{
    CameraUrl, ClientOptions, Credentials, ErrorKind, Fingerprint, RtspError, RtspSession, Step,
    TlsError, TlsOptions, Transport,
};
use crate::stats::StatsSnapshot;
use control::{is_pause_refusal, Action, Controls, Intent};
use state::{ConnectionMachine, ConnectionState, Failure};

/// What to connect to.
#[derive(Debug, Clone)]
pub struct CameraSpec {
    pub name: String,
    pub url: String,
    pub transport: Transport,
    pub credentials: Option<Credentials>,
    /// `rtsps://`: the pinned certificate fingerprint, as written in the config.
    pub tls_fingerprint: Option<String>,
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
        }));
        let history: StatsHistory = Arc::default();
        let (stop, stop_rx) = watch::channel(false);
        let (control, control_rx) = watch::channel(Intent::Play);
        let worker = CameraWorker {
            spec: spec.clone(),
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
            task: Some(task),
        }
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
/// How long a TEARDOWN may take when stopping.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(2);

impl CameraWorker {
    /// `run_once` until stopped, with back-off between attempts.
    async fn run(mut self) {
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
            // Tick once a second so the countdown on the tile stays true.
            let until = tokio::time::Instant::now() + wait;
            loop {
                let next = (tokio::time::Instant::now() + Duration::from_secs(1)).min(until);
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = stopped(&mut stop) => break,
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

    /// One session: connect, play, and pump packets until stopped (Ok) or it fails.
    async fn run_once(&mut self) -> Result<(), RtspError> {
        let url = CameraUrl::parse(&self.spec.url).map_err(|e| RtspError::new(Step::Url, e))?;
        let pinned = match &self.spec.tls_fingerprint {
            Some(text) => Some(Fingerprint::parse(text).map_err(|e| RtspError::new(Step::Tls, e))?),
            None => None,
        };
        let opts = ClientOptions {
            transport: self.spec.transport,
            credentials: self.spec.credentials.clone(),
            timeout: Duration::from_secs(5),
            tls: TlsOptions {
                pinned,
                insecure: false,
            },
            ..Default::default()
        };
        let connected = RtspSession::connect(&url, opts).await;
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
        session.play().await?;
        self.controls.on_playing();
        self.machine.on_playing(Instant::now());
        if let Ok(mut s) = self.status.lock() {
            s.transport = session.transport_in_use().map(|t| t.to_string());
            s.notice = None;
        }
        self.publish_state(None);
        tracing::info!(camera = %self.spec.name, url = %url, "playing");

        let stats = pipeline.decoder().stats().clone();
        let mut frames_seen = 0;
        let mut check = tokio::time::interval(STALL_CHECK_EVERY);
        let mut stats_tick = tokio::time::interval(STATS_EVERY);
        let mut stop = self.stop.clone();
        let mut control = self.control.clone();
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
                        pipeline.finish();
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
                    if let Ok(mut s) = self.status.lock() {
                        s.stats = Some(snapshot);
                    }
                }
                _ = control.changed() => {
                    self.controls.set_intent(*control.borrow_and_update());
                    self.publish_state(None);
                }
                _ = check.tick() => {
                    let frames = stats.frames();
                    let now = Instant::now();
                    if frames != frames_seen {
                        if frames_seen == 0 {
                            tracing::info!(camera = %self.spec.name, "first picture");
                        }
                        frames_seen = frames;
                        self.machine.on_picture(now);
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

    fn publish_state(&self, error: Option<String>) {
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
        (ErrorKind::Status { .. }, _) => Failure::Refused(message),
        _ => Failure::Transient(message),
    }
}
