//! Whole-file JSON documents (one array or object spanning lines).

use super::*;

impl Reader {
    /// Reads the rest of a file that is one JSON document (or several
    /// concatenated pretty-printed ones) into memory.
    pub(super) fn start_doc(&mut self, mut lines: LineReader<BoxRead>) {
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

    pub(super) fn step_doc(&mut self, buf: Vec<u8>, mut pos: usize, mut line: u64, first: bool) {
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
