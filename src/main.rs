//! The `vedette` command: the camera viewer and its command-line tools.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use vedette::camera::{CameraSpec, SharedSecrets};
use vedette::cameras::{self, NewCamera, PasswordStatus};
use vedette::config::{Config, UiState};
use vedette::credentials::{Keychain, Password};
use vedette::demo::{DemoCredentials, DemoOptions, DemoServer, Fault};
use vedette::probe::{run_probe, ProbeOptions};
use vedette::rtsp::{Credentials, Transport};
use vedette::ui::{AppSetup, VedetteApp};

#[derive(Parser, Debug)]
#[command(
    name = "vedette",
    version,
    about = "A native desktop viewer for RTSP cameras"
)]
struct Cli {
    /// Configuration file (TOML) to use instead of the default one.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Connect to a camera, decode some frames, tear down and report what was seen.
    Probe(ProbeArgs),
    /// Serve synthetic demo cameras over RTSP on loopback.
    DemoServer(DemoArgs),
    /// Headless receive benchmark: N sessions of one URL, decoded, no window (prints JSON).
    Bench(BenchArgs),
    /// Add, list, remove, export and import cameras; passwords go to the OS keychain.
    #[command(subcommand)]
    Camera(CameraCommand),
}

#[derive(Subcommand, Debug)]
enum CameraCommand {
    /// Add a camera to the config file; its password goes to the OS keychain, never the file.
    Add(CameraAddArgs),
    /// List the configured cameras (whether each has a password, never the password).
    List,
    /// Remove a camera and its password.
    Remove {
        /// The camera's name.
        name: String,
    },
    /// Write the cameras to FILE without passwords or keychain ids, to import elsewhere.
    Export { file: PathBuf },
    /// Add the cameras of FILE (an export or a config file). A name already taken is skipped
    /// when the URL is the same, else renamed; credentials inside URLs go to the keychain.
    Import { file: PathBuf },
}

#[derive(clap::Args, Debug)]
struct CameraAddArgs {
    #[arg(long)]
    name: String,
    /// rtsp:// or rtsps:// URL. user:password@ inside it is moved to --user and the keychain.
    #[arg(long)]
    url: String,
    /// Username for the camera.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// Read the password from standard input (up to the end of the first line) and store it in
    /// the OS keychain.
    #[arg(long)]
    password_stdin: bool,
    /// How RTP travels (default tcp).
    #[arg(long, value_enum)]
    transport: Option<TransportArg>,
    /// A lower-resolution sub-stream for tiles in a grid; same username and password.
    #[arg(long, value_name = "URL")]
    sub_url: Option<String>,
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    url: String,
    #[arg(long, default_value_t = 1)]
    tiles: usize,
    /// Milliseconds between session starts.
    #[arg(long, default_value_t = 200)]
    stagger_ms: u64,
    /// Seconds from the first start before measuring.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
}

#[derive(clap::Args, Debug)]
struct ProbeArgs {
    /// rtsp:// URL, or the name of a camera in the config file.
    #[arg(required_unless_present = "camera")]
    url: Option<String>,
    /// A camera from the config file, played with its username and the password kept in the
    /// OS keychain (VEDETTE_PASSWORD overrides it).
    #[arg(long, value_name = "NAME", conflicts_with = "url")]
    camera: Option<String>,
    /// How RTP travels; default: the camera's setting in the config, else tcp.
    #[arg(long, value_enum)]
    transport: Option<TransportArg>,
    /// Username; the password is read from the VEDETTE_PASSWORD environment variable.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// Frames to decode before tearing down.
    #[arg(long, default_value_t = 100, value_name = "N")]
    frames: u64,
    /// Seconds to wait for connect, for each response, and for data.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    timeout: f64,
    /// Print one JSON object instead of a summary line.
    #[arg(long)]
    json: bool,
    /// Send PAUSE this many seconds after PLAY (the session stays; keepalives go on).
    #[arg(long, value_name = "SECS")]
    pause_after: Option<f64>,
    /// With --pause-after: send PLAY on the same session after this many seconds of pause.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 2.0,
        requires = "pause_after"
    )]
    resume_after: f64,
    /// Play this many seconds instead of until --frames pictures.
    #[arg(long, value_name = "SECS")]
    seconds: Option<f64>,
    /// Print one JSON line of live stats every SECS seconds while playing.
    #[arg(long, value_name = "SECS")]
    every: Option<f64>,
    /// rtsps://: accept exactly the certificate with this SHA-256 fingerprint (AB:CD:…), e.g.
    /// a camera's self-signed one.
    #[arg(long, value_name = "SHA256")]
    trust_fingerprint: Option<String>,
    /// rtsps://: accept ANY certificate. Only for tests: anyone on the path can read and
    /// change the stream.
    #[arg(long)]
    insecure: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum TransportArg {
    Tcp,
    Udp,
    /// UDP, falling back to TCP when UDP is refused or silent.
    Auto,
}

impl From<TransportArg> for Transport {
    fn from(t: TransportArg) -> Self {
        match t {
            TransportArg::Tcp => Transport::Tcp,
            TransportArg::Udp => Transport::Udp,
            TransportArg::Auto => Transport::Auto,
        }
    }
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
    /// TCP port on 127.0.0.1 (0 picks a free one; the chosen port is printed).
    #[arg(long, default_value_t = 8554)]
    port: u16,
    /// Number of demo cameras, served at /cam1 … /camN.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    cameras: u16,
    #[arg(long, default_value_t = 640)]
    width: u32,
    #[arg(long, default_value_t = 360)]
    height: u32,
    #[arg(long, default_value_t = 25)]
    fps: u32,
    /// Misbehave on purpose, for tests.
    #[arg(long, value_enum)]
    fault: Option<Fault>,
    /// Require Digest authentication as this user; the password is read from the
    /// VEDETTE_DEMO_PASSWORD environment variable.
    #[arg(long, value_name = "NAME")]
    auth_user: Option<String>,
    /// Session timeout announced to clients, in seconds (they keep alive at half of it).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    session_timeout: u32,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VEDETTE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let config_path = cli.config.clone().or_else(Config::default_path);
    let config = config_path.as_deref().map(Config::load);
    match cli.command {
        Some(command) => {
            let config = match config {
                // A broken config named on the command line is an error, and so it is for
                // `camera` (which would rewrite it); a broken default one must not stop a probe
                // of an explicit URL.
                Some(Err(e)) if cli.config.is_some() || matches!(command, Command::Camera(_)) => {
                    eprintln!("config: {e}");
                    return ExitCode::FAILURE;
                }
                Some(Err(e)) => {
                    tracing::warn!("ignoring the config: {e}");
                    Config::default()
                }
                Some(Ok(c)) => c,
                None => Config::default(),
            };
            match command {
                Command::Probe(args) => probe(args, &config),
                Command::DemoServer(args) => demo_server(args),
                Command::Bench(args) => bench(args),
                Command::Camera(command) => camera(command, config_path.as_deref()),
            }
        }
        None => wall(config_path, config),
    }
}

/// Opens the camera wall. A config that fails to parse is shown in the window and left as it
/// is; with no cameras configured, the built-in demo cameras are shown.
fn wall(
    config_path: Option<PathBuf>,
    config: Option<Result<Config, vedette::config::ConfigError>>,
) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let (config, config_error) = match config {
        Some(Ok(c)) => (c, None),
        Some(Err(e)) => {
            tracing::error!("{e}");
            (Config::default(), Some(e.to_string()))
        }
        None => (Config::default(), None),
    };
    let mut demo = None;
    // Each camera task reads its own password from the keychain, never the UI thread.
    let secrets = SharedSecrets(std::sync::Arc::new(Keychain::new()));
    let mut cameras: Vec<CameraSpec> = config
        .cameras
        .iter()
        .map(|c| CameraSpec::from_config(c, Some(secrets.clone())))
        .collect();
    if cameras.is_empty() && config_error.is_none() {
        match runtime.block_on(DemoServer::start(DemoOptions::default())) {
            Ok(server) => {
                cameras = (0..DemoOptions::default().cameras)
                    .map(|i| CameraSpec {
                        name: format!("Demo camera {}", i + 1),
                        url: server.camera_url(i),
                        transport: Transport::Tcp,
                        ..CameraSpec::default()
                    })
                    .collect();
                demo = Some(server);
            }
            Err(e) => tracing::error!("demo server: {e}"),
        }
    }
    let ui_state_path = config_path.as_deref().map(UiState::path_for);
    let ui_state = ui_state_path
        .as_deref()
        .map(UiState::load)
        .unwrap_or_default();
    let size = ui_state.window_size.unwrap_or([1280.0, 760.0]);
    let mut viewport = eframe::egui::ViewportBuilder::default()
        .with_title("Vedette")
        .with_app_id("vedette")
        .with_inner_size(size)
        .with_min_inner_size([320.0, 240.0]);
    if let Some(icon) = vedette::ui::icon() {
        viewport = viewport.with_icon(icon);
    }
    let mut options = eframe::NativeOptions {
        viewport,
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    // Pictures are shown as they arrive; waiting for a vertical blank only adds latency, and a
    // software rasterizer (a VM, Xvfb) may have none to wait for.
    options.wgpu_options.surface.present_mode = match std::env::var("VEDETTE_VSYNC").as_deref() {
        Ok("1") => eframe::wgpu::PresentMode::AutoVsync,
        _ => eframe::wgpu::PresentMode::AutoNoVsync,
    };
    // One frame in flight: a queued frame is a frame of latency (egui's LOW_LATENCY setting).
    options.wgpu_options.surface.desired_maximum_frame_latency = Some(1);
    let setup = AppSetup {
        runtime,
        cameras,
        demo,
        config_error,
        config_path,
        ui_state_path,
        ui_state,
        secrets,
    };
    let result = eframe::run_native(
        "vedette",
        options,
        Box::new(move |cc| Ok(Box::new(VedetteApp::new(cc, setup)))),
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot open the window: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The tokio runtime for sessions; on failure the error is printed and the exit code returned.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("rtsp")
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("cannot start: {e}");
            ExitCode::FAILURE
        })
}

fn probe(args: ProbeArgs, config: &Config) -> ExitCode {
    let camera = match (&args.camera, &args.url) {
        (Some(name), _) => match config.camera(name) {
            Some(camera) => Some(camera),
            None => {
                eprintln!("--camera: no camera named {name:?} in the config");
                return ExitCode::FAILURE;
            }
        },
        (None, Some(url)) => config.camera(url),
        (None, None) => None,
    };
    let (url, mut transport, mut user, mut fingerprint) = match camera {
        Some(cam) => (
            cam.url.clone(),
            Some(cam.transport),
            cam.username.clone(),
            cam.tls_fingerprint.clone(),
        ),
        None => (args.url.clone().unwrap_or_default(), None, None, None),
    };
    if args.trust_fingerprint.is_some() {
        fingerprint = args.trust_fingerprint.clone();
    }
    let pinned = match fingerprint
        .as_deref()
        .map(vedette::rtsp::Fingerprint::parse)
    {
        Some(Ok(fp)) => Some(fp),
        Some(Err(e)) => {
            eprintln!("--trust-fingerprint: {e}");
            return ExitCode::FAILURE;
        }
        None => None,
    };
    if args.insecure {
        eprintln!(
            "WARNING: --insecure: the camera's TLS certificate is NOT checked; anyone on the \
             path can read and change this stream. Use --trust-fingerprint instead."
        );
    }
    if args.user.is_some() {
        user = args.user.clone();
    }
    if let Some(t) = args.transport {
        transport = Some(t.into());
    }
    let secs = |s: f64| Duration::from_secs_f64(s.clamp(0.0, 3600.0));
    // The password: VEDETTE_PASSWORD (for scripts), else the keychain's for a configured
    // camera probed as its own user, else none.
    let password = match std::env::var("VEDETTE_PASSWORD") {
        Ok(password) => Password::new(password),
        Err(_) => match camera.filter(|cam| user.is_some() && user == cam.username) {
            Some(cam) => match cameras::stored_password(cam, &Keychain::new()) {
                Ok(password) => password.unwrap_or_default(),
                Err(e) => {
                    eprintln!("{e} (VEDETTE_PASSWORD overrides the keychain)");
                    return ExitCode::FAILURE;
                }
            },
            None => Password::default(),
        },
    };
    let credentials = user.map(|username| Credentials {
        username,
        password: password.expose().to_owned(),
    });
    let timeout = Duration::from_secs_f64(args.timeout.clamp(0.1, 3600.0));
    let opts = ProbeOptions {
        url,
        transport: transport.unwrap_or_default(),
        credentials,
        frames: args.frames,
        timeout,
        pause: args
            .pause_after
            .map(|after| (secs(after), secs(args.resume_after))),
        tls: vedette::rtsp::TlsOptions {
            pinned,
            insecure: args.insecure,
        },
        seconds: args.seconds.map(secs),
        every: args.every.map(|e| secs(e.max(0.1))),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let report = rt.block_on(run_probe(opts));
    rt.shutdown_timeout(Duration::from_millis(200));
    if args.json {
        match serde_json::to_string(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("cannot write JSON: {e}"),
        }
    } else if report.error.is_some() {
        eprintln!("{}", report.summary_line());
    } else {
        println!("{}", report.summary_line());
    }
    if report.error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `vedette camera …`. Keychain calls block, which is fine here: there is no UI thread.
fn camera(command: CameraCommand, config_path: Option<&Path>) -> ExitCode {
    let Some(path) = config_path else {
        eprintln!("camera: no config directory on this system; pass --config PATH");
        return ExitCode::FAILURE;
    };
    let keychain = Keychain::new();
    let changes = !matches!(command, CameraCommand::List | CameraCommand::Export { .. });
    let result = match command {
        CameraCommand::Add(args) => camera_add(args, path, &keychain),
        CameraCommand::List => camera_list(path, &keychain),
        CameraCommand::Remove { name } => cameras::remove_camera(path, &name, &keychain)
            .map(|deleted| {
                let secret = if deleted {
                    "and its password"
                } else {
                    "(it had no password)"
                };
                println!("removed camera {name:?} {secret}");
            })
            .map_err(anyhow::Error::from),
        CameraCommand::Export { file } => cameras::export_file(path, &file)
            .map(|n| {
                println!(
                    "exported {n} camera(s) to {} (no passwords)",
                    file.display()
                )
            })
            .map_err(anyhow::Error::from),
        CameraCommand::Import { file } => camera_import(path, &file, &keychain),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if changes => {
            eprintln!("camera: {e}; nothing was changed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("camera: {e}");
            ExitCode::FAILURE
        }
    }
}

fn camera_add(args: CameraAddArgs, path: &Path, keychain: &Keychain) -> anyhow::Result<()> {
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| anyhow::anyhow!("cannot read the password from stdin: {e}"))?;
        let password = Password::new(line.trim_end_matches(['\r', '\n']));
        anyhow::ensure!(
            !password.is_empty(),
            "--password-stdin: no password on stdin"
        );
        Some(password)
    } else {
        None
    };
    let new = NewCamera {
        name: args.name,
        url: args.url,
        transport: args.transport.map(Into::into).unwrap_or_default(),
        username: args.user,
        password,
        sub_url: args.sub_url,
    };
    let (camera, stored) = cameras::add_camera(path, new, keychain)?;
    let secret = if stored {
        "; password in the keychain"
    } else {
        ""
    };
    println!("added camera {:?}: {}{secret}", camera.name, camera.url);
    Ok(())
}

fn camera_list(path: &Path, keychain: &Keychain) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    if config.cameras.is_empty() {
        println!("no cameras (add one with: vedette camera add --name NAME --url URL)");
    }
    for (camera, status) in cameras::list_cameras(&config, keychain) {
        let password = match status {
            PasswordStatus::InKeychain => "in keychain".to_owned(),
            PasswordStatus::None => "none".to_owned(),
            PasswordStatus::Unknown(e) => format!("unknown ({e})"),
        };
        let mut line = format!("{}: {} ({})", camera.name, camera.url, camera.transport);
        if let Some(sub) = &camera.sub_url {
            line += &format!(", sub-stream {sub}");
        }
        let user = camera.username.as_deref().unwrap_or("none");
        println!("{line}, user: {user}, password: {password}");
    }
    Ok(())
}

fn camera_import(path: &Path, file: &Path, keychain: &Keychain) -> anyhow::Result<()> {
    let report = cameras::import_file(path, file, keychain)?;
    for name in &report.added {
        println!("added {name:?}");
    }
    for (old, new) in &report.renamed {
        println!("added {old:?} as {new:?}: the name was taken by another camera");
    }
    for name in &report.skipped {
        println!("skipped {name:?}: already there with the same URL");
    }
    println!(
        "imported {} camera(s), {} password(s) moved to the keychain",
        report.added.len() + report.renamed.len(),
        report.passwords_stored
    );
    Ok(())
}

fn bench(args: BenchArgs) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let report = rt.block_on(vedette::bench::run_bench(vedette::bench::BenchOptions {
        url: args.url,
        tiles: args.tiles.max(1),
        stagger: Duration::from_millis(args.stagger_ms),
        warmup: Duration::from_secs_f64(args.warmup.max(0.5)),
        measure: Duration::from_secs_f64(args.seconds.max(1.0)),
    }));
    rt.shutdown_timeout(Duration::from_millis(500));
    match serde_json::to_string(&report) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("cannot write JSON: {e}"),
    }
    if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn demo_server(args: DemoArgs) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let auth = match args.auth_user {
        Some(username) => match std::env::var("VEDETTE_DEMO_PASSWORD") {
            Ok(password) if !password.is_empty() => Some(DemoCredentials { username, password }),
            _ => {
                eprintln!("demo server: --auth-user needs the password in VEDETTE_DEMO_PASSWORD");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let opts = DemoOptions {
        port: args.port,
        cameras: usize::from(args.cameras),
        width: args.width,
        height: args.height,
        fps: args.fps,
        fault: args.fault,
        auth,
        session_timeout: args.session_timeout,
    };
    let result = rt.block_on(async move {
        let server = vedette::demo::DemoServer::start(opts).await?;
        println!(
            "demo server listening on rtsp://{}/cam1 (… /cam{})",
            server.local_addr(),
            args.cameras
        );
        tokio::signal::ctrl_c().await?;
        drop(server);
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo server: {e:#}");
            ExitCode::FAILURE
        }
    }
}
