//! Camera URLs: parsing, validation and credential hygiene.
//!
//! A camera URL may carry `user:password@` (that is how most cameras document it), but the
//! credentials must never reach a log line, an error message or the wire as part of a request
//! URI. [`CameraUrl`] splits them off once, at parse time, and everything downstream sees only
//! the redacted URL.
//!
//! Some cameras take the password in the path or query instead (XMEye:
//! `/user=admin&password=…&channel=1`). That stays in the URL, since the camera needs it in the
//! request URI, and [`CameraUrl::redacted`] and [`redact_url_text`] mask it wherever a URL is
//! shown or logged.

use std::fmt;

use url::Url;

/// Why a camera URL was rejected. The text never contains the password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("not a valid URL ({0})")]
    Malformed(String),
    #[error("unsupported scheme \"{0}\": a camera URL starts with rtsp:// or rtsps://")]
    UnsupportedScheme(String),
    #[error("the URL has no host (expected rtsp://HOST[:PORT]/PATH)")]
    MissingHost,
}

/// Username and password for one camera. `Debug` never prints the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A validated `rtsp://` or `rtsps://` URL with any user info removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraUrl {
    url: Url,
    credentials_in_url: Option<Credentials>,
}

impl CameraUrl {
    /// Parses and validates a camera URL, splitting off `user:password@` if present.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let mut url = Url::parse(text.trim()).map_err(|e| UrlError::Malformed(e.to_string()))?;
        match url.scheme() {
            "rtsp" | "rtsps" => {}
            other => return Err(UrlError::UnsupportedScheme(other.to_owned())),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(UrlError::MissingHost);
        }
        let credentials_in_url = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let decode = |s: &str| percent_decode(s).unwrap_or_else(|| s.to_owned());
            let creds = Credentials {
                username: decode(url.username()),
                password: decode(url.password().unwrap_or("")),
            };
            // Both setters only fail for URLs that cannot have a host, which we ruled out above.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            Some(creds)
        };
        Ok(Self {
            url,
            credentials_in_url,
        })
    }

    /// The URL without credentials: safe to send as a request URI, log or show.
    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn is_tls(&self) -> bool {
        self.url.scheme() == "rtsps"
    }

    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The port to connect to: explicit, or 554 (RTSP) / 322 (RTSPS, RFC 7826 §22.3).
    pub fn port(&self) -> u16 {
        self.url
            .port()
            .unwrap_or(if self.is_tls() { 322 } else { 554 })
    }

    /// Credentials that were written into the URL, if any.
    pub fn credentials_in_url(&self) -> Option<&Credentials> {
        self.credentials_in_url.as_ref()
    }

    /// The URL for logs and messages: [`Self::url`] with the values of password parameters
    /// in its path or query masked (see [`redact_url_text`]). Requests still use `url()`.
    pub fn redacted(&self) -> String {
        mask_password_params(self.url.as_str())
    }
}

impl fmt::Display for CameraUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

/// Makes URL-looking text safe to show: removes `user:password@` and masks the values of
/// password parameters (`password=`, `pwd=`, `passwd=`, `pass=`, any case) with `***`.
/// Xiongmai/XMEye cameras take their credentials in the path
/// (`rtsp://host:554/user=admin&password=secret&channel=1&stream=0.sdp`), so a URL without
/// user info can still carry a password. For display and logs only: the masked URL no longer
/// reaches the camera.
pub fn redact_url_text(text: &str) -> String {
    mask_password_params(&strip_url_userinfo(text))
}

/// Removes `user:password@` from a URL and leaves the rest as it is (a URL with credentials in
/// its path still works afterwards); text that is not a URL is returned unchanged.
pub fn strip_url_userinfo(text: &str) -> String {
    match Url::parse(text) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => text.to_owned(),
    }
}

/// Parameter names whose values are passwords, as cameras spell them in paths and queries.
const PASSWORD_KEYS: [&str; 4] = ["password", "passwd", "pwd", "pass"];

/// Masks the value of every `password=…` (and the other [`PASSWORD_KEYS`]) that starts the
/// text or follows `/`, `?`, `&` or `;`, up to the next `&`, `;`, `/`, `?`, `#`, quote,
/// whitespace or the end. `bypass=1` or `passport=2` are left alone.
fn mask_password_params(text: &str) -> String {
    let bytes = text.as_bytes();
    let ends_value = |b: &u8| {
        matches!(
            b,
            b'&' | b';' | b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>'
        )
    };
    let mut out = String::with_capacity(text.len());
    // `text[..copied]` is in `out`. Every offset used below sits next to an ASCII byte, so
    // it is a char boundary.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let at_boundary = i == 0 || matches!(bytes.get(i - 1), Some(b'/' | b'?' | b'&' | b';'));
        let key_len = PASSWORD_KEYS
            .iter()
            .filter(|_| at_boundary)
            .find_map(|key| {
                let candidate = bytes.get(i..i + key.len() + 1)?;
                let (equals, name) = candidate.split_last()?;
                (*equals == b'=' && name.eq_ignore_ascii_case(key.as_bytes()))
                    .then_some(candidate.len())
            });
        let Some(key_len) = key_len else {
            i += 1;
            continue;
        };
        let value_start = i + key_len;
        let value_end = bytes
            .get(value_start..)
            .unwrap_or_default()
            .iter()
            .position(|b| ends_value(b) || b.is_ascii_whitespace())
            .map_or(bytes.len(), |p| value_start + p);
        if value_end > value_start {
            out.push_str(text.get(copied..value_start).unwrap_or_default());
            out.push_str("***");
            copied = value_end;
        }
        i = value_end.max(i + 1);
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_decodes_credentials() {
        let url = CameraUrl::parse("rtsp://admin:p%40ss%3Aw0rd@cam.local:8554/live?ch=1").unwrap();
        assert_eq!(url.to_string(), "rtsp://cam.local:8554/live?ch=1");
        let creds = url.credentials_in_url().unwrap();
        assert_eq!(creds.username, "admin");
        assert_eq!(creds.password, "p@ss:w0rd");
        assert!(!format!("{creds:?}").contains("p@ss"));
        assert!(!format!("{url:?}").contains("p%40ss"));
    }

    #[test]
    fn default_ports() {
        assert_eq!(CameraUrl::parse("rtsp://cam/").unwrap().port(), 554);
        assert_eq!(CameraUrl::parse("rtsps://cam/").unwrap().port(), 322);
        assert_eq!(CameraUrl::parse("rtsp://cam:10554/").unwrap().port(), 10554);
    }

    #[test]
    fn rejects_bad_urls_with_clear_reasons() {
        assert_eq!(CameraUrl::parse("rtsp:/bad"), Err(UrlError::MissingHost));
        assert_eq!(
            CameraUrl::parse("http://host/"),
            Err(UrlError::UnsupportedScheme("http".into()))
        );
        assert!(matches!(
            CameraUrl::parse("not a url"),
            Err(UrlError::Malformed(_))
        ));
        assert!(matches!(
            CameraUrl::parse("rtsp://a:b@[::1"),
            Err(UrlError::Malformed(_))
        ));
    }

    #[test]
    fn error_text_never_contains_the_password() {
        for text in ["http://u:hunter2@host/", "rtsp://u:hunter2@[::1/"] {
            let err = CameraUrl::parse(text).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn redacts_urls_in_server_text() {
        assert_eq!(redact_url_text("rtsp://u:pw@h/x"), "rtsp://h/x".to_string());
        assert_eq!(redact_url_text("plain words"), "plain words");
    }

    #[test]
    fn masks_xmeye_credentials_in_the_path() {
        let xmeye = "rtsp://10.0.0.5:554/user=admin&password=secret&channel=1&stream=0.sdp";
        assert_eq!(
            redact_url_text(xmeye),
            "rtsp://10.0.0.5:554/user=admin&password=***&channel=1&stream=0.sdp"
        );
        // Only what is shown is masked: the request URI keeps the password.
        let url = CameraUrl::parse(xmeye).unwrap();
        assert_eq!(url.url().as_str(), xmeye);
        assert_eq!(url.to_string(), xmeye);
        assert!(!url.redacted().contains("secret"), "{}", url.redacted());
        assert!(!redact_url_text(&format!("{xmeye}/trackID=1")).contains("secret"));
    }

    #[test]
    fn masks_every_password_spelling_in_path_and_query() {
        for (text, shown) in [
            (
                "rtsp://h/live?user=a&PWD=x1;y",
                "rtsp://h/live?user=a&PWD=***;y",
            ),
            ("rtsp://h/live?passwd=x2", "rtsp://h/live?passwd=***"),
            ("rtsp://h/Pass=x3/stream", "rtsp://h/Pass=***/stream"),
            ("rtsp://h/a;PassWord=x4#f", "rtsp://h/a;PassWord=***#f"),
            ("rtsp://u:pw@h/password=x5", "rtsp://h/password=***"),
            (
                "DESCRIBE refused for rtsp://h/?pwd=x6 (bad)",
                "DESCRIBE refused for rtsp://h/?pwd=*** (bad)",
            ),
            ("password=x7", "password=***"),
        ] {
            assert_eq!(redact_url_text(text), shown, "{text}");
        }
    }

    #[test]
    fn leaves_other_parameters_alone() {
        for text in [
            "rtsp://h/live?bypass=1&passport=2&compass=n",
            "rtsp://h/live?password=&channel=1",
            "rtsp://h/pass/word=3",
            "rtsp://h/caméra?password",
        ] {
            assert_eq!(redact_url_text(text), text);
        }
        assert_eq!(
            redact_url_text("rtsp://h/ça?pwd=é&x=1"),
            "rtsp://h/ça?pwd=***&x=1"
        );
    }
}
