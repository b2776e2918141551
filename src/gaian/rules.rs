//! Reward rules: YAML parsing with file:line:col errors, the reward computation in integer
//! micro-SILA, and a handle that swaps in new rules when the file changes.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;
use tokio_util::sync::CancellationToken;

use super::money::{MICRO, parse_micro};

/// The rules compiled into the binary (assets/gaian/config.yaml).
pub const EMBEDDED: &str = include_str!("../../assets/gaian/config.yaml");

/// Largest single reward a rule may produce, so sums stay far from i64 overflow.
const MAX_REWARD_MICRO: i128 = 1_000_000_000 * MICRO as i128;
/// Quiet time after a file event before reloading, so an editor's burst of writes is one reload.
const RELOAD_DEBOUNCE: Duration = Duration::from_millis(150);

/// One action's reward rule, amounts in micro-SILA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub description: String,
    pub base_reward: i64,
    /// Millionths: 1_000_000 is ×1.
    pub quantity_multiplier: i64,
    pub max_quantity: i64,
    pub daily_cap: Option<i64>,
    /// Millionths: 1_000_000 is no decay.
    pub decay: i64,
}

/// What one action earns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reward {
    pub micro: i64,
    /// True when the daily cap cut the reward.
    pub capped: bool,
}

impl Rule {
    /// The reward for the `nth` (1-based) action of this kind by one player today, who has
    /// earned `earned_today` from it so far. Integer arithmetic, rounded down at each step.
    pub fn reward(&self, quantity: i64, nth: i64, earned_today: i64) -> Reward {
        let million = i128::from(MICRO);
        let mut value = i128::from(self.base_reward) * i128::from(self.quantity_multiplier)
            / million
            * i128::from(quantity);
        let mut step = 1;
        // decay 1.0 leaves the value as it is: no need to walk the day's actions.
        while step < nth && value > 0 && self.decay != MICRO {
            value = value * i128::from(self.decay) / million;
            step += 1;
        }
        let full = i64::try_from(value.min(MAX_REWARD_MICRO)).unwrap_or(i64::MAX);
        match self.daily_cap {
            Some(cap) => {
                let room = (cap - earned_today).max(0);
                Reward {
                    micro: full.min(room),
                    capped: full > room,
                }
            }
            None => Reward {
                micro: full,
                capped: false,
            },
        }
    }
}

/// Where the active rules came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Embedded,
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Embedded => f.write_str("embedded"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A complete, validated rule set.
#[derive(Debug, Clone)]
pub struct Rules {
    pub source: Source,
    pub loaded_at: String,
    pub actions: BTreeMap<String, Rule>,
}

/// A rules file that cannot be used, with the place in it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct RulesError {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

/// A decimal amount as written in YAML, kept as text so no float ever touches it.
#[derive(Debug, Clone)]
struct Decimal(String);

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a decimal number such as 5 or \"0.25\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Decimal, E> {
                Ok(Decimal(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Decimal, E> {
                Ok(Decimal(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Decimal, E> {
                Ok(Decimal(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Decimal, E> {
                // Shortest text that reads back as the same double: what the user wrote.
                Ok(Decimal(format!("{v}")))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    actions: BTreeMap<String, Spanned<RawRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    description: String,
    base_reward: Spanned<Decimal>,
    quantity_multiplier: Option<Spanned<Decimal>>,
    max_quantity: Option<Spanned<i64>>,
    daily_cap: Option<Spanned<Decimal>>,
    decay: Option<Spanned<Decimal>>,
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Rules {
    /// Parses and validates rules text; `file` names it in errors.
    pub fn parse(text: &str, source: Source) -> Result<Rules, RulesError> {
        let file = source.to_string();
        let at = |loc: serde_saphyr::Location, message: String| RulesError {
            file: file.clone(),
            line: loc.line() as u32,
            column: loc.column() as u32,
            message,
        };
        let raw: RawRules = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line() as u32, l.column() as u32))
                .unwrap_or((1, 1));
            RulesError {
                file: file.clone(),
                line,
                column,
                message: first_line(&e.to_string()),
            }
        })?;
        if raw.actions.is_empty() {
            return Err(RulesError {
                file: file.clone(),
                line: 1,
                column: 1,
                message: "`actions` is empty: define at least one action".into(),
            });
        }
        let mut actions = BTreeMap::new();
        for (name, spanned) in raw.actions {
            let here = spanned.referenced;
            let r = spanned.value;
            if name.is_empty()
                || name.len() > 64
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
            {
                return Err(at(
                    here,
                    format!("action name `{name}` must be 1-64 characters of A-Z a-z 0-9 _ - ."),
                ));
            }
            let amount = |d: &Spanned<Decimal>, what: &str| {
                parse_micro(&d.value.0).map_err(|m| at(d.referenced, format!("{what}: {m}")))
            };
            let base_reward = amount(&r.base_reward, "base_reward")?;
            let quantity_multiplier = match &r.quantity_multiplier {
                Some(m) => amount(m, "quantity_multiplier")?,
                None => MICRO,
            };
            let max_quantity = match &r.max_quantity {
                Some(q) if q.value < 1 || q.value > 1_000_000 => {
                    return Err(at(
                        q.referenced,
                        format!("max_quantity {} must be between 1 and 1000000", q.value),
                    ));
                }
                Some(q) => q.value,
                None => 1000,
            };
            let daily_cap = r
                .daily_cap
                .as_ref()
                .map(|c| amount(c, "daily_cap"))
                .transpose()?;
            let decay = match &r.decay {
                Some(d) => {
                    let v = amount(d, "decay")?;
                    if v == 0 || v > MICRO {
                        return Err(at(
                            d.referenced,
                            format!("decay {} must be above 0 and at most 1", d.value.0),
                        ));
                    }
                    v
                }
                None => MICRO,
            };
            let largest = i128::from(base_reward) * i128::from(quantity_multiplier)
                / i128::from(MICRO)
                * i128::from(max_quantity);
            if largest > MAX_REWARD_MICRO {
                return Err(at(
                    here,
                    format!("action `{name}` can reward more than 1000000000 SILA at once"),
                ));
            }
            actions.insert(
                name,
                Rule {
                    description: r.description,
                    base_reward,
                    quantity_multiplier,
                    max_quantity,
                    daily_cap,
                    decay,
                },
            );
        }
        Ok(Rules {
            source,
            loaded_at: now_rfc3339(),
            actions,
        })
    }

    /// The embedded default rules.
    pub fn embedded() -> Rules {
        Self::parse(EMBEDDED, Source::Embedded).unwrap_or_else(|e| {
            // The embedded file is checked by a unit test; this cannot happen in a release.
            panic!("embedded rules are invalid: {e}")
        })
    }

    /// Reads and parses a rules file.
    pub fn load(path: &Path) -> Result<Rules, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|e| RulesError {
            file: path.display().to_string(),
            line: 1,
            column: 1,
            message: format!("cannot read the rules file: {e}"),
        })?;
        Self::parse(&text, Source::File(path.to_path_buf()))
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
        .to_string()
}

/// The active rules, shared by every request and replaced whole on reload.
#[derive(Debug, Clone)]
pub struct RulesHandle {
    inner: Arc<RwLock<HandleState>>,
}

#[derive(Debug)]
struct HandleState {
    rules: Arc<Rules>,
    reload_error: Option<String>,
}

impl RulesHandle {
    pub fn new(rules: Rules) -> Self {
        Self {
            inner: Arc::new(RwLock::new(HandleState {
                rules: Arc::new(rules),
                reload_error: None,
            })),
        }
    }

    /// The rules in force now.
    pub fn current(&self) -> Arc<Rules> {
        match self.inner.read() {
            Ok(s) => s.rules.clone(),
            Err(poisoned) => poisoned.into_inner().rules.clone(),
        }
    }

    /// The error of the last rejected reload, cleared by the next good one.
    pub fn reload_error(&self) -> Option<String> {
        match self.inner.read() {
            Ok(s) => s.reload_error.clone(),
            Err(poisoned) => poisoned.into_inner().reload_error.clone(),
        }
    }

    /// Re-reads `path`; keeps the old rules and records the error when the new file is bad.
    pub fn reload(&self, path: &Path) -> Result<(), RulesError> {
        let result = Rules::load(path);
        let mut state = match self.inner.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        match result {
            Ok(rules) => {
                state.rules = Arc::new(rules);
                state.reload_error = None;
                Ok(())
            }
            Err(e) => {
                state.reload_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Watches `path` and reloads on every change until `cancel` fires. Watches the parent
    /// directory, so editors that replace the file (write temp, rename) are seen too.
    pub fn watch(&self, path: PathBuf, cancel: CancellationToken) -> Result<(), notify::Error> {
        use notify::Watcher;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let name = path.file_name().map(|n| n.to_os_string());
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event {
                    let ours = event
                        .paths
                        .iter()
                        .any(|p| p.file_name().map(|n| n.to_os_string()) == name);
                    if ours && !event.kind.is_access() {
                        let _ = tx.send(());
                    }
                }
            })?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        watcher.watch(&dir, notify::RecursiveMode::NonRecursive)?;
        let handle = self.clone();
        tokio::spawn(async move {
            let _watcher = watcher;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    got = rx.recv() => if got.is_none() { break },
                }
                tokio::time::sleep(RELOAD_DEBOUNCE).await;
                while rx.try_recv().is_ok() {}
                let p = path.clone();
                let h = handle.clone();
                let result = tokio::task::spawn_blocking(move || h.reload(&p)).await;
                match result {
                    Ok(Ok(())) => tracing::info!(file = %path.display(), "rules reloaded"),
                    Ok(Err(e)) => {
                        tracing::error!("rules not reloaded, the previous rules stay in force: {e}")
                    }
                    Err(e) => tracing::error!("rules reload task failed: {e}"),
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(cap: Option<i64>, decay: i64) -> Rule {
        Rule {
            description: String::new(),
            base_reward: 5 * MICRO,
            quantity_multiplier: MICRO,
            max_quantity: 100,
            daily_cap: cap,
            decay,
        }
    }

    #[test]
    fn embedded_rules_are_valid() {
        let rules = Rules::embedded();
        assert!(rules.actions.contains_key("plant_tree"));
    }

    #[test]
    fn reward_decays_and_caps_exactly() {
        let r = rule(Some(12 * MICRO), 900_000);
        assert_eq!(
            r.reward(1, 1, 0),
            Reward {
                micro: 5_000_000,
                capped: false
            }
        );
        assert_eq!(
            r.reward(1, 2, 5_000_000),
            Reward {
                micro: 4_500_000,
                capped: false
            }
        );
        assert_eq!(
            r.reward(2, 3, 9_500_000),
            Reward {
                micro: 2_500_000,
                capped: true
            }
        );
        assert_eq!(
            r.reward(1, 9, 12 * MICRO),
            Reward {
                micro: 0,
                capped: true
            }
        );
        let none = rule(None, MICRO);
        assert_eq!(none.reward(3, 50, 0).micro, 15 * MICRO);
    }

    #[test]
    fn errors_name_line_and_column() {
        let bad = "actions:\n  a:\n    base_reward: \"1\"\n    decay: \"1.5\"\n";
        let e = Rules::parse(bad, Source::File("r.yaml".into())).unwrap_err();
        assert_eq!((e.line, e.column), (4, 12), "{e}");
        assert!(e.to_string().starts_with("r.yaml:4:12: decay"), "{e}");
        let syntax = "actions:\n  a:\n    base_reward: [\n";
        let e = Rules::parse(syntax, Source::File("r.yaml".into())).unwrap_err();
        assert!(e.line >= 3, "{e}");
        let unknown = "actions:\n  a:\n    base_rewrd: 1\n";
        let e = Rules::parse(unknown, Source::File("r.yaml".into())).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
    }
}
