//! The real terminal's backend: crossterm writing into one kept buffer, so a frame leaves in
//! a single `write` at the end (stdout's own line buffer would send a frame in 1 KiB pieces),
//! the cursor hidden once rather than on every frame (ratatui asks on each; each ask is an
//! escape sequence and a flush of its own), and the terminal's size read with one `ioctl`.

use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, CrosstermBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use std::io::{self, BufWriter, Stdout};

/// Room for a whole frame of a large terminal (a 200×60 full redraw with colors is ~60 KiB).
const FRAME_BUFFER: usize = 128 * 1024;

/// The dashboard's terminal.
pub type Screen = Terminal<ScreenBackend>;

/// Raw mode, the alternate screen and a panic hook that restores the terminal first, as
/// `ratatui::try_init` does, with [`ScreenBackend`] under it.
pub fn open() -> io::Result<Screen> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        ratatui::restore();
        previous(info);
    }));
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
    Terminal::new(ScreenBackend {
        inner: CrosstermBackend::new(BufWriter::with_capacity(FRAME_BUFFER, io::stdout())),
        cursor_hidden: false,
    })
}

/// [`CrosstermBackend`] over a buffered stdout that remembers a hidden cursor.
pub struct ScreenBackend {
    inner: CrosstermBackend<BufWriter<Stdout>>,
    cursor_hidden: bool,
}

impl Backend for ScreenBackend {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content)
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        if !self.cursor_hidden {
            self.inner.hide_cursor()?;
            self.cursor_hidden = true;
        }
        Ok(())
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        self.cursor_hidden = false;
        self.inner.show_cursor()
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        self.inner.get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.inner.set_cursor_position(position)
    }

    fn clear(&mut self) -> io::Result<()> {
        self.inner.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.inner.clear_region(clear_type)
    }

    /// Asked before every frame: read from stdout itself, where crossterm would open and
    /// close `/dev/tty` each time.
    fn size(&self) -> io::Result<Size> {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one winsize into the pointer it is given.
        let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
        if rc == 0 && ws.ws_col > 0 && ws.ws_row > 0 {
            return Ok(Size::new(ws.ws_col, ws.ws_row));
        }
        self.inner.size()
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.inner.window_size()
    }

    fn flush(&mut self) -> io::Result<()> {
        Backend::flush(&mut self.inner)
    }
}
