//! The real terminal's backend: the changed cells written as escape sequences
//! ([`super::frame_writer`]) into one kept buffer, so a frame leaves in a single `write` at
//! the end (stdout's own line buffer would send a frame in 1 KiB pieces),
//! the cursor hidden once rather than on every frame (ratatui asks on each; each ask is an
//! escape sequence and a flush of its own), and the terminal's size read with one `ioctl`.

use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use std::io::{self, BufWriter, Stdout, Write};

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
        out: BufWriter::with_capacity(FRAME_BUFFER, io::stdout()),
        cursor_hidden: false,
    })
}

/// The dashboard's backend over a buffered stdout that remembers a hidden cursor; cells go
/// out through [`super::frame_writer`], everything else through crossterm's commands.
pub struct ScreenBackend {
    out: BufWriter<Stdout>,
    cursor_hidden: bool,
}

impl Backend for ScreenBackend {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        super::frame_writer::write_cells(&mut self.out, content)
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        if !self.cursor_hidden {
            execute!(self.out, cursor::Hide)?;
            self.cursor_hidden = true;
        }
        Ok(())
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        self.cursor_hidden = false;
        execute!(self.out, cursor::Show)
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        let (x, y) = cursor::position()?;
        Ok(Position { x, y })
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        let Position { x, y } = position.into();
        execute!(self.out, cursor::MoveTo(x, y))
    }

    fn clear(&mut self) -> io::Result<()> {
        self.clear_region(ClearType::All)
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        use crossterm::terminal::{Clear, ClearType as Region};
        let region = match clear_type {
            ClearType::All => Region::All,
            ClearType::AfterCursor => Region::FromCursorDown,
            ClearType::BeforeCursor => Region::FromCursorUp,
            ClearType::CurrentLine => Region::CurrentLine,
            ClearType::UntilNewLine => Region::UntilNewLine,
        };
        execute!(self.out, Clear(region))
    }

    fn append_lines(&mut self, n: u16) -> io::Result<()> {
        for _ in 0..n {
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
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
        let (width, height) = crossterm::terminal::size()?;
        Ok(Size::new(width, height))
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        let size = crossterm::terminal::window_size()?;
        Ok(WindowSize {
            columns_rows: Size::new(size.columns, size.rows),
            pixels: Size::new(size.width, size.height),
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
