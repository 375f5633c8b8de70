//! The built-in demo server: N synthetic cameras over RTSP on loopback, H.264 encoded live.
//! `make run` shows it when no camera is configured, and tests use its `--fault` options for
//! misbehaviour that a real server cannot be made to produce.

pub mod digest;
pub mod encoder;
pub mod pattern;
mod server;

pub use digest::DemoCredentials;
pub use server::{DemoOptions, DemoServer, Fault};
