//! Vedette: a native desktop viewer for RTSP cameras.
//!
//! The stream path is socket → [`rtsp`] → [`rtp`] access units → [`decode`] → YUV frames.
//! `ARCHITECTURE.md` describes the modules and threads.

pub mod config;
pub mod decode;
pub mod demo;
pub mod probe;
pub mod rtp;
pub mod rtsp;
pub mod timecode;
