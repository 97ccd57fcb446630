//! The fast reader of a record line: strings borrowed from the line, the request built
//! directly, in the memory of a spent one.
//!
//! It takes the plain lines real files are made of: an object with the keys `record_id`,
//! `source`, `ts`, `truth`, `identities` and `attrs` (each at most once, in any order), strings
//! without escapes or control characters, spaces as the only whitespace (and a CR at the
//! end), identities as `{"type", "value"}` objects, and attributes that are well-known
//! customer fields with a string, a non-negative integer of up to 18 digits, `true`, `false`
//! or `null`. Anything else, or anything the field rules reject, returns `None` and the line
//! goes to serde, which gives the meaning (and the error message) of every other line.

use oneid::{CustomerPatch, Field, FieldKind, FieldValue, IdentityInput, ResolveRequest};

/// Reads a plain line into `request`, all of it rewritten and the memory of its identities
/// and cause reused; returns the truth label. `None` when the line is not plain, and then
/// `request` is left half written.
pub fn parse_into<'a>(line: &'a [u8], request: &mut ResolveRequest) -> Option<Option<&'a str>> {
    // Checking UTF-8 once lets every string be sliced from the line as it is: JSON's
    // delimiters are ASCII, so they never cut a character.
    parse_text_into(std::str::from_utf8(line).ok()?, request)
}

/// [`parse_into`] of a line already known to be UTF-8 (its chunk was checked at once).
pub fn parse_text_into<'a>(line: &'a str, request: &mut ResolveRequest) -> Option<Option<&'a str>> {
    // A CRLF line end is whitespace to JSON; dropping the CR leaves no control characters.
    let line = line.strip_suffix('\r').unwrap_or(line);
    // Lines with escapes or control characters (both rare) are serde's. Without either, a
    // string is everything up to the next quote. Checking the whole line at once is cheaper
    // than checking string by string.
    if special(line.as_bytes()) {
        return None;
    }
    parse_plain(line, request)
}

/// Whether a line holds an escape or a control character (no early exit: the compiler makes
/// it a vector loop).
fn special(line: &[u8]) -> bool {
    line.iter()
        .fold(false, |special, &b| special | (b == b'\\') | (b < 0x20))
}

/// Reads a plain UTF-8 line without escapes or control characters.
fn parse_plain<'a>(line: &'a str, request: &mut ResolveRequest) -> Option<Option<&'a str>> {
    let mut c = Cursor::new(line);
    reset(request);
    // Each key at most once: serde rejects repeats.
    let mut seen = Seen::default();
    let (mut record_id, mut truth) = (None, None);
    c.eat(b'{')?;
    loop {
        let key = c.string()?;
        c.eat(b':')?;
        match key {
            "record_id" => {
                seen.first(Seen::RECORD_ID)?;
                record_id = Some(c.string()?);
            }
            "source" => {
                // Not used, but serde checks it is JSON; a string is all this reader takes.
                seen.first(Seen::SOURCE)?;
                c.string()?;
            }
            "ts" => {
                seen.first(Seen::TS)?;
                // A time it cannot read is serde's to refuse, with its message.
                request.event_time = match c.string_or_null()? {
                    None => None,
                    Some(ts) => Some(oneid::parse_timestamp(ts)?),
                };
            }
            "truth" => {
                seen.first(Seen::TRUTH)?;
                truth = c.string_or_null()?;
            }
            "identities" => {
                seen.first(Seen::IDENTITIES)?;
                read_identities(&mut c, &mut request.identities)?;
            }
            "attrs" => {
                seen.first(Seen::ATTRS)?;
                read_patch(&mut c, &mut request.patch)?;
            }
            _ => return None,
        }
        match c.next()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    if !c.at_end() || !seen.has(Seen::IDENTITIES) {
        return None;
    }
    let cause = request.cause.get_or_insert_default();
    cause.clear();
    cause.push_str(record_id?);
    Some(truth)
}

/// Makes `request` what `ResolveRequest::new` makes (as the serde reader does), but keeps its
/// identities, to be rewritten, and the memory of its cause and of its patch's fields.
fn reset(request: &mut ResolveRequest) {
    let ResolveRequest {
        patch,
        identities: _,
        options,
        cause: _,
        event_time,
    } = request;
    patch.fields.clear();
    patch.attrs.clear();
    patch.tags.clear();
    patch.groups.clear();
    *options = oneid::ResolveOptions::default();
    *event_time = None;
}

/// The keys of a record seen so far.
#[derive(Default)]
struct Seen(u8);

impl Seen {
    const RECORD_ID: u8 = 1;
    const SOURCE: u8 = 2;
    const TS: u8 = 4;
    const TRUTH: u8 = 8;
    const IDENTITIES: u8 = 16;
    const ATTRS: u8 = 32;

    /// Marks a key seen; `None` if it was already.
    fn first(&mut self, key: u8) -> Option<()> {
        let new = !self.has(key);
        self.0 |= key;
        new.then_some(())
    }

    fn has(&self, key: u8) -> bool {
        self.0 & key != 0
    }
}

/// Reads `[{"type": …, "value": …}, …]` into `out`, reusing the strings of the identities
/// already there.
fn read_identities(c: &mut Cursor<'_>, out: &mut Vec<IdentityInput>) -> Option<()> {
    c.eat(b'[')?;
    let mut n = 0;
    if !c.eat_if(b']') {
        loop {
            let (identity_type, value) = read_identity(c)?;
            match out.get_mut(n) {
                Some(slot) => refill(slot, identity_type, value),
                None => out.push(IdentityInput::new(identity_type, value)),
            }
            n += 1;
            match c.next()? {
                b',' => {}
                b']' => break,
                _ => return None,
            }
        }
    }
    out.truncate(n);
    Some(())
}

/// Reads `{"type": …, "value": …}` (either order).
fn read_identity<'a>(c: &mut Cursor<'a>) -> Option<(&'a str, &'a str)> {
    c.eat(b'{')?;
    let (mut identity_type, mut value) = (None, None);
    loop {
        let key = c.string()?;
        c.eat(b':')?;
        let slot = match key {
            "type" => &mut identity_type,
            "value" => &mut value,
            _ => return None,
        };
        if slot.replace(c.string()?).is_some() {
            return None;
        }
        match c.next()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    Some((identity_type?, value?))
}

/// Makes `slot` the identity `IdentityInput::new(identity_type, value)` in the memory of its
/// two strings.
fn refill(slot: &mut IdentityInput, identity_type: &str, value: &str) {
    slot.identity_type.clear();
    slot.identity_type.push_str(identity_type);
    slot.identity_value.clear();
    slot.identity_value.push_str(value);
    slot.identity_name = None;
    slot.scope = None;
}

/// Reads `attrs` into an empty patch: `null`, or an object of well-known fields with scalar
/// values, each checked and converted as `CustomerPatch`'s `Deserialize` does.
fn read_patch(c: &mut Cursor<'_>, patch: &mut CustomerPatch) -> Option<()> {
    if c.eat_literal("null") {
        return Some(());
    }
    c.eat(b'{')?;
    if c.eat_if(b'}') {
        return Some(());
    }
    loop {
        // Other keys (`attr`, `tags`, read-only and unknown keys) are serde's.
        let field = Field::from_name(c.string()?)?;
        c.eat(b':')?;
        let value = match c.scalar()? {
            // A text field takes the text as it is (no NUL can get here unescaped).
            Scalar::Text(text) if field.kind() == FieldKind::Text => Some(FieldValue::from(text)),
            Scalar::Text(text) => field
                .parse_json(&serde_json::Value::String(text.to_owned()))
                .ok()?,
            Scalar::Other(value) => field.parse_json(&value).ok()?,
        };
        // Later keys win, as in serde's reading: a later null leaves the field out.
        match value {
            Some(value) => {
                patch.fields.set(field, value).ok()?;
            }
            None => {
                patch.fields.remove(field);
            }
        }
        match c.next()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    Some(())
}

/// An attribute value the fast reader takes.
enum Scalar<'a> {
    Text(&'a str),
    /// A number, boolean or null, as serde_json reads it.
    Other(serde_json::Value),
}

/// A position in a line, with the few JSON tokens the fast reader knows. Every reader
/// returns `None` on anything else, and skips the whitespace before its token first.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    /// The next byte after whitespace, which is skipped. Only spaces can be left of JSON's
    /// whitespace: tabs, CRs and LFs are control characters, declined before.
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        loop {
            match self.text.as_bytes().get(self.pos) {
                Some(b' ') => self.pos += 1,
                b => return b.copied(),
            }
        }
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.eat_if(b).then_some(())
    }

    fn eat_if(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.pos += usize::from(hit);
        hit
    }

    fn eat_literal(&mut self, literal: &str) -> bool {
        self.peek();
        let hit = self.text.as_bytes()[self.pos..].starts_with(literal.as_bytes());
        if hit {
            self.pos += literal.len();
        }
        hit
    }

    /// A string, up to the next quote (the line has no escapes).
    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        self.peek();
        let (&b'"', body) = self.text.as_bytes().get(self.pos..)?.split_first()? else {
            return None;
        };
        let len = find_quote(body)?;
        let start = self.pos + 1;
        self.pos = start + len + 1;
        self.text.get(start..start + len)
    }

    fn string_or_null(&mut self) -> Option<Option<&'a str>> {
        if self.eat_literal("null") {
            Some(None)
        } else {
            self.string().map(Some)
        }
    }

    /// A string, `true`, `false`, `null`, or an integer of up to 18 digits without sign or
    /// leading zero (which serde_json reads as a `u64`).
    fn scalar(&mut self) -> Option<Scalar<'a>> {
        use serde_json::Value;
        match self.peek()? {
            b'"' => return self.string().map(Scalar::Text),
            b'0'..=b'9' => {}
            _ if self.eat_literal("true") => return Some(Scalar::Other(Value::Bool(true))),
            _ if self.eat_literal("false") => return Some(Scalar::Other(Value::Bool(false))),
            _ if self.eat_literal("null") => return Some(Scalar::Other(Value::Null)),
            _ => return None,
        }
        let digits = &self.text.as_bytes()[self.pos..];
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        // Fractions and exponents are floats; a leading zero is an error in JSON.
        let after = digits.get(len).copied();
        if len > 18 || (len > 1 && digits[0] == b'0') || matches!(after, Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let n = digits[..len]
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        self.pos += len;
        Some(Scalar::Other(Value::from(n)))
    }
}

/// The first `"` in `bytes`, eight bytes at a time (strings are short: a call to `memchr`
/// costs more than it saves).
#[inline(always)]
fn find_quote(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes")) ^ QUOTES;
        // The usual zero-byte test; its lowest flag is always a true one.
        let zeros = w.wrapping_sub(ONES) & !w & HIGHS;
        if zeros != 0 {
            return Some(at + zeros.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    Some(at + words.remainder().iter().position(|&b| b == b'"')?)
}

#[cfg(test)]
mod tests {
    use super::find_quote;

    #[test]
    fn finds_the_first_quote() {
        for len in 0..20 {
            for first in 0..=len {
                for fill in [b'a', 0x00, 0x21, 0x23, 0x80, 0xa2, 0xe4, 0xff] {
                    let mut bytes = vec![fill; len];
                    // Quotes at `first` and after it.
                    for b in bytes.iter_mut().skip(first).step_by(2) {
                        *b = b'"';
                    }
                    let naive = bytes.iter().position(|&b| b == b'"');
                    assert_eq!(find_quote(&bytes), naive, "{bytes:?}");
                }
            }
        }
    }
}
