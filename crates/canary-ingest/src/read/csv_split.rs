//! CSV input cut into records along physical lines, with a bound on what
//! one stray quote can swallow.

use super::*;

/// One CSV record parsed on its own.
pub(super) fn parse_csv_record(
    bytes: &[u8],
    delimiter: u8,
    rec: &mut ByteRecord,
) -> csv::Result<bool> {
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
pub(super) fn quote_open_after(line: &[u8], delimiter: u8, mut open: bool) -> bool {
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

pub(super) enum CsvLine {
    Ok(u64, Vec<u8>),
    TooLong(u64, u64, Vec<u8>),
}

pub(super) enum CsvRecord {
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
pub(super) struct CsvSplit {
    pub(super) lines: LineReader<BoxRead>,
    pub(super) ahead: VecDeque<CsvLine>,
    /// A read error met while reading ahead, reported after `ahead` drains.
    pub(super) error: Option<io::Error>,
    pub(super) delimiter: u8,
    pub(super) max_bytes: usize,
    pub(super) max_lines: usize,
}

impl CsvSplit {
    pub(super) fn physical(&mut self) -> io::Result<Option<CsvLine>> {
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

    pub(super) fn next(&mut self) -> CsvRecord {
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

impl Reader {
    pub(super) fn start_csv(&mut self, dec: Box<dyn Read + Send>, tsv: bool, top: bool) {
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
}
