//! Many small strings in one buffer: record ids and truth labels without an allocation each.

/// Strings packed into one buffer, numbered in the order they were pushed: one allocation
/// for millions of record ids or labels instead of one each.
#[derive(Default)]
pub struct PackedStrings {
    text: String,
    /// Where each string ends: 4 bytes each (2.15M record ids are 8.6 MB less than with
    /// `usize`), enough for 4 GiB of text.
    ends: Vec<u32>,
}

impl PackedStrings {
    /// Appends a string; returns its number.
    pub fn push(&mut self, s: &str) -> usize {
        self.text.push_str(s);
        let end = u32::try_from(self.text.len()).expect("record ids and labels fit in 4 GiB");
        self.ends.push(end);
        self.ends.len() - 1
    }

    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
}

/// Numbers for strings (truth labels): each distinct string packed once, found by hash.
#[derive(Default)]
pub struct Interner {
    strings: PackedStrings,
    /// The strings' numbers, by hash.
    table: hashbrown::HashTable<u32>,
    /// 32 bits of each string's hash, by number: growing the table rehashes from these, as
    /// re-reading a million strings in table order would cost a cache miss or two each.
    /// (Beside the numbers in the table they would take twice the memory: a table has
    /// more buckets than strings.)
    hash_bits: Vec<u32>,
    hasher: foldhash::fast::RandomState,
    /// The last number given. A person's records sit next to each other, and the lookup in a
    /// table of a million labels costs a few cache misses.
    last: Option<u32>,
}

/// The table hash of a string whose hash has these 32 bits: multiplying by an odd constant
/// spreads them into the top bits, which the table uses too.
fn spread(bits: u32) -> u64 {
    u64::from(bits).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> u32 {
        let ix = match self.last {
            Some(last) if self.strings.get(last as usize) == s => last,
            _ => self.look_up(s),
        };
        self.last = Some(ix);
        ix
    }

    fn look_up(&mut self, s: &str) -> u32 {
        use std::hash::BuildHasher;
        let bits = self.hasher.hash_one(s) as u32;
        let Self {
            strings,
            table,
            hash_bits,
            ..
        } = self;
        let found = table.find(spread(bits), |&ix| {
            hash_bits[ix as usize] == bits && strings.get(ix as usize) == s
        });
        if let Some(&ix) = found {
            return ix;
        }
        let ix = strings.push(s) as u32;
        hash_bits.push(bits);
        table.insert_unique(spread(bits), ix, |&i| spread(hash_bits[i as usize]));
        ix
    }
}

#[cfg(test)]
mod tests {
    use super::Interner;

    #[test]
    fn equal_strings_get_equal_numbers_and_distinct_ones_distinct_numbers() {
        let mut interner = Interner::default();
        // Enough distinct strings to grow the table several times, each seen twice, apart.
        let labels: Vec<String> = (0..5_000).map(|i| format!("p{i}")).collect();
        let first: Vec<u32> = labels.iter().map(|l| interner.intern(l)).collect();
        let again: Vec<u32> = labels.iter().rev().map(|l| interner.intern(l)).collect();
        assert_eq!(
            first,
            (0..5_000).collect::<Vec<u32>>(),
            "numbered in order of first sight"
        );
        assert!(
            again.into_iter().rev().eq(first),
            "the same number the second time"
        );
        assert_eq!(interner.intern("p17"), 17);
        assert_eq!(interner.intern("p17"), 17, "the last one, again");
        assert_eq!(interner.intern(""), 5_000, "a new string gets the next number");
    }
}
