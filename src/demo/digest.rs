//! Server-side Digest authentication (RFC 2617 without qop, as cameras commonly do) for the
//! demo server, so the client's challenge handling, including a stale nonce, is exercised
//! end to end.

use md5::{Digest as _, Md5};

pub const REALM: &str = "Vedette demo";

/// The username and password the demo server accepts.
#[derive(Clone)]
pub struct DemoCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for DemoCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new random nonce.
pub fn new_nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The `WWW-Authenticate` value for a nonce.
pub fn challenge(nonce: &str, stale: bool) -> String {
    let stale = if stale { ", stale=TRUE" } else { "" };
    format!(r#"Digest realm="{REALM}", nonce="{nonce}"{stale}"#)
}

/// Checks an `Authorization` header against the credentials and the current nonce.
pub fn verify(authorization: &str, method: &str, creds: &DemoCredentials, nonce: &str) -> bool {
    let Some(params) = authorization.trim().strip_prefix("Digest ") else {
        return false;
    };
    let get = |key: &str| param(params, key);
    let (Some(user), Some(given_nonce), Some(uri), Some(response)) =
        (get("username"), get("nonce"), get("uri"), get("response"))
    else {
        return false;
    };
    if user != creds.username || given_nonce != nonce {
        return false;
    }
    let ha1 = md5_hex(&format!("{}:{REALM}:{}", creds.username, creds.password));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    md5_hex(&format!("{ha1}:{nonce}:{ha2}")) == response
}

/// The value of `key="value"` or `key=value` in a comma-separated parameter list.
fn param(params: &str, key: &str) -> Option<String> {
    let mut rest = params;
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ']);
        let (name, after) = rest.split_once('=')?;
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.trim().eq_ignore_ascii_case(key) {
            return Some(value.to_owned());
        }
        rest = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtsp::auth::{AttemptState, Authenticator};
    use crate::rtsp::Credentials;

    #[test]
    fn accepts_our_client_and_rejects_a_wrong_password() {
        let creds = DemoCredentials {
            username: "admin".into(),
            password: "secret".into(),
        };
        let nonce = new_nonce();
        for (password, ok) in [("secret", true), ("wrong", false)] {
            let mut client = Authenticator::new(Some(Credentials {
                username: "admin".into(),
                password: password.into(),
            }));
            let mut attempt = AttemptState::default();
            client
                .on_unauthorized(Some(&challenge(&nonce, false)), &mut attempt)
                .unwrap();
            let header = client
                .authorization("PLAY", "rtsp://127.0.0.1/cam1", &mut attempt)
                .unwrap();
            assert_eq!(verify(&header, "PLAY", &creds, &nonce), ok, "{header}");
            assert!(!verify(&header, "PLAY", &creds, "othernonce"));
        }
    }

    #[test]
    fn parameter_parsing() {
        let p = r#"username="a", realm="r, with comma", nc=00000001, response="x""#;
        assert_eq!(param(p, "realm").as_deref(), Some("r, with comma"));
        assert_eq!(param(p, "nc").as_deref(), Some("00000001"));
        assert_eq!(param(p, "response").as_deref(), Some("x"));
        assert_eq!(param(p, "missing"), None);
    }
}
