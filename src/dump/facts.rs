//! Cheap facts about values, gathered while the export writes them, so the import's
//! type pre-flight can prove that a narrower target column changes no actual value
//! (numeric(10,2) is enough when no value has more than 2 decimal places) instead of
//! refusing on the declared types alone. Each function looks at one value's text as the
//! source printed it and allocates nothing.

use std::cell::RefCell;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Digits before the point (leading zeros not counted) and significant digits after it
/// (trailing zeros not counted) of a number as the source printed it, exponent included
/// (`1.5e-7` has 8 after the point). Text that is no number (`NaN`) has none.
pub(crate) fn decimal_digits(v: &[u8]) -> (u32, u32) {
    let v = v.strip_prefix(b"-").unwrap_or(v);
    let (mantissa, exp) = match v.iter().position(|&b| b == b'e' || b == b'E') {
        Some(p) => (
            &v[..p],
            std::str::from_utf8(&v[p + 1..])
                .ok()
                .and_then(|e| e.parse::<i64>().ok())
                .unwrap_or(0)
                .clamp(-400, 400),
        ),
        None => (v, 0),
    };
    if !mantissa.iter().all(|&b| b.is_ascii_digit() || b == b'.') {
        return (0, 0);
    }
    let (int, frac) = match memchr::memchr(b'.', mantissa) {
        Some(p) => (&mantissa[..p], &mantissa[p + 1..]),
        None => (mantissa, &mantissa[..0]),
    };
    if exp == 0 {
        let int_digits = int.iter().skip_while(|&&b| b == b'0').count() as u32;
        let scale = frac.iter().rposition(|&b| b != b'0').map_or(0, |i| i + 1) as u32;
        return (int_digits, scale);
    }
    // The digits run int ++ frac, with the point after `int.len() + exp` of them.
    let digits = || int.iter().chain(frac.iter());
    let n = (int.len() + frac.len()) as i64;
    let point = int.len() as i64 + exp;
    let Some(first) = digits().position(|&b| b != b'0') else {
        return (0, 0);
    };
    let last = n - 1 - digits().rev().position(|&b| b != b'0').unwrap_or(0) as i64;
    let int_digits = (point - first as i64).max(0) as u32;
    let scale = (last + 1 - point).max(0) as u32;
    (int_digits, scale)
}

/// Fractional-second digits actually used (`12:00:00.250000` uses 2).
pub(crate) fn fraction_digits(v: &[u8]) -> u32 {
    match memchr::memrchr(b'.', v) {
        Some(p) => {
            let frac = &v[p + 1..];
            let digits = frac.iter().take_while(|b| b.is_ascii_digit()).count();
            frac[..digits]
                .iter()
                .rposition(|&b| b != b'0')
                .map_or(0, |i| i + 1) as u32
        }
        None => 0,
    }
}

/// Characters of UTF-8 text.
pub(crate) fn chars(v: &[u8]) -> u64 {
    v.iter().filter(|&&b| (b as i8) >= -0x40).count() as u64
}

/// Whether a double's text survives a `real` column: PostgreSQL reads it as the nearest
/// 32-bit float and prints that float's shortest decimal, which must be the same number.
pub(crate) fn exact_in_real(v: &[u8]) -> bool {
    let Some(text) = std::str::from_utf8(v).ok() else {
        return false;
    };
    let (Ok(d), Ok(f)) = (text.parse::<f64>(), text.parse::<f32>()) else {
        return false;
    };
    if !f.is_finite() {
        return !d.is_finite();
    }
    let mut buf = ryu::Buffer::new();
    buf.format_finite(f)
        .parse::<f64>()
        .is_ok_and(|back| back == d)
}

/// Whether a text that looks like JSON (starts with `{` or `[`) is JSON with a duplicate
/// object key at any depth: `jsonb` keeps only the last of them.
pub(crate) fn json_has_duplicate_keys(v: &[u8]) -> bool {
    thread_local! {
        static KEYS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    }
    KEYS.with(|k| {
        let mut keys = k.borrow_mut();
        keys.clear();
        let mut dup = false;
        let mut de = serde_json::Deserializer::from_slice(v);
        let parsed = DupSeed {
            keys: &mut keys,
            dup: &mut dup,
        }
        .deserialize(&mut de)
        .is_ok();
        parsed && dup
    })
}

struct DupSeed<'a> {
    keys: &'a mut Vec<u64>,
    dup: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for DupSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DupSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(DupSeed {
                keys: &mut *self.keys,
                dup: &mut *self.dup,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let base = self.keys.len();
        while let Some(h) = map.next_key_seed(KeyHash)? {
            if self.keys[base..].contains(&h) {
                *self.dup = true;
            }
            self.keys.push(h);
            map.next_value_seed(DupSeed {
                keys: &mut *self.keys,
                dup: &mut *self.dup,
            })?;
            // Nested objects pushed and popped their own keys above ours.
        }
        self.keys.truncate(base);
        Ok(())
    }
}

/// An object key, hashed (borrowed when it has no escapes, so nothing is allocated).
struct KeyHash;

impl<'de> DeserializeSeed<'de> for KeyHash {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyHash {
    type Value = u64;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<u64, E> {
        Ok(twox_hash::XxHash3_64::oneshot(s.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits() {
        assert_eq!(decimal_digits(b"1.2345"), (1, 4));
        assert_eq!(decimal_digits(b"-0.50"), (0, 1));
        assert_eq!(decimal_digits(b"100.00"), (3, 0));
        assert_eq!(decimal_digits(b"4294967295"), (10, 0));
        assert_eq!(decimal_digits(b"0"), (0, 0));
        assert_eq!(decimal_digits(b"9.5"), (1, 1));
        assert_eq!(decimal_digits(b"1.5e-7"), (0, 8));
        assert_eq!(decimal_digits(b"1.2345e+20"), (21, 0));
        assert_eq!(decimal_digits(b"-2.5E1"), (2, 0));
        assert_eq!(decimal_digits(b"NaN"), (0, 0));
        assert_eq!(fraction_digits(b"2024-01-01 23:59:59.999999"), 6);
        assert_eq!(fraction_digits(b"2024-01-01 23:59:59.250000"), 2);
        assert_eq!(fraction_digits(b"2024-01-01 23:59:59.000000"), 0);
        assert_eq!(fraction_digits(b"2024-01-01 23:59:59"), 0);
        assert_eq!(fraction_digits(b"-838:59:59.5"), 1);
        assert_eq!(chars("abc".as_bytes()), 3);
        assert_eq!(chars("ünï\u{1F600}".as_bytes()), 4);
    }

    #[test]
    fn doubles_in_real() {
        assert!(exact_in_real(b"0.1"));
        assert!(exact_in_real(b"3.1415927"));
        assert!(exact_in_real(b"16777216"));
        assert!(exact_in_real(b"-0"));
        assert!(!exact_in_real(b"16777217"));
        assert!(!exact_in_real(b"123456789.12345679"));
        assert!(!exact_in_real(b"0.30000000000000004"));
        assert!(!exact_in_real(b"1e300"));
    }

    #[test]
    fn duplicate_json_keys() {
        assert!(json_has_duplicate_keys(br#"{"a":1,"a":2}"#));
        assert!(json_has_duplicate_keys(
            br#"[{"x":{"b":1,"c":{"b":2},"b":3}}]"#
        ));
        assert!(json_has_duplicate_keys(br#"{"\u0061":1,"a":2}"#));
        assert!(!json_has_duplicate_keys(br#"{"a":{"a":1},"b":{"a":2}}"#));
        assert!(!json_has_duplicate_keys(br#"{"a":1,"b":[1,{"a":2}]}"#));
        assert!(!json_has_duplicate_keys(b"{not json"));
        assert!(!json_has_duplicate_keys(b"[]"));
    }
}
