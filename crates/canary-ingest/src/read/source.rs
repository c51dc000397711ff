//! What the reader reads: command-line arguments as sources (stdin,
//! paths, directories, globs), and the byte streams under them.

use super::*;

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

/// Counts bytes as they are read from disk, before decompression.
pub(super) struct Counting<R> {
    pub(super) inner: R,
    pub(super) count: Arc<AtomicU64>,
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
pub(super) struct Stoppable {
    pub(super) rx: Receiver<io::Result<Vec<u8>>>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) chunk: Vec<u8>,
    pub(super) pos: usize,
    pub(super) ended: bool,
}

impl Stoppable {
    const POLL: std::time::Duration = std::time::Duration::from_millis(100);

    pub(super) fn spawn<R: Read>(
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

pub(super) fn is_hidden(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Regular files under `dir`, recursively, in sorted path order (dotfiles skipped).
pub(super) fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), IngestError> {
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

pub(super) fn lower_name(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// The name without a compression suffix, lowercased (`x.csv.gz` -> `x.csv`).
pub(super) fn inner_name(name: &str) -> String {
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

    pub(super) fn add_path(&mut self, p: PathBuf) -> Result<(), IngestError> {
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

    pub(super) fn push_file(&mut self, path: PathBuf, size: Option<u64>) {
        self.bytes_total = match (self.bytes_total, size) {
            (Some(t), Some(s)) => Some(t + s),
            _ => None,
        };
        self.queue.push_back(Input::File { path, size });
    }
}
