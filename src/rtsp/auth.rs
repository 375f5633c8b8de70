//! RTSP authentication (RFC 2326 §D uses HTTP's schemes): Basic and Digest through `http-auth`,
//! plus the retry policy: answer a challenge once, and once more only when the server says our
//! Digest nonce went stale (RFC 7616 §3.3 `stale=true`).

use http_auth::{PasswordClient, PasswordParams};

use super::url::Credentials;

/// Why a 401 ends the request instead of being retried.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthFailure {
    #[error("the server requires a username and password, and none were given")]
    NoCredentials,
    #[error("the server rejected the username or password")]
    Rejected,
    #[error("the server sent 401 without a usable WWW-Authenticate challenge ({0})")]
    BadChallenge(String),
}

/// Per-request retry state.
#[derive(Debug, Default)]
pub struct AttemptState {
    sent_authorization: bool,
    stale_retry_used: bool,
}

/// Holds credentials and the current challenge for one RTSP connection.
#[derive(Debug)]
pub struct Authenticator {
    credentials: Option<Credentials>,
    client: Option<PasswordClient>,
}

impl Authenticator {
    pub fn new(credentials: Option<Credentials>) -> Self {
        Self {
            credentials,
            client: None,
        }
    }

    /// The `Authorization` value for a request, once a challenge has been seen.
    pub fn authorization(
        &mut self,
        method: &str,
        uri: &str,
        attempt: &mut AttemptState,
    ) -> Option<String> {
        let (client, creds) = (self.client.as_mut()?, self.credentials.as_ref()?);
        let value = client
            .respond(&PasswordParams {
                username: &creds.username,
                password: &creds.password,
                uri,
                method,
                body: Some(&[]),
            })
            .ok()?;
        attempt.sent_authorization = true;
        Some(value)
    }

    /// Decides what to do with a 401: `Ok(())` means send the request again.
    pub fn on_unauthorized(
        &mut self,
        challenge: Option<&str>,
        attempt: &mut AttemptState,
    ) -> Result<(), AuthFailure> {
        if self.credentials.is_none() {
            return Err(AuthFailure::NoCredentials);
        }
        let challenge =
            challenge.ok_or_else(|| AuthFailure::BadChallenge("no WWW-Authenticate".into()))?;
        let client = PasswordClient::try_from(challenge).map_err(AuthFailure::BadChallenge)?;
        let stale = matches!(&client, PasswordClient::Digest(d) if d.stale());
        if !attempt.sent_authorization {
            self.client = Some(client);
            return Ok(());
        }
        if stale && !attempt.stale_retry_used {
            attempt.stale_retry_used = true;
            self.client = Some(client);
            return Ok(());
        }
        Err(AuthFailure::Rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = r#"Digest realm="GStreamer RTSP Server", nonce="0a4f113b""#;
    const DIGEST_STALE: &str = r#"Digest realm="GStreamer RTSP Server", nonce="99", stale=TRUE"#;

    fn creds() -> Option<Credentials> {
        Some(Credentials {
            username: "admin".into(),
            password: "secret".into(),
        })
    }

    #[test]
    fn digest_response_per_rfc2617() {
        let mut a = Authenticator::new(creds());
        let mut attempt = AttemptState::default();
        a.on_unauthorized(Some(DIGEST), &mut attempt).unwrap();
        let v = a
            .authorization("DESCRIBE", "rtsp://h/test", &mut attempt)
            .unwrap();
        assert!(v.starts_with("Digest "), "{v}");
        // HA1 = MD5(admin:GStreamer RTSP Server:secret), HA2 = MD5(DESCRIBE:rtsp://h/test),
        // response = MD5(HA1:0a4f113b:HA2), computed independently with Python's hashlib.
        assert!(
            v.contains(r#"response="cdac8ce80584876bb5a0b95fd0fadfbb""#),
            "{v}"
        );
        assert!(v.contains(r#"uri="rtsp://h/test""#), "{v}");
        assert!(!v.contains("secret"));
    }

    #[test]
    fn retries_once_then_reports_rejection() {
        let mut a = Authenticator::new(creds());
        let mut attempt = AttemptState::default();
        a.on_unauthorized(Some(DIGEST), &mut attempt).unwrap();
        a.authorization("DESCRIBE", "rtsp://h/", &mut attempt)
            .unwrap();
        assert_eq!(
            a.on_unauthorized(Some(DIGEST), &mut attempt),
            Err(AuthFailure::Rejected)
        );
    }

    #[test]
    fn one_extra_retry_for_a_stale_nonce() {
        let mut a = Authenticator::new(creds());
        let mut attempt = AttemptState::default();
        a.on_unauthorized(Some(DIGEST), &mut attempt).unwrap();
        a.authorization("PLAY", "rtsp://h/", &mut attempt).unwrap();
        a.on_unauthorized(Some(DIGEST_STALE), &mut attempt).unwrap();
        let v = a.authorization("PLAY", "rtsp://h/", &mut attempt).unwrap();
        assert!(v.contains(r#"nonce="99""#), "{v}");
        assert_eq!(
            a.on_unauthorized(Some(DIGEST_STALE), &mut attempt),
            Err(AuthFailure::Rejected)
        );
    }

    #[test]
    fn basic_and_missing_credentials() {
        let mut a = Authenticator::new(creds());
        let mut attempt = AttemptState::default();
        a.on_unauthorized(Some(r#"Basic realm="cam""#), &mut attempt)
            .unwrap();
        let v = a
            .authorization("OPTIONS", "rtsp://h/", &mut attempt)
            .unwrap();
        assert_eq!(v, "Basic YWRtaW46c2VjcmV0");

        let mut none = Authenticator::new(None);
        assert_eq!(
            none.on_unauthorized(Some(DIGEST), &mut AttemptState::default()),
            Err(AuthFailure::NoCredentials)
        );
        assert!(matches!(
            Authenticator::new(creds()).on_unauthorized(None, &mut AttemptState::default()),
            Err(AuthFailure::BadChallenge(_))
        ));
    }
}
