//! Typed RTSP session errors: every error names the step it happened at and, when the server
//! answered, its status code, so a tile or `vedette probe` can say exactly what failed.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Where in the life of a session something failed, in the words a user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Step {
    #[serde(rename = "url")]
    Url,
    #[serde(rename = "resolve")]
    Resolve,
    #[serde(rename = "connect")]
    Connect,
    #[serde(rename = "TLS")]
    Tls,
    #[serde(rename = "OPTIONS")]
    Options,
    #[serde(rename = "DESCRIBE")]
    Describe,
    #[serde(rename = "SETUP")]
    Setup,
    #[serde(rename = "PLAY")]
    Play,
    #[serde(rename = "PAUSE")]
    Pause,
    #[serde(rename = "receive")]
    Receive,
    #[serde(rename = "decode")]
    Decode,
    #[serde(rename = "TEARDOWN")]
    Teardown,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Url => "url",
            Step::Resolve => "resolve",
            Step::Connect => "connect",
            Step::Tls => "TLS",
            Step::Options => "OPTIONS",
            Step::Describe => "DESCRIBE",
            Step::Setup => "SETUP",
            Step::Play => "PLAY",
            Step::Pause => "PAUSE",
            Step::Receive => "receive",
            Step::Decode => "decode",
            Step::Teardown => "TEARDOWN",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong, without the step.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("{0}")]
    InvalidUrl(#[from] super::url::UrlError),
    #[error("cannot resolve host \"{host}\": {reason}")]
    Resolve { host: String, reason: String },
    #[error("no answer from {addr} within {} s", .after.as_secs_f32())]
    ConnectTimeout { addr: String, after: Duration },
    #[error("{addr}: {source}")]
    ConnectFailed {
        addr: String,
        source: std::io::Error,
    },
    #[error("server answered {status} {reason}{}", hint_for(*.status))]
    Status { status: u16, reason: String },
    /// 301/302/303/307 with a `Location`: followed on OPTIONS and DESCRIBE (a few hops at
    /// most); anywhere else, or once too often, it ends the session.
    #[error(
        "server answered {status}: the stream moved to {}",
        super::url::redact_url_text(.location)
    )]
    Redirect { status: u16, location: String },
    #[error("{0}")]
    RedirectRefused(String),
    #[error("no response within {} s", .0.as_secs_f32())]
    ResponseTimeout(Duration),
    #[error("no data for {} s", .0.as_secs_f32())]
    DataTimeout(Duration),
    #[error("the server closed the connection")]
    Closed,
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed response: {0}")]
    Protocol(String),
    #[error("{0}")]
    Tls(#[from] super::tls::TlsError),
    #[error("not supported: {0}")]
    Unsupported(String),
    #[error("{0}")]
    Decode(String),
}

fn hint_for(status: u16) -> &'static str {
    match status {
        401 => " (wrong or missing username/password)",
        404 => " (no such stream path on this server)",
        454 => " (session not found: the server dropped our session)",
        461 => " (the server does not support this transport)",
        _ => "",
    }
}

/// An RTSP session error: the step, what happened, and the status code if the server sent one.
#[derive(Debug, thiserror::Error)]
#[error("{step} failed: {kind}")]
pub struct RtspError {
    pub step: Step,
    pub kind: ErrorKind,
}

impl RtspError {
    pub fn new(step: Step, kind: impl Into<ErrorKind>) -> Self {
        Self {
            step,
            kind: kind.into(),
        }
    }

    /// The RTSP status code the server answered with, if this error is one.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            ErrorKind::Status { status, .. } | ErrorKind::Redirect { status, .. } => Some(status),
            _ => None,
        }
    }

    /// Where the server redirects to, if this error is a redirect.
    pub fn redirect_location(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::Redirect { location, .. } => Some(location),
            _ => None,
        }
    }

    /// The message without the step prefix.
    pub fn message(&self) -> String {
        self.kind.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_step_and_status() {
        let e = RtspError::new(
            Step::Describe,
            ErrorKind::Status {
                status: 401,
                reason: "Unauthorized".into(),
            },
        );
        assert_eq!(e.status(), Some(401));
        let text = e.to_string();
        assert!(
            text.starts_with("DESCRIBE failed: server answered 401 Unauthorized"),
            "{text}"
        );
        assert_eq!(
            serde_json::to_string(&Step::Describe).unwrap(),
            "\"DESCRIBE\""
        );
        assert_eq!(
            serde_json::to_string(&Step::Receive).unwrap(),
            "\"receive\""
        );
    }
}
