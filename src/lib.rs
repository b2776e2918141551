//! devtui: a terminal dev-environment manager for Docker Compose stacks.
//!
//! Lifecycle goes through the real `docker compose` CLI (`engine::compose`), observation and
//! control through the Engine API (`engine`), and the TUI and the CLI share the same `ops`.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod cli;
pub mod config;
pub mod engine;
pub mod exit;
pub mod gaian;
pub mod io;
pub mod keymap;
pub mod ops;
pub mod paths;
pub mod project;
pub mod supervisor;
pub mod tui;
