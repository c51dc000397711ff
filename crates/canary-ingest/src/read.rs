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

/// One input argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Standard input (`-`).
    Stdin,
    /// A file or a directory (read recursively, in sorted path order).
    Path(PathBuf),
    /// A glob pattern (`dumps/2018-*/**/*.json.gz`); matches in sorted order.
    Glob(String),
}

impl Source {
    /// Interprets a command-line argument: `-` is stdin, an existing path is
    /// a path, anything with `*`, `?` or `[` is a glob, the rest a path.
    pub fn from_arg(arg: &str) -> Source {
        if arg == "-" {
            Source::Stdin
        } else if Path::new(arg).exists() || !arg.contains(['*', '?', '[']) {
            Source::Path(PathBuf::from(arg))
        } else {
            Source::Glob(arg.to_owned())
        }
    }
}

/// Checks that every argument names something: `-`, a glob, or a path that
/// exists. Run before any output is created, so a mistyped path fails the
/// start instead of truncating the previous run's files.
pub fn check_inputs<S: AsRef<str>>(args: &[S]) -> Result<(), IngestError> {
    for a in args {
        if let Source::Path(p) = Source::from_arg(a.as_ref())
            && !p.exists()
        {
            return Err(IngestError::Missing(a.as_ref().to_owned()));
        }
    }
    Ok(())
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

/// Counts bytes as they are read from disk, before decompression.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A pipe (stdin, a FIFO, a character device) opened and read on a helper
/// thread, so that a stop request ends it even while the writer keeps it
/// open and sends nothing: a blocked `open(2)` or `read(2)` cannot be
/// interrupted portably, so the helper is left behind and ends with the
/// process.
struct Stoppable {
    rx: Receiver<io::Result<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    chunk: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl Stoppable {
    const POLL: std::time::Duration = std::time::Duration::from_millis(100);

    fn spawn<R: Read>(
        open: impl FnOnce() -> io::Result<R> + Send + 'static,
        stop: Arc<AtomicBool>,
    ) -> Stoppable {
        let (tx, rx) = sync_channel(2);
        let spawned = std::thread::Builder::new()
            .name("pipe-reader".into())
            .spawn(move || {
                let mut input = match open() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                loop {
                    let mut buf = vec![0u8; 64 << 10];
                    let r = match input.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            buf.truncate(n);
                            Ok(buf)
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => Err(e),
                    };
                    let failed = r.is_err();
                    if tx.send(r).is_err() || failed {
                        break;
                    }
                }
            });
        let ended = spawned.is_err();
        Stoppable {
            rx,
            stop,
            chunk: Vec::new(),
            pos: 0,
            ended,
        }
    }
}

impl Read for Stoppable {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if self.ended || self.stop.load(Ordering::Relaxed) {
                return Ok(0);
            }
            match self.rx.recv_timeout(Self::POLL) {
                Ok(Ok(c)) => (self.chunk, self.pos) = (c, 0),
                Ok(Err(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => self.ended = true,
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
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

fn is_hidden(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Regular files under `dir`, recursively, in sorted path order (dotfiles skipped).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), IngestError> {
    let io_err = |source| IngestError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io_err)?;
    entries.sort();
    for p in entries {
        if is_hidden(&p) {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

fn lower_name(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// The name without a compression suffix, lowercased (`x.csv.gz` -> `x.csv`).
fn inner_name(name: &str) -> String {
    let l = lower_name(name);
    for ext in [".gz", ".bz2", ".zst", ".zstd"] {
        if let Some(s) = l.strip_suffix(ext) {
            return s.to_owned();
        }
    }
    l
}

impl Reader {
    /// Opens command-line style arguments (`-`, paths, directories, globs).
    pub fn open<I, S>(args: I, opts: Options) -> Result<Reader, IngestError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let sources: Vec<Source> = args
            .into_iter()
            .map(|a| Source::from_arg(a.as_ref()))
            .collect();
        Reader::from_sources(sources, opts)
    }

    /// Opens one path (file or directory).
    pub fn open_path(path: impl AsRef<Path>, opts: Options) -> Result<Reader, IngestError> {
        Reader::from_sources([Source::Path(path.as_ref().to_owned())], opts)
    }

    /// Reads any byte stream (decompressed by its magic bytes), named `name`
    /// in dead letters; CSV only with `Format::Csv`.
    pub fn from_reader(name: &str, reader: impl Read + Send + 'static, opts: Options) -> Reader {
        let mut r = Reader::empty(opts);
        r.bytes_total = None;
        r.inputs_total = 1;
        r.queue.push_back(Input::Stream {
            name: name.to_owned(),
            reader: Box::new(reader),
        });
        r
    }

    /// Expands `sources` in order. Missing paths and globs that match
    /// nothing are errors here; a file that fails later is a dead letter.
    pub fn from_sources(
        sources: impl IntoIterator<Item = Source>,
        opts: Options,
    ) -> Result<Reader, IngestError> {
        let mut r = Reader::empty(opts);
        for s in sources {
            match s {
                Source::Stdin => {
                    r.bytes_total = None;
                    let reader: Box<dyn Read + Send> = match &r.opts.stop {
                        Some(stop) => Box::new(Stoppable::spawn(|| Ok(io::stdin()), stop.clone())),
                        None => Box::new(io::stdin()),
                    };
                    r.queue.push_back(Input::Stream {
                        name: "-".to_owned(),
                        reader,
                    });
                }
                Source::Path(p) => r.add_path(p)?,
                Source::Glob(g) => {
                    let paths = glob::glob(&g).map_err(|e| IngestError::Glob {
                        pattern: g.clone(),
                        message: e.to_string(),
                    })?;
                    let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
                    found.sort();
                    if found.is_empty() {
                        return Err(IngestError::NoMatch(g));
                    }
                    for p in found {
                        r.add_path(p)?;
                    }
                }
            }
        }
        r.inputs_total = r.queue.len();
        Ok(r)
    }

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

    fn add_path(&mut self, p: PathBuf) -> Result<(), IngestError> {
        let meta = std::fs::metadata(&p).map_err(|source| IngestError::Io {
            path: p.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(&p, &mut files)?;
            for f in files {
                let size = std::fs::metadata(&f).ok().map(|m| m.len());
                self.push_file(f, size);
            }
        } else {
            let size = meta.is_file().then_some(meta.len());
            self.push_file(p, size);
        }
        Ok(())
    }

    fn push_file(&mut self, path: PathBuf, size: Option<u64>) {
        self.bytes_total = match (self.bytes_total, size) {
            (Some(t), Some(s)) => Some(t + s),
            _ => None,
        };
        self.queue.push_back(Input::File { path, size });
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

    /// Indexes a plain tar's members by seeking past their data, then queues
    /// them sorted by name: Stream Grab tars hold `dd/hh/mm.json.bz2`, and
    /// sorted names are time order.
    fn open_tar(&mut self, path: PathBuf, size: Option<u64>) {
        let index = || -> io::Result<Vec<(String, u64, u64)>> {
            let mut ar = tar::Archive::new(File::open(&path)?);
            let mut members = Vec::new();
            for e in ar.entries_with_seek()? {
                let e = e?;
                if !e.header().entry_type().is_file() {
                    continue;
                }
                let name = e.path()?.to_string_lossy().into_owned();
                let hidden = name.rsplit('/').next().is_some_and(|n| n.starts_with('.'));
                if !hidden {
                    members.push((name, e.raw_file_position(), e.size()));
                }
            }
            members.sort();
            Ok(members)
        };
        match index() {
            Ok(members) if !members.is_empty() => {
                let archive = Arc::new(path);
                let n = members.len();
                for (i, (name, offset, len)) in members.into_iter().enumerate().rev() {
                    self.queue.push_front(Input::Member {
                        archive: archive.clone(),
                        name,
                        offset,
                        size: len,
                        last_of: (i + 1 == n).then_some(size.unwrap_or(0)),
                    });
                }
            }
            Ok(_) => self.finish_input(size),
            Err(e) => {
                self.dead(Reason::ReadError, format!("tar: {e}"), 0, b"");
                self.finish_input(size);
            }
        }
    }

    /// A compressed tar cannot be indexed without reading it whole, so its
    /// members are read in stored order (unlike a plain tar's, sorted by
    /// name), streamed from a thread through a small bounded channel.
    fn open_tar_stream(&mut self, path: PathBuf, size: Option<u64>) {
        let archive: Arc<str> = Arc::from(path.display().to_string().as_str());
        let (tx, rx) = sync_channel(4);
        let count = self.counter.clone();
        let spawned = std::thread::Builder::new()
            .name("tar".into())
            .spawn(move || {
                if let Err(e) = stream_tar(&path, count, &tx) {
                    let _ = tx.send(TarMsg::Error(e.to_string()));
                }
            });
        match spawned {
            Ok(_) => self.queue.push_front(Input::TarStream {
                archive,
                rx: Arc::new(Mutex::new(rx)),
                size,
            }),
            Err(e) => {
                self.dead(Reason::ReadError, format!("tar: {e}"), 0, b"");
                self.finish_input(size);
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

    fn start_csv(&mut self, dec: Box<dyn Read + Send>, tsv: bool, top: bool) {
        let delimiter = match &self.opts.csv {
            Some(m) => m.delimiter,
            None if tsv => b'\t',
            None => b',',
        };
        let mut split = Box::new(CsvSplit {
            lines: LineReader::new(
                Box::new(BufReader::with_capacity(256 << 10, dec)),
                self.opts.max_line_bytes,
            ),
            ahead: VecDeque::new(),
            error: None,
            delimiter,
            max_bytes: self.opts.max_line_bytes,
            max_lines: self.opts.csv_max_record_lines.max(1),
        });
        let mut header = ByteRecord::new();
        let bad = loop {
            match split.next() {
                CsvRecord::Record { bytes, .. } => {
                    match parse_csv_record(&bytes, delimiter, &mut header) {
                        Ok(true) => break None,
                        // Blank lines before the header.
                        Ok(false) => continue,
                        Err(e) => break Some(format!("csv header: {e}")),
                    }
                }
                CsvRecord::Eof => break Some("csv: no header row".to_owned()),
                CsvRecord::Err(e, _) => break Some(format!("csv header: {e}")),
                CsvRecord::TooLong { len, .. } => break Some(format!("csv header of {len} bytes")),
                CsvRecord::Unterminated { lines, .. } => {
                    break Some(format!(
                        "csv header: quoted field still open after {lines} lines"
                    ));
                }
            }
        };
        if let Some(msg) = bad {
            self.dead(Reason::ReadError, msg, 1, b"");
            self.end_current(top);
            return;
        }
        match Columns::resolve(&header, self.opts.csv.as_ref()) {
            Ok(cols) => {
                self.current = Some(Current::Csv {
                    split,
                    cols,
                    rec: ByteRecord::new(),
                });
                self.current_top = top;
            }
            Err(msg) => {
                let raw = row_bytes(&header, delimiter);
                self.dead(Reason::MissingColumn, msg, 1, &raw);
                self.end_current(top);
            }
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

    /// Reads the rest of a file that is one JSON document (or several
    /// concatenated pretty-printed ones) into memory.
    fn start_doc(&mut self, mut lines: LineReader<BoxRead>) {
        let line = lines.line;
        let mut buf = std::mem::take(&mut lines.buf);
        buf.push(b'\n');
        let limit = self.opts.max_document_bytes as u64;
        let room = limit.saturating_sub(buf.len() as u64);
        let mut rest = (&mut lines.inner).take(room + 1);
        if let Err(e) = rest.read_to_end(&mut buf) {
            self.dead(Reason::ReadError, e.to_string(), line, b"");
            self.end_current(self.current_top);
            return;
        }
        if buf.len() as u64 > limit {
            let keep = buf[..DEAD_LETTER_PREFIX_BYTES.min(buf.len())].to_vec();
            self.dead(
                Reason::LineTooLong,
                format!("JSON document exceeds {limit} bytes"),
                line,
                &keep,
            );
            self.end_current(self.current_top);
            return;
        }
        self.current = Some(Current::Doc {
            buf,
            pos: 0,
            line,
            first: true,
        });
    }

    fn step_doc(&mut self, buf: Vec<u8>, mut pos: usize, mut line: u64, first: bool) {
        while pos < buf.len() && buf[pos].is_ascii_whitespace() {
            if buf[pos] == b'\n' {
                line += 1;
            }
            pos += 1;
        }
        if pos >= buf.len() {
            self.end_current(self.current_top);
            return;
        }
        let mut it = serde_json::Deserializer::from_slice(&buf[pos..])
            .into_iter::<&serde_json::value::RawValue>();
        match it.next() {
            Some(Ok(raw)) => {
                let end = pos + it.byte_offset();
                parse_line_into(raw.get().as_bytes(), &self.parse_opts, &mut self.scratch);
                let rawb = raw.get().as_bytes().to_vec();
                self.emit(line, &rawb);
                line += memchr::memchr_iter(b'\n', &buf[pos..end]).count() as u64;
                self.current = Some(Current::Doc {
                    buf,
                    pos: end,
                    line,
                    first: false,
                });
            }
            Some(Err(e)) if first && e.classify() != serde_json::error::Category::Eof => {
                // Not a document after all (say, a cut-off first line of a
                // JSON-lines file): read the same bytes as lines.
                let mut lines = LineReader::new(
                    Box::new(Cursor::new(buf)) as BoxRead,
                    self.opts.max_line_bytes,
                );
                lines.line = line - 1;
                self.current = Some(Current::Lines {
                    lines,
                    first: false,
                });
            }
            Some(Err(e)) => {
                let rest = &buf[pos..];
                let keep = rest[..rest.len().min(DEAD_LETTER_PREFIX_BYTES)].to_vec();
                let reason = if e.classify() == serde_json::error::Category::Eof {
                    Reason::TruncatedJson
                } else {
                    Reason::InvalidJson
                };
                self.dead(reason, e.to_string(), line, &keep);
                self.end_current(self.current_top);
            }
            None => self.end_current(self.current_top),
        }
    }
}

/// Whether `line` is the start of a JSON value that goes on past it.
fn is_incomplete(line: &[u8]) -> bool {
    match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
        Ok(_) => false,
        Err(e) => e.classify() == serde_json::error::Category::Eof,
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

enum TarMsg {
    Start(String),
    Data(Vec<u8>),
    End,
    Error(String),
    Done,
}

/// Reads a compressed tar in stored order and sends each file member's
/// bytes in chunks; stops early when the reader is gone.
fn stream_tar(path: &Path, count: Arc<AtomicU64>, tx: &SyncSender<TarMsg>) -> io::Result<()> {
    let file = BufReader::with_capacity(
        256 << 10,
        Counting {
            inner: File::open(path)?,
            count,
        },
    );
    let name = lower_name(&path.display().to_string());
    let dec: Box<dyn Read> = if name.ends_with(".gz") || name.ends_with(".tgz") {
        Box::new(flate2::bufread::MultiGzDecoder::new(file))
    } else if name.ends_with(".bz2") || name.ends_with(".tbz2") {
        Box::new(bzip2::bufread::MultiBzDecoder::new(file))
    } else {
        Box::new(zstd::stream::read::Decoder::with_buffer(file)?)
    };
    let mut ar = tar::Archive::new(dec);
    for e in ar.entries()? {
        let mut e = e?;
        if !e.header().entry_type().is_file() {
            continue;
        }
        let name = e.path()?.to_string_lossy().into_owned();
        if name.rsplit('/').next().is_some_and(|n| n.starts_with('.')) {
            continue;
        }
        if tx.send(TarMsg::Start(name)).is_err() {
            return Ok(());
        }
        loop {
            let mut chunk = vec![0u8; 256 << 10];
            let n = e.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            chunk.truncate(n);
            if tx.send(TarMsg::Data(chunk)).is_err() {
                return Ok(());
            }
        }
        if tx.send(TarMsg::End).is_err() {
            return Ok(());
        }
    }
    let _ = tx.send(TarMsg::Done);
    Ok(())
}

/// One member of a streamed tar, as a `Read`.
struct TarMember {
    rx: Arc<Mutex<Receiver<TarMsg>>>,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

/// The next message of a streamed tar; `Done` once its thread has ended.
fn recv_tar(rx: &Mutex<Receiver<TarMsg>>) -> TarMsg {
    rx.lock()
        .map_or(TarMsg::Done, |r| r.recv().unwrap_or(TarMsg::Done))
}

impl Read for TarMember {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() && !self.done {
            match recv_tar(&self.rx) {
                TarMsg::Data(d) => {
                    self.buf = d;
                    self.pos = 0;
                }
                TarMsg::Error(e) => {
                    self.done = true;
                    return Err(io::Error::other(format!("tar: {e}")));
                }
                // `Start`/`Done` cannot come before `End`; treat them as the end.
                TarMsg::End | TarMsg::Start(_) | TarMsg::Done => self.done = true,
            }
        }
        let n = (self.buf.len() - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for TarMember {
    /// A member left unread (a read error in it) is drained, so that the
    /// next one starts at its own header.
    fn drop(&mut self) {
        while !self.done {
            match recv_tar(&self.rx) {
                TarMsg::Data(_) => {}
                _ => self.done = true,
            }
        }
    }
}

/// One CSV record parsed on its own.
fn parse_csv_record(bytes: &[u8], delimiter: u8, rec: &mut ByteRecord) -> csv::Result<bool> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(bytes.len().clamp(64, 64 << 10))
        .from_reader(bytes)
        .read_byte_record(rec)
}

/// Whether a CSV quoted field is still open at the end of `line`, given
/// whether one was open at its start; quoting rules as the `csv` crate reads
/// them (a quote opens a field only as its first byte, `""` is a quote).
fn quote_open_after(line: &[u8], delimiter: u8, mut open: bool) -> bool {
    let mut field_start = !open;
    let mut i = 0;
    while i < line.len() {
        let c = line[i];
        if open {
            if c == b'"' {
                if line.get(i + 1) == Some(&b'"') {
                    i += 2;
                    continue;
                }
                open = false;
            }
            field_start = false;
        } else if c == delimiter {
            field_start = true;
        } else {
            open = c == b'"' && field_start;
            field_start = false;
        }
        i += 1;
    }
    open
}

enum CsvLine {
    Ok(u64, Vec<u8>),
    TooLong(u64, u64, Vec<u8>),
}

enum CsvRecord {
    /// A whole record, its physical lines joined by `\n`.
    Record {
        line: u64,
        bytes: Vec<u8>,
    },
    TooLong {
        line: u64,
        len: u64,
        prefix: Vec<u8>,
    },
    /// A quoted field that did not close within the bounds: its first line.
    Unterminated {
        line: u64,
        first: Vec<u8>,
        lines: usize,
    },
    Err(io::Error, u64),
    Eof,
}

/// Cuts CSV input into records along physical lines. A quoted field may
/// span lines, but only `max_lines` of them and `max_bytes` in all: one stray
/// quote then costs one dead-lettered line instead of swallowing (and
/// buffering) the rest of the file, and the lines read ahead are read again
/// as records of their own.
struct CsvSplit {
    lines: LineReader<BoxRead>,
    ahead: VecDeque<CsvLine>,
    /// A read error met while reading ahead, reported after `ahead` drains.
    error: Option<io::Error>,
    delimiter: u8,
    max_bytes: usize,
    max_lines: usize,
}

impl CsvSplit {
    fn physical(&mut self) -> io::Result<Option<CsvLine>> {
        if let Some(l) = self.ahead.pop_front() {
            return Ok(Some(l));
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        Ok(match self.lines.next_line() {
            Line::Ok => Some(CsvLine::Ok(
                self.lines.line,
                std::mem::take(&mut self.lines.buf),
            )),
            Line::TooLong(len) => Some(CsvLine::TooLong(
                self.lines.line,
                len,
                std::mem::take(&mut self.lines.buf),
            )),
            Line::Eof => None,
            Line::Err(e) => return Err(e),
        })
    }

    fn next(&mut self) -> CsvRecord {
        let (line, mut bytes) = match self.physical() {
            Ok(None) => return CsvRecord::Eof,
            Err(e) => return CsvRecord::Err(e, self.lines.line + 1),
            Ok(Some(CsvLine::TooLong(line, len, prefix))) => {
                return CsvRecord::TooLong { line, len, prefix };
            }
            Ok(Some(CsvLine::Ok(n, b))) => (n, b),
        };
        if !quote_open_after(&bytes, self.delimiter, false) {
            return CsvRecord::Record { line, bytes };
        }
        let first_len = bytes.len();
        let mut read: Vec<CsvLine> = Vec::new();
        while read.len() + 1 < self.max_lines && bytes.len() <= self.max_bytes {
            match self.physical() {
                Ok(Some(CsvLine::Ok(n, b))) => {
                    let open = quote_open_after(&b, self.delimiter, true);
                    bytes.push(b'\n');
                    bytes.extend_from_slice(&b);
                    read.push(CsvLine::Ok(n, b));
                    if !open {
                        return CsvRecord::Record { line, bytes };
                    }
                }
                Ok(Some(long)) => {
                    read.push(long);
                    break;
                }
                Ok(None) => break,
                Err(e) => {
                    self.error = Some(e);
                    break;
                }
            }
        }
        let lines = read.len() + 1;
        for l in read.into_iter().rev() {
            self.ahead.push_front(l);
        }
        bytes.truncate(first_len);
        CsvRecord::Unterminated {
            line,
            first: bytes,
            lines,
        }
    }
}

enum Line {
    Ok,
    TooLong(u64),
    Eof,
    Err(io::Error),
}

/// Splits a byte stream on `\n` with a bound on what one line may buffer.
struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    max: usize,
    line: u64,
    eof: bool,
}

impl<R: BufRead> LineReader<R> {
    fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            max,
            line: 0,
            eof: false,
        }
    }

    /// Reads the next line into `buf` (without `\n` or `\r\n`). A line over
    /// `max` bytes keeps only a prefix and is skipped to its end.
    fn next_line(&mut self) -> Line {
        self.buf.clear();
        if self.eof {
            return Line::Eof;
        }
        let mut total: u64 = 0;
        let mut too_long = false;
        let mut any = false;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.eof = true;
                    return Line::Err(e);
                }
            };
            if avail.is_empty() {
                self.eof = true;
                if !any {
                    return Line::Eof;
                }
                break;
            }
            any = true;
            let (chunk, found) = match memchr::memchr(b'\n', avail) {
                Some(i) => (&avail[..i], true),
                None => (avail, false),
            };
            total += chunk.len() as u64;
            if !too_long {
                if self.buf.len() + chunk.len() > self.max {
                    too_long = true;
                    let keep = DEAD_LETTER_PREFIX_BYTES.saturating_sub(self.buf.len());
                    self.buf.extend_from_slice(&chunk[..keep.min(chunk.len())]);
                    self.buf.truncate(DEAD_LETTER_PREFIX_BYTES);
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            let n = chunk.len() + usize::from(found);
            self.inner.consume(n);
            if found {
                break;
            }
        }
        self.line += 1;
        if too_long {
            return Line::TooLong(total);
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Line::Ok
    }
}
