//! The terminal guard: raw mode, alternate screen and mouse capture on entry, restored on every
//! exit path (drop, panic hook, and the app loop's signal handling), suspended around an exec.

use std::io::{Stdout, stdout};

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::Show;
use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::{DefaultTerminal, Terminal};

/// Owns the terminal while the TUI is up; dropping it restores the terminal.
pub struct TerminalGuard {
    pub terminal: DefaultTerminal,
}

/// Undo everything `enter` did; safe to call more than once.
fn restore() {
    let _ = execute!(stdout(), DisableMouseCapture, Show);
    ratatui::restore();
}

impl TerminalGuard {
    pub fn enter() -> std::io::Result<Self> {
        // ratatui's hook restores raw mode and the screen; ours also releases the mouse and
        // shows the cursor, then hands over to the previous hooks.
        let terminal = ratatui::try_init()?;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        if let Err(e) = execute!(stdout(), EnableMouseCapture) {
            restore();
            return Err(e);
        }
        Ok(Self { terminal })
    }

    /// Gives the terminal to a child (an exec shell): main screen, no mouse, cursor shown.
    /// Raw mode stays on so every key reaches the shell's own TTY.
    pub fn suspend(&mut self) -> std::io::Result<()> {
        let out: &mut Stdout = &mut stdout();
        execute!(out, DisableMouseCapture, LeaveAlternateScreen, Show)
    }

    /// Takes the terminal back after `suspend` and forces a full redraw.
    pub fn resume(&mut self) -> std::io::Result<()> {
        execute!(
            stdout(),
            EnterAlternateScreen,
            EnableMouseCapture,
            Clear(ClearType::All)
        )?;
        // A fresh Terminal has blank buffers, so the next frame is drawn whole. (`clear()`
        // would query the cursor position, a read of stdin that can time out here.)
        self.terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
        Ok(())
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}
