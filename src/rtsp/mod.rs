//! The RTSP client: URL handling, message framing, SDP, authentication and the session.

pub mod auth;
pub mod client;
pub mod error;
pub mod lossy_udp;
pub mod message;
pub mod sdp;
pub mod tls;
pub mod url;

pub use client::{ClientOptions, MethodRecord, Packet, RtspSession, Transport};
pub use error::{ErrorKind, RtspError, Step};
pub use tls::{Fingerprint, TlsError, TlsOptions};
pub use url::{CameraUrl, Credentials};
