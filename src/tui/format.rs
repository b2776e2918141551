//! How numbers are shown, shared by the views and by `update` (which redraws only when a
//! shown value changes).

use time::OffsetDateTime;

use crate::engine::{ContainerState, ServiceStatus};

/// `restart` → `Restart`: the first word of a question.
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// CPU use as shown in the dashboard.
pub fn cpu(percent: f64) -> String {
    format!("{percent:.1}%")
}

/// Uptime of a running container, coarser as it grows.
pub fn uptime(s: &ServiceStatus, now: OffsetDateTime) -> String {
    if s.state != ContainerState::Running {
        return String::new();
    }
    let Some(started) = s.started_at.as_deref().and_then(|t| {
        OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    }) else {
        return String::new();
    };
    let secs = (now - started).whole_seconds().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        // Minutes from here on, so an idle screen changes once a minute, not every second.
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86400, secs % 86400 / 3600),
    }
}

pub fn memory(b: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b}B")
    } else {
        format!("{v:.1}{}", UNITS[unit])
    }
}
