//! The reader thread: reads the file in newline-aligned chunks and parses each, one chunk
//! ahead of the resolver. Spent chunks come back to it to be parsed into again. It also keeps
//! every record's id and truth label for the end of the run, so the resolver need not.

use crate::packed::{Interner, PackedStrings};
use crate::record::{parse_into, parse_text_into, record_id};
use oneid::ResolveRequest;
use std::io::Read;
use std::path::PathBuf;
use std::sync::mpsc;

/// Records are read and parsed in chunks of about this many bytes.
const CHUNK_BYTES: usize = 1 << 20;

/// One parsed chunk: the requests (each request's cause is its record id).
#[derive(Default)]
pub struct Chunk {
    pub requests: Vec<ResolveRequest>,
    /// Lines that could not be parsed: (line number, error).
    pub bad_lines: Vec<(usize, String)>,
}

/// Every record's id and truth label, in file order (records of lines that could not be
/// parsed have none).
#[derive(Default)]
pub struct Labels {
    pub record_ids: PackedStrings,
    /// Truth labels as numbers; only kept while every record so far has one.
    pub truths: Vec<u32>,
    pub all_have_truth: bool,
    truth_ids: Interner,
}

/// The reader's ends: the parsed chunks, in file order (or the error that stopped it), where
/// to send them back once they are spent, and the thread, which returns the labels.
pub struct ReaderEnds {
    pub chunks: mpsc::Receiver<std::io::Result<Chunk>>,
    pub spent: mpsc::Sender<Chunk>,
    pub thread: std::thread::JoinHandle<Labels>,
}

/// Starts the reader thread on a file.
pub fn spawn_reader(path: PathBuf) -> std::io::Result<ReaderEnds> {
    let (tx, rx) = mpsc::sync_channel(1);
    let (spent_tx, spent_rx) = mpsc::channel();
    let thread = std::thread::Builder::new().name("reader".into()).spawn(move || {
        let mut labels = Labels {
            all_have_truth: true,
            ..Labels::default()
        };
        if let Err(e) = read(path, &tx, spent_rx, &mut labels) {
            let _ = tx.send(Err(e));
        }
        labels
    })?;
    Ok(ReaderEnds {
        chunks: rx,
        spent: spent_tx,
        thread,
    })
}

fn read(
    path: PathBuf,
    tx: &mpsc::SyncSender<std::io::Result<Chunk>>,
    spent: mpsc::Receiver<Chunk>,
    labels: &mut Labels,
) -> std::io::Result<()> {
    let mut file = std::fs::File::open(&path)?;
    let mut spent_chunks = Vec::new();
    // One buffer for the whole file: each chunk is read in after the partial line the last
    // one left, without zeroing the space first.
    let mut buf: Vec<u8> = Vec::new();
    let mut line_no = 1;
    let mut first_read = true;
    loop {
        buf.reserve(CHUNK_BYTES);
        let n = (&mut file).take(CHUNK_BYTES as u64).read_to_end(&mut buf)?;
        // A byte-order mark, which Windows tools put before UTF-8 text, is not part of the
        // first record. Checked on the first read only: later ones append to a partial line.
        if first_read {
            first_read = false;
            if buf.starts_with(b"\xEF\xBB\xBF") {
                buf.drain(..3);
            }
        }
        let eof = n == 0;
        let cut = if eof {
            buf.len()
        } else {
            memchr::memrchr(b'\n', &buf).map_or(0, |p| p + 1)
        };
        if cut > 0 {
            // A spent chunk if one has come back.
            spent_chunks.extend(spent.try_iter());
            let mut chunk = spent_chunks.pop().unwrap_or_default();
            line_no += parse_chunk(&buf[..cut], line_no, &mut chunk, labels);
            if tx.send(Ok(chunk)).is_err() {
                return Ok(());
            }
            buf.drain(..cut);
        }
        if eof {
            return Ok(());
        }
    }
}

/// Parses a chunk of whole lines into `chunk`, over what it held before (its requests are
/// rewritten in place, their strings reused: no allocation for them, and no freeing on another
/// thread, which costs mimalloc more). Returns how many lines the chunk held. Blank lines are
/// skipped (but counted).
fn parse_chunk(bytes: &[u8], first_line: usize, chunk: &mut Chunk, labels: &mut Labels) -> usize {
    chunk.bad_lines.clear();
    let mut lines = 0;
    let mut records = 0;
    // UTF-8 is checked for the whole chunk at once, with SIMD (std's check, line by line, was
    // a tenth of the reader's work); a chunk that fails is read line by line, so that only its
    // bad lines are refused.
    let text = simdutf8::basic::from_utf8(bytes).ok();
    for line in Lines(bytes) {
        let line_no = first_line + lines;
        lines += 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        if records == chunk.requests.len() {
            chunk.requests.push(ResolveRequest::default());
        }
        let request = &mut chunk.requests[records];
        let parsed = match text {
            // Lines end at ASCII newlines, so each is a piece of the checked text.
            Some(text) => {
                let start = line.as_ptr() as usize - bytes.as_ptr() as usize;
                parse_text_into(&text[start..start + line.len()], request)
            }
            None => parse_into(line, request),
        };
        match parsed {
            Ok(truth) => {
                labels.record_ids.push(record_id(request));
                match truth {
                    // Labels stop mattering at the first record without one.
                    Some(t) if labels.all_have_truth => labels.truths.push(labels.truth_ids.intern(&t)),
                    Some(_) => {}
                    None => labels.all_have_truth = false,
                }
                records += 1;
            }
            // The half-written request is the next line's to rewrite.
            Err(e) => chunk.bad_lines.push((line_no, e)),
        }
    }
    chunk.requests.truncate(records);
    lines
}

/// The lines of a chunk: the pieces between newlines, and after the last one if anything
/// follows it.
struct Lines<'a>(&'a [u8]);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.0.is_empty() {
            return None;
        }
        let (line, rest) = match memchr::memchr(b'\n', self.0) {
            Some(i) => (&self.0[..i], &self.0[i + 1..]),
            None => (self.0, &[][..]),
        };
        self.0 = rest;
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;

    #[test]
    fn lines_split_like_slice_split_on_newlines() {
        for bytes in [
            &b""[..],
            b"a",
            b"a\n",
            b"a\nb",
            b"\n",
            b"\n\n",
            b"a\n\nb\n",
            b"\r\n x\r\n",
        ] {
            let mut before: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
            if bytes.last() == Some(&b'\n') || bytes.is_empty() {
                before.pop();
            }
            assert_eq!(Lines(bytes).collect::<Vec<_>>(), before, "{bytes:?}");
        }
    }
}
