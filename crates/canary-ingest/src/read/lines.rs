//! The line reader: `\n`-separated lines with a bound on what one line may buffer.

use super::*;

/// Whether `line` is the start of a JSON value that goes on past it.
pub(super) fn is_incomplete(line: &[u8]) -> bool {
    match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
        Ok(_) => false,
        Err(e) => e.classify() == serde_json::error::Category::Eof,
    }
}

pub(super) enum Line {
    Ok,
    TooLong(u64),
    Eof,
    Err(io::Error),
}

/// Splits a byte stream on `\n` with a bound on what one line may buffer.
pub(super) struct LineReader<R> {
    pub(super) inner: R,
    pub(super) buf: Vec<u8>,
    pub(super) max: usize,
    pub(super) line: u64,
    pub(super) eof: bool,
}

impl<R: BufRead> LineReader<R> {
    pub(super) fn new(inner: R, max: usize) -> Self {
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
    pub(super) fn next_line(&mut self) -> Line {
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
