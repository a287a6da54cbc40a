//! RFC 8785 JSON Canonicalization Scheme (JCS) for [`serde_json::Value`].
//!
//! The canonical form of a JSON value is ([RFC 8785 section 3.2]):
//!
//! - no whitespace between tokens;
//! - `null`, `true` and `false` as literals;
//! - strings in double quotes with only the mandatory escapes: `\"`, `\\`, `\b`, `\f`,
//!   `\n`, `\r`, `\t`, and `\u00xx` (lowercase hex) for the other control characters
//!   U+0000..U+001F; every other character, including U+007F and U+2028, as raw UTF-8
//!   ([RFC 8785 section 3.2.2.2]);
//! - object members sorted by their names compared as arrays of UTF-16 code units
//!   ([RFC 8785 section 3.2.3]);
//! - numbers as ECMAScript `Number.prototype.toString` prints them
//!   ([RFC 8785 section 3.2.2.3]).
//!
//! # Numbers
//!
//! shuin ledgers never carry floating-point numbers, so this encoder accepts only
//! integers within the IEEE 754 "safe" range ±(2^53 − 1) ([RFC 7493 section 2.2]) and
//! prints them as plain decimal integers, which is exactly what the ECMAScript algorithm
//! prints for them. Any other number is rejected with
//! [`LedgerError::UnsupportedNumber`]: a non-integer would need ECMAScript shortest
//! round-trip formatting, and a larger integer would be rounded to a double by every
//! other RFC 8785 implementation, so an auditor's tool would compute different bytes.
//! Values that do not fit, such as certificate serial numbers, go in strings.
//!
//! # Budget
//!
//! Arrays and objects may nest at most [`MAX_DEPTH`] levels, so a hostile or buggy value
//! cannot exhaust the stack.
//!
//! [RFC 8785 section 3.2]: https://www.rfc-editor.org/rfc/rfc8785#section-3.2
//! [RFC 8785 section 3.2.2.2]: https://www.rfc-editor.org/rfc/rfc8785#section-3.2.2.2
//! [RFC 8785 section 3.2.2.3]: https://www.rfc-editor.org/rfc/rfc8785#section-3.2.2.3
//! [RFC 8785 section 3.2.3]: https://www.rfc-editor.org/rfc/rfc8785#section-3.2.3
//! [RFC 7493 section 2.2]: https://www.rfc-editor.org/rfc/rfc7493#section-2.2

use serde_json::{Map, Number, Value};
use std::io::Write;

use crate::LedgerError;

/// The deepest nesting of arrays and objects accepted (the top-level container is
/// level 1). It is well below serde_json's own parser limit, so every canonical
/// document this module produces can be parsed back.
pub const MAX_DEPTH: usize = 64;

/// The largest integer magnitude ledger JSON carries: 2^53 − 1, the ECMAScript
/// `Number.MAX_SAFE_INTEGER` ([RFC 7493 section 2.2]).
///
/// [RFC 7493 section 2.2]: https://www.rfc-editor.org/rfc/rfc7493#section-2.2
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Encodes `value` in its RFC 8785 canonical form.
///
/// # Errors
///
/// [`LedgerError::UnsupportedNumber`] for a number that is not a safe integer (see the
/// module documentation) and [`LedgerError::TooDeep`] for nesting beyond [`MAX_DEPTH`].
pub fn to_canonical_bytes(value: &Value) -> Result<Vec<u8>, LedgerError> {
    let mut out = Vec::new();
    write_value(value, 0, &mut out)?;
    Ok(out)
}

/// Writes `value` in canonical form, `depth` containers deep (also used by
/// [`crate::entry`]).
pub(crate) fn write_value(
    value: &Value,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), LedgerError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_number(number, out)?,
        Value::String(string) => write_string(string, out),
        Value::Array(items) => {
            let depth = enter(depth)?;
            out.push(b'[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                write_value(item, depth, out)?;
            }
            out.push(b']');
        }
        Value::Object(members) => write_object(members, enter(depth)?, out)?,
    }
    Ok(())
}

fn enter(depth: usize) -> Result<usize, LedgerError> {
    let depth = depth.saturating_add(1);
    if depth > MAX_DEPTH {
        return Err(LedgerError::TooDeep { limit: MAX_DEPTH });
    }
    Ok(depth)
}

fn write_object(
    members: &Map<String, Value>,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), LedgerError> {
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    // RFC 8785 section 3.2.3: compare names as UTF-16 code units, not as UTF-8 bytes or
    // code points. The two orders differ once a name holds a character above U+FFFF.
    sorted.sort_by(|(left, _), (right, _)| left.encode_utf16().cmp(right.encode_utf16()));
    out.push(b'{');
    for (position, (name, member)) in sorted.into_iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        write_value(member, depth, out)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_number(number: &Number, out: &mut Vec<u8>) -> Result<(), LedgerError> {
    let safe = if let Some(signed) = number.as_i64() {
        signed.unsigned_abs() <= MAX_SAFE_INTEGER
    } else if let Some(unsigned) = number.as_u64() {
        unsigned <= MAX_SAFE_INTEGER
    } else {
        false
    };
    if !safe {
        return Err(LedgerError::UnsupportedNumber {
            number: number.to_string(),
        });
    }
    // serde_json prints integers as plain decimal, which for safe integers is exactly
    // the ECMAScript form. (Writing into a Vec cannot fail.)
    let _ = write!(out, "{number}");
    Ok(())
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Writes `string` as a canonical JSON string (also used by [`crate::entry`]).
pub(crate) fn write_string(string: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    // Working byte by byte is sound: every byte that needs escaping is ASCII, and the
    // bytes of a multi-byte UTF-8 sequence are all 0x80 or above. Runs of bytes that need
    // no escape are copied at once.
    let bytes = string.as_bytes();
    // The common case, no byte to escape, is checked first in one pass without early exit
    // (which the compiler vectorises), and the string copied whole.
    if !bytes
        .iter()
        .fold(false, |any, &byte| any | needs_escape(byte))
    {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (position, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX_DIGITS[usize::from(byte >> 4)],
                HEX_DIGITS[usize::from(byte & 0x0f)],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..position]);
        out.extend_from_slice(escape);
        start = position + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use serde_json::json;

    use super::*;

    fn canonical(value: &Value) -> String {
        String::from_utf8(to_canonical_bytes(value).unwrap()).unwrap()
    }

    fn canonical_of_text(text: &str) -> String {
        canonical(&serde_json::from_str(text).unwrap())
    }

    /// RFC 8785 section 3.2.3: the sorting example. Property names as UTF-16 code
    /// units: 000D < 0031 < 0080 < 00F6 < 20AC < D83D DE00 < FB33. The emoji sorts
    /// before U+FB33 although its code point (and UTF-8 encoding) is larger.
    #[test]
    fn rfc8785_sorting_example() {
        let input = r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let expected = concat!(
            r#"{"\r":"Carriage Return","1":"One","#,
            "\"\u{80}\":\"Control\",",
            "\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",",
            "\"\u{20ac}\":\"Euro Sign\",",
            "\"\u{1f600}\":\"Emoji: Grinning Face\",",
            "\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}",
        );
        assert_eq!(canonical_of_text(input), expected);
    }

    /// RFC 8785 section 3.2.2: the example without its floating-point `numbers`
    /// member, which this encoder deliberately rejects.
    #[test]
    fn rfc8785_string_and_literal_example() {
        let input = r#"{
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        let expected = "{\"literals\":[null,true,false],\
                        \"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
        assert_eq!(canonical_of_text(input), expected);
    }

    #[test]
    fn rfc8785_example_numbers_are_rejected() {
        for number in [
            "333333333.33333329",
            "1E30",
            "4.50",
            "2e-3",
            "0.000000000000000000000000001",
        ] {
            let value: Value = serde_json::from_str(number).unwrap();
            assert!(
                matches!(
                    to_canonical_bytes(&value),
                    Err(LedgerError::UnsupportedNumber { .. })
                ),
                "{number} must be rejected"
            );
        }
    }

    #[test]
    fn every_control_character_is_escaped_minimally() {
        let all: String = (0u8..0x20).map(char::from).collect();
        let expected = concat!(
            r#""\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007"#,
            r#"\b\t\n\u000b\f\r\u000e\u000f"#,
            r#"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017"#,
            r#"\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f""#,
        );
        assert_eq!(canonical(&json!(all)), expected);
    }

    #[test]
    fn non_control_characters_are_not_escaped() {
        let text = "/\u{7f}\u{2028}\u{2029}<>&'\u{1f600}";
        assert_eq!(canonical(&json!(text)), format!("\"{text}\""));
    }

    #[test]
    fn nested_structures_have_no_whitespace_and_sorted_keys() {
        let value = json!({"b": [1, {"z": null, "a": true}], "a": {}, "": []});
        assert_eq!(
            canonical(&value),
            r#"{"":[],"a":{},"b":[1,{"a":true,"z":null}]}"#
        );
    }

    #[test]
    fn safe_integers_are_printed_plainly() {
        let max = i64::try_from(MAX_SAFE_INTEGER).unwrap();
        let value = json!([0, -1, 42, max, -max]);
        assert_eq!(
            canonical(&value),
            "[0,-1,42,9007199254740991,-9007199254740991]"
        );
    }

    #[test]
    fn unsafe_and_fractional_numbers_are_rejected() {
        let max = i64::try_from(MAX_SAFE_INTEGER).unwrap();
        for value in [
            json!(MAX_SAFE_INTEGER + 1),
            json!(-max - 1),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1.5),
            json!(1.0),
            json!(-0.0),
        ] {
            let error = to_canonical_bytes(&json!({ "n": value })).unwrap_err();
            assert!(matches!(error, LedgerError::UnsupportedNumber { .. }));
        }
    }

    fn nested(levels: usize) -> Value {
        (0..levels).fold(Value::Null, |inner, _| json!([inner]))
    }

    #[test]
    fn nesting_is_capped_and_the_cap_round_trips_through_serde_json() {
        let deepest = to_canonical_bytes(&nested(MAX_DEPTH)).unwrap();
        let reparsed: Value = serde_json::from_slice(&deepest).unwrap();
        assert_eq!(reparsed, nested(MAX_DEPTH));
        assert!(matches!(
            to_canonical_bytes(&nested(MAX_DEPTH + 1)),
            Err(LedgerError::TooDeep { limit: MAX_DEPTH })
        ));
    }
}
