//! Keys to messages. The whole key map is here, so the help overlay and the README list the
//! same keys ([`KEYS`]).

use super::app::Msg;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// The key map as people read it: (keys, what they do). Shown by `?`.
pub const KEYS: &[(&str, &str)] = &[
    ("q  Esc  Ctrl-C", "quit (Esc first closes help / detail)"),
    ("↑ ↓  j k", "move in the focused panel"),
    ("0 … 9", "select the GPU with that index"),
    (
        ":",
        "go to a GPU by index, UUID or PCI bus id (GPU 12, GPU-fa4e…)",
    ),
    ("Tab", "switch focus: GPUs ⇄ processes"),
    ("Enter  d", "detail view of the selected GPU"),
    ("f", "freeze the view (sampling goes on)"),
    ("o", "charts: selected GPU / every GPU overlaid"),
    ("s", "sort processes by the next column"),
    ("S", "reverse the sort order"),
    ("a", "processes of all GPUs / selected GPU"),
    ("g  G", "first / last row"),
    ("PgUp PgDn", "move by ten rows"),
    ("/", "filter processes (user, owner, command, pid)"),
    ("K  F9", "signal the selected process (asks first)"),
    ("space  ← →  + -", "replay (--trace): pause, seek, speed"),
    ("?", "this help"),
];

/// The message for a terminal event, if it means anything to the dashboard.
pub fn message(event: &Event) -> Option<Msg> {
    message_in(event, false)
}

/// [`message`] while the `:` / `/` prompt may be open (keys edit what was typed) or `k` asks
/// to confirm (y sends SIGTERM, 9 SIGKILL, anything else cancels).
pub fn message_in(event: &Event, jumping: bool) -> Option<Msg> {
    message_for(event, jumping, false)
}

/// [`message_in`], knowing whether a `k` question is open.
pub fn message_for(event: &Event, jumping: bool, confirming: bool) -> Option<Msg> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release && confirming => {
            Some(Msg::KillAnswer(match key.code {
                KeyCode::Char('y') => Some(libc::SIGTERM),
                KeyCode::Char('9') => Some(libc::SIGKILL),
                _ => None,
            }))
        }
        Event::Key(key) if key.kind != KeyEventKind::Release && jumping => jump_message(key),
        Event::Key(key) if key.kind != KeyEventKind::Release => key_message(key),
        Event::Resize(..) => Some(Msg::Resize),
        _ => None,
    }
}

fn jump_message(key: &KeyEvent) -> Option<Msg> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(key.code, KeyCode::Char('c')).then_some(Msg::Quit);
    }
    Some(match key.code {
        KeyCode::Enter => Msg::JumpGo,
        KeyCode::Esc => Msg::Back,
        KeyCode::Backspace => Msg::JumpErase,
        KeyCode::Char(c) => Msg::JumpInput(c),
        _ => return None,
    })
}

fn key_message(key: &KeyEvent) -> Option<Msg> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(key.code, KeyCode::Char('c')).then_some(Msg::Quit);
    }
    Some(match key.code {
        KeyCode::Char('q') => Msg::Quit,
        KeyCode::Esc => Msg::Back,
        KeyCode::Up | KeyCode::Char('k') => Msg::Move(-1),
        KeyCode::Down | KeyCode::Char('j') => Msg::Move(1),
        KeyCode::PageUp => Msg::Move(-10),
        KeyCode::PageDown => Msg::Move(10),
        KeyCode::Home | KeyCode::Char('g') => Msg::Move(i32::MIN / 2),
        KeyCode::End | KeyCode::Char('G') => Msg::Move(i32::MAX / 2),
        KeyCode::Char(c @ '0'..='9') => Msg::PickGpu(c as u32 - '0' as u32),
        KeyCode::Tab | KeyCode::BackTab => Msg::NextFocus,
        KeyCode::Enter | KeyCode::Char('d') => Msg::ToggleDetail,
        KeyCode::Char('f') => Msg::ToggleFreeze,
        KeyCode::Char('o') => Msg::ToggleOverlay,
        KeyCode::Char('s') => Msg::NextSort,
        KeyCode::Char('S') => Msg::ReverseSort,
        KeyCode::Char('a') => Msg::ToggleProcessScope,
        KeyCode::Char('?') | KeyCode::F(1) => Msg::ToggleHelp,
        KeyCode::Char(':') => Msg::JumpStart,
        KeyCode::Char('/') => Msg::FilterStart,
        KeyCode::Char('K') | KeyCode::F(9) => Msg::KillAsk,
        KeyCode::Char(' ') => Msg::ReplayPause,
        KeyCode::Left => Msg::ReplaySeek(-1),
        KeyCode::Right => Msg::ReplaySeek(1),
        KeyCode::Char('+') | KeyCode::Char('=') => Msg::ReplaySpeed(1),
        KeyCode::Char('-') => Msg::ReplaySpeed(-1),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> Event {
        Event::Key(KeyEvent::new(code, modifiers))
    }

    #[test]
    fn quit_keys_and_digits() {
        let none = KeyModifiers::NONE;
        assert_eq!(message(&key(KeyCode::Char('q'), none)), Some(Msg::Quit));
        assert_eq!(
            message(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Msg::Quit)
        );
        assert_eq!(message(&key(KeyCode::Esc, none)), Some(Msg::Back));
        assert_eq!(
            message(&key(KeyCode::Char('7'), none)),
            Some(Msg::PickGpu(7))
        );
        assert_eq!(message(&key(KeyCode::Char('x'), none)), None);
        assert_eq!(
            message(&key(KeyCode::Char(':'), none)),
            Some(Msg::JumpStart)
        );
        // In the prompt, digits and q are text.
        let typed = |c| message_in(&key(KeyCode::Char(c), none), true);
        assert_eq!(typed('7'), Some(Msg::JumpInput('7')));
        assert_eq!(typed('q'), Some(Msg::JumpInput('q')));
        assert_eq!(
            message_in(&key(KeyCode::Enter, none), true),
            Some(Msg::JumpGo)
        );
    }
}
