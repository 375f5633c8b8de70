//! Sans-I/O framing of the RTSP control connection: turns received bytes into RTSP responses,
//! server requests and interleaved binary frames (RFC 2326 §10.12), and builds requests.
//!
//! Parsing itself is `rtsp-types`; this module adds what a camera connection needs on top:
//! resynchronising after garbage, a bound on message size, and a typed result.

use rtsp_types::{Message, ParseError, Request, Response};

/// The largest RTSP message (headers + body) we accept; an SDP is a few KiB.
pub const MAX_MESSAGE_LEN: usize = 1 << 20;

/// One unit read off the control connection.
#[derive(Debug)]
pub enum Incoming {
    Response(Response<Vec<u8>>),
    /// A request from the server (e.g. SET_PARAMETER, ANNOUNCE); we answer 501 or ignore it.
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
    /// Bytes that belong to nothing (junk between frames); skip this many and call again.
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
            } else {
                Ok(Parsed::Incomplete)
            }
        }
        Err(ParseError::Error) => match find_resync_point(buf) {
            Some(skip) => Ok(Parsed::Skip(skip)),
            None => {
                // Wait for more bytes only while the junk could still be the start of a message.
                if buf.len() < 16 && (b"RTSP/1.0".starts_with(&buf[..buf.len().min(8)])) {
                    Ok(Parsed::Incomplete)
                } else {
                    let shown = String::from_utf8_lossy(&buf[..buf.len().min(60)]).into_owned();
                    Err(FramingError::Garbage(shown))
                }
            }
        },
    }
}

/// The offset (> 0) of the next plausible start of a message: `$` or `RTSP/`.
fn find_resync_point(buf: &[u8]) -> Option<usize> {
    (1..buf.len()).find(|&i| {
        let rest = &buf[i..];
        rest.first() == Some(&b'$') || rest.starts_with(b"RTSP/")
    })
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

/// Drives [`parse_incoming`] over arbitrary bytes; shared by the fuzz target and tests.
pub fn fuzz_parse_all(mut data: &[u8]) -> usize {
    let mut units = 0;
    loop {
        match parse_incoming(data) {
            Ok(Parsed::Message(_, used)) => {
                units += 1;
                data = data.get(used.max(1)..).unwrap_or_default();
            }
            Ok(Parsed::Skip(n)) => data = data.get(n.max(1)..).unwrap_or_default(),
            Ok(Parsed::Incomplete) | Err(_) => return units,
        }
    }
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

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_incoming(b"HTTP/1.1 400 Bad Request\r\n\r\n hello there").is_err());
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
