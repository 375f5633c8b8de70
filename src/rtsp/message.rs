//! Sans-I/O framing of the RTSP control connection: turns received bytes into RTSP responses,
//! server requests and interleaved binary frames (RFC 2326 §10.12), and builds requests.
//!
//! Parsing itself is `rtsp-types`; this module adds what a camera connection needs on top:
//! resynchronising after garbage, a bound on message size, and a typed result. [`Framer`]
//! keeps the bytes received and gives up only after [`MAX_JUNK_LEN`] bytes of junk in a row.

use bytes::{Buf as _, BytesMut};
use rtsp_types::{Message, ParseError, Request, Response};

/// The largest RTSP message (headers + body) we accept; an SDP is a few KiB.
pub const MAX_MESSAGE_LEN: usize = 1 << 20;

/// How many bytes in a row may belong to no message before the peer is taken for something
/// other than an RTSP server. Cameras leave a stray `\n` or `\0` now and then (a
/// Content-Length one short, NUL-terminated strings); a few KiB of it is no camera.
pub const MAX_JUNK_LEN: usize = 4096;

/// The longest status or request line taken (a request URI with a long token fits).
pub const MAX_START_LINE_LEN: usize = 8192;

/// One unit read off the control connection.
#[derive(Debug)]
pub enum Incoming {
    Response(Response<Vec<u8>>),
    /// A request from the server (e.g. OPTIONS, GET_PARAMETER, ANNOUNCE); the client answers
    /// each one (RFC 2326 §10).
    Request(Request<Vec<u8>>),
    /// An interleaved frame: `$`, channel, 16-bit length, payload.
    Data {
        channel: u8,
        payload: Vec<u8>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FramingError {
    #[error("message larger than {MAX_MESSAGE_LEN} bytes")]
    TooLarge,
    #[error("unparseable data from the server: {0:?}")]
    Garbage(String),
}

/// What [`parse_incoming`] found at the start of `buf`.
#[derive(Debug)]
pub enum Parsed {
    /// A complete unit and how many bytes it used.
    Message(Incoming, usize),
    /// Bytes that belong to nothing (junk between frames, or a stray byte at the end of the
    /// buffer); skip this many and call again. [`Framer`] counts them.
    Skip(usize),
    /// Need more bytes.
    Incomplete,
}

/// Parses the first unit in `buf`. Never panics, whatever the bytes.
pub fn parse_incoming(buf: &[u8]) -> Result<Parsed, FramingError> {
    if buf.is_empty() {
        return Ok(Parsed::Incomplete);
    }
    match Message::<Vec<u8>>::parse(buf) {
        Ok((message, consumed)) => {
            let incoming = match message {
                Message::Response(r) => Incoming::Response(r),
                Message::Request(r) => Incoming::Request(r),
                Message::Data(d) => Incoming::Data {
                    channel: d.channel_id(),
                    payload: d.into_body(),
                },
            };
            Ok(Parsed::Message(incoming, consumed))
        }
        Err(ParseError::Incomplete(_)) => {
            if buf.len() > MAX_MESSAGE_LEN + 4 {
                Err(FramingError::TooLarge)
            } else if buf.first() != Some(&b'$')
                && buf.len() > MAX_START_LINE_LEN
                && !buf[..MAX_START_LINE_LEN].contains(&b'\n')
            {
                // Letters without end: no status or request line is this long.
                let shown = &buf[..buf.len().min(60)];
                Err(FramingError::Garbage(
                    String::from_utf8_lossy(shown).into_owned(),
                ))
            } else {
                Ok(Parsed::Incomplete)
            }
        }
        Err(ParseError::Error) => match find_resync_point(buf) {
            Some(skip) => Ok(Parsed::Skip(skip)),
            // Wait for more bytes while the junk could still be the start of a message.
            None if buf.len() < 16 && b"RTSP/1.0".starts_with(buf.get(..8).unwrap_or(buf)) => {
                Ok(Parsed::Incomplete)
            }
            // No resync point yet, e.g. a lone `\n` left after a response: drop all but the
            // tail that may still begin one, and wait for the rest.
            None => Ok(Parsed::Skip(buf.len() - resync_prefix_len(buf))),
        },
    }
}

/// How a message can start besides `$`: a response's status line, or a request line (a server
/// sends OPTIONS, GET_PARAMETER or ANNOUNCE; a client any method). The space after a method
/// keeps words inside junk from counting.
const MESSAGE_STARTS: &[&[u8]] = &[
    b"RTSP/",
    b"OPTIONS ",
    b"DESCRIBE ",
    b"ANNOUNCE ",
    b"SETUP ",
    b"PLAY ",
    b"PAUSE ",
    b"TEARDOWN ",
    b"GET_PARAMETER ",
    b"SET_PARAMETER ",
    b"REDIRECT ",
    b"RECORD ",
];

/// The offset (> 0) of the next plausible start of a message: `$`, `RTSP/` or a method.
fn find_resync_point(buf: &[u8]) -> Option<usize> {
    (1..buf.len()).find(|&i| {
        let rest = buf.get(i..).unwrap_or_default();
        rest.first() == Some(&b'$') || MESSAGE_STARTS.iter().any(|s| rest.starts_with(s))
    })
}

/// The length of the longest proper suffix of `buf` that could still become the start of a
/// message (a `$` anywhere past the start is a resync point already).
fn resync_prefix_len(buf: &[u8]) -> usize {
    let longest = MESSAGE_STARTS.iter().map(|s| s.len()).max().unwrap_or(0);
    (1..buf.len().min(longest))
        .rev()
        .find(|&k| {
            MESSAGE_STARTS
                .iter()
                .any(|s| s.len() > k && s.get(..k).is_some_and(|prefix| buf.ends_with(prefix)))
        })
        .unwrap_or(0)
}

/// The receive side of a control connection: the bytes read and not yet parsed, and how much
/// junk came in a row. Sans-I/O: the caller reads into [`Self::read_buf`] (or [`Self::push`]es)
/// and takes units with [`Self::next_unit`].
#[derive(Debug, Default)]
pub struct Framer {
    buf: BytesMut,
    /// Bytes skipped since the last unit.
    junk_len: usize,
    /// The first bytes of that junk, to show.
    junk_start: Vec<u8>,
}

/// How much of a run of junk an error shows.
const JUNK_SHOWN: usize = 60;

impl Framer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes received.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The buffer to read into (e.g. `AsyncReadExt::read_buf`, which is cancel-safe).
    pub fn read_buf(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// The next complete unit, `None` when more bytes are needed. Junk is skipped; more than
    /// [`MAX_JUNK_LEN`] bytes of it in a row is [`FramingError::Garbage`].
    pub fn next_unit(&mut self) -> Result<Option<Incoming>, FramingError> {
        loop {
            match parse_incoming(&self.buf)? {
                Parsed::Message(unit, used) => {
                    self.buf.advance(used.min(self.buf.len()));
                    self.junk_len = 0;
                    self.junk_start.clear();
                    return Ok(Some(unit));
                }
                Parsed::Skip(n) => {
                    let n = n.min(self.buf.len());
                    if n == 0 {
                        return Ok(None);
                    }
                    let room = JUNK_SHOWN.saturating_sub(self.junk_start.len());
                    self.junk_start
                        .extend_from_slice(self.buf.get(..n.min(room)).unwrap_or_default());
                    self.buf.advance(n);
                    self.junk_len += n;
                    tracing::debug!(bytes = n, "skipping junk on the control connection");
                    if self.junk_len > MAX_JUNK_LEN {
                        return Err(FramingError::Garbage(self.junk_shown()));
                    }
                }
                Parsed::Incomplete => return Ok(None),
            }
        }
    }

    /// The junk received since the last unit when it is more than stray whitespace or NULs:
    /// what a peer that hangs up sent instead of RTSP (an HTTP server's error page, say).
    pub fn junk_at_close(&self) -> Option<FramingError> {
        self.junk_start
            .iter()
            .any(|b| !b.is_ascii_whitespace() && *b != 0)
            .then(|| FramingError::Garbage(self.junk_shown()))
    }

    fn junk_shown(&self) -> String {
        String::from_utf8_lossy(&self.junk_start).into_owned()
    }
}

/// Serialises a request to bytes.
pub fn serialize_request(request: &Request<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + request.body().len());
    // Writing into a Vec cannot fail.
    let _ = request.write(&mut out);
    out
}

/// Serialises a response to bytes (used by the demo server).
pub fn serialize_response(response: &Response<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + response.body().len());
    let _ = response.write(&mut out);
    out
}

/// Builds an interleaved frame header + payload (RFC 2326 §10.12).
pub fn interleaved_frame(channel: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(payload.len()).ok()?;
    let mut out = Vec::with_capacity(4 + payload.len());
    out.push(b'$');
    out.push(channel);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

/// Drives [`Framer`] (and so [`parse_incoming`]) over arbitrary bytes, fed in chunks whose
/// sizes come from the data; shared by the fuzz target and tests.
pub fn fuzz_parse_all(data: &[u8]) -> usize {
    let mut framer = Framer::new();
    let mut units = 0;
    let chunk = usize::from(data.first().copied().unwrap_or(0)).max(1);
    for piece in data.chunks(chunk) {
        framer.push(piece);
        loop {
            match framer.next_unit() {
                Ok(Some(_)) => units += 1,
                Ok(None) => break,
                Err(_) => return units,
            }
        }
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(mut buf: &[u8]) -> Vec<Incoming> {
        let mut out = Vec::new();
        loop {
            match parse_incoming(buf).unwrap() {
                Parsed::Message(m, used) => {
                    out.push(m);
                    buf = &buf[used..];
                }
                Parsed::Skip(n) => buf = &buf[n..],
                Parsed::Incomplete => return out,
            }
        }
    }

    #[test]
    fn parses_recorded_gstreamer_describe_reply() {
        let reply = include_bytes!("../../tests/testdata/gstreamer_describe.txt");
        let units = parse_all(reply);
        assert_eq!(units.len(), 1);
        let Incoming::Response(r) = &units[0] else {
            panic!("not a response")
        };
        assert_eq!(r.status(), rtsp_types::StatusCode::Ok);
        assert!(r.body().starts_with(b"v=0"));
        assert!(r.header(&rtsp_types::headers::CONTENT_BASE).is_some());
    }

    #[test]
    fn interleaved_frames_between_responses() {
        let mut bytes = interleaved_frame(0, &[0x80, 96, 0, 1]).unwrap();
        bytes.extend_from_slice(b"RTSP/1.0 200 OK\r\nCSeq: 5\r\n\r\n");
        bytes.extend(interleaved_frame(1, &[1, 2, 3]).unwrap());
        let units = parse_all(&bytes);
        assert_eq!(units.len(), 3);
        assert!(matches!(&units[0], Incoming::Data { channel: 0, payload } if payload.len() == 4));
        assert!(matches!(&units[1], Incoming::Response(_)));
        assert!(matches!(&units[2], Incoming::Data { channel: 1, .. }));
    }

    #[test]
    fn incomplete_until_whole() {
        let msg = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..msg.len() {
            assert!(
                matches!(parse_incoming(&msg[..cut]).unwrap(), Parsed::Incomplete),
                "cut {cut}"
            );
        }
        assert!(matches!(parse_incoming(msg).unwrap(), Parsed::Message(_, n) if n == msg.len()));
    }

    #[test]
    fn skips_junk_before_a_frame() {
        let mut bytes = b"\r\n\r\nxx".to_vec();
        bytes.extend(interleaved_frame(0, &[1]).unwrap());
        let units = parse_all(&bytes);
        assert_eq!(units.len(), 1);
    }

    /// Every unit the framer finds in what was pushed so far.
    fn units(framer: &mut Framer) -> Result<Vec<Incoming>, FramingError> {
        let mut out = Vec::new();
        while let Some(unit) = framer.next_unit()? {
            out.push(unit);
        }
        Ok(out)
    }

    #[test]
    fn a_stray_newline_waits_for_the_next_response() {
        // A Content-Length one short leaves the body's last `\n` behind, alone in the buffer.
        let mut framer = Framer::new();
        framer.push(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 2\r\n\r\nab\n");
        assert!(matches!(
            &units(&mut framer).unwrap()[..],
            [Incoming::Response(_)]
        ));
        framer.push(b"\n");
        assert!(units(&mut framer).unwrap().is_empty());
        framer.push(b"RTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n");
        let got = units(&mut framer).unwrap();
        assert!(
            matches!(&got[..], [Incoming::Response(r)] if r.header(&rtsp_types::headers::CSEQ).map(|v| v.as_str()) == Some("2")),
            "{got:?}"
        );
    }

    #[test]
    fn stray_nuls_then_an_interleaved_frame() {
        let mut framer = Framer::new();
        framer.push(b"\0\0");
        assert!(units(&mut framer).unwrap().is_empty());
        framer.push(&interleaved_frame(0, &[0x80, 96, 0, 1]).unwrap());
        let got = units(&mut framer).unwrap();
        assert!(
            matches!(&got[..], [Incoming::Data { channel: 0, payload }] if payload.len() == 4),
            "{got:?}"
        );
    }

    #[test]
    fn a_partial_rtsp_prefix_after_junk_is_kept() {
        let mut framer = Framer::new();
        framer.push(b"\r\n\0RTS");
        assert!(units(&mut framer).unwrap().is_empty());
        framer.push(b"P/1.0 200 OK\r\nCSeq: 3\r\n\r\n");
        assert!(matches!(
            &units(&mut framer).unwrap()[..],
            [Incoming::Response(_)]
        ));
    }

    #[test]
    fn a_request_after_junk_is_found() {
        // A server's request to the client, or a client's to the demo server, after a NUL
        // (which rtsp-types does not skip the way it skips a blank line).
        let mut framer = Framer::new();
        framer.push(b"\r\n\0\r\nGET_PARAM");
        assert!(units(&mut framer).unwrap().is_empty());
        framer.push(b"ETER rtsp://cam/ RTSP/1.0\r\nCSeq: 4\r\n\r\n");
        let got = units(&mut framer).unwrap();
        assert!(
            matches!(&got[..], [Incoming::Request(r)] if r.method() == rtsp_types::Method::GetParameter),
            "{got:?}"
        );
        // A word that only looks like a method is junk.
        let mut framer = Framer::new();
        framer.push(b"\0PLAYBACK\r\nOPTIONS * RTSP/1.0\r\nCSeq: 5\r\n\r\n");
        let got = units(&mut framer).unwrap();
        assert!(
            matches!(&got[..], [Incoming::Request(r)] if r.method() == rtsp_types::Method::Options),
            "{got:?}"
        );
    }

    #[test]
    fn junk_beyond_the_cap_is_garbage() {
        // (Letters alone would not do: they could be the method of a long request line.)
        let mut framer = Framer::new();
        framer.push(&[0u8; 5 * 1024]);
        assert!(matches!(
            framer.next_unit(),
            Err(FramingError::Garbage(shown)) if shown.starts_with("\0\0")
        ));
        // The same amount in small pieces, as a slow peer sends it.
        let mut framer = Framer::new();
        let mut failed = false;
        for _ in 0..5 * 1024 / 16 {
            framer.push(b"junk junk junk\r\n");
            if framer.next_unit().is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
    }

    #[test]
    fn a_line_without_end_is_garbage_long_before_the_message_cap() {
        let mut framer = Framer::new();
        framer.push(&[b'x'; MAX_START_LINE_LEN]);
        assert!(matches!(framer.next_unit(), Ok(None)));
        framer.push(b"x");
        assert!(matches!(
            framer.next_unit(),
            Err(FramingError::Garbage(shown)) if shown.starts_with("xxx")
        ));
        // An interleaved frame is binary and may be 64 KiB without a line ending.
        let mut framer = Framer::new();
        framer.push(&[b'$', 0, 0xff, 0xff]);
        framer.push(&[b'x'; 0xffff]);
        assert!(matches!(
            framer.next_unit(),
            Ok(Some(Incoming::Data { channel: 0, payload })) if payload.len() == 0xffff
        ));
    }

    #[test]
    fn junk_between_units_resets_at_each_unit() {
        let mut framer = Framer::new();
        for seq in 0..8 {
            framer.push(&[0u8; 1000]);
            framer.push(format!("RTSP/1.0 200 OK\r\nCSeq: {seq}\r\n\r\n").as_bytes());
            assert_eq!(units(&mut framer).unwrap().len(), 1);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let http = b"HTTP/1.1 400 Bad Request\r\n\r\n hello there";
        assert!(matches!(parse_incoming(http), Ok(Parsed::Skip(n)) if n == http.len()));
        let mut framer = Framer::new();
        framer.push(http);
        assert!(framer.next_unit().unwrap().is_none());
        // When such a peer hangs up, what it sent is the error, not just "closed".
        assert!(
            matches!(framer.junk_at_close(), Some(FramingError::Garbage(shown)) if shown.starts_with("HTTP/1.1 400")),
        );
        let mut framer = Framer::new();
        framer.push(b"\r\n\0");
        assert!(framer.next_unit().unwrap().is_none());
        assert_eq!(framer.junk_at_close(), None);
    }

    #[test]
    fn fuzz_corpus_smoke() {
        // A few thousand pseudo-random inputs through the same path the fuzz target drives.
        let mut seed = 0x1234_5678_u32;
        for len in 0..2000 {
            let data: Vec<u8> = (0..len % 300)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    (seed & 0xff) as u8
                })
                .collect();
            fuzz_parse_all(&data);
        }
    }
}
