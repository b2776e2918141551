//! The native services one devtui runs, shared by everything that acts on them (the TUI,
//! the control socket, `devtui mode`): a mode switch adds or removes one while the others run,
//! and whoever subscribed hears of it.

use std::sync::Arc;

use tokio::sync::watch;

use super::observe::Native;

/// The native services this devtui runs; clones share one set.
#[derive(Clone)]
pub struct NativeSet(Arc<watch::Sender<Vec<Arc<Native>>>>);

impl Default for NativeSet {
    fn default() -> Self {
        NativeSet::new(Vec::new())
    }
}

impl NativeSet {
    pub fn new(natives: Vec<Arc<Native>>) -> NativeSet {
        NativeSet(Arc::new(watch::Sender::new(natives)))
    }

    /// The native process of `service`, if this devtui runs one.
    pub fn find(&self, service: &str) -> Option<Arc<Native>> {
        self.0
            .borrow()
            .iter()
            .find(|n| n.service.name == service)
            .cloned()
    }

    /// Every native service now, in the order they were started.
    pub fn all(&self) -> Vec<Arc<Native>> {
        self.0.borrow().clone()
    }

    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// Adds `native` (replacing one of the same name).
    pub fn insert(&self, native: Arc<Native>) {
        self.0.send_modify(|all| {
            all.retain(|n| n.service.name != native.service.name);
            all.push(native);
        });
    }

    /// Takes `service` out of the set (the caller stops it).
    pub fn remove(&self, service: &str) -> Option<Arc<Native>> {
        let mut removed = None;
        self.0.send_if_modified(|all| {
            let at = all.iter().position(|n| n.service.name == service);
            removed = at.map(|i| all.remove(i));
            removed.is_some()
        });
        removed
    }

    /// Hears of every change of the set.
    pub fn subscribe(&self) -> watch::Receiver<Vec<Arc<Native>>> {
        self.0.subscribe()
    }
}
