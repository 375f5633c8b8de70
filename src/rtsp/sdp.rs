//! Sans-I/O handling of a DESCRIBE answer: the SDP (RFC 4566, parsed by `sdp-types`) becomes a
//! [`Presentation`] with one [`StreamDescription`] per `m=` line and absolute control URLs
//! (RFC 2326 §C.1.1).

use base64::Engine as _;
use url::Url;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdpError {
    #[error("the session description is not valid SDP ({0})")]
    Invalid(String),
    #[error("the session description has no media streams")]
    NoStreams,
}

/// What a DESCRIBE told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presentation {
    /// The URL relative control URLs are resolved against.
    pub base_url: Url,
    /// The aggregate control URL for PLAY/PAUSE/TEARDOWN (session-level `a=control`, else base).
    pub control_url: Url,
    pub streams: Vec<StreamDescription>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDescription {
    /// "video", "audio", "application"…
    pub media: String,
    pub payload_type: u8,
    /// Encoding name from `a=rtpmap`, lower case ("h264", "h265", "jpeg", "pcmu"…).
    pub encoding: String,
    pub clock_rate: u32,
    /// Audio channels from `a=rtpmap` (`None` when not stated: one channel).
    pub channels: Option<u16>,
    /// Raw `a=fmtp` parameters for this payload type.
    pub fmtp: Vec<(String, String)>,
    /// Absolute URL to SETUP this stream with.
    pub control_url: Url,
}

impl StreamDescription {
    pub fn fmtp_param(&self, name: &str) -> Option<&str> {
        self.fmtp
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// H.264 parameter sets from `sprop-parameter-sets` (RFC 6184 §8.1), raw NAL units.
    /// Entries that are not valid base64 are skipped: a camera's bad hint must not stop playback
    /// when the parameter sets also arrive in band.
    pub fn h264_parameter_sets(&self) -> Vec<Vec<u8>> {
        let Some(value) = self.fmtp_param("sprop-parameter-sets") else {
            return Vec::new();
        };
        value
            .split(',')
            .filter_map(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
                    .filter(|nal| !nal.is_empty())
            })
            .collect()
    }

    /// H.265 parameter sets from `sprop-vps`, `sprop-sps` and `sprop-pps` (RFC 7798 §7.1), raw
    /// NAL units, VPS first. Invalid entries are skipped as for H.264.
    pub fn h265_parameter_sets(&self) -> Vec<Vec<u8>> {
        crate::rtp::h265::h265_parameter_sets(&self.fmtp)
    }
}

/// Parses an SDP body received in answer to DESCRIBE of `base_url`.
pub fn parse_presentation(body: &[u8], base_url: &Url) -> Result<Presentation, SdpError> {
    let session =
        sdp_types::Session::parse(body).map_err(|e| SdpError::Invalid(format!("{e:?}")))?;
    let session_control = session
        .get_first_attribute_value("control")
        .flatten()
        .map(|c| resolve_control(base_url, c));
    let control_url = session_control.unwrap_or_else(|| base_url.clone());

    let streams: Vec<StreamDescription> = session
        .medias
        .iter()
        .filter_map(|media| {
            // A static payload type has no rtpmap (RFC 3551 table 4/5); we know the common ones.
            let payload_type: u8 = media.fmt.split_whitespace().next()?.parse().ok()?;
            let rtpmap = media
                .get_attribute_values("rtpmap")
                .flatten()
                .find(|v| v.split_whitespace().next() == Some(&payload_type.to_string()));
            let (encoding, clock_rate, channels) = match rtpmap {
                Some(v) => parse_rtpmap(v)?,
                None => {
                    let (encoding, clock_rate) = static_payload_type(payload_type)?;
                    (encoding, clock_rate, None)
                }
            };
            let fmtp = media
                .get_attribute_values("fmtp")
                .flatten()
                .find_map(|v| {
                    let (pt, params) = v.split_once(' ')?;
                    (pt.trim() == payload_type.to_string()).then(|| parse_fmtp(params))
                })
                .unwrap_or_default();
            let control = media
                .get_first_attribute_value("control")
                .flatten()
                .map(|c| resolve_control(&control_url, c))
                .unwrap_or_else(|| control_url.clone());
            Some(StreamDescription {
                media: media.media.clone(),
                payload_type,
                encoding,
                clock_rate,
                channels,
                fmtp,
                control_url: control,
            })
        })
        .collect();
    if streams.is_empty() {
        return Err(SdpError::NoStreams);
    }
    Ok(Presentation {
        base_url: base_url.clone(),
        control_url,
        streams,
    })
}

/// `a=rtpmap:<pt> <name>/<clock>[/<channels>]`
fn parse_rtpmap(value: &str) -> Option<(String, u32, Option<u16>)> {
    let mut parts = value.split_whitespace();
    let _pt = parts.next()?;
    let mut enc = parts.next()?.split('/');
    let name = enc.next()?.to_ascii_lowercase();
    let clock_rate = enc.next()?.parse().ok()?;
    let channels = enc.next().and_then(|c| c.parse().ok());
    Some((name, clock_rate, channels))
}

fn static_payload_type(pt: u8) -> Option<(String, u32)> {
    let (name, clock) = match pt {
        0 => ("pcmu", 8000),
        8 => ("pcma", 8000),
        26 => ("jpeg", 90000),
        _ => return None,
    };
    Some((name.to_owned(), clock))
}

fn parse_fmtp(params: &str) -> Vec<(String, String)> {
    params
        .split(';')
        .filter_map(|p| {
            let p = p.trim();
            if p.is_empty() {
                return None;
            }
            // Values (base64) may contain '='; split on the first only.
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// Resolves an `a=control` value against a base URL as cameras and the common clients
/// (live555, FFmpeg) do: `*` is the base itself, an absolute URL stands, and anything else is
/// appended to the base with exactly one `/` between, keeping any query in the base.
pub fn resolve_control(base: &Url, control: &str) -> Url {
    let control = control.trim();
    if control.is_empty() || control == "*" {
        return base.clone();
    }
    if let Ok(absolute) = Url::parse(control) {
        if absolute.has_host() {
            return absolute;
        }
    }
    let base_text = base.as_str();
    let joined = if base_text.ends_with('/') || control.starts_with('/') {
        if base_text.ends_with('/') && control.starts_with('/') {
            format!("{base_text}{}", &control[1..])
        } else {
            format!("{base_text}{control}")
        }
    } else {
        format!("{base_text}/{control}")
    };
    Url::parse(&joined).unwrap_or_else(|_| base.clone())
}

/// Picks the base URL from a DESCRIBE response (RFC 2326 §C.1.1): Content-Base, then
/// Content-Location, then the request URL.
pub fn base_url_of(
    request_url: &Url,
    content_base: Option<&str>,
    content_location: Option<&str>,
) -> Url {
    [content_base, content_location]
        .into_iter()
        .flatten()
        .find_map(|v| {
            let v = v.trim();
            Url::parse(v).ok().or_else(|| request_url.join(v).ok())
        })
        .unwrap_or_else(|| request_url.clone())
}

/// Drives SDP parsing over arbitrary bytes for the fuzz target; returns the stream count.
pub fn fuzz_parse(data: &[u8]) -> usize {
    let base = Url::parse("rtsp://fuzz.invalid/base/").expect("static URL is valid");
    match parse_presentation(data, &base) {
        Ok(p) => p
            .streams
            .iter()
            .map(|s| s.h264_parameter_sets().len() + 1)
            .sum(),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn gstreamer_sdp() {
        let reply = include_str!("../../tests/testdata/gstreamer_describe.txt");
        let body = reply.split("\r\n\r\n").nth(1).unwrap();
        let base = url("rtsp://127.0.0.1:18554/test/");
        let p = parse_presentation(body.as_bytes(), &base).unwrap();
        assert_eq!(p.control_url, base, "a=control:* is the base");
        assert_eq!(p.streams.len(), 1);
        let s = &p.streams[0];
        assert_eq!(s.media, "video");
        assert_eq!(s.encoding, "h264");
        assert_eq!(s.clock_rate, 90000);
        assert_eq!(s.payload_type, 96);
        assert_eq!(s.control_url, url("rtsp://127.0.0.1:18554/test/stream=0"));
        let ps = s.h264_parameter_sets();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0][0] & 0x1f, 7, "SPS first");
        assert_eq!(ps[1][0] & 0x1f, 8, "PPS second");
        assert_eq!(s.fmtp_param("packetization-mode"), Some("1"));
    }

    #[test]
    fn hikvision_style_sdp_with_static_audio_and_absolute_control() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=Media Presentation\r\nt=0 0\r\n\
                   a=control:*\r\n\
                   m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                   a=control:rtsp://cam.example/Streaming/Channels/101/trackID=1?transportmode=unicast\r\n\
                   m=audio 0 RTP/AVP 8\r\na=control:trackID=2\r\n";
        let base = url("rtsp://cam.example/Streaming/Channels/101");
        let p = parse_presentation(sdp.as_bytes(), &base).unwrap();
        assert_eq!(p.control_url, base);
        assert_eq!(
            p.streams[0].control_url.as_str(),
            "rtsp://cam.example/Streaming/Channels/101/trackID=1?transportmode=unicast"
        );
        assert_eq!(p.streams[1].encoding, "pcma");
        assert_eq!(
            p.streams[1].control_url.as_str(),
            "rtsp://cam.example/Streaming/Channels/101/trackID=2"
        );
    }

    #[test]
    fn control_resolution() {
        let base = url("rtsp://h/a/");
        assert_eq!(
            resolve_control(&base, "track1").as_str(),
            "rtsp://h/a/track1"
        );
        assert_eq!(
            resolve_control(&base, "/track1").as_str(),
            "rtsp://h/a/track1"
        );
        assert_eq!(
            resolve_control(&url("rtsp://h/a"), "track1").as_str(),
            "rtsp://h/a/track1"
        );
        assert_eq!(resolve_control(&base, "*"), base);
        assert_eq!(resolve_control(&base, "rtsp://o/x").as_str(), "rtsp://o/x");
    }

    #[test]
    fn base_url_precedence() {
        let req = url("rtsp://h/live");
        assert_eq!(
            base_url_of(&req, Some("rtsp://h/live/"), Some("x")).as_str(),
            "rtsp://h/live/"
        );
        assert_eq!(
            base_url_of(&req, None, Some("rtsp://h/loc/")).as_str(),
            "rtsp://h/loc/"
        );
        assert_eq!(
            base_url_of(&req, Some("relative/"), None).as_str(),
            "rtsp://h/relative/"
        );
        assert_eq!(base_url_of(&req, None, None), req);
    }

    #[test]
    fn rejects_non_sdp() {
        let base = url("rtsp://h/");
        assert!(parse_presentation(b"<html>not sdp</html>", &base).is_err());
        assert_eq!(
            parse_presentation(b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\n", &base),
            Err(SdpError::NoStreams)
        );
    }

    #[test]
    fn bad_sprop_is_skipped() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n\
                   a=rtpmap:96 H264/90000\r\na=fmtp:96 sprop-parameter-sets=!!!,aMuDyyA=\r\n";
        let p = parse_presentation(sdp.as_bytes(), &url("rtsp://h/")).unwrap();
        assert_eq!(p.streams[0].h264_parameter_sets().len(), 1);
    }
}
