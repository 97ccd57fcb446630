//! Normalizers turn the spellings sources send (`+86 138-0013-8000`, ` Jane@Example.COM `)
//! into one canonical value per identity.

use std::fmt::Debug;

/// Turns a raw identity value into its canonical form, or says why it cannot.
///
/// Implement it to plug a custom rule into [`IdentitySettings`](crate::IdentitySettings):
///
/// ```
/// use oneid::{IdentitySettings, Normalizer};
///
/// /// Member ids are case-insensitive and written with or without a leading "M".
/// #[derive(Debug)]
/// struct MemberId;
/// impl Normalizer for MemberId {
///     fn name(&self) -> &str {
///         "member-id-v1"
///     }
///     fn normalize(&self, raw: &str, out: &mut String) -> Result<(), String> {
///         let raw = raw.trim();
///         let digits = raw.strip_prefix(['M', 'm']).unwrap_or(raw);
///         if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
///             return Err("member id must be digits".into());
///         }
///         out.push('M');
///         out.push_str(digits);
///         Ok(())
///     }
/// }
/// let settings = IdentitySettings::default().with_normalizer("member-id", MemberId).unwrap();
/// assert_eq!(settings.normalize("member-id", "m0042").unwrap(), "M0042");
/// ```
pub trait Normalizer: Debug + Send + Sync {
    /// The name settings documents know this normalizer by (see
    /// [`IdentitySettings::to_json`](crate::IdentitySettings::to_json)): stable across
    /// releases of your code, and unique among the normalizers a service registers
    /// ([`Resolver::with_normalizer`](crate::Resolver::with_normalizer)). `mobile`, `email`
    /// and `trim` are the built-in ones'.
    fn name(&self) -> &str;

    /// Appends the canonical form of `raw` to `out` (which is empty on entry), or returns a
    /// human-readable reason why `raw` is not a valid value of this type.
    fn normalize(&self, raw: &str, out: &mut String) -> Result<(), String>;
}

/// `s.trim()`, without decoding characters in the usual case of a value that starts and ends
/// with a visible ASCII character (and so has nothing to trim).
pub(crate) fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// The default for types without a normalizer of their own: trims surrounding whitespace.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trim;

impl Normalizer for Trim {
    fn name(&self) -> &str {
        "trim"
    }

    fn normalize(&self, raw: &str, out: &mut String) -> Result<(), String> {
        out.push_str(trim(raw));
        Ok(())
    }
}

/// Email: trimmed, lowercased, exactly one `@` with text on both sides, no inner whitespace.
#[derive(Debug, Clone, Copy, Default)]
pub struct Email;

impl Normalizer for Email {
    fn name(&self) -> &str {
        "email"
    }

    fn normalize(&self, raw: &str, out: &mut String) -> Result<(), String> {
        let raw = trim(raw);
        // One pass finds the `@`s and any whitespace; bytes need no decoding in ASCII.
        let ascii = raw.is_ascii();
        let (ats, first_at, whitespace) = if ascii {
            scan_ascii_email(raw.as_bytes())
        } else {
            scan_email(raw.char_indices())
        };
        if ats != 1 || first_at == Some(0) || first_at == Some(raw.len() - 1) {
            return Err("email must have exactly one @ with text on both sides".into());
        }
        if whitespace {
            return Err("email must not contain whitespace".into());
        }
        if ascii {
            let start = out.len();
            out.push_str(raw);
            out[start..].make_ascii_lowercase();
        } else {
            out.push_str(&raw.to_lowercase());
        }
        Ok(())
    }
}

/// [`scan_email`] of an ASCII value, in passes without early exits (which the compiler makes
/// vector loops).
fn scan_ascii_email(bytes: &[u8]) -> (usize, Option<usize>, bool) {
    let ats = bytes.iter().fold(0, |n, &b| n + usize::from(b == b'@'));
    let first_at = bytes.iter().position(|&b| b == b'@');
    // `char::is_whitespace` of ASCII: tab to carriage return, and space.
    let whitespace = bytes
        .iter()
        .fold(false, |w, &b| w | (b == b' ') | (b.wrapping_sub(b'\t') < 5));
    (ats, first_at, whitespace)
}

/// How many `@`s the characters (with their byte offsets) hold, where the first is, and
/// whether any is whitespace.
fn scan_email(chars: impl Iterator<Item = (usize, char)>) -> (usize, Option<usize>, bool) {
    let (mut ats, mut first_at, mut whitespace) = (0, None, false);
    for (at, c) in chars {
        if c == '@' {
            ats += 1;
            first_at.get_or_insert(at);
        } else if c.is_whitespace() {
            whitespace = true;
        }
    }
    (ats, first_at, whitespace)
}

/// Mobile numbers: keeps digits, drops spaces, dashes and brackets, drops a `+86`, `0086` or
/// `86` prefix in front of an 11-digit number starting with `1` (mainland China); other
/// international numbers keep their `+`. 5 to 15 digits.
///
/// ```
/// use oneid::Normalizer;
/// use oneid::normalize::Mobile;
/// let norm = |s| { let mut out = String::new(); Mobile.normalize(s, &mut out).map(|_| out) };
/// assert_eq!(norm("+86 138-0013-8000").unwrap(), "13800138000");
/// assert_eq!(norm("0086 13800138000").unwrap(), "13800138000");
/// assert_eq!(norm("+44 (20) 7946 0958").unwrap(), "+442079460958");
/// assert!(norm("138 abc").is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Mobile;

impl Normalizer for Mobile {
    fn name(&self) -> &str {
        "mobile"
    }

    fn normalize(&self, raw: &str, out: &mut String) -> Result<(), String> {
        let raw = trim(raw);
        let (plus, body) = match raw.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        // Collect digits on the stack: a valid number has at most 15 of them, plus a prefix.
        // Bytes need no decoding in the usual ASCII.
        let mut digits = [0u8; 24];
        let n = if body.is_ascii() {
            mobile_ascii_digits(body.as_bytes(), &mut digits)?
        } else {
            mobile_digits(body.chars(), &mut digits)?
        };
        // Digits only (the usual spelling): what is kept is a piece of the value as sent.
        let as_sent = n == body.len();
        let digits = &digits[..n];
        let mainland = |d: &[u8]| d.len() == 11 && d[0] == b'1';
        let national = if plus {
            digits.strip_prefix(b"86").filter(|d| mainland(d))
        } else if mainland(digits) {
            Some(digits)
        } else {
            digits
                .strip_prefix(b"0086")
                .or_else(|| digits.strip_prefix(b"86"))
                .filter(|d| mainland(d))
        };
        let (prefix, kept) = match national {
            Some(d) => ("", d),
            None if plus => ("+", digits),
            None => ("", digits),
        };
        if !(5..=15).contains(&kept.len()) {
            return Err(format!(
                "mobile number must have 5 to 15 digits, found {}",
                kept.len()
            ));
        }
        out.push_str(prefix);
        if as_sent {
            out.push_str(&body[n - kept.len()..]);
        } else {
            for &d in kept {
                out.push(char::from(d));
            }
        }
        Ok(())
    }
}

/// [`mobile_digits`] of an ASCII value, a byte at a time.
fn mobile_ascii_digits(bytes: &[u8], digits: &mut [u8; 24]) -> Result<usize, String> {
    let mut n = 0;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                if n == digits.len() {
                    return Err("mobile number has more than 15 digits".into());
                }
                digits[n] = b;
                n += 1;
            }
            b' ' | b'\t' | b'-' | b'(' | b')' | b'.' => {}
            // The message names the character as the general reader would.
            _ => return mobile_digits(std::iter::once(char::from(b)), &mut [0; 24]),
        }
    }
    Ok(n)
}

/// Writes a mobile number's digits into `digits` and returns how many there are, skipping
/// separators and refusing anything else.
fn mobile_digits(chars: impl Iterator<Item = char>, digits: &mut [u8; 24]) -> Result<usize, String> {
    let mut n = 0;
    for c in chars {
        match c {
            '0'..='9' => {
                if n == digits.len() {
                    return Err("mobile number has more than 15 digits".into());
                }
                digits[n] = c as u8;
                n += 1;
            }
            ' ' | '\t' | '-' | '(' | ')' | '（' | '）' | '.' => {}
            _ => {
                return Err(format!(
                    "mobile number may only contain digits, spaces, dashes, brackets and a leading +, found {c:?}"
                ));
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(n: &dyn Normalizer, s: &str) -> Result<String, String> {
        let mut out = String::new();
        n.normalize(s, &mut out).map(|_| out)
    }

    #[test]
    fn mobile_spellings_collapse() {
        for s in [
            "+86 138-0013-8000",
            "0086 13800138000",
            " 13800138000 ",
            "8613800138000",
            "(138) 0013 8000",
        ] {
            assert_eq!(run(&Mobile, s).unwrap(), "13800138000", "{s}");
        }
        assert_eq!(run(&Mobile, "+1 415 555 0100").unwrap(), "+14155550100");
        assert_eq!(run(&Mobile, "12345").unwrap(), "12345");
        assert!(run(&Mobile, "1234").is_err());
        assert!(run(&Mobile, "1234567890123456").is_err());
        assert!(run(&Mobile, "++8613800138000").is_err());
        assert!(run(&Mobile, "").is_err());
    }

    #[test]
    fn ascii_scans_agree_with_the_general_ones() {
        let mut samples: Vec<String> = (0u8..=0x7f)
            .map(char::from)
            .flat_map(|c| {
                [
                    format!("138{c}0013 8000"),
                    format!("a{c}b@x.cn"),
                    format!("{c}"),
                    format!("@{c}@"),
                ]
            })
            .collect();
        samples.extend(
            [
                "",
                "+86 138-0013-8000",
                "(20) 7946.0958",
                "1".repeat(30).as_str(),
                "a@b",
            ]
            .map(String::from),
        );
        for s in &samples {
            let (mut a, mut b) = ([0; 24], [0; 24]);
            let ascii = mobile_ascii_digits(s.as_bytes(), &mut a);
            assert_eq!(ascii, mobile_digits(s.chars(), &mut b), "{s:?}");
            assert_eq!(a, b, "{s:?}");
            assert_eq!(
                scan_ascii_email(s.as_bytes()),
                scan_email(s.char_indices()),
                "{s:?}"
            );
        }
    }

    #[test]
    fn trim_is_str_trim() {
        let samples = [
            "",
            " ",
            "a",
            " a",
            "a ",
            " a ",
            "\ta\n",
            "ab",
            "a b",
            "\u{3000}a",
            "a\u{3000}",
            "é",
            " é ",
            "\u{85}x",
            "x\u{a0}",
            "~",
            "\u{7f}a",
            "a\u{1c}",
        ];
        for s in samples {
            assert_eq!(trim(s), s.trim(), "{s:?}");
        }
        for c in (0u8..=0x7f).map(char::from) {
            for s in [
                format!("{c}"),
                format!("{c}x{c}"),
                format!("x{c}"),
                format!("{c}x"),
            ] {
                assert_eq!(trim(&s), s.trim(), "{s:?}");
            }
        }
    }

    #[test]
    fn email_is_lowercased_and_checked() {
        assert_eq!(run(&Email, "Jane@Example.COM ").unwrap(), "jane@example.com");
        assert_eq!(run(&Email, " Ünï@Example.com").unwrap(), "ünï@example.com");
        assert_eq!(run(&Email, "长@例子.中国").unwrap(), "长@例子.中国");
        // Which fault is named when there are two: the `@`s first.
        assert!(run(&Email, "a b@c@d").unwrap_err().contains("exactly one @"));
        for bad in [
            "jane",
            "@x.com",
            "jane@",
            "a@b@c",
            "a b@c.com",
            "@",
            "a@@b.com",
            "长@",
            "@长",
            "长@长@x",
            "a\u{3000}b@x.cn",
        ] {
            assert!(run(&Email, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn email_whitespace_is_char_whitespace_for_ascii_and_beyond() {
        for c in (0u8..=0x7f)
            .map(char::from)
            .chain(['\u{85}', '\u{a0}', '\u{3000}', 'é'])
        {
            if c == '@' {
                continue;
            }
            let value = format!("a{c}b@x.cn");
            assert_eq!(run(&Email, &value).is_err(), c.is_whitespace(), "{c:?}");
        }
    }
}
