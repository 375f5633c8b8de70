//! Camera passwords in the OS keychain: the Secret Service on Linux (GNOME Keyring, KWallet),
//! the Keychain on macOS, the Credential Manager on Windows, through the `keyring` crate.
//!
//! Each password is one entry with service `"vedette"` and user = the camera's stable id
//! (`CameraConfig::id`), so renaming a camera or moving it in the file keeps its password.
//!
//! **Every call here blocks**: a D-Bus round trip, or an unlock prompt that waits for the user.
//! Run them on a worker thread or a CLI, never on the UI thread.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// The keychain service every camera password is stored under.
pub const SERVICE: &str = "vedette";

/// A camera password. It has no `Display`, its `Debug` is redacted, and its bytes are
/// overwritten when it is dropped, so it cannot end up in a log line or a message by accident.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself, for the one place that needs it (an RTSP `Authorization` header or
    /// the keychain).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        // Best effort without `unsafe` or a zeroize dependency: the copies a `String` leaves
        // behind when it grows are out of reach, but the final buffer is cleared.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

/// Why the keychain could not be used. The text names the cause and what to do; it never
/// contains a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeychainError {
    #[error(
        "the keychain is locked: unlock it (log in to the desktop session, or unlock the \
         \"login\" keyring in your password manager) and try again ({detail})"
    )]
    Locked { detail: String },
    #[error(
        "no keychain service is running ({detail}); on Linux, passwords are kept by a Secret \
         Service provider such as GNOME Keyring or KWallet on the D-Bus session bus"
    )]
    Unavailable { detail: String },
    #[error("access to the keychain was denied ({detail})")]
    AccessDenied { detail: String },
    #[error("the keychain failed: {detail}")]
    Failed { detail: String },
}

/// Where camera passwords are kept: the OS [`Keychain`], or [`MemorySecrets`] in tests.
/// Methods may block (see the module docs).
pub trait SecretStore {
    /// Stores (or replaces) the password of the camera with this id.
    fn store(&self, id: &str, password: &Password) -> Result<(), KeychainError>;
    /// The camera's password; `None` when none is stored.
    fn load(&self, id: &str) -> Result<Option<Password>, KeychainError>;
    /// Deletes the camera's password; `false` when there was none.
    fn delete(&self, id: &str) -> Result<bool, KeychainError>;
}

/// The OS keychain. Blocking: see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keychain;

impl Keychain {
    pub fn new() -> Self {
        Self
    }

    fn entry(id: &str) -> Result<keyring::Entry, KeychainError> {
        keyring::Entry::new(SERVICE, id).map_err(keychain_error)
    }

    /// See [`SecretStore::store`].
    pub fn store(&self, id: &str, password: &Password) -> Result<(), KeychainError> {
        Self::entry(id)?
            .set_password(password.expose())
            .map_err(keychain_error)
    }

    /// See [`SecretStore::load`].
    pub fn load(&self, id: &str) -> Result<Option<Password>, KeychainError> {
        match Self::entry(id)?.get_password() {
            Ok(password) => Ok(Some(Password(password))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keychain_error(e)),
        }
    }

    /// See [`SecretStore::delete`].
    pub fn delete(&self, id: &str) -> Result<bool, KeychainError> {
        match Self::entry(id)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(keychain_error(e)),
        }
    }
}

impl SecretStore for Keychain {
    fn store(&self, id: &str, password: &Password) -> Result<(), KeychainError> {
        Keychain::store(self, id, password)
    }
    fn load(&self, id: &str) -> Result<Option<Password>, KeychainError> {
        Keychain::load(self, id)
    }
    fn delete(&self, id: &str) -> Result<bool, KeychainError> {
        Keychain::delete(self, id)
    }
}

/// Classifies a `keyring` error. The platform's own words go into `detail`; the bytes a
/// malformed entry holds never do.
fn keychain_error(error: keyring::Error) -> KeychainError {
    use keyring::Error as E;
    match error {
        // The store could not be set up at all; `store_status` keeps the reason (on Linux:
        // no D-Bus session bus, or no Secret Service provider on it).
        E::NoDefaultStore => {
            let detail = match keyring::Entry::store_status() {
                Err(e) => platform_text(e),
                Ok(()) => "no credential store".to_owned(),
            };
            KeychainError::Unavailable { detail }
        }
        E::NoStorageAccess(e) => {
            // The Secret Service says "locked" or "no result" for a locked collection whose
            // unlock prompt could not be shown, "prompt dismissed" when the user said no;
            // macOS and Windows say "denied". The platform error is opaque (a boxed
            // `dyn Error`), hence the words.
            let detail = e.to_string();
            let lower = detail.to_lowercase();
            if lower.contains("dismissed") || lower.contains("denied") {
                KeychainError::AccessDenied { detail }
            } else {
                KeychainError::Locked { detail }
            }
        }
        E::PlatformFailure(e) => {
            let detail = e.to_string();
            let lower = detail.to_lowercase();
            if lower.contains("no secret service")
                || lower.contains("serviceunknown")
                || lower.contains("dbus session")
            {
                KeychainError::Unavailable { detail }
            } else {
                KeychainError::Failed { detail }
            }
        }
        E::BadEncoding(_) => KeychainError::Failed {
            detail: "the stored password is not UTF-8 text".to_owned(),
        },
        E::BadDataFormat(_, e) => KeychainError::Failed {
            detail: format!("the stored password is malformed: {e}"),
        },
        E::Ambiguous(entries) => KeychainError::Failed {
            detail: format!(
                "{} entries match this camera; delete the extra ones",
                entries.len()
            ),
        },
        other => KeychainError::Failed {
            detail: other.to_string(),
        },
    }
}

/// The text of a store-setup error, without `keyring`'s "Platform failure:" prefix noise.
fn platform_text(error: &keyring::Error) -> String {
    match error {
        keyring::Error::PlatformFailure(e) | keyring::Error::NoStorageAccess(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// An in-memory [`SecretStore`] for tests (of this crate and of the UI): nothing leaves the
/// process. [`MemorySecrets::locked`] makes one whose every call fails as a locked keychain.
#[derive(Debug, Default)]
pub struct MemorySecrets {
    secrets: Mutex<HashMap<String, Password>>,
    locked: bool,
}

impl MemorySecrets {
    pub fn locked() -> Self {
        Self {
            locked: true,
            ..Self::default()
        }
    }

    /// The ids that have a password.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.map().keys().cloned().collect();
        ids.sort();
        ids
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Password>> {
        self.secrets.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self) -> Result<(), KeychainError> {
        if self.locked {
            Err(KeychainError::Locked {
                detail: "test keychain".to_owned(),
            })
        } else {
            Ok(())
        }
    }
}

impl SecretStore for MemorySecrets {
    fn store(&self, id: &str, password: &Password) -> Result<(), KeychainError> {
        self.check()?;
        self.map().insert(id.to_owned(), password.clone());
        Ok(())
    }
    fn load(&self, id: &str) -> Result<Option<Password>, KeychainError> {
        self.check()?;
        Ok(self.map().get(id).cloned())
    }
    fn delete(&self, id: &str) -> Result<bool, KeychainError> {
        self.check()?;
        Ok(self.map().remove(id).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_debug_is_redacted() {
        let p = Password::new("hunter2");
        assert_eq!(format!("{p:?}"), "Password(<redacted>)");
        assert_eq!(p.expose(), "hunter2");
    }

    #[test]
    fn errors_are_classified() {
        let boxed = |s: &str| -> Box<dyn std::error::Error + Send + Sync> { s.to_owned().into() };
        assert!(matches!(
            keychain_error(keyring::Error::NoStorageAccess(boxed(
                "SS Error: object locked"
            ))),
            KeychainError::Locked { .. }
        ));
        assert!(matches!(
            keychain_error(keyring::Error::NoStorageAccess(boxed(
                "SS error: prompt dismissed"
            ))),
            KeychainError::AccessDenied { .. }
        ));
        assert!(matches!(
            keychain_error(keyring::Error::PlatformFailure(boxed(
                "no secret service provider or dbus session found"
            ))),
            KeychainError::Unavailable { .. }
        ));
        let bad = keychain_error(keyring::Error::BadEncoding(b"hunter2\xff".to_vec()));
        assert!(!bad.to_string().contains("hunter2"), "{bad}");
    }

    #[test]
    fn messages_say_what_to_do() {
        let locked = KeychainError::Locked { detail: "x".into() };
        assert!(locked.to_string().contains("unlock it"), "{locked}");
        let none = KeychainError::Unavailable { detail: "x".into() };
        assert!(none.to_string().contains("Secret Service"), "{none}");
    }

    #[test]
    fn memory_store_round_trip_and_locked() {
        let store = MemorySecrets::default();
        assert_eq!(store.load("a").unwrap(), None);
        store.store("a", &Password::new("pw")).unwrap();
        assert_eq!(store.load("a").unwrap().unwrap().expose(), "pw");
        assert!(store.delete("a").unwrap());
        assert!(!store.delete("a").unwrap());
        let locked = MemorySecrets::locked();
        assert!(matches!(
            locked.store("a", &Password::new("pw")),
            Err(KeychainError::Locked { .. })
        ));
    }
}
