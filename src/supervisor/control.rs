//! Native services live inside the devtui that started them, and the engine knows nothing of
//! them. So that `devtui status`, `restart`, `stop`, `start`, `open`, `exec`, `down` and a
//! TUI run from another terminal still see and reach them, that devtui answers on a Unix
//! socket (as overmind does with `.overmind.sock`): one per compose project name, the
//! engine's own key for a project, in a 0700 directory under the state directory. One JSON
//! line asks; one line answers, or a line per change for as long as the asker listens
//! (status, logs, stats).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::Control;
use super::observe::{self, Native};
use super::set::NativeSet;
use crate::engine::ServiceStatus;
use crate::engine::logs::LogEvent;
use crate::engine::stats::Stats;
use crate::exit::{self, Failure};

/// What switches a service between native (`true`) and container for a `devtui mode` run
/// elsewhere: given by `ops` (the supervisor does not start containers itself).
pub type ModeHandler = Arc<
    dyn Fn(String, bool) -> std::pin::Pin<Box<dyn Future<Output = Result<String, String>> + Send>>
        + Send
        + Sync,
>;

/// A mode switch waits for the other side to be healthy: a build, a health check.
const MODE_WAIT: Duration = Duration::from_secs(300);

/// A request line longer than this is not one of ours.
const MAX_REQUEST: u64 = 64 * 1024;
/// Status is answered from memory; an action waits for the process (`native::perform`).
const STATUS_WAIT: Duration = Duration::from_secs(5);
const ACTION_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "lowercase")]
enum Request {
    Status,
    Act {
        service: String,
        control: Control,
    },
    /// A `Status` reply now and on every change, until the asker hangs up.
    Watch,
    /// Run `service` natively (`native`) or in its container (`devtui mode`).
    Mode {
        service: String,
        native: bool,
    },
    /// The last `tail` lines of the service's output, then its live lines (unless `follow`
    /// is false: then the reply ends after those lines).
    Logs {
        service: String,
        tail: usize,
        #[serde(default = "yes")]
        follow: bool,
    },
    /// The service's CPU and memory, once a second.
    Stats {
        service: String,
    },
}

/// A devtui from before `follow` existed always followed.
fn yes() -> bool {
    true
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "lowercase")]
enum Reply {
    Status {
        pid: u32,
        services: Vec<ServiceStatus>,
    },
    Done {
        message: String,
    },
    Failed {
        error: String,
    },
    /// The service is not one of this devtui's native services.
    Unknown,
    Logs {
        event: LogEvent,
    },
    Stats {
        stats: Stats,
    },
}

/// The native services another devtui runs for a project.
#[derive(Debug, Clone)]
pub struct Remote {
    /// That devtui's process id.
    pub pid: u32,
    pub services: Vec<ServiceStatus>,
}

impl Remote {
    pub fn get(&self, service: &str) -> Option<&ServiceStatus> {
        self.services.iter().find(|s| s.service == service)
    }
}

/// The socket of `project`'s native services.
pub fn socket_path(project: &str) -> PathBuf {
    crate::paths::state_dir()
        .join("native")
        .join(format!("{project}.sock"))
}

/// The socket file, removed when devtui stops answering on it.
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `project`'s socket, bound but not answering yet: `up` takes it before it touches
/// anything, so that a second devtui for the same project fails first.
pub struct Claim {
    listener: UnixListener,
    file: SocketFile,
}

/// Answers while it lives; dropping it stops answering and removes the socket.
pub struct Server {
    _file: SocketFile,
    _stop: DropGuard,
}

/// Takes `project`'s socket. Fails when another live devtui answers there; a socket left by
/// a devtui that was killed is replaced.
pub fn claim(project: &str) -> Result<Claim, Failure> {
    claim_at(&socket_path(project), project)
}

fn claim_at(path: &Path, project: &str) -> Result<Claim, Failure> {
    let failure = |what: &str, e: std::io::Error| {
        Failure::new(exit::FAILED, format!("{what} {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| failure("cannot create", e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| failure("cannot restrict", e))?;
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(Failure::new(
            exit::FAILED,
            format!(
                "another devtui already runs native services of project {project} \
                 (it answers on {}); quit it first, or see them with `devtui status`",
                path.display()
            ),
        ));
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(failure("cannot replace the stale socket", e)),
    }
    let listener = UnixListener::bind(path).map_err(|e| failure("cannot listen on", e))?;
    Ok(Claim {
        listener,
        file: SocketFile(path.to_path_buf()),
    })
}

impl Claim {
    /// Answers for `natives` from now on (as the set changes); `mode` switches a service
    /// between native and container for a `devtui mode` run elsewhere.
    pub fn serve(self, natives: NativeSet, mode: ModeHandler) -> Server {
        let Claim { listener, file } = self;
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(e) => {
                            // Out of descriptors, say: wait rather than spin.
                            tracing::warn!(error = %e, "native control socket: accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let (natives, mode) = (natives.clone(), mode.clone());
                tokio::spawn(stop.child_token().run_until_cancelled_owned(async move {
                    if let Err(e) = answer(stream, &natives, &mode).await {
                        tracing::debug!(error = %e, "native control socket: request failed");
                    }
                }));
            }
        });
        Server {
            _file: file,
            _stop: cancel.drop_guard(),
        }
    }
}

async fn answer(stream: UnixStream, set: &NativeSet, mode: &ModeHandler) -> std::io::Result<()> {
    let natives = &set.all()[..];
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read.take(MAX_REQUEST));
    let mut line = String::new();
    read.read_line(&mut line).await?;
    let request = match serde_json::from_str::<Request>(&line) {
        Ok(request) => request,
        Err(e) => {
            let error = format!("not a request: {e}");
            return send(&mut write, &Reply::Failed { error }).await;
        }
    };
    let find = |service: &str| natives.iter().find(|n| n.service.name == service).cloned();
    // A stream's tasks end with the connection.
    let cancel = CancellationToken::new();
    let _stop = cancel.clone().drop_guard();
    let (tx, mut rx) = mpsc::channel::<Reply>(16);
    match request {
        Request::Status => return send(&mut write, &status_reply(natives)).await,
        Request::Mode { service, native } => {
            let reply = match mode(service, native).await {
                Ok(message) => Reply::Done { message },
                Err(error) => Reply::Failed { error },
            };
            return send(&mut write, &reply).await;
        }
        Request::Act { service, control } => {
            let reply = match find(&service) {
                None => Reply::Unknown,
                Some(native) => match super::lifecycle::perform(&native, control).await {
                    Ok(message) => Reply::Done { message },
                    Err(error) => Reply::Failed { error },
                },
            };
            return send(&mut write, &reply).await;
        }
        Request::Watch => {
            tokio::spawn(watch_set(set.clone(), cancel.clone(), tx));
        }
        Request::Logs {
            service,
            tail,
            follow,
        } => {
            let Some(native) = find(&service) else {
                return send(&mut write, &Reply::Unknown).await;
            };
            if !follow {
                let event = LogEvent::Lines(observe::history(&native, tail));
                send(&mut write, &Reply::Logs { event }).await?;
                let event = LogEvent::Ended(None);
                return send(&mut write, &Reply::Logs { event }).await;
            }
            let follow = observe::follow_logs(native, tail, cancel.child_token(), tx, |event| {
                Reply::Logs { event }
            });
            tokio::spawn(follow);
        }
        Request::Stats { service } => {
            let Some(native) = find(&service) else {
                return send(&mut write, &Reply::Unknown).await;
            };
            let follow = observe::follow_stats(native, cancel.child_token(), tx, |stats| {
                Reply::Stats { stats }
            });
            tokio::spawn(follow);
        }
    }
    let mut hangup = [0u8; 64];
    loop {
        tokio::select! {
            reply = rx.recv() => match reply {
                Some(reply) => send(&mut write, &reply).await?,
                None => return Ok(()),
            },
            // The asker sends nothing more: a read returns only when it hangs up.
            n = read.read(&mut hangup) => if matches!(n, Ok(0) | Err(_)) { return Ok(()) },
        }
    }
}

/// A `Status` reply on every change of a native service, and when the set itself changes (a
/// mode switch): then the watchers follow the new set.
async fn watch_set(set: NativeSet, cancel: CancellationToken, tx: mpsc::Sender<Reply>) {
    let mut members = set.subscribe();
    loop {
        let natives = set.all();
        let generation = cancel.child_token();
        let (changed_tx, mut changed) = mpsc::channel(1);
        for native in &natives {
            observe::watch(
                native.clone(),
                generation.child_token(),
                changed_tx.clone(),
                |_| (),
            );
        }
        if natives.is_empty() && tx.send(status_reply(&natives)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                Some(()) = changed.recv() => {
                    // Several changes at once make one reply.
                    while changed.try_recv().is_ok() {}
                    if tx.send(status_reply(&natives)).await.is_err() {
                        return;
                    }
                }
                moved = members.changed() => {
                    generation.cancel();
                    if moved.is_err() {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

fn status_reply(natives: &[Arc<Native>]) -> Reply {
    Reply::Status {
        pid: std::process::id(),
        // In the order `up` started them.
        services: natives.iter().map(super::lifecycle::status).collect(),
    }
}

async fn send(write: &mut OwnedWriteHalf, reply: &Reply) -> std::io::Result<()> {
    let mut text = serde_json::to_string(reply).map_err(std::io::Error::other)?;
    text.push('\n');
    write.write_all(text.as_bytes()).await
}

/// Sends `request` to the devtui answering on `path`: `None` when none does (no socket, or
/// one left by a devtui that is gone).
async fn ask(path: &Path, request: &Request, wait: Duration) -> Option<Result<Reply, String>> {
    let mut stream = UnixStream::connect(path).await.ok()?;
    let exchange = async {
        let mut text = serde_json::to_string(request).map_err(|e| e.to_string())?;
        text.push('\n');
        stream
            .write_all(text.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .await
            .map_err(|e| e.to_string())?;
        serde_json::from_str::<Reply>(&line).map_err(|e| format!("unexpected answer: {e}"))
    };
    Some(match tokio::time::timeout(wait, exchange).await {
        Ok(reply) => reply.map_err(|e| format!("the devtui on {}: {e}", path.display())),
        Err(_) => Err(format!(
            "the devtui on {} did not answer within {wait:?}",
            path.display()
        )),
    })
}

/// The native services another devtui runs for `project`, if one does.
pub async fn status(project: &str) -> Option<Remote> {
    status_at(&socket_path(project)).await
}

async fn status_at(path: &Path) -> Option<Remote> {
    match ask(path, &Request::Status, STATUS_WAIT).await? {
        Ok(Reply::Status { pid, services }) => Some(Remote { pid, services }),
        Ok(other) => {
            tracing::debug!(reply = ?other, "native control socket: not a status");
            None
        }
        Err(e) => {
            tracing::debug!(error = %e, "native control socket");
            None
        }
    }
}

/// Stops, starts or restarts `service` in the devtui that runs it natively: `None` when no
/// devtui runs `service` natively, else that devtui's message or error.
pub async fn act(project: &str, service: &str, control: Control) -> Option<Result<String, String>> {
    act_at(&socket_path(project), service, control).await
}

async fn act_at(path: &Path, service: &str, control: Control) -> Option<Result<String, String>> {
    let request = Request::Act {
        service: service.to_string(),
        control,
    };
    match ask(path, &request, ACTION_WAIT).await? {
        Ok(Reply::Done { message }) => Some(Ok(message)),
        Ok(Reply::Failed { error }) => Some(Err(error)),
        Ok(Reply::Unknown) => None,
        Ok(other) => Some(Err(format!("unexpected answer: {other:?}"))),
        Err(e) => Some(Err(e)),
    }
}

/// Sends `request` on `path` and each reply, as `wrap` makes it, through `tx` until the
/// stream ends or `cancel` fires. Returns false when no devtui answers on `path`.
async fn follow<M>(
    path: &Path,
    request: &Request,
    cancel: &CancellationToken,
    tx: &mpsc::Sender<M>,
    wrap: impl Fn(Reply) -> Option<M>,
) -> bool {
    let Ok(mut stream) = UnixStream::connect(path).await else {
        return false;
    };
    let Ok(mut text) = serde_json::to_string(request) else {
        return true;
    };
    text.push('\n');
    if stream.write_all(text.as_bytes()).await.is_err() {
        return true;
    }
    let mut lines = BufReader::new(stream).lines();
    loop {
        let line = tokio::select! {
            () = cancel.cancelled() => return true,
            line = lines.next_line() => line,
        };
        let Ok(Some(line)) = line else { return true };
        let Ok(reply) = serde_json::from_str::<Reply>(&line) else {
            continue;
        };
        if let Some(msg) = wrap(reply)
            && tx.send(msg).await.is_err()
        {
            return true;
        }
    }
}

/// Sends the native services another devtui runs for `project` now and on every change,
/// then an empty list once that devtui is gone (none when it never answered); until
/// `cancel` fires.
pub async fn watch<M, F>(project: String, cancel: CancellationToken, tx: mpsc::Sender<M>, wrap: F)
where
    F: Fn(Vec<ServiceStatus>) -> M,
{
    let path = socket_path(&project);
    let answered = follow(&path, &Request::Watch, &cancel, &tx, |reply| match reply {
        Reply::Status { services, .. } => Some(wrap(services)),
        _ => None,
    })
    .await;
    if answered && !cancel.is_cancelled() {
        let _ = tx.send(wrap(Vec::new())).await;
    }
}

/// Follows the output of `service`, run natively by another devtui, as `observe::follow_logs`
/// does for this one's.
pub async fn follow_logs<M, F>(
    project: String,
    service: String,
    start: crate::engine::logs::LogStart,
    cancel: CancellationToken,
    tx: mpsc::Sender<M>,
    wrap: F,
) where
    F: Fn(LogEvent) -> M,
{
    let path = socket_path(&project);
    let request = Request::Logs {
        service,
        tail: start.tail,
        follow: start.follow,
    };
    let ended = std::sync::atomic::AtomicBool::new(false);
    follow(&path, &request, &cancel, &tx, |reply| match reply {
        Reply::Logs { event } => {
            if matches!(event, LogEvent::Ended(_)) {
                ended.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Some(wrap(event))
        }
        _ => None,
    })
    .await;
    if !cancel.is_cancelled() && !ended.load(std::sync::atomic::Ordering::Relaxed) {
        let gone = LogEvent::Ended(Some("the devtui that runs it has ended".into()));
        let _ = tx.send(wrap(gone)).await;
    }
}

/// Samples `service`, run natively by another devtui, as `observe::follow_stats` does for
/// this one's.
pub async fn follow_stats<M, F>(
    project: String,
    service: String,
    cancel: CancellationToken,
    tx: mpsc::Sender<M>,
    wrap: F,
) where
    F: Fn(Stats) -> M,
{
    let path = socket_path(&project);
    follow(
        &path,
        &Request::Stats { service },
        &cancel,
        &tx,
        |reply| match reply {
            Reply::Stats { stats } => Some(wrap(stats)),
            _ => None,
        },
    )
    .await;
}

/// Asks the devtui running `project`'s native services to run `service` natively or in its
/// container; `None` when no devtui answers for the project.
pub async fn mode(project: &str, service: &str, native: bool) -> Option<Result<String, String>> {
    let request = Request::Mode {
        service: service.to_string(),
        native,
    };
    Some(
        match ask(&socket_path(project), &request, MODE_WAIT).await? {
            Ok(Reply::Done { message }) => Ok(message),
            Ok(Reply::Failed { error }) => Err(error),
            Ok(other) => Err(format!("unexpected answer: {other:?}")),
            Err(e) => Err(e),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_read_as_json_lines() {
        let request = Request::Act {
            service: "gaian".into(),
            control: Control::Restart,
        };
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(
            text,
            r#"{"request":"act","service":"gaian","control":"restart"}"#
        );
        assert!(matches!(
            serde_json::from_str::<Request>(r#"{"request":"status"}"#),
            Ok(Request::Status)
        ));
        assert!(serde_json::from_str::<Request>(r#"{"request":"act","service":"x"}"#).is_err());
    }

    fn sleeper() -> Arc<Native> {
        let service = crate::project::native::NativeService {
            name: "sleeper".into(),
            command: vec!["sleep".into(), "600".into()],
            environment: vec![],
            healthcheck: None,
            working_dir: std::env::temp_dir(),
            watch: None,
        };
        Native::start_with_ports(service, vec![]).unwrap()
    }

    async fn running_pid(path: &Path) -> u32 {
        for _ in 0..100 {
            let remote = status_at(path).await.expect("answers");
            if let Some(pid) = remote.get("sleeper").and_then(|s| s.runtime.pid()) {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sleeper never ran")
    }

    /// A mode handler that says what it was asked.
    fn echo_mode() -> ModeHandler {
        Arc::new(|service, native| {
            Box::pin(async move {
                match native {
                    true => Ok(format!("{service} native")),
                    false => Err(format!("{service} has no container")),
                }
            })
        })
    }

    #[tokio::test]
    async fn another_process_sees_and_controls_the_native_services() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("native").join("demo.sock");
        let native = sleeper();
        let server = claim_at(&path, "demo")
            .expect("claims")
            .serve(NativeSet::new(vec![native.clone()]), echo_mode());
        let mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);

        let first = running_pid(&path).await;
        let remote = status_at(&path).await.unwrap();
        assert_eq!(remote.pid, std::process::id());
        assert_eq!(
            act_at(&path, "sleeper", Control::Restart).await,
            Some(Ok("sleeper restarted".into()))
        );
        assert_ne!(running_pid(&path).await, first, "a new process");
        assert_eq!(
            act_at(&path, "sleeper", Control::Stop).await,
            Some(Ok("sleeper stopped".into()))
        );
        assert!(matches!(
            native.supervisor.status().state,
            crate::supervisor::State::Stopped { .. }
        ));
        assert_eq!(
            act_at(&path, "postgres", Control::Stop).await,
            None,
            "not native here"
        );
        // `devtui mode` elsewhere reaches the handler, both ways.
        let mode = |native| Request::Mode {
            service: "sleeper".into(),
            native,
        };
        let reply = ask(&path, &mode(true), MODE_WAIT).await;
        assert!(
            matches!(&reply, Some(Ok(Reply::Done { message })) if message == "sleeper native"),
            "{reply:?}"
        );
        let reply = ask(&path, &mode(false), MODE_WAIT).await;
        assert!(
            matches!(&reply, Some(Ok(Reply::Failed { error })) if error.contains("no container")),
            "{reply:?}"
        );

        let again = claim_at(&path, "demo")
            .err()
            .expect("one devtui per project");
        assert!(
            again
                .message
                .contains("already runs native services of project demo")
        );

        drop(server);
        assert!(!path.exists(), "the socket goes with the server");
        assert!(status_at(&path).await.is_none());
        native.supervisor.shutdown().await;
    }

    #[tokio::test]
    async fn a_socket_left_by_a_killed_devtui_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        assert!(status_at(&path).await.is_none(), "nobody answers");
        let _server = claim_at(&path, "demo")
            .expect("replaces the stale socket")
            .serve(NativeSet::default(), echo_mode());
        let remote = status_at(&path).await.expect("answers now");
        assert!(remote.services.is_empty());
    }
}
