//! The configuration file (TOML): the cameras to show. A file that fails to parse is reported
//! with its line and column and never overwritten.

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
    /// Without credentials: passwords live in the OS keychain, never in this file.
    pub url: String,
    #[serde(default)]
    pub transport: Transport,
    /// The username; the password is looked up in the keychain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
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
}

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
        Self::parse(&text).map_err(|(line, column, message)| ConfigError::Parse {
            path: path.to_owned(),
            line,
            column,
            message,
        })
    }

    /// Parses TOML text; errors carry 1-based line and column.
    pub fn parse(text: &str) -> Result<Self, (usize, usize, String)> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let offset = e.span().map_or(0, |s| s.start);
            let (line, column) = line_column(text, offset);
            (line, column, e.message().to_owned())
        })
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

/// Pins a camera's certificate fingerprint in the config file, changing only that one value
/// (comments and layout are kept), and writing atomically. The camera is found by name.
pub fn pin_fingerprint(path: &Path, camera: &str, fingerprint: &str) -> Result<(), ConfigError> {
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
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let name = path
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
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
