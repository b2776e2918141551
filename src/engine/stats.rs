//! Container resource usage streamed through the Engine API (about one sample a second).
//!
//! The TUI streams stats only for the services on screen; each stream stops when its
//! `CancellationToken` is cancelled.

use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptionsBuilder;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::model::ContainerId;
use super::reading_thread::ReadingThread;

/// How often the stats thread takes the samples the engine sent meanwhile.
const PACE: Duration = Duration::from_secs(1);
/// How long it runs each time: the samples are already waiting in the sockets.
const GULP: Duration = Duration::from_millis(10);

/// One sample of a container's resource usage.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// CPU use in percent of one core (100.0 = one core busy).
    pub cpu_percent: f64,
    /// Memory in use, page cache excluded (as `docker stats` shows it).
    pub memory_bytes: u64,
    pub memory_limit: u64,
}

/// Streams `container_id`'s stats through `tx` (wrapped by `wrap`) until `cancel` fires or
/// the container stops.
///
/// The reading runs on the stats thread (see `SAMPLER`), not on the caller's runtime.
pub async fn follow<M, F>(
    container_id: ContainerId,
    cancel: CancellationToken,
    tx: mpsc::Sender<M>,
    wrap: F,
) where
    F: Fn(Stats) -> M + Send + 'static,
    M: Send + 'static,
{
    SAMPLER
        .run(move |engine| async move {
            match engine {
                Ok(docker) => read(docker, container_id, cancel, tx, wrap).await,
                Err(e) => tracing::debug!(error = %e, "no engine for stats"),
            }
        })
        .await;
}

/// The thread that reads the stats streams, in a short turn once a second.
///
/// The engine sends each container's sample on its own, about once a second, and each one
/// that landed in a socket woke the TUI's thread: ten containers, ten wake-ups a second, a
/// third of its idle CPU with the decoding. Between turns this thread sleeps without waiting
/// on the sockets, so one wake-up takes all the samples.
static SAMPLER: ReadingThread = ReadingThread::new("devtui-stats", |runtime| {
    loop {
        runtime.block_on(async { tokio::time::sleep(GULP).await });
        // Blocking on purpose: a runtime's timer would be woken by every sample meanwhile.
        std::thread::sleep(PACE - GULP);
    }
});

async fn read<M, F>(
    docker: Docker,
    container_id: ContainerId,
    cancel: CancellationToken,
    tx: mpsc::Sender<M>,
    wrap: F,
) where
    F: Fn(Stats) -> M,
{
    let options = StatsOptionsBuilder::new()
        .stream(true)
        .one_shot(false)
        .build();
    let mut stream = docker.stats(container_id.as_str(), Some(options));
    loop {
        let item = tokio::select! {
            _ = cancel.cancelled() => return,
            item = stream.next() => item,
        };
        match item {
            Some(Ok(sample)) => {
                if let Some(stats) = from_response(&sample)
                    && tx.send(wrap(stats)).await.is_err()
                {
                    return;
                }
            }
            Some(Err(e)) => {
                tracing::debug!(container = %container_id, error = %e, "stats stream ended");
                return;
            }
            None => return,
        }
    }
}

/// Computes CPU % and memory from a sample, as the docker CLI does.
pub fn from_response(s: &ContainerStatsResponse) -> Option<Stats> {
    let cpu = s.cpu_stats.as_ref()?;
    let pre = s.precpu_stats.as_ref();
    let total = cpu
        .cpu_usage
        .as_ref()
        .and_then(|u| u.total_usage)
        .unwrap_or(0);
    let pre_total = pre
        .and_then(|p| p.cpu_usage.as_ref())
        .and_then(|u| u.total_usage)
        .unwrap_or(0);
    let system = cpu.system_cpu_usage.unwrap_or(0);
    let pre_system = pre.and_then(|p| p.system_cpu_usage).unwrap_or(0);
    let cpus = f64::from(cpu.online_cpus.unwrap_or(1).max(1));
    let cpu_delta = total.saturating_sub(pre_total) as f64;
    let system_delta = system.saturating_sub(pre_system) as f64;
    let cpu_percent = if system_delta > 0.0 && pre_system > 0 {
        cpu_delta / system_delta * cpus * 100.0
    } else {
        0.0
    };
    let mem = s.memory_stats.as_ref();
    let usage = mem.and_then(|m| m.usage).unwrap_or(0);
    let cache = mem
        .and_then(|m| m.stats.as_ref())
        .and_then(|st| {
            st.get("inactive_file")
                .or_else(|| st.get("total_inactive_file"))
                .or_else(|| st.get("cache"))
        })
        .copied()
        .unwrap_or(0);
    Some(Stats {
        cpu_percent,
        memory_bytes: usage.saturating_sub(cache),
        memory_limit: mem.and_then(|m| m.limit).unwrap_or(0),
    })
}
