//! Vedette: a native desktop viewer for RTSP cameras.
//!
//! The stream path is socket → [`rtsp`] → [`rtp`] access units → [`decode`] → YUV frames.
//! `ARCHITECTURE.md` describes the modules and threads.

pub mod audio_out;
pub mod bench;
pub mod camera;
pub mod cameras;
pub mod config;
pub mod credentials;
pub mod decode;
pub mod demo;
pub mod pipeline;
pub mod probe;
pub mod render;
pub mod rtp;
pub mod rtsp;
pub mod stats;
pub mod timecode;
pub mod ui;
