//! A thread of its own for reading engine streams (container logs, stats), with its own
//! runtime and engine client.
//!
//! Every HTTP chunk that lands in a socket wakes the thread waiting on it, even one that only
//! waits for a timer. A reader that sleeps between its turns, blocking, without waiting on
//! its sockets, lets what arrives meanwhile pile up there and takes it in one wake-up; only a
//! thread of its own can sleep so without holding up the screen and the keyboard. Its engine
//! client is its own too: a connection's task runs on the runtime that opened it, and a
//! stream read through a connection of another runtime would cross threads for every chunk.

use std::sync::OnceLock;

use bollard::Docker;
use tokio::runtime::{Handle, Runtime};

use super::client;

pub(super) struct ReadingThread {
    name: &'static str,
    /// What the thread does with its runtime, for the life of the process.
    drive: fn(Runtime),
    runtime: OnceLock<Result<Handle, String>>,
    engine: tokio::sync::OnceCell<Docker>,
}

impl ReadingThread {
    pub const fn new(name: &'static str, drive: fn(Runtime)) -> Self {
        Self {
            name,
            drive,
            runtime: OnceLock::new(),
            engine: tokio::sync::OnceCell::const_new(),
        }
    }

    /// The thread's runtime, the thread started on first use.
    fn handle(&'static self) -> Result<&'static Handle, String> {
        self.runtime
            .get_or_init(|| {
                let failed =
                    |e: std::io::Error| format!("cannot start the {} thread: {e}", self.name);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(failed)?;
                let handle = runtime.handle().clone();
                let drive = self.drive;
                std::thread::Builder::new()
                    .name(self.name.into())
                    .spawn(move || drive(runtime))
                    .map_err(failed)?;
                Ok(handle)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The thread's engine client; call it on the thread's runtime.
    async fn engine(&self) -> Result<Docker, client::Error> {
        self.engine.get_or_try_init(client::connect).await.cloned()
    }

    /// Runs `read` on the thread, given its engine client, or why there is none (the thread
    /// or the client could not start; a thread that cannot start is also logged). Returns
    /// when `read` does; dropping the returned future (its caller gave up) ends `read` too.
    pub async fn run<F, Fut>(&'static self, read: F)
    where
        F: FnOnce(Result<Docker, String>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handle = match self.handle() {
            Ok(handle) => handle,
            Err(e) => {
                tracing::warn!(error = %e, "no reading thread");
                return read(Err(e)).await;
            }
        };
        let reading = handle.spawn(async move {
            let engine = self.engine().await.map_err(|e| e.to_string());
            read(engine).await;
        });
        let _ = tokio_util::task::AbortOnDropHandle::new(reading).await;
    }
}
