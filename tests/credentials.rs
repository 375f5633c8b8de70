//! `vedette camera …` and `probe --camera` against the real OS keychain: each step runs in its
//! own D-Bus session (`dbus-run-session`) with GNOME Keyring unlocked by a test keyring
//! password, and HOME / XDG_* pointing into a temporary directory, so the keyring is private
//! to the test and survives from one step to the next (it is a file under XDG_DATA_HOME).

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{serial, GstServer};

const USER: &str = "admin";
const PASSWORD: &str = "test-password-123";
/// Unlocks (and on first use creates) the test's private login keyring.
const KEYRING_PASSWORD: &str = "vedette-test-keyring";

/// A private home for one test: config, keyring, runtime directory.
struct TestHome {
    dir: PathBuf,
}

impl TestHome {
    fn new(name: &str) -> Self {
        for tool in ["dbus-run-session", "gnome-keyring-daemon", "secret-tool"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(
                found,
                "{tool} is missing: make test installs it (packages dbus, gnome-keyring, \
                 libsecret-tools)"
            );
        }
        let dir =
            std::env::temp_dir().join(format!("vedette-keychain-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["home", "data", "config", "cache", "run"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir.join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
        Self { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    /// A command with the private environment and no way to the user's own session bus.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("HOME", self.dir.join("home"))
            .env("XDG_DATA_HOME", self.dir.join("data"))
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .env("XDG_RUNTIME_DIR", self.dir.join("run"))
            .env("VEDETTE", env!("CARGO_BIN_EXE_vedette"))
            .env("CONFIG", self.config())
            .env("VEDETTE_LOG", "debug")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("VEDETTE_PASSWORD");
        command
    }

    /// Runs `script` (sh) in a new D-Bus session; with `unlock`, GNOME Keyring is started
    /// and unlocked first. Without it, the bus starts GNOME Keyring on demand, locked.
    fn session(&self, script: &str, unlock: bool, stdin: &str) -> Output {
        let script = if unlock {
            format!(
                "echo -n {KEYRING_PASSWORD} | gnome-keyring-daemon --unlock \
                 --components=secrets >/dev/null && {script}"
            )
        } else {
            script.to_owned()
        };
        let mut command = self.command("dbus-run-session");
        command.args(["--", "sh", "-c", &script]);
        run(command, stdin)
    }

    /// `vedette --config CONFIG ARGS` in an unlocked keychain session.
    fn vedette(&self, args: &str, stdin: &str) -> Output {
        self.session(
            &format!("\"$VEDETTE\" --config \"$CONFIG\" {args}"),
            true,
            stdin,
        )
    }

    /// What `secret-tool search service vedette` prints (attributes and secrets).
    fn secret_tool_search(&self) -> String {
        let out = self.session("secret-tool search --all service vedette 2>&1", true, "");
        text(&out)
    }
}

impl Drop for TestHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a command with `stdin`, killing it after 60 s.
fn run(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dbus-run-session");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("timed out: {command:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed:\n{}", text(out));
}

fn camera_id(config: &Path, name: &str) -> String {
    let config = vedette::config::Config::load(config).unwrap();
    config.camera(name).unwrap().id.clone()
}

fn digest_server() -> GstServer {
    GstServer::start(&["--auth", "digest", "--user", USER, "--password", PASSWORD])
}

#[test]
fn add_probe_remove_with_the_real_keychain() {
    let _serial = serial();
    let home = TestHome::new("roundtrip");
    let server = digest_server();

    let add = home.vedette(
        &format!(
            "camera add --name Door --url {} --user {USER} --password-stdin",
            server.url()
        ),
        &format!("{PASSWORD}\n"),
    );
    assert_ok(&add, "camera add");
    assert!(
        text(&add).contains("password in the keychain"),
        "{}",
        text(&add)
    );

    let id = camera_id(&home.config(), "Door");
    let found = home.secret_tool_search();
    assert!(
        found.contains(&format!("attribute.username = {id}"))
            && found.contains(&format!("secret = {PASSWORD}")),
        "secret-tool search service vedette:\n{found}"
    );
    let config = std::fs::read_to_string(home.config()).unwrap();
    assert!(!config.contains(PASSWORD), "{config}");
    assert!(
        config.contains(&format!("username = \"{USER}\"")),
        "{config}"
    );

    let list = home.vedette("camera list", "");
    assert_ok(&list, "camera list");
    assert!(
        text(&list).contains("user: admin, password: in keychain"),
        "{}",
        text(&list)
    );

    let probe = home.vedette("probe --camera Door --frames 10 --json", "");
    assert_ok(&probe, "probe --camera");
    let stdout = String::from_utf8_lossy(&probe.stdout);
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(json["frames_decoded"].as_u64().unwrap() >= 10, "{json}");
    let methods: Vec<String> = json["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{} {}", m["method"].as_str().unwrap(), m["status"]))
        .collect();
    assert!(
        methods.starts_with(&["OPTIONS 200", "DESCRIBE 401", "DESCRIBE 200"].map(String::from)),
        "Digest answered with the keychain's password: {methods:?}"
    );

    let remove = home.vedette("camera remove Door", "");
    assert_ok(&remove, "camera remove");
    assert!(
        text(&remove).contains("and its password"),
        "{}",
        text(&remove)
    );
    let found = home.secret_tool_search();
    assert!(
        !found.contains("attribute.service = vedette") && !found.contains(PASSWORD),
        "the secret is gone:\n{found}"
    );
    assert!(vedette::config::Config::load(&home.config())
        .unwrap()
        .cameras
        .is_empty());
}

#[test]
fn the_password_appears_in_no_file_and_no_output() {
    let _serial = serial();
    let home = TestHome::new("nowhere");
    let server = digest_server();
    let mut outputs = Vec::new();
    let inline = format!("rtsp://{USER}:{PASSWORD}@127.0.0.1:{}/test", server.port);

    // Credentials pasted inside the URL go to the keychain.
    let add = home.vedette(&format!("camera add --name Door --url '{inline}'"), "");
    assert_ok(&add, "camera add with credentials in the URL");
    outputs.push(add);
    // And inside an imported file too.
    let import = home.dir.join("import.toml");
    std::fs::write(
        &import,
        format!("[[cameras]]\nname = \"Gate\"\nurl = \"{inline}\"\ntransport = \"tcp\"\n"),
    )
    .unwrap();
    let imported = home.vedette(&format!("camera import '{}'", import.display()), "");
    assert_ok(&imported, "camera import");
    assert!(
        text(&imported).contains("1 password(s) moved to the keychain"),
        "{}",
        text(&imported)
    );
    outputs.push(imported);
    for name in ["Door", "Gate"] {
        let probe = home.vedette(&format!("probe --camera {name} --frames 5"), "");
        assert_ok(&probe, "probe --camera");
        outputs.push(probe);
    }
    let list = home.vedette("camera list", "");
    assert_ok(&list, "camera list");
    outputs.push(list);
    let export = home.dir.join("export.toml");
    let exported = home.vedette(&format!("camera export '{}'", export.display()), "");
    assert_ok(&exported, "camera export");
    outputs.push(exported);
    let remove = home.vedette("camera remove Gate", "");
    assert_ok(&remove, "camera remove");
    outputs.push(remove);

    let config = std::fs::read_to_string(home.config()).unwrap();
    let backup =
        std::fs::read_to_string(vedette::config::Config::backup_path(&home.config())).unwrap();
    let export = std::fs::read_to_string(&export).unwrap();
    assert!(export.contains("name = \"Door\""), "{export}");
    assert!(export.contains("127.0.0.1"), "{export}");
    for (what, text) in [
        ("config", &config),
        ("config .bak", &backup),
        ("export", &export),
    ] {
        assert!(
            !text.contains(PASSWORD),
            "{what} holds the password:\n{text}"
        );
    }
    let all: String = outputs.iter().map(text).collect();
    assert!(all.contains("DEBUG"), "VEDETTE_LOG=debug is on:\n{all}");
    assert!(!all.contains(PASSWORD), "output holds the password:\n{all}");
}

#[test]
fn a_missing_or_locked_keychain_is_a_clear_error_and_changes_nothing() {
    let _serial = serial();
    let home = TestHome::new("locked");
    let config = format!(
        "[[cameras]]\nname = \"Yard\"\nurl = \"rtsp://127.0.0.1:9/yard\"\nusername = \"{USER}\"\n"
    );
    std::fs::write(home.config(), &config).unwrap();
    let add = "camera add --name Door --url rtsp://127.0.0.1:9/door --user admin --password-stdin";

    // No D-Bus session at all: no Secret Service to ask.
    let mut command = home.command(env!("CARGO_BIN_EXE_vedette"));
    command.arg("--config").arg(home.config());
    command.args(add.split(' '));
    let missing = run(command, &format!("{PASSWORD}\n"));
    let err = text(&missing);
    assert_eq!(missing.status.code(), Some(1), "{err}");
    assert!(
        err.contains("camera \"Door\": cannot store its password in the keychain")
            && err.contains("no keychain service")
            && err.contains("nothing was changed"),
        "{err}"
    );

    // A D-Bus session whose GNOME Keyring was never unlocked (the bus starts it on demand,
    // and no prompt can be shown): the keychain is locked.
    let script = format!("\"$VEDETTE\" --config \"$CONFIG\" {add}");
    let locked = home.session(&script, false, &format!("{PASSWORD}\n"));
    let err = text(&locked);
    assert_eq!(locked.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the keychain is locked") && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");

    // Probing a stored camera needs the keychain too, unless VEDETTE_PASSWORD is set. (A
    // keyring that was never unlocked holds no password, so reading is tried without a bus.)
    let mut command = home.command(env!("CARGO_BIN_EXE_vedette"));
    command.arg("--config").arg(home.config());
    command.args(["probe", "--camera", "Yard", "--frames", "1"]);
    let probe = run(command, "");
    let err = text(&probe);
    assert_eq!(probe.status.code(), Some(1), "{err}");
    assert!(
        err.contains("camera \"Yard\": cannot read its password from the keychain")
            && err.contains("VEDETTE_PASSWORD"),
        "{err}"
    );

    assert_eq!(std::fs::read_to_string(home.config()).unwrap(), config);
    assert!(!vedette::config::Config::backup_path(&home.config()).exists());
}
