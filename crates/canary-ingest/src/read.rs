//! Reading inputs: files, stdin, directories, globs, compressed streams and
//! Twitter Stream Grab tars, as one iterator of [`Item`]s.
//!
//! Nothing here gives up on the whole run because of one input: an
//! unreadable file, a corrupt compressed stream or a damaged archive becomes
//! a `read_error` dead letter for that input and reading goes on with the next.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use canary_core::{DeadLetter, IngestRecord};
use csv::ByteRecord;

use crate::IngestError;
use crate::csv_input::{Columns, CsvMapping, row_bytes};
use crate::parse::{Format, ParseOptions, Parsed, Reason, parse_line_into};

mod archive;
mod csv_split;
mod document;
mod lines;
mod source;

use archive::*;
use csv_split::*;
use lines::*;
use source::*;
pub use source::{Source, check_inputs};

/// Longest line read whole by default (16 MiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 << 20;
/// Largest whole-file JSON document read by default (1 GiB).
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 1 << 30;
/// How much of an over-long line a dead letter keeps.
pub const DEAD_LETTER_PREFIX_BYTES: usize = 4096;

const STAGE: &str = "ingest";

/// Default of [`Options::csv_max_record_lines`]: a post of 280 characters
/// cannot span more lines than that, so this only ever cuts a stray quote.
pub const DEFAULT_CSV_MAX_RECORD_LINES: usize = 1000;

/// Reader options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Format override; [`Format::Auto`] treats `*.csv`/`*.tsv` as CSV and
    /// detects JSON shapes per line.
    pub format: Format,
    /// Event time for posts without any creation time (see [`ParseOptions`]).
    pub assume_time: Option<i64>,
    /// Full JSON grammar checks on every line (see [`ParseOptions`]).
    pub strict_json: bool,
    /// CSV column mapping; `None` tries the default column names.
    pub csv: Option<CsvMapping>,
    /// Lines longer than this are dead-lettered as `line_too_long`.
    pub max_line_bytes: usize,
    /// Whole-file JSON documents larger than this are dead-lettered.
    pub max_document_bytes: usize,
    /// Most physical lines one CSV record may span; a quoted field still
    /// open after them (or after `max_line_bytes`) is `unterminated_quote`.
    pub csv_max_record_lines: usize,
    /// Once set, stdin reads as ended, even while the writer keeps the pipe
    /// open and sends nothing: a stop request must not wait for the next line.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: Format::Auto,
            assume_time: None,
            strict_json: false,
            csv: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            csv_max_record_lines: DEFAULT_CSV_MAX_RECORD_LINES,
            stop: None,
        }
    }
}

/// What the reader yields.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Item {
    /// A post, deletion or notice, with where it was read: a stage that
    /// rejects it later (a `late` post) points the user at the line.
    Record(IngestRecord, Origin),
    /// A rejected record, with its source name and 1-based line number.
    DeadLetter(DeadLetter),
}

/// Where a record was read. The name is shared with every record of the
/// same input, so carrying it costs no allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Input name: a file path (`archive.tar:member` inside a tar), `-` for stdin.
    pub source: Arc<str>,
    /// 1-based line number (CSV: the row's line; a document: its first line).
    pub line: u64,
}

/// A line of a JSON-lines input, read but not parsed: bytes
/// `start..end` of the buffer given to [`Reader::next_deferred`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// Input name, for dead letters.
    pub source: Arc<str>,
    /// 1-based line number.
    pub line: u64,
    /// Start of the line's bytes in the buffer.
    pub start: usize,
    /// End of the line's bytes in the buffer.
    pub end: usize,
}

/// What [`Reader::next_deferred`] yields.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Deferred {
    /// An item the reader produced itself (CSV rows, documents, read errors).
    Item(Item),
    /// A JSON line to parse with [`parse_raw`], in this position of the input.
    Line(RawLine),
}

/// Parses a line that [`Reader::next_deferred`] handed out unparsed, exactly
/// as the reader would have, appending the items to `out`.
pub fn parse_raw(
    raw: &[u8],
    at: &RawLine,
    opts: &ParseOptions,
    scratch: &mut Vec<Parsed>,
    out: &mut Vec<Item>,
) {
    scratch.clear();
    parse_line_into(raw, opts, scratch);
    out.extend(
        scratch
            .drain(..)
            .map(|p| to_item(p, &at.source, at.line, raw)),
    );
}

fn to_item(p: Parsed, source: &Arc<str>, line: u64, raw: &[u8]) -> Item {
    match p {
        Parsed::Record(r) => Item::Record(
            r,
            Origin {
                source: source.clone(),
                line,
            },
        ),
        Parsed::Rejected(r) => {
            let raw = r.raw.as_deref().map(str::as_bytes).unwrap_or(raw);
            Item::DeadLetter(DeadLetter::new(
                STAGE,
                r.reason.as_str(),
                r.detail,
                source,
                line,
                raw,
            ))
        }
    }
}

/// Where the reader is, for progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// On-disk (compressed) bytes consumed so far, over all inputs.
    pub bytes_read: u64,
    /// Sum of the sizes of all regular-file inputs; `None` when an input is
    /// a stream of unknown size (stdin).
    pub bytes_total: Option<u64>,
    /// Inputs finished.
    pub inputs_done: usize,
    /// Inputs known (a tar counts once, its members are not added).
    pub inputs_total: usize,
    /// Name of the input being read (`archive.tar!member` inside a tar).
    pub source: String,
    /// Last line number read in that input.
    pub line: u64,
}

enum Input {
    Stream {
        name: String,
        reader: Box<dyn Read + Send>,
    },
    File {
        path: PathBuf,
        size: Option<u64>,
    },
    /// The next member of a compressed tar, read on a thread of its own.
    TarStream {
        archive: Arc<str>,
        rx: Arc<Mutex<Receiver<TarMsg>>>,
        size: Option<u64>,
    },
    Member {
        archive: Arc<PathBuf>,
        name: String,
        offset: u64,
        size: u64,
        /// The archive's size, on its last member, to settle progress.
        last_of: Option<u64>,
    },
}

type BoxRead = Box<dyn BufRead + Send>;

enum Current {
    Lines {
        lines: LineReader<BoxRead>,
        /// Still looking at the first non-blank line (whole-document detection).
        first: bool,
    },
    Doc {
        buf: Vec<u8>,
        pos: usize,
        line: u64,
        first: bool,
    },
    Csv {
        split: Box<CsvSplit>,
        cols: Columns,
        rec: ByteRecord,
    },
}

/// The iterator over every input's items. See the crate docs for an example.
pub struct Reader {
    opts: Options,
    parse_opts: ParseOptions,
    queue: VecDeque<Input>,
    current: Option<Current>,
    pending: VecDeque<Item>,
    scratch: Vec<Parsed>,
    source: Arc<str>,
    counter: Arc<AtomicU64>,
    /// Size of the top-level file being read, added to `done_bytes` at its end.
    current_size: Option<u64>,
    /// Whether the current input's end settles a top-level input.
    current_top: bool,
    done_bytes: u64,
    bytes_total: Option<u64>,
    inputs_done: usize,
    inputs_total: usize,
    /// Set during `next_deferred`: JSON lines go here unparsed.
    defer_buf: Option<Vec<u8>>,
    deferred: Option<RawLine>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("progress", &self.progress())
            .finish_non_exhaustive()
    }
}

impl Reader {
    fn empty(opts: Options) -> Reader {
        Reader {
            parse_opts: ParseOptions {
                format: opts.format,
                assume_time: opts.assume_time,
                strict_json: opts.strict_json,
            },
            opts,
            queue: VecDeque::new(),
            current: None,
            pending: VecDeque::new(),
            scratch: Vec::new(),
            source: Arc::from(""),
            counter: Arc::new(AtomicU64::new(0)),
            current_size: None,
            current_top: true,
            done_bytes: 0,
            bytes_total: Some(0),
            inputs_done: 0,
            inputs_total: 0,
            defer_buf: None,
            deferred: None,
        }
    }

    /// Bytes read of the total and the current input, for progress display.
    pub fn progress(&self) -> Progress {
        let line = match &self.current {
            Some(Current::Lines { lines, .. }) => lines.line,
            Some(Current::Doc { line, .. }) => *line,
            Some(Current::Csv { split, .. }) => split.lines.line,
            None => 0,
        };
        Progress {
            bytes_read: self.done_bytes + self.counter.load(Ordering::Relaxed),
            bytes_total: self.bytes_total,
            inputs_done: self.inputs_done,
            inputs_total: self.inputs_total,
            source: self.source.to_string(),
            line,
        }
    }

    fn dead(&mut self, reason: Reason, detail: impl Into<String>, line: u64, raw: &[u8]) {
        self.pending.push_back(Item::DeadLetter(DeadLetter::new(
            STAGE,
            reason.as_str(),
            detail,
            &self.source,
            line,
            raw,
        )));
    }

    fn emit(&mut self, line: u64, raw: &[u8]) {
        for p in self.scratch.drain(..) {
            let item = to_item(p, &self.source, line, raw);
            self.pending.push_back(item);
        }
    }

    /// Like `next`, but a line of a JSON-lines input is appended to `buf`
    /// unparsed, for [`parse_raw`] on another thread; everything else (CSV
    /// rows, whole documents, read errors) comes parsed, in input order.
    pub fn next_deferred(&mut self, buf: &mut Vec<u8>) -> Option<Deferred> {
        self.defer_buf = Some(std::mem::take(buf));
        let next = loop {
            if let Some(it) = self.pending.pop_front() {
                break Some(Deferred::Item(it));
            }
            if let Some(l) = self.deferred.take() {
                break Some(Deferred::Line(l));
            }
            match self.current.take() {
                Some(cur) => self.step(cur),
                None => match self.queue.pop_front() {
                    Some(input) => self.open_next(input),
                    None => break None,
                },
            }
        };
        *buf = self.defer_buf.take().unwrap_or_default();
        next
    }

    /// The options lines are parsed with (for [`parse_raw`]).
    pub fn parse_options(&self) -> &ParseOptions {
        &self.parse_opts
    }

    /// Ends the current top-level input (a tar ends with its last member).
    fn finish_input(&mut self, size: Option<u64>) {
        self.inputs_done += 1;
        self.done_bytes += size.unwrap_or_else(|| self.counter.load(Ordering::Relaxed));
        self.counter.store(0, Ordering::Relaxed);
    }

    fn open_next(&mut self, input: Input) {
        match input {
            Input::Stream { name, reader } => {
                self.source = Arc::from(name.as_str());
                self.current_size = None;
                let counted = Counting {
                    inner: reader,
                    count: self.counter.clone(),
                };
                self.start(&name, Box::new(counted), true);
            }
            Input::File { path, size } => {
                let name = path.display().to_string();
                self.source = Arc::from(name.as_str());
                self.current_size = size;
                if lower_name(&name).ends_with(".tar") {
                    self.open_tar(path, size);
                    return;
                }
                if [".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.zst", ".tzst"]
                    .iter()
                    .any(|e| lower_name(&name).ends_with(e))
                {
                    self.open_tar_stream(path, size);
                    return;
                }
                // Not a regular file (a FIFO, `/dev/stdin`): like stdin, it
                // may stay open with nothing coming, and a stop must not wait.
                if size.is_none()
                    && let Some(stop) = &self.opts.stop
                {
                    let p = path.clone();
                    let counted = Counting {
                        inner: Stoppable::spawn(move || File::open(p), stop.clone()),
                        count: self.counter.clone(),
                    };
                    self.start(&name, Box::new(counted), true);
                    return;
                }
                match File::open(&path) {
                    Ok(f) => {
                        let counted = Counting {
                            inner: f,
                            count: self.counter.clone(),
                        };
                        self.start(&name, Box::new(counted), true);
                    }
                    Err(e) => {
                        self.dead(Reason::ReadError, e.to_string(), 0, b"");
                        self.finish_input(size);
                    }
                }
            }
            Input::TarStream { archive, rx, size } => {
                match recv_tar(&rx) {
                    TarMsg::Start(name) => {
                        let full = format!("{archive}!{name}");
                        self.source = Arc::from(full.as_str());
                        self.current_size = size;
                        self.queue.push_front(Input::TarStream {
                            archive,
                            rx: rx.clone(),
                            size,
                        });
                        let member = TarMember {
                            rx,
                            buf: Vec::new(),
                            pos: 0,
                            done: false,
                        };
                        self.start(&name, Box::new(member), false);
                    }
                    TarMsg::Error(e) => {
                        self.source = archive;
                        self.dead(Reason::ReadError, format!("tar: {e}"), 0, b"");
                        self.finish_input(size);
                    }
                    // A member's data or end is drained by its reader; the
                    // archive ends when the thread does.
                    TarMsg::Data(_) | TarMsg::End | TarMsg::Done => self.finish_input(size),
                }
            }
            Input::Member {
                archive,
                name,
                offset,
                size,
                last_of,
            } => {
                let full = format!("{}!{}", archive.display(), name);
                self.source = Arc::from(full.as_str());
                self.current_size = last_of;
                let opened = File::open(&*archive).and_then(|mut f| {
                    f.seek(SeekFrom::Start(offset))?;
                    Ok(f.take(size))
                });
                match opened {
                    Ok(r) => {
                        let counted = Counting {
                            inner: r,
                            count: self.counter.clone(),
                        };
                        self.start(&name, Box::new(counted), last_of.is_some());
                    }
                    Err(e) => {
                        self.dead(Reason::ReadError, e.to_string(), 0, b"");
                        self.end_current(last_of.is_some());
                    }
                }
            }
        }
    }

    /// Ends the current input; `top` when it settles a top-level input.
    fn end_current(&mut self, top: bool) {
        self.current = None;
        if top {
            self.finish_input(self.current_size);
        }
    }

    /// Picks decompression by magic bytes (the extension when there are
    /// none) and the content kind by name and options.
    fn start(&mut self, name: &str, raw: Box<dyn Read + Send>, top: bool) {
        let mut br = BufReader::with_capacity(256 << 10, raw);
        let magic = loop {
            match br.fill_buf() {
                Ok(b) => break b.get(..4).unwrap_or(b).to_vec(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.dead(Reason::ReadError, e.to_string(), 0, b"");
                    self.end_current(top);
                    return;
                }
            }
        };
        let lname = lower_name(name);
        let dec: Box<dyn Read + Send> =
            if magic.starts_with(&[0x1f, 0x8b]) || (magic.is_empty() && lname.ends_with(".gz")) {
                Box::new(flate2::bufread::MultiGzDecoder::new(br))
            } else if magic.starts_with(b"BZh") || (magic.is_empty() && lname.ends_with(".bz2")) {
                Box::new(bzip2::bufread::MultiBzDecoder::new(br))
            } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                match zstd::stream::read::Decoder::with_buffer(br) {
                    Ok(d) => Box::new(d),
                    Err(e) => {
                        self.dead(Reason::ReadError, format!("zstd: {e}"), 0, b"");
                        self.end_current(top);
                        return;
                    }
                }
            } else if lname.ends_with(".gz") || lname.ends_with(".bz2") || lname.ends_with(".zst") {
                self.dead(
                    Reason::ReadError,
                    "compressed by its name but not by its first bytes",
                    0,
                    b"",
                );
                self.end_current(top);
                return;
            } else {
                Box::new(br)
            };
        let inner = inner_name(name);
        let csv = match self.opts.format {
            Format::Csv => true,
            Format::Auto => inner.ends_with(".csv") || inner.ends_with(".tsv"),
            _ => false,
        };
        if csv {
            self.start_csv(dec, inner.ends_with(".tsv"), top);
        } else {
            self.current = Some(Current::Lines {
                lines: LineReader::new(
                    Box::new(BufReader::with_capacity(256 << 10, dec)),
                    self.opts.max_line_bytes,
                ),
                first: true,
            });
            self.current_top = top;
        }
    }

    /// Advances the current input by one step, queueing items; ends it at EOF.
    fn step(&mut self, cur: Current) {
        match cur {
            Current::Lines { mut lines, first } => match lines.next_line() {
                Line::Eof => self.end_current(self.current_top),
                Line::Err(e) => {
                    let n = lines.line + 1;
                    self.dead(Reason::ReadError, e.to_string(), n, b"");
                    self.end_current(self.current_top);
                }
                Line::TooLong(len) => {
                    let prefix = lines.buf.clone();
                    self.dead(
                        Reason::LineTooLong,
                        format!(
                            "line of {len} bytes exceeds {} (kept the first {})",
                            self.opts.max_line_bytes,
                            prefix.len()
                        ),
                        lines.line,
                        &prefix,
                    );
                    self.current = Some(Current::Lines {
                        lines,
                        first: false,
                    });
                }
                Line::Ok => {
                    let n = lines.line;
                    let t = lines.buf.trim_ascii_start();
                    if first && matches!(t.first(), Some(b'{' | b'[')) && is_incomplete(&lines.buf)
                    {
                        self.start_doc(lines);
                        return;
                    }
                    let first = first && t.is_empty();
                    if let Some(out) = self.defer_buf.as_mut() {
                        let start = out.len();
                        out.extend_from_slice(&lines.buf);
                        self.deferred = Some(RawLine {
                            source: self.source.clone(),
                            line: n,
                            start,
                            end: out.len(),
                        });
                        self.current = Some(Current::Lines { lines, first });
                        return;
                    }
                    parse_line_into(&lines.buf, &self.parse_opts, &mut self.scratch);
                    let raw = std::mem::take(&mut lines.buf);
                    self.emit(n, &raw);
                    lines.buf = raw;
                    self.current = Some(Current::Lines { lines, first });
                }
            },
            Current::Doc {
                buf,
                pos,
                line,
                first,
            } => self.step_doc(buf, pos, line, first),
            Current::Csv {
                mut split,
                cols,
                mut rec,
            } => {
                match split.next() {
                    CsvRecord::Eof => {
                        self.end_current(self.current_top);
                        return;
                    }
                    CsvRecord::Err(e, n) => {
                        self.dead(Reason::ReadError, format!("csv: {e}"), n, b"");
                        self.end_current(self.current_top);
                        return;
                    }
                    CsvRecord::TooLong { line, len, prefix } => self.dead(
                        Reason::LineTooLong,
                        format!(
                            "csv line of {len} bytes exceeds {} (kept the first {})",
                            self.opts.max_line_bytes,
                            prefix.len()
                        ),
                        line,
                        &prefix,
                    ),
                    CsvRecord::Unterminated { line, first, lines } => self.dead(
                        Reason::UnterminatedQuote,
                        format!(
                            "quoted field still open after {lines} line(s); the lines after this one are read as records of their own"
                        ),
                        line,
                        &first,
                    ),
                    CsvRecord::Record { line, bytes } => {
                        match parse_csv_record(&bytes, split.delimiter, &mut rec) {
                            Ok(false) => {}
                            Ok(true) if bytes.len() > self.opts.max_line_bytes => {
                                let keep = &bytes[..bytes.len().min(DEAD_LETTER_PREFIX_BYTES)];
                                self.dead(Reason::LineTooLong, "csv row too long", line, keep);
                            }
                            Ok(true) => {
                                self.scratch.push(cols.row(&rec));
                                let raw = if matches!(self.scratch[0], Parsed::Rejected(_)) {
                                    bytes
                                } else {
                                    Vec::new()
                                };
                                self.emit(line, &raw);
                            }
                            Err(e) => self.dead(Reason::ReadError, format!("csv: {e}"), line, &bytes),
                        }
                    }
                }
                self.current = Some(Current::Csv { split, cols, rec });
            }
        }
    }
}

impl Iterator for Reader {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(it) = self.pending.pop_front() {
                return Some(it);
            }
            match self.current.take() {
                Some(cur) => self.step(cur),
                None => {
                    let input = self.queue.pop_front()?;
                    self.open_next(input);
                }
            }
        }
    }
}
