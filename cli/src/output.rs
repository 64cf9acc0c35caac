//! The one place that prints: it knows `--json`, `--quiet`, and whether to
//! use colour (a TTY without `NO_COLOR`). Tables for people, JSON for
//! scripts.

use std::io::{IsTerminal, Write};

use serde::Serialize;
use unicode_width::UnicodeWidthStr;

/// "1 person", "2 people", "3 accounts".
pub fn plural(n: usize, noun: &str) -> String {
    let many = match noun {
        "person" => "people".to_string(),
        "opportunity" => "opportunities".to_string(),
        "activity" => "activities".to_string(),
        n => format!("{n}s"),
    };
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {many}")
    }
}

/// Columns as wide as their widest line plus two spaces, left-aligned,
/// headers in capitals (bold with colour), a cell's lines one under the
/// other, no trailing spaces. The same text comfy-table gives with no
/// borders and no wrapping (a test checks), written directly: a list of
/// 100k rows takes a few milliseconds instead of a hundred.
#[cfg(test)]
fn table_text<S: AsRef<str>, R: AsRef<[S]>>(
    headers: &[&str],
    rows: &[R],
    bold_header: bool,
) -> String {
    let mut text = Vec::new();
    let mut out = Chunked::to(&mut text);
    write_table(&mut out, headers, rows.len(), |i| &rows[i], bold_header).unwrap_or_default();
    out.finish().unwrap_or_default();
    String::from_utf8(text).unwrap_or_default()
}

/// Text written out in pieces of about [`CHUNK`] bytes as it is made, not
/// held whole: an agenda or a table over 100k records runs to nearly a
/// megabyte, and the fresh pages of one string that size were a fifth of
/// `agenda`'s page faults.
pub struct Chunked<W: Write> {
    out: W,
    text: String,
}

/// About how much text [`Chunked`] holds before it writes.
const CHUNK: usize = 64 * 1024;

impl<W: Write> Chunked<W> {
    fn to(out: W) -> Chunked<W> {
        Chunked {
            out,
            text: String::with_capacity(CHUNK + 4096),
        }
    }

    /// The text not written yet, to append to.
    pub fn text(&mut self) -> &mut String {
        &mut self.text
    }

    /// Writes the text so far once it is [`CHUNK`] bytes or more; call
    /// it between lines.
    pub fn line_done(&mut self) -> std::io::Result<()> {
        if self.text.len() >= CHUNK {
            self.out.write_all(self.text.as_bytes())?;
            self.text.clear();
        }
        Ok(())
    }

    /// Writes the rest.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.out.write_all(self.text.as_bytes())?;
        self.out.flush()
    }
}

/// Writes a table of `count` rows, made by `row` (twice each: once to
/// measure the columns, once to write them).
fn write_table<S: AsRef<str>, R: AsRef<[S]>, W: Write>(
    out: &mut Chunked<W>,
    headers: &[&str],
    count: usize,
    row: impl Fn(usize) -> R,
    bold_header: bool,
) -> std::io::Result<()> {
    let header: Vec<String> = headers.iter().map(|h| h.to_uppercase()).collect();
    let mut widths = vec![0; header.len()];
    measure(&mut widths, &header);
    for i in 0..count {
        let row = row(i);
        let row = row.as_ref();
        if row.len() > widths.len() {
            widths.resize(row.len(), 0);
        }
        measure(&mut widths, row);
    }
    write_row(out.text(), &widths, &header, bold_header);
    for i in 0..count {
        write_row(out.text(), &widths, row(i).as_ref(), false);
        out.line_done()?;
    }
    Ok(())
}

/// Columns a line takes on a terminal (ASCII, the common case, is one a
/// byte).
fn display_width(line: &str) -> usize {
    if line.is_ascii() {
        line.len()
    } else {
        line.width()
    }
}

/// Appends `n` spaces.
fn pad(text: &mut String, mut n: usize) {
    const SPACES: &str = "                                ";
    while n > 0 {
        let step = n.min(SPACES.len());
        text.push_str(&SPACES[..step]);
        n -= step;
    }
}

/// The width of a cell of one line of ASCII (the common case), found in
/// one pass over its bytes; `None` for any other.
fn one_ascii_line(cell: &str) -> Option<usize> {
    cell.bytes()
        .all(|b| b != b'\n' && b.is_ascii())
        .then_some(cell.len())
}

/// Writes a row of one line per cell, each `width` columns wide.
fn write_line<S: AsRef<str>>(
    text: &mut String,
    widths: &[usize],
    row: &[S],
    width: impl Fn(&str) -> usize,
) {
    let start = text.len();
    for (cell, w) in row.iter().map(AsRef::as_ref).zip(widths) {
        text.push_str(cell);
        pad(text, w - width(cell) + 2);
    }
    for w in widths.iter().skip(row.len()) {
        pad(text, w + 2);
    }
    text.truncate(start + text[start..].trim_end().len());
    text.push('\n');
}

/// Widens `widths` to the widest line of each cell of `row`.
fn measure<S: AsRef<str>>(widths: &mut [usize], row: &[S]) {
    for (width, cell) in widths.iter_mut().zip(row) {
        let cell = cell.as_ref();
        if let Some(w) = one_ascii_line(cell) {
            *width = (*width).max(w);
        } else if cell.contains('\n') {
            for line in cell.split('\n') {
                *width = (*width).max(display_width(line));
            }
        } else {
            *width = (*width).max(display_width(cell));
        }
    }
}

/// Writes one row of a table: as many lines as its tallest cell.
fn write_row<S: AsRef<str>>(text: &mut String, widths: &[usize], row: &[S], bold: bool) {
    if !bold {
        // The common cases, one line per cell, without splitting them;
        // of ASCII (the most common), a byte a column.
        if row.iter().all(|c| one_ascii_line(c.as_ref()).is_some()) {
            return write_line(text, widths, row, str::len);
        }
        if !row.iter().any(|c| c.as_ref().contains('\n')) {
            return write_line(text, widths, row, display_width);
        }
    }
    let mut cells: Vec<_> = row.iter().map(|c| c.as_ref().split('\n')).collect();
    let lines = cells.iter().map(|c| c.clone().count()).max().unwrap_or(1);
    for _ in 0..lines {
        let start = text.len();
        for (column, width) in widths.iter().enumerate() {
            let line = cells.get_mut(column).and_then(Iterator::next).unwrap_or("");
            if bold {
                text.push_str("\x1b[1m");
            }
            text.push_str(line);
            pad(text, width - display_width(line) + 2);
            if bold {
                text.push_str("\x1b[0m");
            }
        }
        text.truncate(start + text[start..].trim_end().len());
        text.push('\n');
    }
}

/// A JSON array of the items `items` makes, each made as it is written
/// and dropped after: a list's rows built as `serde_json::Value`s all at
/// once held 239 MiB for 73k activities.
pub struct JsonEach<F>(pub F);

impl<F, I> Serialize for JsonEach<F>
where
    F: Fn() -> I,
    I: IntoIterator,
    I::Item: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub color: bool,
    /// The warnings printed, each printed once: a command may read a
    /// document more than once (`person show` finds the person among
    /// everyone's people, then reads the person's document), and each
    /// read reports the document's unreadable records.
    warned: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Output {
    pub fn new(json: bool, quiet: bool) -> Output {
        let color = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Output {
            json,
            quiet,
            color,
            warned: Default::default(),
        }
    }

    /// Writes `parts` one after the other (not joined first: an agenda or
    /// a listing can run to megabytes).
    fn write(&self, parts: &[&str]) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        for part in parts {
            out.write_all(part.as_bytes())?;
        }
        out.flush()?;
        Ok(())
    }

    /// A line of human output.
    pub fn line(&self, text: impl AsRef<str>) -> anyhow::Result<()> {
        self.write(&[text.as_ref(), "\n"])
    }

    /// A confirmation of what a command did; silent with `--quiet` or `--json`.
    pub fn done(&self, text: impl AsRef<str>) -> anyhow::Result<()> {
        if self.quiet || self.json {
            return Ok(());
        }
        self.line(text)
    }

    /// Whether progress lines are shown: stderr is a terminal, and neither
    /// `--quiet` nor `--json`.
    pub fn shows_progress(&self) -> bool {
        !self.quiet && !self.json && std::io::stderr().is_terminal()
    }

    /// A progress line on stderr, only where [`shows_progress`](Self::shows_progress).
    pub fn progress(&self, text: impl AsRef<str>) {
        if self.shows_progress() {
            eprintln!("{}", text.as_ref());
        }
    }

    /// A warning on stderr (never silenced: it may be the only sign of
    /// trouble), once: the same text again is not printed.
    pub fn warn(&self, text: impl AsRef<str>) {
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if !warned.insert(text.as_ref().to_string()) {
            return;
        }
        if self.color {
            eprintln!("\x1b[33mwarning:\x1b[0m {}", text.as_ref());
        } else {
            eprintln!("warning: {}", text.as_ref());
        }
    }

    /// Pretty JSON on stdout, written as it is made (a list of 73k
    /// activities is tens of megabytes of text: never held whole).
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> anyhow::Result<()> {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        // An error writing (a reader that stopped: `| head`) stays an I/O
        // error, which `error::exit` knows.
        serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(())
    }

    pub fn bold(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn dim(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[2m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// An aligned table; prints `empty` instead when there are no rows.
    pub fn table<S: AsRef<str>, R: AsRef<[S]>>(
        &self,
        headers: &[&str],
        rows: Vec<R>,
        empty: &str,
    ) -> anyhow::Result<()> {
        self.table_of(headers, rows.len(), |i| &rows[i], empty)
    }

    /// [`table`](Self::table) of `count` rows made by `row` as they are
    /// written (twice each), not held: a table of every person at 100k
    /// records has 10k rows.
    pub fn table_of<S: AsRef<str>, R: AsRef<[S]>>(
        &self,
        headers: &[&str],
        count: usize,
        row: impl Fn(usize) -> R,
        empty: &str,
    ) -> anyhow::Result<()> {
        if count == 0 {
            return self.line(self.dim(empty));
        }
        let mut out = self.chunked();
        write_table(&mut out, headers, count, row, self.color)?;
        Ok(out.finish()?)
    }

    /// Standard output, written in pieces as text is added ([`Chunked`]).
    pub fn chunked(&self) -> Chunked<std::io::StdoutLock<'static>> {
        Chunked::to(std::io::stdout().lock())
    }

    /// `label: value` lines, aligned, skipping empty values.
    pub fn fields(&self, pairs: &[(&str, String)]) -> anyhow::Result<()> {
        let width = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| k.len())
            .max()
            .unwrap_or(0);
        let mut text = String::new();
        for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            let mut lines = v.lines();
            let first = lines.next().unwrap_or("");
            text.push_str(&format!(
                "{:width$}  {first}\n",
                format!("{k}:"),
                width = width + 1
            ));
            for more in lines {
                text.push_str(&format!("{:width$}  {more}\n", "", width = width + 1));
            }
        }
        self.write(&[&text])
    }

    /// A section heading in `show` output.
    pub fn heading(&self, text: &str) -> anyhow::Result<()> {
        self.line(format!("\n{}", self.bold(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::table_text;
    use comfy_table::{ContentArrangement, Table, presets};

    /// What the CLI printed with comfy-table.
    fn comfy(headers: &[&str], rows: &[Vec<String>], bold: bool) -> String {
        let mut table = Table::new();
        table
            .load_preset(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled);
        if bold {
            table.enforce_styling();
        }
        table.set_header(headers.iter().map(|h| {
            let cell = comfy_table::Cell::new(h.to_uppercase());
            if bold {
                cell.add_attribute(comfy_table::Attribute::Bold)
            } else {
                cell
            }
        }));
        for row in rows {
            table.add_row(row.clone());
        }
        for column in table.column_iter_mut() {
            column.set_padding((0, 2));
        }
        table
            .lines()
            .map(|l| format!("{}\n", l.trim_end()))
            .collect()
    }

    #[test]
    fn tables_print_as_comfy_table_printed_them() {
        let rows = |cells: &[&[&str]]| -> Vec<Vec<String>> {
            cells
                .iter()
                .map(|r| r.iter().map(|c| c.to_string()).collect())
                .collect()
        };
        let cases = [
            rows(&[&["Ana Silva", "CFO", ""], &["Bo", "", "x"]]),
            rows(&[&["Zoë 日本語", "émigré", "a"], &["", "", ""]]),
            rows(&[&["two\nlines", "one", "three\nof\nthem"], &["b", "", "c"]]),
            rows(&[&["trailing  ", " lead", "end"]]),
            rows(&[&["a very long name indeed", "short", "ok"]]),
            rows(&[&["a", "b", "c"], &["longer"], &["x\ny"]]),
        ];
        // More text than one piece of `Chunked`, so it is written in several.
        let long: Vec<Vec<String>> = (0..6000)
            .map(|i| {
                vec![
                    format!("Person {i:05}"),
                    "Chief of staff".into(),
                    "x".repeat(i % 7),
                ]
            })
            .collect();
        assert!(table_text(&["name", "title", "x"], &long, false).len() > 2 * super::CHUNK);
        for rows in cases.into_iter().chain([long]) {
            for bold in [false, true] {
                assert_eq!(
                    table_text(&["name", "title", "x"], &rows, bold),
                    comfy(&["name", "title", "x"], &rows, bold),
                    "{rows:?}, bold {bold}"
                );
            }
        }
    }
}
