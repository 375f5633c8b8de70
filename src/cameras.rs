//! Adding, listing, removing, exporting and importing cameras: the logic behind
//! `vedette camera …`, free of UI so the app's camera dialog can reuse it.
//!
//! Passwords never reach the config file or an export: they go to a [`SecretStore`] (the OS
//! keychain) under the camera's stable id. Credentials pasted inside a URL
//! (`rtsp://user:pass@host/`) are moved there and stripped from the stored URL. Every change
//! is all or nothing: the keychain is written first, the config last (atomically), and the
//! keychain is put back when the config cannot be written.
//!
//! Everything here may block on the keychain: call it off the UI thread.

use std::path::Path;

use crate::config::{new_camera_id, write_atomically, CameraConfig, Config, ConfigError};
use crate::credentials::{KeychainError, Password, SecretStore};
use crate::rtsp::url::{redact_url_text, strip_url_userinfo, UrlError};
use crate::rtsp::{CameraUrl, Transport};

/// What the user typed to add a camera.
#[derive(Debug, Clone, Default)]
pub struct NewCamera {
    pub name: String,
    /// May carry `user:password@`, which is moved to `username` and the keychain.
    pub url: String,
    pub transport: Transport,
    pub username: Option<String>,
    pub password: Option<Password>,
    /// An optional sub-stream; it uses the camera's username and password.
    pub sub_url: Option<String>,
}

/// A camera checked and ready to store: its config entry (URLs without credentials) and the
/// password that goes to the keychain under `camera.id`.
#[derive(Debug, Clone)]
pub struct PreparedCamera {
    pub camera: CameraConfig,
    pub password: Option<Password>,
}

/// Why a camera operation failed. Names the camera; never contains a password.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("a camera needs a name")]
    EmptyName,
    #[error("a camera named {0:?} already exists; pick another name or remove it first")]
    Duplicate(String),
    #[error("no camera named {0:?}")]
    NotFound(String),
    #[error("no camera with id {0} in the config (was it removed meanwhile?)")]
    UnknownId(String),
    #[error("camera {camera:?}: {field}: {source}")]
    Url {
        camera: String,
        field: &'static str,
        source: UrlError,
    },
    #[error(
        "camera {camera:?}: the username or password given differs from the one inside the \
         URL; give it once"
    )]
    ConflictingCredentials { camera: String },
    #[error("camera {camera:?}: a password needs a username")]
    PasswordWithoutUsername { camera: String },
    #[error("camera {camera:?}: cannot {action} the keychain: {source}")]
    Keychain {
        camera: String,
        action: &'static str,
        source: KeychainError,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl CameraError {
    fn keychain(camera: &CameraConfig, action: &'static str) -> impl FnOnce(KeychainError) -> Self {
        let camera = camera.name.clone();
        move |source| Self::Keychain {
            camera,
            action,
            source,
        }
    }
}

/// Checks a new camera against the config it joins: a name, not taken; valid URLs, with any
/// credentials inside them moved out; a fresh id. Touches neither the keychain nor the disk.
pub fn prepare(new: NewCamera, config: &Config) -> Result<PreparedCamera, CameraError> {
    prepare_except(new, config, None)
}

/// [`prepare`], where the camera with id `editing` (the one being edited) may keep its name.
fn prepare_except(
    new: NewCamera,
    config: &Config,
    editing: Option<&str>,
) -> Result<PreparedCamera, CameraError> {
    let name = new.name.trim().to_owned();
    if name.is_empty() {
        return Err(CameraError::EmptyName);
    }
    if config
        .cameras
        .iter()
        .any(|c| c.name == name && Some(c.id.as_str()) != editing)
    {
        return Err(CameraError::Duplicate(name));
    }
    let parse = |field: &'static str, text: &str| {
        CameraUrl::parse(text).map_err(|source| CameraError::Url {
            camera: name.clone(),
            field,
            source,
        })
    };
    let url = parse("URL", &new.url)?;
    let sub_url = match new.sub_url.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => Some(parse("sub-stream URL", text)?),
        _ => None,
    };
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let mut username = non_empty(new.username.map(|u| u.trim().to_owned()));
    let mut password = new.password.filter(|p| !p.is_empty());
    for inline in [Some(&url), sub_url.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(CameraUrl::credentials_in_url)
    {
        let inline_user = non_empty(Some(inline.username.clone()));
        let inline_password =
            Some(Password::new(inline.password.clone())).filter(|p| !p.is_empty());
        let conflict = matches!((&username, &inline_user), (Some(a), Some(b)) if a != b)
            || matches!((&password, &inline_password), (Some(a), Some(b)) if a != b);
        if conflict {
            return Err(CameraError::ConflictingCredentials { camera: name });
        }
        username = username.or(inline_user);
        password = password.or(inline_password);
    }
    if password.is_some() && username.is_none() {
        return Err(CameraError::PasswordWithoutUsername { camera: name });
    }
    let mut id = new_camera_id();
    while config.cameras.iter().any(|c| c.id == id) {
        id = new_camera_id();
    }
    Ok(PreparedCamera {
        camera: CameraConfig {
            name,
            id,
            url: url.to_string(),
            transport: new.transport,
            username,
            sub_url: sub_url.map(|u| u.to_string()),
            tls_fingerprint: None,
        },
        password,
    })
}

/// Adds a camera to the config file at `path`, its password to `secrets`; returns the entry
/// and whether a password was stored. On any error (a locked keychain included) the config
/// file is left as it was.
pub fn add_camera(
    path: &Path,
    new: NewCamera,
    secrets: &dyn SecretStore,
) -> Result<(CameraConfig, bool), CameraError> {
    let _editing = crate::config::edit_lock();
    let mut config = Config::load(path)?;
    move_inline_credentials(&mut config, secrets)?;
    let prepared = prepare(new, &config)?;
    let camera = prepared.camera;
    if let Some(password) = &prepared.password {
        secrets
            .store(&camera.id, password)
            .map_err(CameraError::keychain(&camera, "store its password in"))?;
    }
    config.cameras.push(camera.clone());
    if let Err(e) = config.save(path) {
        if prepared.password.is_some() {
            forget_password(secrets, &camera);
        }
        return Err(e.into());
    }
    Ok((camera, prepared.password.is_some()))
}

/// Changes the camera with id `id` in the config file at `path`: name, URLs, transport and
/// username, checked as [`prepare`] does (credentials inside a URL are moved out). It keeps its
/// id, so its keychain entry; a password given replaces the stored one, none keeps it, and
/// removing the username deletes it. A pinned certificate stays while the host and port do.
/// All or nothing, as [`add_camera`]: the keychain is put back when the config cannot be
/// written.
pub fn update_camera(
    path: &Path,
    id: &str,
    new: NewCamera,
    secrets: &dyn SecretStore,
) -> Result<CameraConfig, CameraError> {
    let _editing = crate::config::edit_lock();
    let mut config = Config::load(path)?;
    move_inline_credentials(&mut config, secrets)?;
    let index = config
        .cameras
        .iter()
        .position(|c| c.id == id)
        .ok_or_else(|| CameraError::UnknownId(id.to_owned()))?;
    let old = config.cameras[index].clone();
    let prepared = prepare_except(new, &config, Some(id))?;
    let mut camera = prepared.camera;
    camera.id = old.id.clone();
    camera.tls_fingerprint = old
        .tls_fingerprint
        .clone()
        .filter(|_| same_endpoint(&old.url, &camera.url));
    let forget = camera.username.is_none() && old.username.is_some();
    // What the keychain held, to put back if the config cannot be written.
    let previous = if prepared.password.is_some() || forget {
        secrets
            .load(&camera.id)
            .map_err(CameraError::keychain(&camera, "read its password from"))?
    } else {
        None
    };
    if let Some(password) = &prepared.password {
        secrets
            .store(&camera.id, password)
            .map_err(CameraError::keychain(&camera, "store its password in"))?;
    } else if forget && previous.is_some() {
        secrets
            .delete(&camera.id)
            .map_err(CameraError::keychain(&camera, "delete its password from"))?;
    }
    config.cameras[index] = camera.clone();
    if let Err(e) = config.save(path) {
        match &previous {
            Some(password) => {
                if let Err(k) = secrets.store(&camera.id, password) {
                    tracing::warn!("camera {:?}: password not put back: {k}", camera.name);
                }
            }
            None if prepared.password.is_some() => forget_password(secrets, &camera),
            None => {}
        }
        return Err(e.into());
    }
    Ok(camera)
}

/// Whether two URLs reach the same server (scheme, host and port), paths aside.
fn same_endpoint(a: &str, b: &str) -> bool {
    match (CameraUrl::parse(a), CameraUrl::parse(b)) {
        (Ok(a), Ok(b)) => a.is_tls() == b.is_tls() && a.host() == b.host() && a.port() == b.port(),
        _ => false,
    }
}

/// Removes the camera named `name` from the config file and its password from `secrets`.
/// Returns whether a password was deleted. When the keychain cannot be reached, nothing is
/// removed (the password would be left behind under an id nobody knows).
pub fn remove_camera(
    path: &Path,
    name: &str,
    secrets: &dyn SecretStore,
) -> Result<bool, CameraError> {
    let _editing = crate::config::edit_lock();
    let mut config = Config::load(path)?;
    let index = config
        .cameras
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| CameraError::NotFound(name.to_owned()))?;
    let camera = config.cameras.remove(index);
    move_inline_credentials(&mut config, secrets)?;
    // Kept until the config is written, to put back if that fails.
    let password = match secrets.load(&camera.id) {
        Ok(p) => p,
        // Without a username there should be no password: the keychain is not needed.
        Err(e) if camera.username.is_none() => {
            tracing::debug!("camera {:?}: keychain not checked: {e}", camera.name);
            None
        }
        Err(source) => {
            return Err(CameraError::Keychain {
                camera: camera.name,
                action: "delete its password from",
                source,
            })
        }
    };
    if password.is_some() {
        secrets
            .delete(&camera.id)
            .map_err(CameraError::keychain(&camera, "delete its password from"))?;
    }
    if let Err(e) = config.save(path) {
        if let Some(password) = &password {
            if let Err(k) = secrets.store(&camera.id, password) {
                tracing::warn!("camera {:?}: password not put back: {k}", camera.name);
            }
        }
        return Err(e.into());
    }
    Ok(password.is_some())
}

/// Whether a camera has a password in the keychain, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordStatus {
    InKeychain,
    None,
    /// The keychain could not be asked.
    Unknown(KeychainError),
}

/// Every camera of `config` with its password status. Cameras without a username are not
/// looked up; after the first keychain error the others are not asked again.
pub fn list_cameras(
    config: &Config,
    secrets: &dyn SecretStore,
) -> Vec<(CameraConfig, PasswordStatus)> {
    let mut failure: Option<KeychainError> = None;
    config
        .cameras
        .iter()
        .map(|camera| {
            let status = if camera.username.is_none() {
                PasswordStatus::None
            } else if let Some(e) = &failure {
                PasswordStatus::Unknown(e.clone())
            } else {
                match secrets.load(&camera.id) {
                    Ok(Some(_)) => PasswordStatus::InKeychain,
                    Ok(None) => PasswordStatus::None,
                    Err(e) => {
                        failure = Some(e.clone());
                        PasswordStatus::Unknown(e)
                    }
                }
            };
            (camera.clone(), status)
        })
        .collect()
}

/// The password of a configured camera from `secrets`; `None` when it has no username or no
/// password is stored.
pub fn stored_password(
    camera: &CameraConfig,
    secrets: &dyn SecretStore,
) -> Result<Option<Password>, CameraError> {
    if camera.username.is_none() {
        return Ok(None);
    }
    secrets
        .load(&camera.id)
        .map_err(CameraError::keychain(camera, "read its password from"))
}

/// The first lines of an export.
const EXPORT_HEADER: &str = "\
# Cameras exported by Vedette: no passwords and no keychain ids. `vedette camera import`
# gives each camera a new id; type the passwords again there (or put them inside the URLs,
# rtsp://user:password@host/..., and import moves them into the keychain).

";

/// The cameras of `config` as an export: the config format, without passwords (there are
/// none in a config, and credentials inside a URL are stripped) and without ids, since the
/// keychain entries they name do not travel with the file.
pub fn export_text(config: &Config) -> String {
    let cameras = config
        .cameras
        .iter()
        .map(|c| CameraConfig {
            id: String::new(),
            url: redact_url_text(&c.url),
            sub_url: c.sub_url.as_deref().map(redact_url_text),
            ..c.clone()
        })
        .collect();
    let body = toml::to_string(&Config { cameras }).unwrap_or_default();
    format!("{EXPORT_HEADER}{body}")
}

/// Writes the cameras of the config at `config_path` to `file` (see [`export_text`]).
/// Returns how many cameras were exported.
pub fn export_file(config_path: &Path, file: &Path) -> Result<usize, CameraError> {
    let config = Config::load(config_path)?;
    write_atomically(file, export_text(&config).as_bytes()).map_err(|source| {
        ConfigError::Write {
            path: file.to_owned(),
            source,
        }
    })?;
    Ok(config.cameras.len())
}

/// What [`import_file`] did, camera by camera.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub added: Vec<String>,
    /// Name taken by a different camera: added under a new name (old, new).
    pub renamed: Vec<(String, String)>,
    /// Same name and same URL as a camera already there: left out.
    pub skipped: Vec<String>,
    /// Passwords found inside URLs and moved to the keychain.
    pub passwords_stored: usize,
}

/// Adds the cameras of `file` (an export, or any config file) to the config at `config_path`.
/// A camera whose name is taken is skipped when its URL is the same, else added as "NAME (2)".
/// Ids in the file are ignored (new ones are made); credentials inside URLs go to `secrets`.
/// All or nothing: an invalid camera or a keychain error changes nothing.
pub fn import_file(
    config_path: &Path,
    file: &Path,
    secrets: &dyn SecretStore,
) -> Result<ImportReport, CameraError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        path: file.to_owned(),
        source,
    })?;
    let incoming = Config::parse(&text).map_err(|(line, column, message)| ConfigError::Parse {
        path: file.to_owned(),
        line,
        column,
        message,
    })?;
    let _editing = crate::config::edit_lock();
    let mut config = Config::load(config_path)?;
    move_inline_credentials(&mut config, secrets)?;
    let mut report = ImportReport::default();
    let mut to_store = Vec::new();
    for entry in incoming.cameras {
        let mut name = entry.name.trim().to_owned();
        if let Some(existing) = config.camera(&name) {
            if same_stream(&existing.url, &entry.url) {
                report.skipped.push(name);
                continue;
            }
            let old = name.clone();
            name = (2..)
                .map(|n| format!("{old} ({n})"))
                .find(|n| config.camera(n).is_none())
                .unwrap_or_default();
            report.renamed.push((old, name.clone()));
        } else {
            report.added.push(name.clone());
        }
        let prepared = prepare(
            NewCamera {
                name,
                url: entry.url,
                transport: entry.transport,
                username: entry.username,
                password: None,
                sub_url: entry.sub_url,
            },
            &config,
        )?;
        let mut camera = prepared.camera;
        camera.tls_fingerprint = entry.tls_fingerprint;
        if let Some(password) = prepared.password {
            to_store.push((camera.clone(), password));
        }
        config.cameras.push(camera);
    }
    for (done, (camera, password)) in to_store.iter().enumerate() {
        if let Err(e) = secrets.store(&camera.id, password) {
            for (stored, _) in to_store.iter().take(done) {
                forget_password(secrets, stored);
            }
            return Err(CameraError::keychain(camera, "store its password in")(e));
        }
    }
    if let Err(e) = config.save(config_path) {
        for (camera, _) in &to_store {
            forget_password(secrets, camera);
        }
        return Err(e.into());
    }
    report.passwords_stored = to_store.len();
    Ok(report)
}

/// Whether two URLs name the same stream, credentials aside.
fn same_stream(a: &str, b: &str) -> bool {
    match (CameraUrl::parse(a), CameraUrl::parse(b)) {
        (Ok(a), Ok(b)) => a.url() == b.url(),
        _ => a.trim() == b.trim(),
    }
}

/// Moves credentials written inside the URLs of an existing config (a hand-edited file) to
/// the keychain, so that saving it never writes a password. Returns the cameras changed.
pub fn move_inline_credentials(
    config: &mut Config,
    secrets: &dyn SecretStore,
) -> Result<Vec<String>, CameraError> {
    let mut moved = Vec::new();
    for camera in &mut config.cameras {
        let urls = [Some(&camera.url), camera.sub_url.as_ref()];
        let inline: Vec<_> = urls
            .into_iter()
            .flatten()
            .filter_map(|u| CameraUrl::parse(u).ok())
            .filter_map(|u| u.credentials_in_url().cloned())
            .collect();
        let Some(credentials) = inline.into_iter().find(|c| !c.password.is_empty()) else {
            continue;
        };
        secrets
            .store(&camera.id, &Password::new(credentials.password.clone()))
            .map_err(CameraError::keychain(camera, "store its password in"))?;
        if camera.username.is_none() && !credentials.username.is_empty() {
            camera.username = Some(credentials.username.clone());
        }
        // Only `user:password@` goes: a password the camera takes in its path or query
        // (XMEye's `/user=admin&password=…`) must stay for it to answer at all.
        camera.url = strip_url_userinfo(&camera.url);
        camera.sub_url = camera.sub_url.as_deref().map(strip_url_userinfo);
        moved.push(camera.name.clone());
    }
    Ok(moved)
}

/// Best-effort removal of a password stored by an operation that is being undone.
fn forget_password(secrets: &dyn SecretStore, camera: &CameraConfig) {
    if let Err(e) = secrets.delete(&camera.id) {
        tracing::warn!(
            "camera {:?}: its password stays in the keychain under id {}: {e}",
            camera.name,
            camera.id
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::MemorySecrets;
    use std::path::PathBuf;

    fn temp_dir(what: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vedette-cameras-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn new(name: &str, url: &str) -> NewCamera {
        NewCamera {
            name: name.into(),
            url: url.into(),
            ..NewCamera::default()
        }
    }

    #[test]
    fn credentials_inside_the_url_are_moved_out() {
        let p = prepare(
            new("Door", "rtsp://admin:hunter2@10.0.0.5/live"),
            &Config::default(),
        )
        .unwrap();
        assert_eq!(p.camera.url, "rtsp://10.0.0.5/live");
        assert_eq!(p.camera.username.as_deref(), Some("admin"));
        assert_eq!(p.password.unwrap().expose(), "hunter2");
        assert_eq!(p.camera.id.len(), 16);
    }

    #[test]
    fn bad_urls_and_names_are_refused_precisely() {
        let config = Config::default();
        let err = prepare(new("Door", "http://10.0.0.5/"), &config)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Door") && err.contains("unsupported scheme"),
            "{err}"
        );
        let err = prepare(new("Door", "rtsp:/x"), &config)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no host"), "{err}");
        let mut sub = new("Door", "rtsp://10.0.0.5/");
        sub.sub_url = Some("10.0.0.5/sub".into());
        let err = prepare(sub, &config).unwrap_err().to_string();
        assert!(err.contains("sub-stream URL"), "{err}");
        assert!(matches!(
            prepare(new(" ", "rtsp://h/"), &config),
            Err(CameraError::EmptyName)
        ));
        let mut conflicting = new("Door", "rtsp://alice:pw@10.0.0.5/");
        conflicting.username = Some("bob".into());
        assert!(matches!(
            prepare(conflicting, &config),
            Err(CameraError::ConflictingCredentials { .. })
        ));
        let mut no_user = new("Door", "rtsp://10.0.0.5/");
        no_user.password = Some(Password::new("pw"));
        assert!(matches!(
            prepare(no_user, &config),
            Err(CameraError::PasswordWithoutUsername { .. })
        ));
    }

    #[test]
    fn add_list_remove_with_the_secret() {
        let dir = temp_dir("add");
        let path = dir.join("config.toml");
        let secrets = MemorySecrets::default();
        let mut door = new("Door", "rtsp://10.0.0.5/live");
        door.username = Some("admin".into());
        door.password = Some(Password::new("hunter2"));
        let (camera, stored) = add_camera(&path, door.clone(), &secrets).unwrap();
        assert!(stored);
        assert_eq!(secrets.ids(), std::slice::from_ref(&camera.id));
        assert!(!std::fs::read_to_string(&path).unwrap().contains("hunter2"));
        assert!(matches!(
            add_camera(&path, door, &secrets),
            Err(CameraError::Duplicate(_))
        ));
        add_camera(&path, new("Yard", "rtsp://10.0.0.6/"), &secrets).unwrap();
        let config = Config::load(&path).unwrap();
        let statuses: Vec<_> = list_cameras(&config, &secrets)
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        assert_eq!(statuses, [PasswordStatus::InKeychain, PasswordStatus::None]);
        assert!(remove_camera(&path, "Door", &secrets).unwrap());
        assert!(secrets.ids().is_empty());
        assert!(matches!(
            remove_camera(&path, "Door", &secrets),
            Err(CameraError::NotFound(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_locked_keychain_changes_nothing() {
        let dir = temp_dir("locked");
        let path = dir.join("config.toml");
        add_camera(
            &path,
            new("Yard", "rtsp://10.0.0.6/"),
            &MemorySecrets::default(),
        )
        .unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = add_camera(
            &path,
            new("Door", "rtsp://u:hunter2@10.0.0.5/"),
            &MemorySecrets::locked(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("Door") && err.contains("locked") && !err.contains("hunter2"),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn export_has_no_secrets_and_import_skips_or_renames() {
        let dir = temp_dir("export");
        let path = dir.join("config.toml");
        let secrets = MemorySecrets::default();
        let mut door = new("Door", "rtsp://admin:hunter2@10.0.0.5/live");
        door.sub_url = Some("rtsp://10.0.0.5/sub".into());
        let (door, _) = add_camera(&path, door, &secrets).unwrap();
        let export = export_text(&Config::load(&path).unwrap());
        assert!(
            !export.contains("hunter2") && !export.contains(&door.id),
            "{export}"
        );
        let file = dir.join("export.toml");
        std::fs::write(
            &file,
            format!(
                "{export}\n[[cameras]]\nname = \"Door\"\nurl = \"rtsp://10.0.0.9/other\"\n\n\
                 [[cameras]]\nname = \"Gate\"\nurl = \"rtsp://gate:pw2@10.0.0.7/\"\n"
            ),
        )
        .unwrap();
        let report = import_file(&path, &file, &secrets).unwrap();
        assert_eq!(report.skipped, ["Door"]);
        assert_eq!(report.renamed, [("Door".to_owned(), "Door (2)".to_owned())]);
        assert_eq!(report.added, ["Gate"]);
        assert_eq!(report.passwords_stored, 1);
        let config = Config::load(&path).unwrap();
        let gate = config.camera("Gate").unwrap();
        assert_eq!(gate.url, "rtsp://10.0.0.7/");
        assert_eq!(secrets.load(&gate.id).unwrap().unwrap().expose(), "pw2");
        assert!(!std::fs::read_to_string(&path).unwrap().contains("pw2"));
        // An invalid camera in a file imports nothing.
        std::fs::write(&file, "[[cameras]]\nname = \"A\"\nurl = \"rtsp://a/\"\n[[cameras]]\nname = \"B\"\nurl = \"ftp://b/\"\n").unwrap();
        let before = std::fs::read(&path).unwrap();
        assert!(import_file(&path, &file, &secrets).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_edit_keeps_the_id_and_replaces_the_password_only_when_given() {
        let dir = temp_dir("edit");
        let path = dir.join("config.toml");
        let secrets = MemorySecrets::default();
        let mut door = new("Door", "rtsps://admin:hunter2@10.0.0.5/live");
        door.sub_url = Some("rtsps://10.0.0.5/sub".into());
        let (door, _) = add_camera(&path, door, &secrets).unwrap();
        let mut config = Config::load(&path).unwrap();
        config.cameras[0].tls_fingerprint = Some("AB:CD".into());
        config.save(&path).unwrap();
        add_camera(&path, new("Yard", "rtsp://10.0.0.6/"), &secrets).unwrap();

        // Renamed, another path on the same host: same id, password and pinned certificate.
        let mut edit = new("Front door", "rtsps://10.0.0.5/main");
        edit.username = Some("admin".into());
        let edited = update_camera(&path, &door.id, edit, &secrets).unwrap();
        assert_eq!(edited.id, door.id);
        assert_eq!(edited.name, "Front door");
        assert_eq!(edited.sub_url, None);
        assert_eq!(edited.tls_fingerprint.as_deref(), Some("AB:CD"));
        assert_eq!(secrets.load(&door.id).unwrap().unwrap().expose(), "hunter2");
        assert_eq!(Config::load(&path).unwrap().cameras[0], edited);

        // A new password replaces the old one; another host drops the pin.
        let mut edit = new("Front door", "rtsps://10.0.0.9/main");
        edit.username = Some("admin".into());
        edit.password = Some(Password::new("s3cret"));
        let edited = update_camera(&path, &door.id, edit, &secrets).unwrap();
        assert_eq!(edited.tls_fingerprint, None);
        assert_eq!(secrets.load(&door.id).unwrap().unwrap().expose(), "s3cret");
        assert!(!std::fs::read_to_string(&path).unwrap().contains("s3cret"));

        // Another camera's name is refused; a locked keychain changes nothing.
        assert!(matches!(
            update_camera(&path, &door.id, new("Yard", "rtsp://10.0.0.5/"), &secrets),
            Err(CameraError::Duplicate(_))
        ));
        let before = std::fs::read(&path).unwrap();
        let mut edit = new("Door", "rtsp://10.0.0.5/");
        edit.username = Some("admin".into());
        edit.password = Some(Password::new("other"));
        assert!(update_camera(&path, &door.id, edit, &MemorySecrets::locked()).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);

        // Without a username the password goes.
        update_camera(&path, &door.id, new("Door", "rtsp://10.0.0.5/"), &secrets).unwrap();
        assert_eq!(secrets.load(&door.id).unwrap(), None);
        assert!(matches!(
            update_camera(&path, "0000000000000000", new("X", "rtsp://h/"), &secrets),
            Err(CameraError::UnknownId(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hand_written_credentials_are_moved_before_a_save() {
        let dir = temp_dir("inline");
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            "[[cameras]]\nname = \"Old\"\nurl = \"rtsp://bob:hunter2@10.0.0.8/\"\n",
        )
        .unwrap();
        let secrets = MemorySecrets::default();
        add_camera(&path, new("New", "rtsp://10.0.0.9/"), &secrets).unwrap();
        let config = Config::load(&path).unwrap();
        let old = config.camera("Old").unwrap();
        assert_eq!(old.url, "rtsp://10.0.0.8/");
        assert_eq!(old.username.as_deref(), Some("bob"));
        assert_eq!(
            stored_password(old, &secrets).unwrap().unwrap().expose(),
            "hunter2"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Moving `user:password@` out of a URL keeps the rest of it as the camera needs it:
    /// an XMEye camera's `password=` in the path is its login, not text to mask (masking is
    /// for logs and messages only).
    #[test]
    fn moving_credentials_out_keeps_a_password_the_path_needs() {
        let mut config = Config {
            cameras: vec![CameraConfig {
                name: "Door".into(),
                id: "0123456789abcdef".into(),
                url: "rtsp://admin:pw@10.0.0.5:554/user=admin&password=pw&channel=1&stream=0.sdp"
                    .into(),
                transport: Transport::default(),
                username: None,
                sub_url: None,
                tls_fingerprint: None,
            }],
        };
        let secrets = MemorySecrets::default();
        assert_eq!(
            move_inline_credentials(&mut config, &secrets).unwrap(),
            ["Door"]
        );
        assert_eq!(
            config.cameras[0].url,
            "rtsp://10.0.0.5:554/user=admin&password=pw&channel=1&stream=0.sdp"
        );
    }
}
