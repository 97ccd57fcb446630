//! Append-only storage for the memory store's tables: past its first chunk, growth never
//! copies what is stored, so a tenant of millions of customers neither pauses to move them
//! nor needs twice their memory while it grows (as one doubling `Vec` would). The first chunk
//! grows as a `Vec` does, from a few elements, so that a tenant with few customers costs
//! little: a store may hold thousands of tenants.

use super::pages::advise_huge;
use crate::error::{Error, Result};
use std::ops::{Index, IndexMut};

/// The index no element has: a [`Chunked`] never hands out `u32::MAX`, so the store uses it
/// for "none" wherever it names a slot, an entry, an event, a name or a scope by number.
pub(super) const NONE: u32 = u32::MAX;

const FIRST_BITS: u32 = 14;
const FIRST_LEN: usize = 1 << FIRST_BITS;
/// Chunks `0..=DOUBLINGS` double in length; every later chunk is as long as the last of them.
const DOUBLINGS: u32 = 4;
const FULL_BITS: u32 = FIRST_BITS + DOUBLINGS;
/// The first index of the first full-length chunk.
const FULL_FROM: u32 = geometric_start(DOUBLINGS + 1);

/// A vector in chunks that grow with it (16,384 elements, then 32,768, up to 262,144 from
/// the fifth on), indexed by `u32`. A small table keeps small chunks (the first grows from a
/// few elements); a large one gets chunks of several MiB, big enough for huge pages, and
/// never one so large that growing into it leaves the allocator's smaller free memory
/// stranded.
pub(super) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: u32,
}

/// Where index `ix` lives: (chunk, offset). Below [`FULL_FROM`] chunk `k` starts at
/// `FIRST_LEN * (2^k - 1)`, so the chunk is the highest bit of `ix / FIRST_LEN + 1`.
#[inline]
fn locate(ix: u32) -> (usize, usize) {
    if ix < FULL_FROM {
        let q = (ix >> FIRST_BITS) + 1;
        let chunk = u32::BITS - 1 - q.leading_zeros();
        (chunk as usize, (ix - geometric_start(chunk)) as usize)
    } else {
        let past = ix - FULL_FROM;
        let chunk = DOUBLINGS + 1 + (past >> FULL_BITS);
        (chunk as usize, (past & ((1 << FULL_BITS) - 1)) as usize)
    }
}

const fn geometric_start(k: u32) -> u32 {
    ((1 << k) - 1) << FIRST_BITS
}

/// The first index of chunk `k`.
fn chunk_start(k: u32) -> u32 {
    if k <= DOUBLINGS + 1 {
        geometric_start(k)
    } else {
        FULL_FROM + ((k - DOUBLINGS - 1) << FULL_BITS)
    }
}

/// How many elements chunk `k` holds; the last chunk ends at the last index.
fn chunk_len(k: u32) -> usize {
    let len = FIRST_LEN << k.min(DOUBLINGS);
    len.min((u32::MAX - chunk_start(k)) as usize)
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
            return Err(Error::Capacity(format!(
                "a tenant of the memory store holds at most 2^32 - 1 {what}"
            )));
        }
        Ok(self.len)
    }

    /// Appends an element and returns its index. Call [`Chunked::next_index`] first: past
    /// the last index this panics.
    pub(super) fn push(&mut self, value: T) -> u32 {
        let ix = self.len;
        assert!(ix != u32::MAX, "chunked vector is full");
        let (chunk, _) = locate(ix);
        if chunk == self.chunks.len() {
            // The first chunk grows as it fills (moving at most its 16,384 elements); later
            // ones are made whole, and never move.
            let fresh = if chunk == 0 {
                Vec::new()
            } else {
                let mut fresh = Vec::with_capacity(chunk_len(chunk as u32));
                advise_huge(&mut fresh);
                fresh
            };
            self.chunks.push(fresh);
        }
        self.chunks[chunk].push(value);
        self.len += 1;
        ix
    }

    /// The element at `ix`, if any.
    pub(super) fn get(&self, ix: u32) -> Option<&T> {
        let (chunk, offset) = locate(ix);
        self.chunks.get(chunk)?.get(offset)
    }

    /// Every element, in index order.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flatten()
    }

    /// The bytes its chunks hold room for (for tests of what a table costs).
    #[cfg(test)]
    pub(super) fn allocated(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.capacity() * std::mem::size_of::<T>())
            .sum()
    }
}

impl<T> Index<u32> for Chunked<T> {
    type Output = T;

    #[inline]
    fn index(&self, ix: u32) -> &T {
        let (chunk, offset) = locate(ix);
        &self.chunks[chunk][offset]
    }
}

impl<T> IndexMut<u32> for Chunked<T> {
    #[inline]
    fn index_mut(&mut self, ix: u32) -> &mut T {
        let (chunk, offset) = locate(ix);
        &mut self.chunks[chunk][offset]
    }
}

const TEXT_CHUNK_BITS: u32 = 20;
const TEXT_CHUNK: usize = 1 << TEXT_CHUNK_BITS;
const MAX_TEXT_CHUNKS: usize = 1 << (32 - TEXT_CHUNK_BITS);
/// The room the first chunk starts with.
const FIRST_TEXT_CHUNK: usize = 256;

/// Where an arena keeps one text: 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TextRef {
    /// Chunk index in the top 12 bits, offset in the chunk in the low 20.
    at: u32,
    len: u32,
}

/// Short texts packed into 1 MiB strings: one allocation per megabyte instead of one per
/// text, and no per-text header. The first string grows from a few hundred bytes, so a tenant
/// with few texts costs little; texts longer than a chunk get a chunk of their own. Holds up
/// to 4,096 chunks (4 GiB of short texts).
#[derive(Default)]
pub(super) struct TextArena {
    chunks: Vec<String>,
}

impl TextArena {
    /// Stores a text.
    pub(super) fn push(&mut self, text: &str) -> Result<TextRef> {
        let len = u32::try_from(text.len()).map_err(|_| Error::Capacity("text longer than 4 GiB".into()))?;
        // A chunk of its own (longer than `TEXT_CHUNK`) never fits another.
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.len() + text.len() <= TEXT_CHUNK);
        if !fits {
            if self.chunks.len() == MAX_TEXT_CHUNKS {
                return Err(Error::Capacity(
                    "a tenant's text arena in the memory store is full (4 GiB)".into(),
                ));
            }
            let room = if self.chunks.is_empty() {
                FIRST_TEXT_CHUNK
            } else {
                TEXT_CHUNK
            };
            self.chunks.push(String::with_capacity(room.max(text.len())));
        }
        let chunk = self.chunks.len() - 1;
        let last = &mut self.chunks[chunk];
        if last.capacity() - last.len() < text.len() {
            // The first chunk doubles, up to `TEXT_CHUNK` (not past it, as `String` might).
            let want = (last.capacity() * 2).clamp(last.len() + text.len(), TEXT_CHUNK);
            last.reserve_exact(want - last.len());
        }
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

    /// The bytes its chunks hold room for (for tests of what a table costs).
    #[cfg(test)]
    pub(super) fn allocated(&self) -> usize {
        self.chunks.iter().map(String::capacity).sum()
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

    /// The text's bytes (the store compares them with [`is`](Self::is)).
    #[cfg(test)]
    pub(super) fn as_bytes<'a>(&'a self, arena: &'a TextArena) -> &'a [u8] {
        match self.spilled() {
            Some(r) => arena.get(r).as_bytes(),
            None => &self.bytes[..self.len as usize],
        }
    }

    /// Whether the text's bytes are `value`. A text kept in place is compared without a
    /// call to `memcmp`: identity values are short, and the call costs more than comparing.
    #[inline]
    pub(super) fn is(&self, value: &[u8], arena: &TextArena) -> bool {
        match self.spilled() {
            Some(r) => arena.get(r).as_bytes() == value,
            None => self.len as usize == value.len() && short_eq(&self.bytes[..value.len()], value),
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

    /// Overwrites the text (in place or in the arena) with NULs.
    pub(super) fn scrub(&mut self, arena: &mut TextArena) {
        match self.spilled() {
            Some(r) => arena.scrub(r),
            None => self.bytes = [0; INLINE_TEXT],
        }
    }
}

/// `a == b` for slices of one length of at most 32 bytes, by two loads from each end that
/// overlap (or meet) in the middle.
#[inline]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    debug_assert!(a.len() == b.len() && a.len() <= 32);
    fn ends<const N: usize>(s: &[u8]) -> (&[u8; N], &[u8; N]) {
        (
            s.first_chunk().expect("long enough"),
            s.last_chunk().expect("long enough"),
        )
    }
    match a.len() {
        0 => true,
        1..=3 => a[0] == b[0] && a[a.len() / 2] == b[b.len() / 2] && a[a.len() - 1] == b[b.len() - 1],
        4..=7 => ends::<4>(a) == ends::<4>(b),
        8..=16 => ends::<8>(a) == ends::<8>(b),
        _ => ends::<16>(a) == ends::<16>(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_eq_is_slice_equality() {
        // Every length up to 32, each byte position differing in turn.
        for len in 0..=32usize {
            let a: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
            assert!(short_eq(&a, &a.clone()), "{len}");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!short_eq(&a, &b), "byte {at} of {len}");
            }
        }
    }

    #[test]
    fn a_short_text_is_its_value_and_no_other() {
        let mut arena = TextArena::default();
        for text in [
            "",
            "a",
            "13812345678",
            "user1@example.com",
            &"x".repeat(INLINE_TEXT),
            &"y".repeat(INLINE_TEXT + 9),
        ] {
            let kept = ShortText::new(text, &mut arena).unwrap();
            assert!(kept.is(text.as_bytes(), &arena), "{text:?}");
            let longer = format!("{text}z");
            assert!(!kept.is(longer.as_bytes(), &arena), "{text:?} + z");
            if let Some((_, shorter)) = text.as_bytes().split_last() {
                assert!(!kept.is(shorter, &arena), "{text:?} less a byte");
            }
        }
    }

    #[test]
    fn chunked_indexes_across_chunks() {
        let mut v = Chunked::default();
        // The five growing chunks, two full ones and 5 elements in an eighth.
        let full = 1u32 << FULL_BITS;
        let n = FULL_FROM + 2 * full + 5;
        for i in 0..n {
            assert_eq!(v.push(i * 2), i);
        }
        assert_eq!(v.len(), n);
        assert_eq!(v.chunks.len(), 8);
        let edges = [FIRST_LEN as u32 - 1, FIRST_LEN as u32, FULL_FROM - 1, FULL_FROM];
        for i in (0..n).step_by(97).chain(edges).chain([FULL_FROM + full, n - 1]) {
            assert_eq!(v[i], i * 2);
        }
        v[7] = 1;
        assert_eq!(v.get(7), Some(&1));
        assert_eq!(v.get(v.len()), None);
        assert!(v.iter().skip(8).zip(8..).all(|(x, i)| *x == i * 2));
        assert_eq!(v.iter().count(), v.len() as usize);
    }

    #[test]
    fn chunks_double_and_cover_the_index_space() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(FIRST_LEN as u32 - 1), (0, FIRST_LEN - 1));
        assert_eq!(locate(FIRST_LEN as u32), (1, 0));
        assert_eq!(locate(3 * FIRST_LEN as u32), (2, 0));
        assert_eq!(locate(3 * FIRST_LEN as u32 - 1), (1, 2 * FIRST_LEN - 1));
        // The last index (u32::MAX is the sentinel) is the last element of the last chunk.
        let (last, offset) = locate(u32::MAX - 1);
        assert_eq!(offset + 1, chunk_len(last as u32));
        assert_eq!(chunk_len(DOUBLINGS), chunk_len(DOUBLINGS + 1));
        // Each chunk starts where the one before ends.
        for k in 1..=last as u32 {
            let start = chunk_start(k) as usize;
            assert_eq!(start, chunk_start(k - 1) as usize + chunk_len(k - 1));
            assert_eq!(locate(chunk_start(k)), (k as usize, 0));
        }
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
    fn small_tables_start_small_and_chunks_stay_bounded() {
        let mut a = TextArena::default();
        a.push("x").unwrap();
        assert_eq!(a.chunks[0].capacity(), FIRST_TEXT_CHUNK);
        // 2.2 MB of short texts: two full chunks and a third, none past its size.
        for _ in 0..200_000 {
            a.push("filler text").unwrap();
        }
        assert_eq!(a.chunks.len(), 3);
        assert!(a.chunks.iter().all(|c| c.capacity() <= TEXT_CHUNK));
        let mut v = Chunked::default();
        v.push(1u64);
        assert!(v.chunks[0].capacity() < 16);
        for i in 1..FIRST_LEN as u64 + 1 {
            v.push(i);
        }
        // The first chunk filled by growing; the second was made whole.
        assert_eq!(v.chunks[1].capacity(), chunk_len(1));
        assert_eq!((v[0], v[FIRST_LEN as u32]), (1, FIRST_LEN as u64));
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
