//! Transport controls as a pure state machine: what the user asked for (play, pause, stop)
//! against what the camera's RTSP session is doing. The worker asks [`Controls::next_action`]
//! for the RTSP request that brings the session closer to the user's intent, sends it, and
//! reports the outcome; no sockets here, so every transition is unit-tested.
//!
//! The mapping to the wire: Play sends PLAY (a new session if there is none, or a resume after
//! PAUSE), Pause sends PAUSE and keeps the session, Stop sends TEARDOWN and frees it.

/// What the user wants a camera to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Intent {
    #[default]
    Play,
    Pause,
    Stop,
}

impl Intent {
    /// Space on a tile: pause what plays, play what is paused or stopped.
    pub fn toggled(self) -> Self {
        match self {
            Intent::Play => Intent::Pause,
            Intent::Pause | Intent::Stop => Intent::Play,
        }
    }
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// No RTSP session (not yet connected, torn down, or failed).
    #[default]
    NoSession,
    Playing,
    Paused,
}

/// The next request to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Connect and set up a new session, ending with PLAY.
    Connect,
    /// PLAY on the paused session.
    Resume,
    /// PAUSE, keeping the session.
    Pause,
    /// TEARDOWN.
    Teardown,
}

/// Statuses with which a server says it cannot pause (RFC 2326 §11.4.x, §11.3.x).
pub fn is_pause_refusal(status: u16) -> bool {
    matches!(status, 405 | 455 | 501)
}

#[derive(Debug, Clone, Default)]
pub struct Controls {
    intent: Intent,
    phase: Phase,
    /// The server refused PAUSE: pause requests are ignored until a new session.
    cannot_pause: Option<u16>,
}

impl Controls {
    pub fn intent(&self) -> Intent {
        self.intent
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The status with which this camera refused PAUSE, if it did.
    pub fn cannot_pause(&self) -> Option<u16> {
        self.cannot_pause
    }

    pub fn set_intent(&mut self, intent: Intent) {
        // A camera that cannot pause keeps playing: the tile says why.
        self.intent = if intent == Intent::Pause && self.cannot_pause.is_some() {
            Intent::Play
        } else {
            intent
        };
    }

    /// The request that moves the session towards the intent, or `None` when it is there.
    /// Pausing a camera that has no session connects it first (and pauses once it plays), so
    /// the last picture on the tile is a current one.
    pub fn next_action(&self) -> Option<Action> {
        match (self.intent, self.phase) {
            (Intent::Play | Intent::Pause, Phase::NoSession) => Some(Action::Connect),
            (Intent::Play, Phase::Paused) => Some(Action::Resume),
            (Intent::Pause, Phase::Playing) if self.cannot_pause.is_none() => Some(Action::Pause),
            (Intent::Stop, Phase::Playing | Phase::Paused) => Some(Action::Teardown),
            _ => None,
        }
    }

    /// PLAY was answered (first play or resume).
    pub fn on_playing(&mut self) {
        self.phase = Phase::Playing;
    }

    /// PAUSE was answered with success.
    pub fn on_paused(&mut self) {
        self.phase = Phase::Paused;
    }

    /// PAUSE was refused with `status`: keep playing and remember it for this session.
    pub fn on_pause_refused(&mut self, status: u16) {
        self.cannot_pause = Some(status);
        if self.intent == Intent::Pause {
            self.intent = Intent::Play;
        }
    }

    /// The session is gone (TEARDOWN, failure or disconnect). A new session may pause again.
    pub fn on_session_ended(&mut self) {
        self.phase = Phase::NoSession;
        self.cannot_pause = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_by_connecting_and_then_idles_while_playing() {
        let mut c = Controls::default();
        assert_eq!(c.next_action(), Some(Action::Connect));
        c.on_playing();
        assert_eq!(c.next_action(), None);
    }

    #[test]
    fn pause_then_play_resumes_the_same_session() {
        let mut c = Controls::default();
        c.on_playing();
        c.set_intent(Intent::Pause);
        assert_eq!(c.next_action(), Some(Action::Pause));
        c.on_paused();
        assert_eq!(c.phase(), Phase::Paused);
        assert_eq!(
            c.next_action(),
            None,
            "paused stays paused: keepalives only"
        );
        c.set_intent(Intent::Play);
        assert_eq!(c.next_action(), Some(Action::Resume));
        c.on_playing();
        assert_eq!(c.next_action(), None);
    }

    #[test]
    fn stop_tears_down_from_playing_and_from_paused_and_play_reconnects() {
        for paused in [false, true] {
            let mut c = Controls::default();
            c.on_playing();
            if paused {
                c.on_paused();
            }
            c.set_intent(Intent::Stop);
            assert_eq!(c.next_action(), Some(Action::Teardown));
            c.on_session_ended();
            assert_eq!(c.next_action(), None, "stopped stays stopped");
            c.set_intent(Intent::Play);
            assert_eq!(c.next_action(), Some(Action::Connect));
        }
    }

    #[test]
    fn a_camera_that_cannot_pause_keeps_playing_until_a_new_session() {
        let mut c = Controls::default();
        c.on_playing();
        c.set_intent(Intent::Pause);
        assert_eq!(c.next_action(), Some(Action::Pause));
        c.on_pause_refused(501);
        assert_eq!(c.cannot_pause(), Some(501));
        assert_eq!(c.intent(), Intent::Play);
        assert_eq!(c.next_action(), None);
        c.set_intent(Intent::Pause);
        assert_eq!(
            c.intent(),
            Intent::Play,
            "no second PAUSE to a camera that refused"
        );
        assert_eq!(c.next_action(), None);
        c.on_session_ended();
        assert_eq!(c.cannot_pause(), None);
        c.set_intent(Intent::Pause);
        assert_eq!(c.next_action(), Some(Action::Connect));
    }

    #[test]
    fn refusal_statuses() {
        assert!([405, 455, 501].into_iter().all(is_pause_refusal));
        assert!(![200, 401, 454, 500].into_iter().any(is_pause_refusal));
    }

    #[test]
    fn space_toggles() {
        assert_eq!(Intent::Play.toggled(), Intent::Pause);
        assert_eq!(Intent::Pause.toggled(), Intent::Play);
        assert_eq!(Intent::Stop.toggled(), Intent::Play);
    }
}
