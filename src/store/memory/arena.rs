//! Append-only storage for the memory store: growth never copies what is stored, so a
//! store of millions of customers neither pauses to move them nor needs twice their memory
//! while it grows (as one doubling `Vec` would).

use crate::error::{Error, Result};
use std::ops::{Index, IndexMut};

const CHUNK_BITS: u32 = 14;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;

/// A vector in fixed chunks of 16,384 elements, indexed by `u32`.
pub(super) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: u32,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    /// How many elements it holds.
    pub(super) fn len(&self) -> u32 {
        self.len
    }

    /// The index the next push will get, or an error when the `u32` index space (minus the
    /// `u32::MAX` sentinel) is used up.
    pub(super) fn next_index(&self, what: &str) -> Result<u32> {
        if self.len == u32::MAX {
            return Err(Error::Store(format!(
                "the memory store holds at most 2^32 - 1 {what}"
            )));
        }
        Ok(self.len)
    }

    /// Appends an element and returns its index. Call [`Chunked::next_index`] first: past
    /// the last index this panics.
    pub(super) fn push(&mut self, value: T) -> u32 {
        let ix = self.len;
        assert!(ix != u32::MAX, "chunked vector is full");
        if (ix as usize).is_multiple_of(CHUNK_LEN) {
            self.chunks.push(Vec::with_capacity(CHUNK_LEN));
        }
        self.chunks
            .last_mut()
            .expect("a chunk was just ensured")
            .push(value);
        self.len += 1;
        ix
    }

    /// The element at `ix`, if any.
    pub(super) fn get(&self, ix: u32) -> Option<&T> {
        self.chunks
            .get((ix >> CHUNK_BITS) as usize)?
            .get(ix as usize & (CHUNK_LEN - 1))
    }

    /// Every element, in index order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flatten()
    }
}

impl<T> Index<u32> for Chunked<T> {
    type Output = T;

    fn index(&self, ix: u32) -> &T {
        &self.chunks[(ix >> CHUNK_BITS) as usize][ix as usize & (CHUNK_LEN - 1)]
    }
}

impl<T> IndexMut<u32> for Chunked<T> {
    fn index_mut(&mut self, ix: u32) -> &mut T {
        &mut self.chunks[(ix >> CHUNK_BITS) as usize][ix as usize & (CHUNK_LEN - 1)]
    }
}

const TEXT_CHUNK_BITS: u32 = 20;
const TEXT_CHUNK: usize = 1 << TEXT_CHUNK_BITS;
const MAX_TEXT_CHUNKS: usize = 1 << (32 - TEXT_CHUNK_BITS);

/// Where an arena keeps one text: 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TextRef {
    /// Chunk index in the top 12 bits, offset in the chunk in the low 20.
    at: u32,
    len: u32,
}

/// Short texts packed into 1 MiB strings: one allocation per megabyte instead of one per
/// text, and no per-text header. Texts longer than a chunk get a chunk of their own. Holds
/// up to 4,096 chunks (4 GiB of short texts).
#[derive(Default)]
pub(super) struct TextArena {
    chunks: Vec<String>,
}

impl TextArena {
    /// Stores a text.
    pub(super) fn push(&mut self, text: &str) -> Result<TextRef> {
        let len = u32::try_from(text.len()).map_err(|_| Error::Store("text longer than 4 GiB".into()))?;
        let fits = text.len() <= TEXT_CHUNK
            && self
                .chunks
                .last()
                .is_some_and(|c| c.capacity() <= TEXT_CHUNK && c.capacity() - c.len() >= text.len());
        if !fits {
            if self.chunks.len() == MAX_TEXT_CHUNKS {
                return Err(Error::Store(
                    "the memory store's text arena is full (4 GiB)".into(),
                ));
            }
            self.chunks
                .push(String::with_capacity(TEXT_CHUNK.max(text.len())));
        }
        let chunk = self.chunks.len() - 1;
        let last = &mut self.chunks[chunk];
        let start = last.len() as u32;
        last.push_str(text);
        Ok(TextRef {
            at: ((chunk as u32) << TEXT_CHUNK_BITS) | start,
            len,
        })
    }

    /// A stored text.
    pub(super) fn get(&self, r: TextRef) -> &str {
        &self.chunks[(r.at >> TEXT_CHUNK_BITS) as usize][Self::range(r)]
    }

    fn range(r: TextRef) -> std::ops::Range<usize> {
        let start = (r.at & ((1 << TEXT_CHUNK_BITS) - 1)) as usize;
        start..start + r.len as usize
    }

    /// Whether any stored text contains `needle` (for tests of erasure).
    #[cfg(test)]
    pub(super) fn contains(&self, needle: &str) -> bool {
        self.chunks.iter().any(|c| c.contains(needle))
    }

    /// Overwrites a stored text with as many NULs, so an erased value leaves nothing behind.
    pub(super) fn scrub(&mut self, r: TextRef) {
        let nuls = "\0".repeat(r.len as usize);
        self.chunks[(r.at >> TEXT_CHUNK_BITS) as usize].replace_range(Self::range(r), &nuls);
    }
}

/// The bytes a [`ShortText`] keeps in place.
pub(super) const INLINE_TEXT: usize = 30;

/// `ShortText::len` of a text kept in the arena.
const SPILLED: u8 = u8::MAX;

/// A text of up to 30 bytes kept in place, or the place a [`TextArena`] keeps a longer one:
/// 31 bytes. Kept inside an identity entry, it puts the value in the cache lines the entry
/// is read from, so comparing a looked-up key costs no cache miss of its own.
#[derive(Clone, Copy)]
pub(super) struct ShortText {
    /// The length, or `SPILLED` (then `bytes` starts with the arena's `TextRef`).
    len: u8,
    bytes: [u8; INLINE_TEXT],
}

impl ShortText {
    /// Keeps `text` in place if it fits, in `arena` otherwise.
    pub(super) fn new(text: &str, arena: &mut TextArena) -> Result<Self> {
        let mut bytes = [0; INLINE_TEXT];
        if text.len() <= INLINE_TEXT {
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            return Ok(Self {
                len: text.len() as u8,
                bytes,
            });
        }
        let r = arena.push(text)?;
        bytes[..4].copy_from_slice(&r.at.to_le_bytes());
        bytes[4..8].copy_from_slice(&r.len.to_le_bytes());
        Ok(Self { len: SPILLED, bytes })
    }

    /// Where the arena keeps the text, if it is not in place.
    pub(super) fn spilled(&self) -> Option<TextRef> {
        let word = |i: usize| u32::from_le_bytes(self.bytes[i..i + 4].try_into().expect("4 bytes"));
        (self.len == SPILLED).then(|| TextRef {
            at: word(0),
            len: word(4),
        })
    }

    /// The text's bytes.
    pub(super) fn as_bytes<'a>(&'a self, arena: &'a TextArena) -> &'a [u8] {
        match self.spilled() {
            Some(r) => arena.get(r).as_bytes(),
            None => &self.bytes[..self.len as usize],
        }
    }

    /// The text.
    pub(super) fn as_str<'a>(&'a self, arena: &'a TextArena) -> &'a str {
        match self.spilled() {
            Some(r) => arena.get(r),
            // Only `new` fills the bytes, from a `str`, and it keeps all of it or none.
            None => std::str::from_utf8(&self.bytes[..self.len as usize]).expect("kept from a str"),
        }
    }

    /// The last byte kept in place: reading it loads the end of the holder's memory.
    pub(super) fn last_byte(&self) -> u8 {
        self.bytes[INLINE_TEXT - 1]
    }

    /// Overwrites the text (in place or in the arena) with NULs.
    pub(super) fn scrub(&mut self, arena: &mut TextArena) {
        match self.spilled() {
            Some(r) => arena.scrub(r),
            None => self.bytes = [0; INLINE_TEXT],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_indexes_across_chunks() {
        let mut v = Chunked::default();
        for i in 0..(3 * CHUNK_LEN as u32 + 5) {
            assert_eq!(v.push(i * 2), i);
        }
        assert_eq!(v.len(), 3 * CHUNK_LEN as u32 + 5);
        assert_eq!(v[CHUNK_LEN as u32], CHUNK_LEN as u32 * 2);
        v[7] = 1;
        assert_eq!(v.get(7), Some(&1));
        assert_eq!(v.get(v.len()), None);
        assert_eq!(v.iter().count(), v.len() as usize);
    }

    #[test]
    fn arena_keeps_short_and_long_texts() {
        let mut a = TextArena::default();
        let long = "长".repeat(TEXT_CHUNK);
        let refs: Vec<_> = ["", "a", "手机", &long, "after"]
            .iter()
            .map(|t| (a.push(t).unwrap(), *t))
            .collect();
        for _ in 0..100_000 {
            a.push("filler text").unwrap();
        }
        for (r, t) in refs {
            assert_eq!(a.get(r), t);
        }
    }

    #[test]
    fn short_texts_stay_in_place_up_to_30_bytes_and_scrub() {
        let mut a = TextArena::default();
        let long = "x".repeat(INLINE_TEXT + 1);
        let edge = "长".repeat(INLINE_TEXT / 3);
        for text in ["", "13812345678", &edge, &long, "手机号码"] {
            let mut short = ShortText::new(text, &mut a).unwrap();
            assert_eq!(short.as_str(&a), text);
            assert_eq!(short.as_bytes(&a), text.as_bytes());
            assert_eq!(short.spilled().is_some(), text.len() > INLINE_TEXT, "{text}");
            short.scrub(&mut a);
            assert_eq!(short.as_bytes(&a), vec![0; text.len()].as_slice());
        }
        // Scrubbing a spilled text leaves its neighbours alone.
        let before = a.push("before").unwrap();
        let mut spilled = ShortText::new(&long, &mut a).unwrap();
        let after = a.push("after").unwrap();
        spilled.scrub(&mut a);
        assert_eq!((a.get(before), a.get(after)), ("before", "after"));
    }
}
