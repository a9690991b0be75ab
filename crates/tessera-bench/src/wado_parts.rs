//! A streaming reader of `multipart/related` answers that counts parts and their body bytes
//! chunk by chunk (a study of gigabytes is never held), and optionally compares each part's
//! body with the bytes expected. A part with Content-Length is skipped by length (then the
//! delimiter must follow); one without is scanned for the delimiter.

/// The `boundary` parameter of a Content-Type, unquoted.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// What one part came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub len: u64,
    /// The body differed from the expected bytes (always false when none were given).
    pub differs: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of the body: the first delimiter may lack its leading CRLF.
    Start,
    /// Before the first delimiter (a preamble).
    Preamble,
    /// After `--boundary`: `--` (the end) or transport padding and CRLF.
    AfterDelimiter,
    Headers,
    /// A body with this many bytes left (Content-Length).
    Counted(u64),
    /// A counted body ended: the delimiter must come next.
    AfterCounted,
    /// A body without Content-Length: scanned for the delimiter.
    Scanned,
    Epilogue,
}

/// Longest part header block (or padding) accepted.
const MAX_HEADERS: usize = 16 * 1024;

pub struct Reader {
    /// `\r\n--boundary`
    delimiter: Vec<u8>,
    state: State,
    pending: Vec<u8>,
    parts: Vec<Part>,
    /// Expected body of part i (none: no comparison).
    expect: Vec<bytes::Bytes>,
}

impl Reader {
    pub fn new(boundary: &str, expect: Vec<bytes::Bytes>) -> Reader {
        Reader {
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            state: State::Start,
            pending: Vec::new(),
            parts: Vec::new(),
            expect,
        }
    }

    pub fn feed(&mut self, data: &[u8]) -> Result<(), String> {
        if self.pending.is_empty() {
            let used = self.consume(data)?;
            self.pending.extend_from_slice(&data[used..]);
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(data);
            let used = self.consume(&pending)?;
            pending.drain(..used);
            self.pending = pending;
        }
        if self.pending.len() > MAX_HEADERS + self.delimiter.len() {
            return Err("multipart: part headers too long or malformed".into());
        }
        Ok(())
    }

    /// The parts, once the closing delimiter was seen.
    pub fn finish(self) -> Result<Vec<Part>, String> {
        if self.state != State::Epilogue {
            return Err(format!(
                "multipart body ended early (no closing delimiter) after {} part(s)",
                self.parts.len()
            ));
        }
        Ok(self.parts)
    }

    /// Consume as much of `input` as can be decided; the rest waits for more.
    fn consume(&mut self, input: &[u8]) -> Result<usize, String> {
        let mut off = 0;
        while off < input.len() {
            let used = self.step(&input[off..])?;
            if used == 0 {
                break;
            }
            off += used;
        }
        Ok(off)
    }

    /// One step; 0 when more input is needed.
    fn step(&mut self, input: &[u8]) -> Result<usize, String> {
        let dlen = self.delimiter.len();
        match self.state {
            State::Start => {
                let bare = &self.delimiter[2..];
                if input.len() < bare.len() {
                    return Ok(0);
                }
                if input.starts_with(bare) {
                    self.state = State::AfterDelimiter;
                    Ok(bare.len())
                } else {
                    self.state = State::Preamble;
                    self.step(input)
                }
            }
            State::Preamble => match find(input, &self.delimiter) {
                Some(at) => {
                    self.state = State::AfterDelimiter;
                    Ok(at + dlen)
                }
                None => Ok(input.len().saturating_sub(dlen - 1)),
            },
            State::AfterDelimiter => {
                if input.len() < 2 {
                    return Ok(0);
                }
                if input.starts_with(b"--") {
                    self.state = State::Epilogue;
                    return Ok(2);
                }
                match find(input, b"\r\n") {
                    Some(at) if input[..at].iter().all(|b| *b == b' ' || *b == b'\t') => {
                        self.state = State::Headers;
                        Ok(at + 2)
                    }
                    Some(_) => Err("multipart: garbage after a delimiter".into()),
                    None => Ok(0),
                }
            }
            State::Headers => {
                let (end, block) = if input.starts_with(b"\r\n") {
                    (2, &input[..0])
                } else {
                    match find(input, b"\r\n\r\n") {
                        Some(at) => (at + 4, &input[..at]),
                        None => return Ok(0),
                    }
                };
                let length = content_length(block)?;
                self.parts.push(Part {
                    len: 0,
                    differs: false,
                });
                self.state = match length {
                    Some(0) => State::AfterCounted,
                    Some(n) => State::Counted(n),
                    None => State::Scanned,
                };
                Ok(end)
            }
            State::Counted(left) => {
                let take = input.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                self.body(&input[..take]);
                let left = left - take as u64;
                self.state = if left == 0 {
                    State::AfterCounted
                } else {
                    State::Counted(left)
                };
                Ok(take)
            }
            State::AfterCounted => {
                if input.len() < dlen {
                    return Ok(0);
                }
                if !input.starts_with(&self.delimiter) {
                    return Err(format!(
                        "multipart: part {} is longer than its Content-Length",
                        self.parts.len()
                    ));
                }
                self.end_part();
                self.state = State::AfterDelimiter;
                Ok(dlen)
            }
            State::Scanned => match find(input, &self.delimiter) {
                Some(at) => {
                    self.body(&input[..at]);
                    self.end_part();
                    self.state = State::AfterDelimiter;
                    Ok(at + dlen)
                }
                None => {
                    let safe = input.len().saturating_sub(dlen - 1);
                    self.body(&input[..safe]);
                    Ok(safe)
                }
            },
            State::Epilogue => Ok(input.len()),
        }
    }

    fn body(&mut self, bytes: &[u8]) {
        let index = self.parts.len() - 1;
        let part = &mut self.parts[index];
        if let Some(expect) = self.expect.get(index) {
            let start = part.len as usize;
            let end = start + bytes.len();
            if end > expect.len() || expect[start..end] != *bytes {
                part.differs = true;
            }
        }
        part.len += bytes.len() as u64;
    }

    fn end_part(&mut self) {
        let index = self.parts.len() - 1;
        if let Some(expect) = self.expect.get(index) {
            let part = &mut self.parts[index];
            if part.len != expect.len() as u64 {
                part.differs = true;
            }
        }
    }
}

fn content_length(block: &[u8]) -> Result<Option<u64>, String> {
    let text = String::from_utf8_lossy(block);
    for line in text.split("\r\n") {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                return value
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("multipart: bad part Content-Length {value:?}"));
            }
        }
    }
    Ok(None)
}

/// First position of `needle` in `hay`; the first byte is looked for with a plain loop.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (first, rest) = needle.split_first()?;
    let mut from = 0;
    while from + needle.len() <= hay.len() {
        let at = from
            + hay[from..=hay.len() - needle.len()]
                .iter()
                .position(|b| b == first)?;
        if &hay[at + 1..at + needle.len()] == rest {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn body(with_length: bool) -> Vec<u8> {
        let mut out = b"preamble\r\n".to_vec();
        for (i, part) in [&b"hello"[..], b"", b"--b-not\r\n-b"].iter().enumerate() {
            if i == 0 {
                out.extend_from_slice(b"--b\r\n");
            } else {
                out.extend_from_slice(b"\r\n--b \r\n");
            }
            out.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
            if with_length {
                out.extend_from_slice(format!("Content-Length: {}\r\n", part.len()).as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(part);
        }
        out.extend_from_slice(b"\r\n--b--\r\nepilogue");
        out
    }

    fn read(data: &[u8], chunk: usize, expect: Vec<Bytes>) -> Result<Vec<Part>, String> {
        let mut reader = Reader::new("b", expect);
        for piece in data.chunks(chunk) {
            reader.feed(piece)?;
        }
        reader.finish()
    }

    #[test]
    fn counts_parts_in_any_chunking_with_and_without_lengths() {
        for with_length in [true, false] {
            // Without the preamble the first delimiter has no CRLF before it.
            let full = body(with_length);
            for data in [&full[..], &full[10..]] {
                for chunk in [1, 2, 3, 7, 1000] {
                    let parts = read(data, chunk, vec![]).unwrap();
                    let lens: Vec<u64> = parts.iter().map(|p| p.len).collect();
                    assert_eq!(lens, [5, 0, 11], "length {with_length} chunk {chunk}");
                }
            }
        }
    }

    #[test]
    fn compares_bodies_and_notices_truncation() {
        let data = body(true);
        let expect = vec![
            Bytes::from_static(b"hello"),
            Bytes::from_static(b"x"),
            Bytes::from_static(b"--b-not\r\n-b"),
        ];
        let parts = read(&data, 4, expect).unwrap();
        let differs: Vec<bool> = parts.iter().map(|p| p.differs).collect();
        assert_eq!(differs, [false, true, false]);
        assert!(read(&data[..data.len() - 15], 4, vec![]).is_err());
    }

    #[test]
    fn boundary_parameter() {
        let ct = "multipart/related; type=\"application/dicom\"; boundary=\"a b\"";
        assert_eq!(boundary(ct).as_deref(), Some("a b"));
        assert_eq!(
            boundary("multipart/related;boundary=xyz").as_deref(),
            Some("xyz")
        );
        assert_eq!(boundary("application/dicom"), None);
    }
}
