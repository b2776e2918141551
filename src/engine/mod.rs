//! The engine layer: the bollard client, the compose CLI driver and the event stream.
//!
//! Lifecycle (up, down, build, config) goes through the real `docker compose` CLI
//! (`compose`); observation and control through the Engine API (`client`, `watch`, `logs`,
//! `stats`, `exec`). `model` holds the types the rest of devtui sees.

pub mod client;
pub mod compose;
pub mod exec;
pub mod logs;
pub mod model;
pub mod pipe;
mod reading_thread;
pub mod stats;
pub mod watch;

pub use model::*;
