//! Server-sent events framing (<https://html.spec.whatwg.org/multipage/server-sent-events.html>),
//! fed the body's bytes as they arrive in chunks of any size.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `message` when absent, as the spec says.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Splits a byte stream into events. Comment lines (`:thump`, the
/// keep-alives Mastodon sends) are dropped but still prove the connection
/// alive to whoever counts bytes.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// Events completed by `chunk`. A line cut between chunks waits for its end.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(n) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let mut line = &self.buf[start..start + n];
            start += n + 1;
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
            }
            let line = String::from_utf8_lossy(line);
            if line.is_empty() {
                if let Some(data) = self.data.take() {
                    out.push(SseEvent {
                        event: self.event.take().unwrap_or_else(|| "message".into()),
                        data,
                    });
                }
                self.event = None;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = Some(value.to_owned()),
                "data" => match &mut self.data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                },
                _ => {}
            }
        }
        self.buf.drain(..start);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_keepalives_are_dropped() {
        let body = b":thump\n\nevent: update\r\ndata: {\"a\":\ndata: 1}\r\n\r\nevent: delete\ndata: 1099\n\n";
        let mut whole = SseParser::default();
        let want = whole.push(body);
        assert_eq!(
            want,
            [
                SseEvent {
                    event: "update".into(),
                    data: "{\"a\":\n1}".into()
                },
                SseEvent {
                    event: "delete".into(),
                    data: "1099".into()
                },
            ]
        );
        for cut in 1..body.len() {
            let mut p = SseParser::default();
            let mut got = p.push(&body[..cut]);
            got.extend(p.push(&body[cut..]));
            assert_eq!(got, want, "cut at {cut}");
        }
    }
}
