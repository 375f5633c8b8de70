//! The per-camera connection state machine: pure transitions over an injected clock, so the
//! reconnect policy is unit-tested without sockets or sleeps.

use std::time::{Duration, Instant};

/// Nothing received for this long while playing means the stream stalled. What counts is a
/// picture's data arriving, decoded or not: after PLAY or after loss nothing decodes until the
/// next keyframe, and cameras send one every 4 s, 10 s or more (smart codecs, slow
/// sub-streams), which a stall rule on decoded pictures would take for a stall, forever.
pub const STALL_AFTER: Duration = Duration::from_secs(3);
/// First retry delay; doubles per failed attempt up to the cap of the failure's class.
pub const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Cap for failures that end when the server comes back (refused, dropped, stalled): short, so
/// the picture returns within about a second of a restarted server.
pub const TRANSIENT_RETRY_CAP: Duration = Duration::from_secs(1);
/// Cap for answers that a retry is unlikely to change soon (401, 404, 5xx…).
pub const REFUSED_RETRY_CAP: Duration = Duration::from_secs(5);

/// What a tile says about its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    Connecting {
        attempt: u32,
    },
    Playing,
    /// PAUSE was answered: the session stays, the last picture stays on the tile.
    Paused,
    /// Waiting before the next attempt; `reason` says what failed.
    Reconnecting {
        attempt: u32,
        until: Instant,
        reason: String,
    },
    /// Will not retry (the configuration itself is wrong, e.g. a malformed URL).
    Failed {
        reason: String,
    },
    Stopped,
}

impl ConnectionState {
    /// The state in words, as a tile shows it.
    pub fn describe(&self, now: Instant) -> String {
        match self {
            ConnectionState::Connecting { attempt: 1 } => "connecting…".into(),
            ConnectionState::Connecting { attempt } => format!("connecting (attempt {attempt})…"),
            ConnectionState::Playing => "playing".into(),
            ConnectionState::Paused => "paused".into(),
            ConnectionState::Reconnecting { until, reason, .. } => {
                let secs = until.saturating_duration_since(now).as_secs_f32().ceil();
                format!("{reason} — reconnecting in {secs:.0} s")
            }
            ConnectionState::Failed { reason } => reason.clone(),
            ConnectionState::Stopped => "stopped".into(),
        }
    }
}

/// How a session ended, for the retry policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Unreachable, refused, dropped or stalled: retry soon.
    Transient(String),
    /// The server answered with an error status: retry, but slowly.
    Refused(String),
    /// Retrying cannot help until the user changes something.
    Permanent(String),
}

#[derive(Debug, Clone)]
pub struct ConnectionMachine {
    state: ConnectionState,
    /// Failed attempts since pictures last flowed.
    failures: u32,
    /// When the last picture's data arrived (or PLAY was answered).
    last_media: Option<Instant>,
}

impl Default for ConnectionMachine {
    fn default() -> Self {
        Self {
            state: ConnectionState::Connecting { attempt: 1 },
            failures: 0,
            last_media: None,
        }
    }
}

impl ConnectionMachine {
    pub fn state(&self) -> &ConnectionState {
        &self.state
    }

    /// PLAY was answered: pictures are expected from now on.
    pub fn on_playing(&mut self, now: Instant) {
        self.state = ConnectionState::Playing;
        self.last_media = Some(now);
    }

    /// PAUSE was answered: no pictures are expected, so no stall either.
    pub fn on_paused(&mut self) {
        self.state = ConnectionState::Paused;
    }

    /// A picture was decoded: the connection is healthy again.
    pub fn on_picture(&mut self, now: Instant) {
        self.last_media = Some(now);
        if self.state == ConnectionState::Playing {
            self.failures = 0;
        }
    }

    /// A picture's data arrived, whether or not it could be decoded (the decoder may be
    /// waiting for a keyframe): the stream is alive.
    pub fn on_media(&mut self, now: Instant) {
        self.last_media = Some(now);
    }

    /// True when playing and nothing came for [`STALL_AFTER`].
    pub fn is_stalled(&self, now: Instant) -> bool {
        self.state == ConnectionState::Playing
            && self
                .last_media
                .is_some_and(|t| now.saturating_duration_since(t) >= STALL_AFTER)
    }

    /// The session ended with `failure`. Returns how long to wait before the next attempt, or
    /// `None` when it should not be retried. `jitter` in `[0, 1)` shortens the wait by up to
    /// a fifth, so cameras that failed together (one NVR restarting) do not all reconnect in
    /// the same instant.
    pub fn on_failure(&mut self, now: Instant, failure: Failure, jitter: f64) -> Option<Duration> {
        let (reason, cap) = match failure {
            Failure::Permanent(reason) => {
                self.state = ConnectionState::Failed { reason };
                return None;
            }
            Failure::Transient(reason) => (reason, TRANSIENT_RETRY_CAP),
            Failure::Refused(reason) => (reason, REFUSED_RETRY_CAP),
        };
        self.failures = self.failures.saturating_add(1);
        let delay = retry_delay(self.failures, cap).mul_f64(1.0 - 0.2 * jitter.clamp(0.0, 1.0));
        self.state = ConnectionState::Reconnecting {
            attempt: self.failures + 1,
            until: now + delay,
            reason,
        };
        Some(delay)
    }

    /// The wait is over: the next attempt starts.
    pub fn on_retry(&mut self) {
        self.state = ConnectionState::Connecting {
            attempt: self.failures + 1,
        };
    }

    pub fn on_stopped(&mut self) {
        self.state = ConnectionState::Stopped;
    }
}

/// `FIRST_RETRY * 2^(failures-1)`, capped.
pub fn retry_delay(failures: u32, cap: Duration) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(factor).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let cap = REFUSED_RETRY_CAP;
        let delays: Vec<u128> = (1..=8).map(|n| retry_delay(n, cap).as_millis()).collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
        assert_eq!(retry_delay(1000, cap), cap);
        assert_eq!(retry_delay(5, TRANSIENT_RETRY_CAP), TRANSIENT_RETRY_CAP);
    }

    #[test]
    fn server_restart_cycle() {
        let t0 = Instant::now();
        let mut m = ConnectionMachine::default();
        assert_eq!(m.state(), &ConnectionState::Connecting { attempt: 1 });
        m.on_playing(t0);
        m.on_picture(t0 + Duration::from_millis(40));
        assert_eq!(m.state(), &ConnectionState::Playing);

        // The server goes away: retries stay within the transient cap however long it is gone.
        let mut now = t0 + Duration::from_secs(1);
        let mut waits = Vec::new();
        for _ in 0..6 {
            let wait = m
                .on_failure(
                    now,
                    Failure::Transient("connect failed: refused".into()),
                    0.0,
                )
                .unwrap();
            assert!(
                matches!(m.state(), ConnectionState::Reconnecting { until, .. } if *until == now + wait)
            );
            assert!(m.state().describe(now).contains("reconnecting in"));
            waits.push(wait);
            now += wait;
            m.on_retry();
            assert!(matches!(m.state(), ConnectionState::Connecting { attempt } if *attempt >= 2));
        }
        assert!(waits.iter().all(|w| *w <= TRANSIENT_RETRY_CAP));
        assert_eq!(*waits.last().unwrap(), TRANSIENT_RETRY_CAP);

        // It comes back: pictures flow and the backoff starts over.
        m.on_playing(now);
        m.on_picture(now);
        let wait = m
            .on_failure(now, Failure::Transient("dropped".into()), 0.0)
            .unwrap();
        assert_eq!(wait, FIRST_RETRY);
    }

    #[test]
    fn stall_is_detected_after_three_seconds_without_pictures() {
        let t0 = Instant::now();
        let mut m = ConnectionMachine::default();
        assert!(
            !m.is_stalled(t0 + Duration::from_secs(60)),
            "not playing yet"
        );
        m.on_playing(t0);
        assert!(!m.is_stalled(t0 + Duration::from_millis(2900)));
        assert!(m.is_stalled(t0 + STALL_AFTER));
        m.on_picture(t0 + STALL_AFTER);
        assert!(!m.is_stalled(t0 + STALL_AFTER + Duration::from_secs(1)));
    }

    /// A camera whose keyframes come 10 s apart, joined mid-way: nothing decodes for up to
    /// 10 s, but its pictures keep arriving, so it is not stalled (and not reconnected, which
    /// would start the wait over, for ever). Its data stopping is a stall.
    #[test]
    fn pictures_that_arrive_undecoded_are_no_stall() {
        let t0 = Instant::now();
        let mut m = ConnectionMachine::default();
        m.on_playing(t0);
        let mut now = t0;
        for _ in 0..250 {
            now += Duration::from_millis(40);
            m.on_media(now);
            assert!(!m.is_stalled(now), "stalled {:?} after PLAY", now - t0);
        }
        assert!(!m.is_stalled(now + Duration::from_millis(2900)));
        assert!(m.is_stalled(now + STALL_AFTER));
    }

    #[test]
    fn refused_answers_back_off_to_five_seconds_and_permanent_failures_stop() {
        let now = Instant::now();
        let mut m = ConnectionMachine::default();
        let mut last = Duration::ZERO;
        for _ in 0..10 {
            last = m
                .on_failure(now, Failure::Refused("DESCRIBE failed (401)".into()), 0.0)
                .unwrap();
            m.on_retry();
        }
        assert_eq!(last, REFUSED_RETRY_CAP);
        assert_eq!(
            m.on_failure(now, Failure::Permanent("bad URL".into()), 0.5),
            None
        );
        assert_eq!(
            m.state(),
            &ConnectionState::Failed {
                reason: "bad URL".into()
            }
        );
        m.on_stopped();
        assert_eq!(m.state(), &ConnectionState::Stopped);
    }

    #[test]
    fn jitter_only_shortens_the_wait() {
        let now = Instant::now();
        for jitter in [0.0, 0.3, 0.999, 7.0] {
            let mut m = ConnectionMachine::default();
            for _ in 0..10 {
                m.on_failure(now, Failure::Refused("x".into()), 0.0);
            }
            let wait = m
                .on_failure(now, Failure::Refused("x".into()), jitter)
                .unwrap();
            assert!(
                wait <= REFUSED_RETRY_CAP && wait >= REFUSED_RETRY_CAP.mul_f64(0.8),
                "{wait:?}"
            );
        }
    }

    #[test]
    fn countdown_in_words() {
        let now = Instant::now();
        let s = ConnectionState::Reconnecting {
            attempt: 2,
            until: now + Duration::from_millis(1200),
            reason: "connect failed".into(),
        };
        assert_eq!(s.describe(now), "connect failed — reconnecting in 2 s");
    }
}
