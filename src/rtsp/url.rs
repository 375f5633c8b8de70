//! Camera URLs: parsing, validation and credential hygiene.
//!
//! A camera URL may carry `user:password@` (that is how most cameras document it), but the
//! credentials must never reach a log line, an error message or the wire as part of a request
//! URI. [`CameraUrl`] splits them off once, at parse time, and everything downstream sees only
//! the redacted URL.

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
}

impl fmt::Display for CameraUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

/// Removes user info from any URL-looking text, for messages that quote a server's words.
pub fn redact_url_text(text: &str) -> String {
    match Url::parse(text) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => text.to_owned(),
    }
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
}
