//! The TUI's keys in one place, below the layers that use them: the actions of the main view
//! with their names and default keys, key parsing, and the keymap in force (the defaults with
//! the config file's `keys:` on top). The TUI dispatches through it, and a profile's custom
//! command may not bind a key it holds (`project::profile` checks; `project` cannot import
//! `tui`). Ctrl-C always quits and is in no map, so no file can lock a user in.
//!
//! The backups view and the prompts keep fixed keys: they are short modal lists, and their
//! keys (y/n, enter/esc) are the ones every terminal program uses.

use std::collections::BTreeMap;
use std::fmt;

/// One key press as the keymap sees it: a character (shift is in the character), a character
/// with Ctrl, or a named key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
    Delete,
    Backspace,
    Insert,
    F(u8),
}

/// Named keys as the config file spells them (the first spelling is the one shown).
const NAMED: &[(&str, Key)] = &[
    ("space", Key::Char(' ')),
    ("enter", Key::Enter),
    ("return", Key::Enter),
    ("esc", Key::Esc),
    ("escape", Key::Esc),
    ("tab", Key::Tab),
    ("backtab", Key::BackTab),
    ("shift-tab", Key::BackTab),
    ("up", Key::Up),
    ("down", Key::Down),
    ("left", Key::Left),
    ("right", Key::Right),
    ("home", Key::Home),
    ("end", Key::End),
    ("pageup", Key::PageUp),
    ("pgup", Key::PageUp),
    ("pagedown", Key::PageDown),
    ("pgdn", Key::PageDown),
    ("delete", Key::Delete),
    ("del", Key::Delete),
    ("backspace", Key::Backspace),
    ("insert", Key::Insert),
];

impl Key {
    /// Parses one key: `R`, `?`, `ctrl-r`, `enter`, `esc`, `tab`, `f5`, `space`, `pageup`…
    /// Names are not case-sensitive; a single character is taken as written (`R` is shift-r).
    pub fn parse(text: &str) -> Result<Key, String> {
        let mut chars = text.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            if c.is_whitespace() || c.is_control() {
                return Err(format!("{text:?} is not a key; write space, tab or enter"));
            }
            return Ok(Key::Char(c));
        }
        let lower = text.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("ctrl-").or(lower.strip_prefix("c-")) {
            let mut chars = rest.chars();
            return match (chars.next(), chars.next()) {
                (Some('c'), None) => Err("ctrl-c always quits and cannot be bound".into()),
                (Some(c), None) if c.is_ascii_graphic() => Ok(Key::Ctrl(c)),
                _ => Err(format!(
                    "{text:?} is not a key: ctrl- takes one character, as in ctrl-r"
                )),
            };
        }
        if let Some(n) = lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok())
            && (1..=12).contains(&n)
        {
            return Ok(Key::F(n));
        }
        NAMED
            .iter()
            .find(|(name, _)| *name == lower)
            .map(|(_, key)| *key)
            .ok_or_else(|| {
                format!(
                    "{text:?} is not a key (a character, ctrl-X, f1…f12, space, enter, esc, tab, \
                     up, down, left, right, home, end, pageup, pagedown, delete, backspace)"
                )
            })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Char(' ') => f.write_str("space"),
            Key::Char(c) => write!(f, "{c}"),
            Key::Ctrl(c) => write!(f, "ctrl-{c}"),
            Key::F(n) => write!(f, "f{n}"),
            named => {
                let name = NAMED.iter().find(|(_, k)| k == named).map(|(n, _)| *n);
                f.write_str(name.unwrap_or("?"))
            }
        }
    }
}

macro_rules! actions {
    ($($variant:ident $name:literal [$($key:expr),*] $what:literal;)*) => {
        /// What a key does in the TUI's main view (dashboard and log pane).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Action {
            $(#[doc = $what] $variant,)*
        }

        impl Action {
            /// Every action, in the order the docs and `devtui config show` list them.
            pub const ALL: &[Action] = &[$(Action::$variant,)*];

            /// The name the config file's `keys:` uses.
            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }

            /// The keys it has when the config file does not say.
            pub fn defaults(self) -> &'static [Key] {
                match self {
                    $(Action::$variant => &[$($key),*],)*
                }
            }

            /// One line on what it does, for docs and listings.
            pub fn what(self) -> &'static str {
                match self {
                    $(Action::$variant => $what,)*
                }
            }
        }
    };
}

use Key::Char as C;

actions! {
    Quit "quit" [C('q')] "quit (Ctrl-C always quits too)";
    Help "help" [C('?')] "this help";
    CommandPrompt "command_prompt" [C(':')] "the : command line";
    SwitchFocus "switch_focus" [Key::Tab, Key::BackTab] "services ⇄ logs";
    Back "back" [Key::Esc] "clear search, then filter, then close the log pane";
    Down "down" [C('j'), Key::Down] "next service / scroll down";
    Up "up" [C('k'), Key::Up] "previous service / scroll up";
    Top "top" [C('g'), Key::Home] "first service / oldest line";
    Bottom "bottom" [C('G'), Key::End] "last service / resume follow";
    PageUp "page_up" [Key::PageUp] "logs: a page up";
    PageDown "page_down" [Key::PageDown] "logs: a page down";
    HalfPageUp "half_page_up" [Key::Ctrl('u')] "logs: half a page up";
    HalfPageDown "half_page_down" [Key::Ctrl('d')] "logs: half a page down";
    OpenLogs "open_logs" [Key::Enter, C('l')] "follow the selected service's logs";
    Mark "mark" [C(' ')] "mark a service for the merged view";
    Expand "expand" [C('+')] "show a scaled service's replicas, or hide them";
    LogsMerged "logs_merged" [C('L')] "merged logs (marked services, or all)";
    Exec "exec" [C('e')] "a shell in the service (bash, else sh)";
    Restart "restart" [C('r')] "restart the service";
    StartStop "start_stop" [C('s')] "stop the service, or start it";
    Rebuild "rebuild" [C('b')] "rebuild the service's image";
    Mode "mode" [C('m')] "run the service natively ⇄ in its container";
    Reload "reload" [C('W')] "hot reload of the service on/off";
    OpenUrl "open_url" [C('o')] "open the service's URL in the browser";
    Backups "backups" [C('B')] "the service's backups";
    Reset "reset" [C('X')] "wipe the service's volumes";
    Search "search" [C('/')] "logs: search (regex)";
    Filter "filter" [C('f'), C('&')] "logs: filter lines (regex)";
    NextMatch "next_match" [C('n')] "logs: older match";
    PrevMatch "prev_match" [C('N')] "logs: newer match";
    Timestamps "timestamps" [C('t')] "logs: timestamps on/off";
    Wrap "wrap" [C('w')] "logs: wrap on/off";
    Ansi "ansi" [C('a')] "logs: the containers' colours on/off";
    Save "save" [C('S')] "logs: save the pane's lines to a file";
}

impl Action {
    /// The action named `name` in the config file.
    pub fn by_name(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.name() == name)
    }
}

/// The keys in force: each action's keys, and the keys the config file gives profile
/// commands (`run.NAME`), which win over the profile's own `key:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    actions: BTreeMap<Action, Vec<Key>>,
    commands: BTreeMap<String, Key>,
}

impl Default for Keymap {
    fn default() -> Self {
        Self {
            actions: Action::ALL
                .iter()
                .map(|a| (*a, a.defaults().to_vec()))
                .collect(),
            commands: BTreeMap::new(),
        }
    }
}

/// Why a binding was refused (the config file adds where).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash(pub String);

impl Keymap {
    /// No key bound at all: for callers that use no key.
    pub fn empty() -> Self {
        Self {
            actions: BTreeMap::new(),
            commands: BTreeMap::new(),
        }
    }

    /// Binds `action` to `keys` alone: its default keys are freed.
    pub fn bind(&mut self, action: Action, keys: Vec<Key>) -> Result<(), Clash> {
        for key in &keys {
            if let Some(other) = self.action(*key).filter(|o| *o != action) {
                // A default the file did not remap yet may be taken: it is freed if the file
                // remaps its action later, which `check` sees.
                if other.defaults().contains(key) && self.actions[&other] == other.defaults() {
                    continue;
                }
                return Err(Clash(format!("{key} is already {}'s key", other.name())));
            }
            if let Some(name) = self
                .commands
                .iter()
                .find(|(_, k)| *k == key)
                .map(|(n, _)| n)
            {
                return Err(Clash(format!("{key} is already run.{name}'s key")));
            }
        }
        self.actions.insert(action, keys);
        Ok(())
    }

    /// Binds profile command `name` to `key`, in place of the profile's own key.
    pub fn bind_command(&mut self, name: &str, key: Key) -> Result<(), Clash> {
        if let Some(other) = self.action(key) {
            return Err(Clash(format!("{key} is already {}'s key", other.name())));
        }
        if let Some(other) = self
            .commands
            .iter()
            .find(|(_, k)| **k == key)
            .map(|(n, _)| n)
        {
            return Err(Clash(format!("{key} is already run.{other}'s key")));
        }
        self.commands.insert(name.to_string(), key);
        Ok(())
    }

    /// Two actions left on one key (a default kept while another action took it).
    pub fn first_clash(&self) -> Option<(Action, Action, Key)> {
        let mut seen: BTreeMap<Key, Action> = BTreeMap::new();
        for (action, keys) in &self.actions {
            for key in keys {
                if let Some(other) = seen.insert(*key, *action) {
                    return Some((other, *action, *key));
                }
            }
        }
        None
    }

    /// The action `key` performs, if any.
    pub fn action(&self, key: Key) -> Option<Action> {
        self.actions
            .iter()
            .find(|(_, keys)| keys.contains(&key))
            .map(|(a, _)| *a)
    }

    /// The keys of `action`.
    pub fn keys(&self, action: Action) -> &[Key] {
        self.actions.get(&action).map_or(&[], Vec::as_slice)
    }

    /// The first key of `action`, for a message that names one.
    pub fn key_name(&self, action: Action) -> String {
        self.keys(action)
            .first()
            .map_or_else(|| "no key".into(), Key::to_string)
    }

    /// Whether `action` has its default keys.
    pub fn is_default(&self, action: Action) -> bool {
        self.keys(action) == action.defaults()
    }

    /// The keys of `action` as the help and hints show them: `R`, `j, down`.
    pub fn label(&self, action: Action) -> String {
        let keys: Vec<String> = self.keys(action).iter().map(Key::to_string).collect();
        keys.join(", ")
    }

    /// Whether character `c` belongs to an action: a profile's command may not take it.
    pub fn is_built_in(&self, c: char) -> bool {
        self.action(Key::Char(c)).is_some()
    }

    /// The key the config file gives profile command `name`, if any.
    pub fn command_key(&self, name: &str) -> Option<Key> {
        self.commands.get(name).copied()
    }

    /// The `run.NAME` bindings of the config file.
    pub fn commands(&self) -> &BTreeMap<String, Key> {
        &self.commands
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_print_back() {
        for (text, key) in [
            ("R", Key::Char('R')),
            ("?", Key::Char('?')),
            ("ctrl-r", Key::Ctrl('r')),
            ("Ctrl-R", Key::Ctrl('r')),
            ("enter", Key::Enter),
            ("ESC", Key::Esc),
            ("tab", Key::Tab),
            ("f5", Key::F(5)),
            ("space", Key::Char(' ')),
            ("pgdn", Key::PageDown),
        ] {
            assert_eq!(Key::parse(text), Ok(key), "{text}");
            assert_eq!(Key::parse(&key.to_string()), Ok(key), "{key}");
        }
        for bad in ["", "rr", "ctrl-", "ctrl-ab", "f13", "f0", "hyper-x", " "] {
            assert!(Key::parse(bad).is_err(), "{bad:?} parsed");
        }
        let e = Key::parse("ctrl-c").expect_err("reserved");
        assert!(e.contains("always quits"), "{e}");
    }

    #[test]
    fn the_defaults_bind_each_key_once() {
        let map = Keymap::default();
        assert_eq!(map.first_clash(), None);
        assert_eq!(map.action(Key::Char('r')), Some(Action::Restart));
        for a in Action::ALL {
            assert_eq!(Action::by_name(a.name()), Some(*a));
        }
    }

    #[test]
    fn remapping_frees_the_default_key() {
        let mut map = Keymap::default();
        map.bind(Action::Restart, vec![Key::Char('R')])
            .expect("R is free");
        assert_eq!(map.action(Key::Char('R')), Some(Action::Restart));
        assert_eq!(map.action(Key::Char('r')), None);
        assert!(!map.is_built_in('r'));
        // `q` stays quit's unless quit moves too.
        map.bind(Action::Rebuild, vec![Key::Char('q')])
            .expect("deferred");
        assert_eq!(
            map.first_clash(),
            Some((Action::Quit, Action::Rebuild, Key::Char('q')))
        );
        map.bind(Action::Quit, vec![Key::Char('Q')])
            .expect("Q is free");
        assert_eq!(map.first_clash(), None);
        let e = map
            .bind(Action::Exec, vec![Key::Char('R')])
            .expect_err("taken");
        assert_eq!(e.0, "R is already restart's key");
        map.bind_command("psql", Key::Char('p')).expect("free");
        assert!(map.bind_command("other", Key::Char('p')).is_err());
        assert!(map.bind(Action::Exec, vec![Key::Char('p')]).is_err());
    }
}
