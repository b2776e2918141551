//! Operations shared by the CLI and the TUI.

pub mod actions;
pub mod doctor;
pub mod down;
pub mod exec;
pub mod native;
pub mod native_control;
pub mod preflight;
pub mod status;
pub mod up;
