//! How text output looks where it goes: on a terminal, tables fit its width and severities
//! are coloured; into a pipe, a file or a test, output is plain and the same every time.
//!
//! [`Style::detect`] looks at stdout and the environment once; [`Style::plain`] is the
//! style of pipes, files and golden tests. Everything a style renders depends only on its
//! three fields, never on the process's real stdout, so a test can build any style.

use crate::analysis::Severity;
use comfy_table::{presets, Cell, Color, ContentArrangement, Table};
use std::ffi::OsStr;
use std::io::IsTerminal;

/// The look of text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Output goes to a terminal: tables are fitted to [`Style::width`].
    pub tty: bool,
    /// Severities are coloured with ANSI escape codes.
    pub color: bool,
    /// The terminal's width in columns, when known (`None` off a terminal).
    pub width: Option<u16>,
}

/// ANSI SGR sequences (8-colour palette, understood by every terminal that colours at all).
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

/// Does the value of `NO_COLOR` ask for no colour? Yes when the variable is set to a
/// non-empty value, whatever it is; unset or empty leaves colour on (no-color.org).
pub fn no_color_requested(value: Option<&OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty())
}

/// A terminal width from the value of `COLUMNS`: a positive number of columns (surrounding
/// blanks allowed), `None` otherwise.
pub fn columns_width(value: Option<&str>) -> Option<u16> {
    value.and_then(|v| v.trim().parse::<u16>().ok()).filter(|&w| w > 0)
}

/// The style the analysis reports are printed in, set once by the command line
/// ([`set_current`]); plain until then, so library users and tests get plain output.
static CURRENT: std::sync::OnceLock<Style> = std::sync::OnceLock::new();

/// Print the analysis reports in this style from now on (the first call wins).
pub fn set_current(style: Style) {
    let _ = CURRENT.set(style);
}

/// The style reports are printed in: the one set with [`set_current`], else plain.
pub fn current() -> Style {
    CURRENT.get().copied().unwrap_or(Style::plain())
}

impl Style {
    /// The style for stdout as it is: a terminal gets fitted tables, and colour unless
    /// `NO_COLOR` is set to a non-empty value; its width is the terminal's (as comfy-table
    /// reads it), else `COLUMNS`. Anything else (pipe, file) gets [`Style::plain`].
    pub fn detect() -> Self {
        if !std::io::stdout().is_terminal() {
            return Style::plain();
        }
        let color = !no_color_requested(std::env::var_os("NO_COLOR").as_deref());
        // A table not forced off the terminal asks the terminal for its size.
        let width = Table::new().width().filter(|&w| w > 0);
        let width = width.or_else(|| columns_width(std::env::var("COLUMNS").ok().as_deref()));
        Style { tty: true, color, width }
    }

    /// No terminal, no colour: the output of pipes, files and tests.
    pub const fn plain() -> Self {
        Style { tty: false, color: false, width: None }
    }

    /// A table with this header in the ASCII_MARKDOWN preset. On a terminal the columns
    /// are arranged to fit [`Style::width`] (long cells wrap); otherwise the table is laid
    /// out as wide as its content needs, the same whatever the environment.
    pub fn table(&self, header: Vec<&str>) -> Table {
        let mut t = Table::new();
        t.load_style(presets::ASCII_MARKDOWN);
        // Never let comfy-table look at the real stdout: the style's fields decide.
        t.force_no_tty();
        if self.tty {
            t.set_content_arrangement(ContentArrangement::Dynamic);
            if let Some(w) = self.width {
                t.set_width(w);
            }
        }
        if self.color {
            // Coloured cells (`severity_cell`) are styled even though the table is not
            // told it is on a terminal.
            t.enforce_styling();
        }
        t.set_header(header);
        t
    }

    /// A severity's name, coloured when colour is on: error red, warning yellow, note
    /// cyan. For running text; in a table use [`Style::severity_cell`], whose colour
    /// does not count towards the column width.
    pub fn severity(&self, s: Severity) -> String {
        if !self.color {
            return s.as_str().to_string();
        }
        let code = match s {
            Severity::Error => RED,
            Severity::Warning => YELLOW,
            Severity::Note => CYAN,
        };
        format!("{code}{}{RESET}", s.as_str())
    }

    /// A table cell with a severity's name, in the colours of [`Style::severity`] when
    /// colour is on.
    pub fn severity_cell(&self, s: Severity) -> Cell {
        let cell = Cell::new(s.as_str());
        if !self.color {
            return cell;
        }
        cell.fg(match s {
            Severity::Error => Color::DarkRed,
            Severity::Warning => Color::DarkYellow,
            Severity::Note => Color::DarkCyan,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Severity; 3] = [Severity::Error, Severity::Warning, Severity::Note];

    fn colour() -> Style {
        Style { tty: true, color: true, width: Some(80) }
    }

    fn rows(t: &mut Table) {
        t.add_row(vec![
            "error",
            "session-open",
            "0",
            "frame 4 has a rather long message that a narrow terminal wraps",
        ]);
        t.add_row(vec!["note", "gap", "1", "bytes missing"]);
    }

    #[test]
    fn no_color_is_set_and_not_empty() {
        assert!(!no_color_requested(None));
        assert!(!no_color_requested(Some(OsStr::new(""))));
        assert!(no_color_requested(Some(OsStr::new("1"))));
        assert!(no_color_requested(Some(OsStr::new("0"))), "any non-empty value, even 0");
        assert!(no_color_requested(Some(OsStr::new("false"))));
    }

    #[test]
    fn columns_parse() {
        assert_eq!(columns_width(None), None);
        assert_eq!(columns_width(Some("")), None);
        assert_eq!(columns_width(Some("0")), None);
        assert_eq!(columns_width(Some("abc")), None);
        assert_eq!(columns_width(Some("-80")), None);
        assert_eq!(columns_width(Some("70000")), None);
        assert_eq!(columns_width(Some("120")), Some(120));
        assert_eq!(columns_width(Some(" 80\n")), Some(80));
    }

    #[test]
    fn plain_style_has_no_escape_codes() {
        let p = Style::plain();
        assert_eq!((p.tty, p.color, p.width), (false, false, None));
        for s in ALL {
            assert_eq!(p.severity(s), s.as_str());
        }
        let mut t = p.table(vec!["severity", "rule"]);
        for s in ALL {
            t.add_row(vec![p.severity_cell(s), Cell::new("r")]);
        }
        assert!(!t.to_string().contains('\x1b'), "{t}");
        // Colour needs `color`, not only a terminal.
        let tty = Style { tty: true, color: false, width: Some(80) };
        assert_eq!(tty.severity(Severity::Error), "error");
        let mut t = tty.table(vec!["severity"]);
        t.add_row(vec![tty.severity_cell(Severity::Error)]);
        assert!(!t.to_string().contains('\x1b'), "{t}");
    }

    #[test]
    fn colour_style_wraps_severities() {
        let c = colour();
        assert_eq!(c.severity(Severity::Error), "\x1b[31merror\x1b[0m");
        assert_eq!(c.severity(Severity::Warning), "\x1b[33mwarning\x1b[0m");
        assert_eq!(c.severity(Severity::Note), "\x1b[36mnote\x1b[0m");
        let mut t = c.table(vec!["severity", "rule"]);
        for s in ALL {
            t.add_row(vec![c.severity_cell(s), Cell::new("r")]);
        }
        let text = t.to_string();
        assert_eq!(text.matches('\x1b').count() % 2, 0, "{text:?}");
        for s in ALL {
            let line = text.lines().find(|l| l.contains(s.as_str())).unwrap();
            assert!(line.contains('\x1b'), "{line:?}");
            // The colour does not widen the column: without the escapes, the line is as
            // wide as the plain table's.
            let bare = strip_ansi(line);
            assert_eq!(bare.chars().count(), text.lines().next().unwrap().chars().count(), "{line:?}");
        }
    }

    /// `s` without its ANSI CSI sequences.
    fn strip_ansi(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn plain_table_is_ascii_markdown_without_arrangement() {
        let header = vec!["severity", "rule", "connection", "message"];
        let mut want = Table::new();
        want.load_style(presets::ASCII_MARKDOWN);
        want.force_no_tty();
        want.set_header(header.clone());
        rows(&mut want);
        let mut got = Style::plain().table(header);
        rows(&mut got);
        assert_eq!(got.to_string(), want.to_string());
        assert!(matches!(got.content_arrangement(), ContentArrangement::Disabled));
    }

    #[test]
    fn terminal_table_fits_its_width() {
        let narrow = Style { tty: true, color: false, width: Some(50) };
        let mut t = narrow.table(vec!["severity", "rule", "connection", "message"]);
        rows(&mut t);
        let text = t.to_string();
        assert!(text.lines().all(|l| l.chars().count() <= 50), "{text}");
        assert!(text.contains("narrow"), "no content lost: {text}");
        let mut plain = Style::plain().table(vec!["severity", "rule", "connection", "message"]);
        rows(&mut plain);
        assert!(plain.to_string().lines().any(|l| l.chars().count() > 50));
        // A terminal as wide as the content changes nothing.
        let wide = Style { tty: true, color: false, width: Some(200) };
        let mut t = wide.table(vec!["severity", "rule", "connection", "message"]);
        rows(&mut t);
        assert_eq!(t.to_string(), plain.to_string());
    }
}
