//! The camera dialogs: add or edit a camera (with "Test connection"), type a password for this
//! session when the keychain cannot give it, and confirm a removal. Every keychain, file and
//! network call runs in a [`Job`]; the dialog only polls it.

use std::path::PathBuf;
use std::time::Duration;

use eframe::egui;

use super::jobs::{Job, Poll};
use crate::camera::SharedSecrets;
use crate::cameras::{self, NewCamera};
use crate::config::CameraConfig;
use crate::credentials::Password;
use crate::probe::{run_probe, ProbeOptions, ProbeReport};
use crate::rtsp::{CameraUrl, Credentials, Fingerprint, TlsOptions, Transport};

type Repaint = std::sync::Arc<dyn Fn() + Send + Sync>;

/// What the dialogs need to start background work.
pub struct DialogEnv<'a> {
    pub runtime: &'a tokio::runtime::Handle,
    pub repaint: &'a Repaint,
    pub secrets: &'a SharedSecrets,
    /// Where cameras are saved; `None` when this system has no config directory.
    pub config_path: Option<&'a PathBuf>,
}

/// The message shown under a URL field as it is typed; `None` when it is valid (or empty).
pub fn url_problem(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if !text.contains("://") {
        return Some(
            "missing scheme: a camera URL starts with rtsp:// or rtsps:// \
             (rtsp://HOST[:PORT]/PATH)"
                .to_owned(),
        );
    }
    CameraUrl::parse(text).err().map(|e| e.to_string())
}

/// A URL carrying `user:password@`, split into the URL without them and the credentials.
/// A URL wrong elsewhere (a bad port) is split too, so a pasted password does not stay in
/// sight while the rest is fixed.
pub fn split_credentials(text: &str) -> Option<(String, Credentials)> {
    if let Ok(url) = CameraUrl::parse(text) {
        let credentials = url.credentials_in_url()?.clone();
        return Some((url.to_string(), credentials));
    }
    let (scheme, rest) = text.trim().split_once("://")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let at = authority.rfind('@')?;
    let (userinfo, after) = (rest.get(..at)?, rest.get(at + 1..)?);
    // The credentials alone, percent-decoded as `CameraUrl` does it.
    let probe = CameraUrl::parse(&format!("rtsp://{userinfo}@host/")).ok()?;
    let credentials = probe.credentials_in_url()?.clone();
    Some((format!("{scheme}://{after}"), credentials))
}

/// Add a camera, or edit the one with this config id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogMode {
    Add,
    Edit { id: String },
}

/// What became of the dialog this frame.
pub enum DialogOutcome {
    Open,
    Cancelled,
    /// Saved to the config (and the keychain): the entry as written.
    Saved(CameraConfig),
}

/// The add / edit camera window.
pub struct CameraDialog {
    mode: DialogMode,
    name: String,
    url: String,
    transport: Transport,
    username: String,
    /// Typed here only; empty when editing means "keep the stored one".
    password: SecretField,
    sub_url: String,
    /// The pinned certificate of the camera being edited, for "Test connection".
    tls_fingerprint: Option<String>,
    /// Said once credentials were moved out of a URL.
    moved_note: Option<String>,
    test: Option<Job<ProbeReport>>,
    test_report: Option<ProbeReport>,
    save: Option<Job<Result<CameraConfig, String>>>,
    error: Option<String>,
    /// The name field takes the keyboard when the dialog opens.
    focus_name: bool,
}

/// The text of a password field. Like `Password`, its buffer is cleared when it is dropped,
/// so a typed password does not outlive its dialog there.
#[derive(Default)]
struct SecretField(String);

impl Drop for SecretField {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

impl CameraDialog {
    pub fn add() -> Self {
        Self {
            mode: DialogMode::Add,
            name: String::new(),
            url: String::new(),
            transport: Transport::Tcp,
            username: String::new(),
            password: SecretField::default(),
            sub_url: String::new(),
            tls_fingerprint: None,
            moved_note: None,
            test: None,
            test_report: None,
            save: None,
            error: None,
            focus_name: true,
        }
    }

    /// The dialog for a configured camera. A URL written by hand with a password in it shows
    /// without it: the password goes to its (masked) field, and to the keychain on Save.
    pub fn edit(camera: &CameraConfig) -> Self {
        let mut dialog = Self {
            mode: DialogMode::Edit {
                id: camera.id.clone(),
            },
            name: camera.name.clone(),
            url: camera.url.clone(),
            transport: camera.transport,
            username: camera.username.clone().unwrap_or_default(),
            sub_url: camera.sub_url.clone().unwrap_or_default(),
            tls_fingerprint: camera.tls_fingerprint.clone(),
            ..Self::add()
        };
        dialog.move_credentials_out_of_urls();
        dialog
    }

    pub fn mode(&self) -> &DialogMode {
        &self.mode
    }

    fn title(&self) -> &'static str {
        match self.mode {
            DialogMode::Add => "Add camera",
            DialogMode::Edit { .. } => "Edit camera",
        }
    }

    /// Moves `user:password@` out of the URL fields into the username and password fields.
    fn move_credentials_out_of_urls(&mut self) {
        for field in [&mut self.url, &mut self.sub_url] {
            let Some((url, credentials)) = split_credentials(field) else {
                continue;
            };
            *field = url;
            if !credentials.username.is_empty() {
                self.username = credentials.username.clone();
            }
            if !credentials.password.is_empty() {
                self.password.0.clone_from(&credentials.password);
            }
            self.moved_note = Some(
                "The username and password were moved out of the URL into their fields (the \
                 password goes to the keychain)."
                    .to_owned(),
            );
        }
    }

    fn new_camera(&self) -> NewCamera {
        let non_empty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        NewCamera {
            name: self.name.trim().to_owned(),
            url: self.url.trim().to_owned(),
            transport: self.transport,
            username: non_empty(&self.username),
            password: Some(Password::new(self.password.0.clone())).filter(|p| !p.is_empty()),
            sub_url: non_empty(&self.sub_url),
        }
    }

    fn can_save(&self) -> bool {
        !self.name.trim().is_empty()
            && !self.url.trim().is_empty()
            && url_problem(&self.url).is_none()
            && url_problem(&self.sub_url).is_none()
            && self.save.is_none()
    }

    /// Starts "Test connection": a short probe (a few pictures) on the runtime. Without a typed
    /// password, an edited camera's stored one is read from the keychain first, in the job.
    fn start_test(&mut self, env: &DialogEnv<'_>) {
        let new = self.new_camera();
        let stored = match (&self.mode, &new.username, &new.password) {
            (DialogMode::Edit { id }, Some(_), None) => Some(id.clone()),
            _ => None,
        };
        let secrets = env.secrets.clone();
        let pinned = self
            .tls_fingerprint
            .as_deref()
            .and_then(|f| Fingerprint::parse(f).ok());
        self.test_report = None;
        self.test = Some(Job::spawn(env.runtime, env.repaint, async move {
            let mut password = new.password;
            if let Some(id) = stored {
                let load = tokio::task::spawn_blocking(move || secrets.0.load(&id));
                password = load.await.ok().and_then(Result::ok).flatten();
            }
            let credentials = new.username.map(|username| Credentials {
                username,
                password: password.map(|p| p.expose().to_owned()).unwrap_or_default(),
            });
            run_probe(ProbeOptions {
                url: new.url,
                transport: new.transport,
                credentials,
                frames: 3,
                timeout: Duration::from_secs(5),
                pause: None,
                tls: TlsOptions {
                    pinned,
                    insecure: false,
                },
                seconds: None,
                every: None,
            })
            .await
        }));
    }

    /// Starts "Save": the config file and the keychain, on a blocking thread.
    fn start_save(&mut self, env: &DialogEnv<'_>) {
        let Some(path) = env.config_path.cloned() else {
            self.error = Some(
                "This system has no config directory: start Vedette with --config PATH.".into(),
            );
            return;
        };
        let new = self.new_camera();
        let mode = self.mode.clone();
        let secrets = env.secrets.clone();
        self.error = None;
        self.save = Some(Job::blocking(env.runtime, env.repaint, move || {
            let secrets = &*secrets.0;
            match mode {
                DialogMode::Add => cameras::add_camera(&path, new, secrets).map(|(c, _)| c),
                DialogMode::Edit { id } => cameras::update_camera(&path, &id, new, secrets),
            }
            .map_err(|e| e.to_string())
        }));
    }

    /// Draws the window; returns whether it is still open, or what it saved.
    pub fn show(&mut self, ctx: &egui::Context, env: &DialogEnv<'_>) -> DialogOutcome {
        if let Some(job) = &self.test {
            match job.poll() {
                Poll::Pending => {}
                Poll::Done(report) => {
                    self.test_report = Some(report);
                    self.test = None;
                }
                Poll::Lost => self.test = None,
            }
        }
        if let Some(job) = &self.save {
            match job.poll() {
                Poll::Pending => {}
                Poll::Done(Ok(camera)) => return DialogOutcome::Saved(camera),
                Poll::Done(Err(e)) => {
                    self.error = Some(format!("Not saved, nothing was changed: {e}"));
                    self.save = None;
                }
                Poll::Lost => {
                    self.error = Some("Not saved: the save failed unexpectedly.".into());
                    self.save = None;
                }
            }
        }
        let mut open = true;
        let mut cancelled = false;
        egui::Window::new(self.title())
            .id(egui::Id::unique("camera_dialog"))
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| cancelled = self.contents_ui(ui, env));
        if !open || cancelled {
            DialogOutcome::Cancelled
        } else {
            DialogOutcome::Open
        }
    }

    /// The form; returns whether Cancel was clicked.
    fn contents_ui(&mut self, ui: &mut egui::Ui, env: &DialogEnv<'_>) -> bool {
        let mut urls_changed = false;
        egui::Grid::new("camera_dialog_fields")
            .num_columns(2)
            .spacing([8.0, 6.0])
            .show(ui, |ui| {
                let label = ui.label("Name");
                let name = ui
                    .add(egui::TextEdit::singleline(&mut self.name).desired_width(FIELD_WIDTH))
                    .labelled_by(label.id);
                // Asked until it holds: the window's first frame is an invisible sizing pass.
                if self.focus_name {
                    if name.has_focus() {
                        self.focus_name = false;
                    } else {
                        name.request_focus();
                    }
                }
                ui.end_row();

                urls_changed |= url_field_ui(ui, "URL", &mut self.url, "rtsp://192.0.2.10/stream1");

                let label = ui.label("Transport");
                egui::ComboBox::from_id_salt("camera_dialog_transport")
                    .selected_text(self.transport.to_string())
                    .show_ui(ui, |ui| {
                        for t in [Transport::Tcp, Transport::Udp, Transport::Auto] {
                            ui.selectable_value(&mut self.transport, t, t.to_string())
                                .on_hover_text(transport_hint(t));
                        }
                    })
                    .response
                    .labelled_by(label.id);
                ui.end_row();

                let label = ui.label("Username");
                ui.add(egui::TextEdit::singleline(&mut self.username).desired_width(FIELD_WIDTH))
                    .labelled_by(label.id);
                ui.end_row();

                let label = ui.label("Password");
                let hint = match self.mode {
                    DialogMode::Edit { .. } => "unchanged",
                    DialogMode::Add => "",
                };
                ui.add(
                    egui::TextEdit::singleline(&mut self.password.0)
                        .password(true)
                        .hint_text(hint)
                        .desired_width(FIELD_WIDTH),
                )
                .labelled_by(label.id);
                ui.end_row();

                urls_changed |= url_field_ui(
                    ui,
                    "Sub-stream URL",
                    &mut self.sub_url,
                    "optional, played in the grid",
                );
            });
        if urls_changed {
            self.move_credentials_out_of_urls();
        }
        if let Some(note) = &self.moved_note {
            ui.label(egui::RichText::new(note.as_str()).weak());
        }
        ui.label(
            egui::RichText::new("The password is kept in the OS keychain, never in the config.")
                .weak(),
        );
        self.test_result_ui(ui);
        if let Some(error) = &self.error {
            ui.label(egui::RichText::new(error.as_str()).color(ERROR_COLOR));
        }
        ui.separator();
        let mut cancelled = false;
        ui.horizontal(|ui| {
            let testable = url_problem(&self.url).is_none() && !self.url.trim().is_empty();
            if ui
                .add_enabled(
                    testable && self.test.is_none(),
                    egui::Button::new("Test connection"),
                )
                .on_hover_text("Connect, play a few pictures and tear down")
                .clicked()
            {
                self.start_test(env);
            }
            if ui
                .add_enabled(self.can_save(), egui::Button::new("Save"))
                .clicked()
            {
                self.start_save(env);
            }
            if self.save.is_some() {
                ui.spinner();
                ui.label("saving…");
            }
            if ui.button("Cancel").clicked() {
                cancelled = true;
            }
        });
        cancelled
    }

    /// "Test connection": each request with its status, then the outcome.
    fn test_result_ui(&self, ui: &mut egui::Ui) {
        if self.test.is_some() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("testing the connection…");
            });
            return;
        }
        let Some(report) = &self.test_report else {
            return;
        };
        for method in &report.methods {
            let status = method
                .status
                .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
            ui.label(format!("{}: {status}", method.method));
        }
        let (text, color) = match &report.error {
            Some(_) => (report.summary_line(), ERROR_COLOR),
            None => (
                format!("Connected: {}", report.summary_line()),
                egui::Color32::from_rgb(120, 220, 120),
            ),
        };
        ui.label(egui::RichText::new(text).color(color));
    }
}

const ERROR_COLOR: egui::Color32 = egui::Color32::from_rgb(255, 110, 110);
/// The width of the dialog's text fields; messages under them wrap to it.
const FIELD_WIDTH: f32 = 320.0;

/// A problem with the field above, wrapped to the field's width.
/// A URL row of the form's grid, with the URL's problem (if any) in the row below it;
/// returns whether the text changed.
fn url_field_ui(ui: &mut egui::Ui, label: &str, text: &mut String, hint: &str) -> bool {
    let label = ui.label(label);
    let changed = ui
        .add(
            egui::TextEdit::singleline(text)
                .hint_text(hint)
                .desired_width(FIELD_WIDTH),
        )
        .labelled_by(label.id)
        .changed();
    ui.end_row();
    if let Some(problem) = url_problem(text) {
        ui.label("");
        field_message_ui(ui, problem);
        ui.end_row();
    }
    changed
}

fn field_message_ui(ui: &mut egui::Ui, message: String) {
    ui.scope(|ui| {
        ui.set_max_width(FIELD_WIDTH);
        ui.add(egui::Label::new(egui::RichText::new(message).color(ERROR_COLOR)).wrap());
    });
}

/// "Enter password…": a password for one camera, used for this session only (kept in the
/// camera's spec in memory, never written anywhere).
pub struct PasswordPrompt {
    /// The tile it is for.
    pub tile: u64,
    camera: String,
    username: String,
    password: SecretField,
}

/// What the password prompt decided.
pub enum PromptOutcome {
    Open,
    Cancelled,
    Use(Credentials),
}

impl PasswordPrompt {
    pub fn new(tile: u64, camera: &str, username: &str) -> Self {
        Self {
            tile,
            camera: camera.to_owned(),
            username: username.to_owned(),
            password: SecretField::default(),
        }
    }

    pub fn show(&mut self, ctx: &egui::Context) -> PromptOutcome {
        let mut open = true;
        let mut outcome = PromptOutcome::Open;
        egui::Window::new(format!("Password for {}", self.camera))
            .id(egui::Id::unique("password_prompt"))
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                ui.label(format!(
                    "The keychain cannot give this camera's password. Type it to connect as \
                     {:?}: it is used for this session only and not stored.",
                    self.username
                ));
                let label = ui.label("Password");
                let field = ui
                    .add(egui::TextEdit::singleline(&mut self.password.0).password(true))
                    .labelled_by(label.id);
                let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                ui.horizontal(|ui| {
                    let ready = !self.password.0.is_empty();
                    if ui
                        .add_enabled(ready, egui::Button::new("Connect"))
                        .clicked()
                        || (entered && ready)
                    {
                        outcome = PromptOutcome::Use(Credentials {
                            username: self.username.clone(),
                            password: std::mem::take(&mut self.password.0),
                        });
                    }
                    if ui.button("Cancel").clicked() {
                        outcome = PromptOutcome::Cancelled;
                    }
                });
            });
        if open {
            outcome
        } else {
            PromptOutcome::Cancelled
        }
    }
}

/// "Remove camera": asks first.
pub struct ConfirmRemove {
    pub tile: u64,
    pub camera: String,
}

impl ConfirmRemove {
    /// `Some(true)`: remove; `Some(false)`: keep; `None`: still asking.
    pub fn show(&self, ctx: &egui::Context) -> Option<bool> {
        let mut open = true;
        let mut answer = None;
        egui::Window::new("Remove camera")
            .id(egui::Id::unique("confirm_remove"))
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                ui.label(format!(
                    "Remove {:?} from the config? Its password is deleted from the keychain.",
                    self.camera
                ));
                ui.horizontal(|ui| {
                    if ui.button("Remove").clicked() {
                        answer = Some(true);
                    }
                    if ui.button("Keep").clicked() {
                        answer = Some(false);
                    }
                });
            });
        if open {
            answer
        } else {
            Some(false)
        }
    }
}

/// What each transport means for the picture, for the transport picker.
fn transport_hint(transport: Transport) -> &'static str {
    match transport {
        Transport::Tcp => {
            "RTP inside the RTSP connection: nothing is lost, and it passes firewalls"
        }
        Transport::Udp => "RTP on ports of its own: the least delay, but a lost packet stays lost",
        Transport::Auto => {
            "UDP first; TCP when the camera refuses UDP, sends nothing over it, or keeps losing \
             packets"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_messages_are_precise() {
        assert_eq!(url_problem(""), None);
        assert_eq!(url_problem("rtsp://192.0.2.10/live"), None);
        assert!(url_problem("192.0.2.10/live")
            .unwrap()
            .starts_with("missing scheme"));
        let scheme = url_problem("http://192.0.2.10/").unwrap();
        assert!(scheme.contains("unsupported scheme \"http\""), "{scheme}");
        let port = url_problem("rtsp://192.0.2.10:99999/").unwrap();
        assert!(port.contains("invalid port"), "{port}");
    }

    #[test]
    fn credentials_pasted_in_a_url_move_to_their_fields() {
        let mut dialog = CameraDialog::add();
        dialog.url = "rtsp://admin:hunter2@192.0.2.10/live".into();
        dialog.sub_url = "rtsp://192.0.2.10/sub".into();
        dialog.move_credentials_out_of_urls();
        assert_eq!(dialog.url, "rtsp://192.0.2.10/live");
        assert_eq!(
            (dialog.username.as_str(), dialog.password.0.as_str()),
            ("admin", "hunter2")
        );
        assert!(dialog.moved_note.is_some());
        let new = dialog.new_camera();
        assert_eq!(new.password.unwrap().expose(), "hunter2");
        assert_eq!(new.sub_url.as_deref(), Some("rtsp://192.0.2.10/sub"));
        // Out of sight even while the rest of the URL is wrong; percent-decoded.
        let (url, credentials) = split_credentials("rtsp://bob:p%40ss@192.0.2.10:99999/x").unwrap();
        assert_eq!(url, "rtsp://192.0.2.10:99999/x");
        assert_eq!(
            (credentials.username.as_str(), credentials.password.as_str()),
            ("bob", "p@ss")
        );
        assert!(split_credentials("rtsp://192.0.2.10:99999/a@b").is_none());
    }

    /// A config written by hand with the password in the URL (the wall plays it): Edit shows
    /// the URL without it and the password in its masked field. Before, the password was on
    /// screen in the URL field for anyone in the room to read.
    #[test]
    fn editing_a_url_with_a_password_shows_it_masked() {
        let camera = CameraConfig {
            name: "Door".into(),
            id: "0123456789abcdef".into(),
            url: "rtsp://admin:hunter2@192.0.2.10/live".into(),
            transport: Transport::Tcp,
            username: None,
            sub_url: None,
            tls_fingerprint: None,
        };
        let dialog = CameraDialog::edit(&camera);
        assert_eq!(dialog.url, "rtsp://192.0.2.10/live");
        assert_eq!(
            (dialog.username.as_str(), dialog.password.0.as_str()),
            ("admin", "hunter2")
        );
        assert!(dialog.moved_note.is_some());
    }

    #[test]
    fn editing_keeps_the_stored_password_unless_one_is_typed() {
        let camera = CameraConfig {
            name: "Door".into(),
            id: "0123456789abcdef".into(),
            url: "rtsp://192.0.2.10/live".into(),
            transport: Transport::Udp,
            username: Some("admin".into()),
            sub_url: None,
            tls_fingerprint: None,
        };
        let dialog = CameraDialog::edit(&camera);
        let new = dialog.new_camera();
        assert!(new.password.is_none());
        assert_eq!(new.transport, Transport::Udp);
        assert_eq!(new.username.as_deref(), Some("admin"));
        assert!(dialog.can_save());
    }
}
