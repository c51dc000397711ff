//! Twitter Stream Grab tars, read in stored order on a thread of their own.

use super::*;

pub(super) enum TarMsg {
    Start(String),
    Data(Vec<u8>),
    End,
    Error(String),
    Done,
}

/// Reads a compressed tar in stored order and sends each file member's
/// bytes in chunks; stops early when the reader is gone.
pub(super) fn stream_tar(
    path: &Path,
    count: Arc<AtomicU64>,
    tx: &SyncSender<TarMsg>,
) -> io::Result<()> {
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
pub(super) struct TarMember {
    pub(super) rx: Arc<Mutex<Receiver<TarMsg>>>,
    pub(super) buf: Vec<u8>,
    pub(super) pos: usize,
    pub(super) done: bool,
}

/// The next message of a streamed tar; `Done` once its thread has ended.
pub(super) fn recv_tar(rx: &Mutex<Receiver<TarMsg>>) -> TarMsg {
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

impl Reader {
    /// Indexes a plain tar's members by seeking past their data, then queues
    /// them sorted by name: Stream Grab tars hold `dd/hh/mm.json.bz2`, and
    /// sorted names are time order.
    pub(super) fn open_tar(&mut self, path: PathBuf, size: Option<u64>) {
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
    pub(super) fn open_tar_stream(&mut self, path: PathBuf, size: Option<u64>) {
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
}
