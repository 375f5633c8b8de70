//! The configuration file (TOML): the cameras to show. A file that fails to parse is reported
//! with its line and column and never overwritten. [`Config::save`] (used by `vedette camera …`)
//! writes atomically and keeps the previous version as `config.toml.bak`; it never writes a
//! password (there is no field for one, and a URL carrying one is refused).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::rtsp::Transport;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub cameras: Vec<CameraConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraConfig {
    pub name: String,
    /// Stable id, the key of this camera's password in the keychain (`crate::credentials`).
    /// Made by [`new_camera_id`] when a camera is added. A config from before ids gets one
    /// derived from the name ([`legacy_camera_id`]) when it is loaded, written out at the
    /// next save.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Without credentials: passwords live in the OS keychain, never in this file.
    pub url: String,
    #[serde(default)]
    pub transport: Transport,
    /// The username; the password is looked up in the keychain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// An optional lower-resolution sub-stream, without credentials (the same username and
    /// password as `url`): tiles in a grid play it, a maximized tile the main stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_url: Option<String>,
    /// For `rtsps://` cameras with a self-signed certificate: the SHA-256 fingerprint of the
    /// one certificate to accept (set by "Trust this certificate").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_fingerprint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "not writing {path}: the URL of camera {camera:?} carries a password, which belongs \
         in the keychain"
    )]
    PasswordInUrl { path: PathBuf, camera: String },
}

/// The first lines of a config file written by [`Config::save`].
const SAVED_HEADER: &str = "\
# Vedette cameras. Passwords are kept in the OS keychain, never in this file.
# `vedette camera add/remove/import` rewrite it; the previous version is kept as *.bak.

";

impl Config {
    /// Loads a config file. A missing file is an empty config; a broken one is an error.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        Self::parse_checked(&text).map_err(|(line, column, message)| ConfigError::Parse {
            path: path.to_owned(),
            line,
            column,
            message,
        })
    }

    /// Parses TOML text; errors carry 1-based line and column.
    pub fn parse(text: &str) -> Result<Self, (usize, usize, String)> {
        let mut config: Self = toml::from_str(text).map_err(|e: toml::de::Error| {
            let offset = e.span().map_or(0, |s| s.start);
            let (line, column) = line_column(text, offset);
            (line, column, e.message().to_owned())
        })?;
        for camera in config.cameras.iter_mut().filter(|c| c.id.is_empty()) {
            camera.id = legacy_camera_id(&camera.name);
        }
        Ok(config)
    }

    /// [`Config::parse`] for the config file itself ([`Config::load`]): each camera's id and
    /// name must also be its own. (A file being imported may repeat names: the import
    /// renames them.)
    pub fn parse_checked(text: &str) -> Result<Self, (usize, usize, String)> {
        let config = Self::parse(text)?;
        // Cameras are found by id (their keychain entry, edits, removal) and by name (the
        // command line, certificate pinning): a copied block with the same id would have its
        // edits land on the first camera, and share its password.
        for (index, camera) in config.cameras.iter().enumerate() {
            let earlier = &config.cameras[..index];
            let problem = if let Some(first) = earlier.iter().find(|c| c.name == camera.name) {
                Some((
                    &camera.name,
                    format!(
                        "two cameras are named {:?}: each needs a name of its own",
                        first.name
                    ),
                ))
            } else {
                earlier.iter().find(|c| c.id == camera.id).map(|first| {
                    (
                        &camera.id,
                        format!(
                            "camera {:?} has the same id as camera {:?}: delete the copied \
                             `id` line and Vedette gives it one of its own",
                            camera.name, first.name
                        ),
                    )
                })
            };
            if let Some((value, message)) = problem {
                // Point at the copy: the second place the value is written (the first may
                // have been derived, not written).
                let mut written: Vec<usize> = [format!("\"{value}\""), format!("'{value}'")]
                    .iter()
                    .flat_map(|quoted| text.match_indices(quoted.as_str()).map(|(at, _)| at))
                    .collect();
                written.sort_unstable();
                let offset = written.get(1).or(written.first());
                let (line, column) = offset.map_or((1, 1), |&at| line_column(text, at));
                return Err((line, column, message));
            }
        }
        Ok(config)
    }

    /// Writes the config to `path`: the previous file is first copied to
    /// [`Config::backup_path`], then the new text is written atomically (temporary file,
    /// fsync, rename), so `path` always holds the old or the new config, never a mix. Comments
    /// in the old file are not kept (they stay in the `.bak`). A camera whose URL carries a
    /// password is refused: `crate::cameras` moves such passwords to the keychain first, and
    /// the `.bak` keeps the old file without them (see [`without_url_passwords`]). Both files
    /// keep the old file's permissions.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        self.save_through(path, |file, bytes| file.write_all(bytes))
    }

    /// [`Config::save`], with the step that writes the bytes into the temporary file given,
    /// so tests can make it fail half-way.
    fn save_through(
        &self,
        path: &Path,
        write: impl FnOnce(&mut std::fs::File, &[u8]) -> std::io::Result<()>,
    ) -> Result<(), ConfigError> {
        let write_err = |path: &Path| {
            let path = path.to_owned();
            move |source| ConfigError::Write { path, source }
        };
        let has_password = |url: &str| {
            crate::rtsp::CameraUrl::parse(url)
                .ok()
                .and_then(|u| u.credentials_in_url().map(|c| !c.password.is_empty()))
                .unwrap_or(false)
        };
        if let Some(camera) = self
            .cameras
            .iter()
            .find(|c| has_password(&c.url) || c.sub_url.as_deref().is_some_and(has_password))
        {
            return Err(ConfigError::PasswordInUrl {
                path: path.to_owned(),
                camera: camera.name.clone(),
            });
        }
        let body = toml::to_string(self).map_err(|e| write_err(path)(std::io::Error::other(e)))?;
        let text = format!("{SAVED_HEADER}{body}");
        match std::fs::read(path) {
            Ok(previous) => {
                let backup = Self::backup_path(path);
                let previous = without_url_passwords(&String::from_utf8_lossy(&previous));
                write_atomically_with(&backup, |file| {
                    if let Ok(meta) = std::fs::metadata(path) {
                        file.set_permissions(meta.permissions())?;
                    }
                    file.write_all(previous.as_bytes())
                })
                .map_err(write_err(&backup))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        }
        write_atomically_with(path, |file| write(file, text.as_bytes())).map_err(write_err(path))
    }

    /// Where [`Config::save`] keeps the previous version: `config.toml` → `config.toml.bak`.
    pub fn backup_path(path: &Path) -> PathBuf {
        let mut name = path.file_name().unwrap_or_default().to_owned();
        name.push(".bak");
        path.with_file_name(name)
    }

    pub fn camera(&self, name: &str) -> Option<&CameraConfig> {
        self.cameras.iter().find(|c| c.name == name)
    }

    /// The config file in the platform's config directory
    /// (`~/.config/vedette/config.toml` on Linux).
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("dev", "vedette", "Vedette")
            .map(|dirs| dirs.config_dir().join("config.toml"))
    }
}

/// `text` with the password cut out of every `scheme://user:password@host` in it (the user
/// stays): what the `.bak` of a config keeps when its passwords were just moved to the
/// keychain. Plain text, not TOML, so it also works on a file that no longer parses.
pub fn without_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at the path, or at whatever closes the string it is written in.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '\n') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(user_end) => {
                let user_info = &authority[..user_end];
                let user = user_info
                    .split_once(':')
                    .map_or(user_info, |(user, _)| user);
                out.push_str(user);
                out.push_str(&authority[user_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A fresh camera id: 16 hex digits of randomness.
pub fn new_camera_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The id of a camera from a config written before ids existed: derived from its name, so it
/// maps to the same keychain entry on every load until the config is saved with the id.
pub fn legacy_camera_id(name: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("vedette camera {name}").as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Held by every read-modify-write of the config file in this process (adding, editing,
/// removing and importing cameras, pinning a certificate), so that two of them at once (an
/// Add waiting on the keychain while a Remove starts) cannot lose each other's change.
pub fn edit_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Pins a camera's certificate fingerprint in the config file, changing only that one value
/// (comments and layout are kept), and writing atomically. The camera is found by name.
pub fn pin_fingerprint(path: &Path, camera: &str, fingerprint: &str) -> Result<(), ConfigError> {
    let _editing = edit_lock();
    let read_err = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    let parse_err = |message: String| ConfigError::Parse {
        path: path.to_owned(),
        line: 1,
        column: 1,
        message,
    };
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        let (line, column) = line_column(&text, e.span().map_or(0, |s| s.start));
        ConfigError::Parse {
            path: path.to_owned(),
            line,
            column,
            message: e.message().to_owned(),
        }
    })?;
    let cameras = doc
        .get_mut("cameras")
        .and_then(|c| c.as_array_of_tables_mut())
        .ok_or_else(|| parse_err("no [[cameras]] in the file".into()))?;
    let entry = cameras
        .iter_mut()
        .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(camera))
        .ok_or_else(|| parse_err(format!("no camera named {camera:?}")))?;
    entry["tls_fingerprint"] = toml_edit::value(fingerprint);
    write_atomically(path, doc.to_string().as_bytes()).map_err(read_err)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`, so
/// the file on disk is always the old or the new content, never a mix.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, |file| file.write_all(bytes))
}

/// [`write_atomically`], with `write` filling the temporary file.
fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // The new file keeps the old one's permissions (a config made private stays private).
    let permissions = std::fs::metadata(path).ok().map(|m| m.permissions());
    let name = path
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    // Unique per write, so two writers never share a temporary file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let write_number = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.tmp-{}-{write_number}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)?;
        }
        write(&mut file)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Window size and layout, kept apart from the user's config so that saving them never
/// rewrites (or loses the comments of) the file the user edits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UiState {
    pub window_size: Option<[f32; 2]>,
    /// Grid columns; `None` sizes the grid to the camera count.
    pub columns: Option<usize>,
    pub overlays_hidden: bool,
    /// The live figures drawn on each tile (key I).
    pub stats_overlay: bool,
    /// The stats panel of the selected camera is open (key P).
    pub stats_panel: bool,
    /// The order of the tiles, as camera ids (dragging a tile onto another swaps them).
    /// Cameras not listed follow in config order.
    pub camera_order: Vec<String>,
    /// Tour mode: the wall shows each page in turn.
    pub tour: bool,
    /// Seconds per page in tour mode; `None`: the default.
    pub tour_seconds: Option<u32>,
}

impl UiState {
    /// `config.toml` → `config.ui-state.toml`, beside it.
    pub fn path_for(config_path: &Path) -> PathBuf {
        let stem = config_path
            .file_stem()
            .map_or_else(|| "config".into(), |s| s.to_string_lossy().into_owned());
        config_path.with_file_name(format!("{stem}.ui-state.toml"))
    }

    /// Loads the state; anything unreadable is ignored (it is only a convenience).
    pub fn load(path: &Path) -> Self {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| toml::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Writes atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = toml::to_string(self).map_err(std::io::Error::other)?;
        write_atomically(path, text.as_bytes())
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cameras() {
        let c = Config::parse(
            "[[cameras]]\nname = \"Door\"\nurl = \"rtsp://10.0.0.5/live\"\ntransport = \"tcp\"\n",
        )
        .unwrap();
        assert_eq!(c.cameras.len(), 1);
        assert_eq!(c.camera("Door").unwrap().transport, Transport::Tcp);
    }

    #[test]
    fn cameras_with_the_same_id_or_name_are_an_error_at_the_copy() {
        let text =
            "[[cameras]]\nname = \"Door\"\nid = \"0123456789abcdef\"\nurl = \"rtsp://a/\"\n\n\
                    [[cameras]]\nname = \"Yard\"\nid = \"0123456789abcdef\"\nurl = \"rtsp://b/\"\n";
        let (line, column, message) = Config::parse_checked(text).unwrap_err();
        assert_eq!((line, column), (8, 6), "{message}");
        assert!(
            message.contains("\"Yard\" has the same id as camera \"Door\""),
            "{message}"
        );

        let text = "[[cameras]]\nname = \"Door\"\nurl = \"rtsp://a/\"\n\n\
                    [[cameras]]\nname = 'Door'\nurl = \"rtsp://b/\"\n";
        let (line, _, message) = Config::parse_checked(text).unwrap_err();
        assert_eq!(line, 6, "{message}");
        // A file to import may repeat a name (the import renames the copy).
        assert_eq!(Config::parse(text).unwrap().cameras.len(), 2);
        assert!(
            message.contains("two cameras are named \"Door\""),
            "{message}"
        );
    }

    #[test]
    fn reports_line_and_column() {
        let (line, column, msg) =
            Config::parse("[[cameras]]\nname = \"Door\"\nurl = rtsp://x\n").unwrap_err();
        assert_eq!((line, column), (3, 7), "{msg}");
    }

    #[test]
    fn ui_state_round_trip_beside_the_config() {
        let dir = std::env::temp_dir().join(format!("vedette-ui-state-{}", std::process::id()));
        let path = UiState::path_for(&dir.join("walls.toml"));
        assert_eq!(path, dir.join("walls.ui-state.toml"));
        let state = UiState {
            window_size: Some([800.0, 600.0]),
            columns: Some(3),
            overlays_hidden: true,
            stats_overlay: true,
            stats_panel: true,
            camera_order: vec!["0123456789abcdef".into()],
            tour: true,
            tour_seconds: Some(15),
        };
        state.save(&path).unwrap();
        assert_eq!(UiState::load(&path), state);
        std::fs::write(&path, "garbage = [").unwrap();
        assert_eq!(UiState::load(&path), UiState::default());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pinning_changes_only_that_camera_and_keeps_comments() {
        let dir = std::env::temp_dir().join(format!("vedette-pin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        let text = "# my cameras\n[[cameras]]\nname = \"Door\" # front\nurl = \"rtsps://10.0.0.5/live\"\n\n[[cameras]]\nname = \"Yard\"\nurl = \"rtsp://10.0.0.6/\"\n";
        std::fs::write(&path, text).unwrap();
        pin_fingerprint(&path, "Door", "AB:CD").unwrap();
        let after = std::fs::read_to_string(&path).unwrap();
        assert!(after.starts_with("# my cameras\n"), "{after}");
        assert!(after.contains("name = \"Door\" # front"), "{after}");
        let config = Config::parse(&after).unwrap();
        assert_eq!(
            config.camera("Door").unwrap().tls_fingerprint.as_deref(),
            Some("AB:CD")
        );
        assert_eq!(config.camera("Yard").unwrap().tls_fingerprint, None);
        assert!(pin_fingerprint(&path, "Nobody", "AB").is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn camera(name: &str, url: &str) -> CameraConfig {
        CameraConfig {
            name: name.into(),
            id: new_camera_id(),
            url: url.into(),
            transport: Transport::Tcp,
            username: Some("admin".into()),
            sub_url: None,
            tls_fingerprint: None,
        }
    }

    fn temp_dir(what: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vedette-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A writer that accepts `left` bytes and then fails, like a full disk.
    struct FailAfter<'a> {
        inner: &'a mut std::fs::File,
        left: usize,
    }

    impl std::io::Write for FailAfter<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::other("no space left (test)"));
            }
            let n = self.inner.write(&buf[..buf.len().min(self.left)])?;
            self.left -= n;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }

    #[test]
    fn save_keeps_the_previous_version_as_bak() {
        let dir = temp_dir("config-bak");
        let path = dir.join("config.toml");
        let first = Config {
            cameras: vec![camera("Door", "rtsp://10.0.0.5/live")],
        };
        first.save(&path).unwrap();
        assert!(!Config::backup_path(&path).exists());
        let first_bytes = std::fs::read(&path).unwrap();
        let mut second = first.clone();
        second.cameras.push(camera("Yard", "rtsp://10.0.0.6/live"));
        second.save(&path).unwrap();
        assert_eq!(Config::backup_path(&path), dir.join("config.toml.bak"));
        assert_eq!(
            std::fs::read(dir.join("config.toml.bak")).unwrap(),
            first_bytes
        );
        assert_eq!(Config::load(&path).unwrap(), second);
        assert_eq!(Config::load(&dir.join("config.toml.bak")).unwrap(), first);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A config written by hand with a password in a camera's URL: when Vedette saves it (the
    /// password moved to the keychain), the `.bak` keeps the old file without the password,
    /// and with the old file's permissions. Before, the `.bak` was a plain copy: the password
    /// the app said it had moved stayed on disk, readable by whoever could read the directory.
    #[test]
    fn the_bak_of_a_config_with_a_url_password_keeps_no_password() {
        let dir = temp_dir("config-bak-password");
        let path = dir.join("config.toml");
        let by_hand = "# my cameras\n[[cameras]]\nname = \"Door\"\n\
                       url = \"rtsp://admin:secret@10.0.0.5:554/live?channel=1\"\n\
                       sub_url = 'rtsps://viewer:s3cr:et@[fd00::5]/sub'\n";
        std::fs::write(&path, by_hand).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let mut config = Config::load(&path).unwrap();
        config.cameras[0].url = "rtsp://10.0.0.5:554/live?channel=1".into();
        config.cameras[0].sub_url = Some("rtsps://[fd00::5]/sub".into());
        config.save(&path).unwrap();

        let backup = std::fs::read_to_string(Config::backup_path(&path)).unwrap();
        assert_eq!(
            backup,
            "# my cameras\n[[cameras]]\nname = \"Door\"\n\
             url = \"rtsp://admin@10.0.0.5:554/live?channel=1\"\n\
             sub_url = 'rtsps://viewer@[fd00::5]/sub'\n"
        );
        assert!(!std::fs::read_to_string(&path).unwrap().contains("secret"));
        #[cfg(unix)]
        for file in [path.clone(), Config::backup_path(&path)] {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_url_passwords_leaves_everything_else() {
        for text in [
            "no url here",
            "url = \"rtsp://10.0.0.5/live\"",
            "url = \"rtsp://admin@10.0.0.5/live\"",
            "see https://example.com/a:b@c for help",
            "",
            "://",
            "rtsp://",
        ] {
            assert_eq!(without_url_passwords(text), text);
        }
        assert_eq!(
            without_url_passwords("a rtsp://u:p@h/x and rtsp://v:q@i"),
            "a rtsp://u@h/x and rtsp://v@i"
        );
    }

    #[test]
    fn a_write_failing_half_way_leaves_the_old_file_byte_for_byte() {
        let dir = temp_dir("config-interrupted");
        let path = dir.join("config.toml");
        let old = Config {
            cameras: vec![camera("Door", "rtsp://10.0.0.5/live")],
        };
        old.save(&path).unwrap();
        let old_bytes = std::fs::read(&path).unwrap();
        let mut new = old.clone();
        new.cameras.push(camera("Yard", "rtsp://10.0.0.6/live"));
        let err = new
            .save_through(&path, |file, bytes| {
                FailAfter {
                    inner: file,
                    left: bytes.len() / 2,
                }
                .write_all(bytes)
            })
            .unwrap_err();
        assert!(err.to_string().contains("no space left"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), old_bytes);
        let mut left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["config.toml", "config.toml.bak"],
            "no temporary file left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_config_without_ids_gets_stable_ids_derived_from_names() {
        let text = "[[cameras]]\nname = \"Door\"\nurl = \"rtsp://10.0.0.5/\"\n\n[[cameras]]\nname = \"Yard\"\nurl = \"rtsp://10.0.0.6/\"\n";
        let a = Config::parse(text).unwrap();
        let b = Config::parse(text).unwrap();
        assert_eq!(a, b);
        let (door, yard) = (&a.cameras[0].id, &a.cameras[1].id);
        assert_ne!(door, yard);
        assert_eq!(*door, legacy_camera_id("Door"));
        assert!(door.len() == 16 && door.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.cameras[0].sub_url, None);
        let dir = temp_dir("config-ids");
        let path = dir.join("config.toml");
        a.save(&path).unwrap();
        let saved = std::fs::read_to_string(&path).unwrap();
        assert!(saved.contains(&format!("id = \"{door}\"")), "{saved}");
        assert_eq!(Config::load(&path).unwrap(), a);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn new_ids_are_16_hex_digits_and_differ() {
        let (a, b) = (new_camera_id(), new_camera_id());
        assert_ne!(a, b);
        assert!(
            a.len() == 16 && a.chars().all(|c| c.is_ascii_hexdigit()),
            "{a}"
        );
    }

    #[test]
    fn save_refuses_a_password_in_a_url_and_leaves_the_file() {
        let dir = temp_dir("config-no-password");
        let path = dir.join("config.toml");
        let mut config = Config {
            cameras: vec![camera("Door", "rtsp://admin:hunter2@10.0.0.5/live")],
        };
        let err = config.save(&path).unwrap_err().to_string();
        assert!(err.contains("Door") && !err.contains("hunter2"), "{err}");
        assert!(!path.exists());
        config.cameras[0].url = "rtsp://10.0.0.5/live".into();
        config.cameras[0].sub_url = Some("rtsp://u:hunter2@10.0.0.5/sub".into());
        assert!(config.save(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_is_empty_and_broken_file_is_untouched() {
        let dir = std::env::temp_dir().join(format!("vedette-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(
            Config::load(&dir.join("none.toml")).unwrap(),
            Config::default()
        );
        let broken = dir.join("broken.toml");
        std::fs::write(&broken, "[[cameras]\n").unwrap();
        let err = Config::load(&broken).unwrap_err().to_string();
        assert!(err.contains(":1:"), "{err}");
        assert_eq!(std::fs::read_to_string(&broken).unwrap(), "[[cameras]\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
