//! RTSPS: TLS for the control connection (rustls through tokio-rustls), trusting the
//! platform's certificate store, plus certificate pinning for cameras with self-signed
//! certificates.
//!
//! Most cameras ship a self-signed certificate. Rather than turning verification off, the user
//! trusts that one certificate once: its SHA-256 fingerprint is pinned in the camera's config,
//! a pinned certificate is accepted whatever its issuer or name, and a *different* certificate
//! later is refused with a warning that it changed.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest as _, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A certificate's SHA-256 fingerprint, shown as `AB:CD:…` (as browsers and `openssl x509
/// -fingerprint -sha256` show it).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// Parses 64 hex digits, with or without `:` separators, any case, optionally prefixed
    /// with `sha256:` or `SHA256=`.
    pub fn parse(text: &str) -> Result<Self, TlsError> {
        let trimmed = text.trim();
        let lower = trimmed.to_ascii_lowercase();
        let body = lower
            .strip_prefix("sha256:")
            .or_else(|| lower.strip_prefix("sha256="))
            .or_else(|| lower.strip_prefix("sha256 fingerprint="))
            .unwrap_or(&lower);
        let bad = || TlsError::BadFingerprint(trimmed.to_owned());
        // Digits are checked byte by byte before pairing them: typed or pasted text may hold
        // multi-byte characters ("…"), which a byte-length check alone lets through.
        let digits: Vec<u8> = body
            .bytes()
            .filter(|b| *b != b':')
            .map(|b| {
                char::from(b)
                    .to_digit(16)
                    .and_then(|d| u8::try_from(d).ok())
            })
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        if digits.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            if let [high, low] = pair {
                *byte = (high << 4) | low;
            }
        }
        Ok(Self(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// How to check the camera's certificate.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Accept exactly this certificate (and no other), whoever issued it.
    pub pinned: Option<Fingerprint>,
    /// Accept any certificate. For tests only; logged loudly.
    pub insecure: bool,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TlsError {
    #[error(
        "the camera's certificate is not trusted ({reason}). Its SHA-256 fingerprint is {fingerprint}; \
         trust it only if it matches the one the camera shows"
    )]
    Untrusted {
        fingerprint: Fingerprint,
        reason: String,
    },
    #[error(
        "WARNING: the camera's certificate CHANGED. Pinned {pinned}, the server now presents \
         {presented}. Refusing to connect: someone may be intercepting the connection; if the \
         camera was reset, trust the new certificate again"
    )]
    Changed {
        pinned: Fingerprint,
        presented: Fingerprint,
    },
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    #[error("\"{0}\" is not a SHA-256 fingerprint (64 hex digits, e.g. AB:CD:…)")]
    BadFingerprint(String),
}

/// The TLS connection, or plain TCP.
pub type TlsConnection = TlsStream<TcpStream>;

/// Performs the TLS handshake over `tcp` for `host`.
pub async fn handshake(
    tcp: TcpStream,
    host: &str,
    opts: &TlsOptions,
) -> Result<TlsConnection, TlsError> {
    let seen = Arc::new(Mutex::new(None));
    let verifier = Arc::new(PinningVerifier {
        roots: platform_verifier(),
        pinned: opts.pinned,
        insecure: opts.insecure,
        seen: seen.clone(),
        provider: provider(),
    });
    if opts.insecure {
        tracing::warn!(
            host,
            "--insecure: NOT checking the camera's TLS certificate; anyone on the path can read \
             and change this stream"
        );
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Handshake(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
    .map_err(|e| TlsError::Handshake(format!("bad server name {host:?}: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    match connector.connect(name, tcp).await {
        Ok(stream) => Ok(stream),
        Err(e) => {
            let presented = seen.lock().ok().and_then(|s| *s);
            Err(match (presented, opts.pinned) {
                (Some(presented), Some(pinned)) if presented != pinned => {
                    TlsError::Changed { pinned, presented }
                }
                (Some(fingerprint), None) if !opts.insecure => TlsError::Untrusted {
                    fingerprint,
                    reason: untrusted_reason(&e),
                },
                _ => TlsError::Handshake(e.to_string()),
            })
        }
    }
}

fn untrusted_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    if text.contains("UnknownIssuer") || text.contains("CaUsedAsEndEntity") {
        "self-signed or issued by an unknown authority".into()
    } else if text.contains("NotValidForName") {
        "issued for another name".into()
    } else if text.contains("Expired") {
        "expired".into()
    } else {
        text
    }
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The platform's trust store (loaded once). `None` when the system has no root certificates,
/// in which case only pinned certificates are accepted.
fn platform_verifier() -> Option<Arc<WebPkiServerVerifier>> {
    static VERIFIER: OnceLock<Option<Arc<WebPkiServerVerifier>>> = OnceLock::new();
    VERIFIER
        .get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            for e in &loaded.errors {
                tracing::debug!("loading platform certificates: {e}");
            }
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(loaded.certs);
            tracing::debug!(added, "platform root certificates");
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| tracing::warn!("no usable platform trust store: {e}"))
                .ok()
        })
        .clone()
}

#[derive(Debug)]
struct PinningVerifier {
    roots: Option<Arc<WebPkiServerVerifier>>,
    pinned: Option<Fingerprint>,
    insecure: bool,
    /// The fingerprint the server presented, for the error message.
    seen: Arc<Mutex<Option<Fingerprint>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of(end_entity.as_ref());
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(presented);
        }
        if self.insecure {
            return Ok(ServerCertVerified::assertion());
        }
        if let Some(pinned) = self.pinned {
            return if pinned == presented {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(rustls::Error::General(
                    "certificate fingerprint changed".into(),
                ))
            };
        }
        match &self.roots {
            Some(roots) => {
                roots.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::General(
                "no trusted root certificates on this system".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_round_trips_and_accepts_common_spellings() {
        let fp = Fingerprint::of(b"certificate");
        let shown = fp.to_string();
        assert_eq!(shown.len(), 32 * 3 - 1);
        assert_eq!(Fingerprint::parse(&shown).unwrap(), fp);
        assert_eq!(Fingerprint::parse(&shown.to_lowercase()).unwrap(), fp);
        assert_eq!(Fingerprint::parse(&shown.replace(':', "")).unwrap(), fp);
        assert_eq!(
            Fingerprint::parse(&format!("sha256 Fingerprint={shown}")).unwrap(),
            fp
        );
        assert_eq!(
            Fingerprint::parse(&format!("  SHA256:{shown} ")).unwrap(),
            fp
        );
    }

    #[test]
    fn multi_byte_characters_are_refused_not_sliced() {
        // 61 hex digits and "…" (3 bytes) make 64 bytes: slicing by byte offsets panicked.
        let text = format!("{}…", "a".repeat(61));
        assert_eq!(text.len(), 64);
        let e = Fingerprint::parse(&text).unwrap_err();
        assert_eq!(e, TlsError::BadFingerprint(text));
        assert!(Fingerprint::parse(&format!("{}é", "0".repeat(62))).is_err());
    }

    #[test]
    fn bad_fingerprints_are_refused_with_the_input() {
        for bad in ["", "AB:CD", &"G".repeat(64), &"0".repeat(66)] {
            let e = Fingerprint::parse(bad).unwrap_err();
            assert!(matches!(e, TlsError::BadFingerprint(_)), "{bad}");
        }
    }

    #[test]
    fn messages_name_the_fingerprints() {
        let a = Fingerprint([0xab; 32]);
        let b = Fingerprint([0x01; 32]);
        let changed = TlsError::Changed {
            pinned: a,
            presented: b,
        }
        .to_string();
        assert!(changed.contains("CHANGED"), "{changed}");
        assert!(changed.contains(&a.to_string()) && changed.contains(&b.to_string()));
        let untrusted = TlsError::Untrusted {
            fingerprint: b,
            reason: "self-signed".into(),
        }
        .to_string();
        assert!(untrusted.contains(&b.to_string()), "{untrusted}");
    }
}
