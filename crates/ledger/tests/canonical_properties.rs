//! Property tests for the RFC 8785 encoder and the entry encoding built on it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use proptest::prelude::*;
use serde_json::{Map, Value};
use shuin_ledger::canonical::{to_canonical_bytes, MAX_SAFE_INTEGER};
use shuin_ledger::{Actor, Book, Entry, EntryDraft, LedgerError};

/// Any string, control characters and characters beyond the BMP included.
fn any_string() -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter)
}

/// Strings of BMP characters only, for which UTF-16 order equals code point order.
fn bmp_string() -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(
        any::<char>().prop_filter("BMP", |c| u32::from(*c) <= 0xFFFF),
        0..8,
    )
    .prop_map(String::from_iter)
}

fn safe_integer() -> impl Strategy<Value = i64> {
    let max = i64::try_from(MAX_SAFE_INTEGER).unwrap_or(i64::MAX);
    prop_oneof![-max..=max, Just(max), Just(-max), -1000i64..1000]
}

fn json(key: impl Strategy<Value = String> + Clone + 'static) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        safe_integer().prop_map(Value::from),
        any_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Rebuilds every object with its members inserted in code point order, so that
/// serde_json prints them in that order whether or not its `preserve_order` feature is on.
fn sorted_by_code_point(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(sorted_by_code_point).collect()),
        Value::Object(members) => {
            let mut sorted: Vec<_> = members.iter().collect();
            sorted.sort_by_key(|(name, _)| *name);
            let rebuilt: Map<String, Value> = sorted
                .into_iter()
                .map(|(name, member)| (name.clone(), sorted_by_code_point(member)))
                .collect();
            Value::Object(rebuilt)
        }
        other => other.clone(),
    }
}

fn book() -> impl Strategy<Value = Book> {
    prop::sample::select(Book::ALL.to_vec())
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        book(),
        any_string(),
        (any_string(), any_string(), any_string()),
        prop::collection::vec(any_string(), 0..4),
        json(any_string()),
        prop::collection::vec(any_string(), 0..4),
        0..=MAX_SAFE_INTEGER,
    )
        .prop_map(
            |(book, kind, (name, role, zone), subjects, payload, evidence, seq)| {
                EntryDraft {
                    book,
                    kind,
                    actor: Actor { name, role, zone },
                    subjects,
                    payload,
                    evidence,
                }
                .into_entry(seq, "2025-04-01T09:30:00Z".to_owned())
            },
        )
}

proptest! {
    #[test]
    fn canonical_json_parses_back_to_the_same_value_and_is_a_fixed_point(
        value in json(any_string()),
    ) {
        let bytes = to_canonical_bytes(&value).unwrap();
        let reparsed: Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(&reparsed, &value);
        prop_assert_eq!(to_canonical_bytes(&reparsed).unwrap(), bytes);
    }

    /// With BMP-only member names, RFC 8785 order is code point order and RFC 8785
    /// string escaping is serde_json's compact escaping, so serde_json is an independent
    /// oracle.
    #[test]
    fn canonical_json_matches_serde_json_for_bmp_member_names(value in json(bmp_string())) {
        let expected = serde_json::to_vec(&sorted_by_code_point(&value)).unwrap();
        prop_assert_eq!(to_canonical_bytes(&value).unwrap(), expected);
    }

    #[test]
    fn entries_round_trip_through_their_canonical_bytes(entry in entry()) {
        let bytes = entry.canonical_bytes().unwrap();
        prop_assert_eq!(Entry::from_canonical(&bytes).unwrap(), entry);
    }

    /// `Entry::canonical_bytes` writes the members directly; it must equal the generic
    /// encoder applied to the entry as a JSON value.
    #[test]
    fn entry_encoding_equals_the_generic_encoding(entry in entry()) {
        let generic = to_canonical_bytes(&serde_json::to_value(&entry).unwrap()).unwrap();
        prop_assert_eq!(entry.canonical_bytes().unwrap(), generic);
    }

    #[test]
    fn inserted_whitespace_is_rejected(entry in entry(), at in any::<prop::sample::Index>()) {
        let mut bytes = entry.canonical_bytes().unwrap();
        let positions = structural_positions(&bytes);
        let position = positions[at.index(positions.len())];
        bytes.insert(position, b' ');
        let rejected = matches!(
            Entry::from_canonical(&bytes),
            Err(LedgerError::NotCanonical { .. })
        );
        prop_assert!(rejected);
    }
}

/// Positions just after a `{`, `[`, `:` or `,` outside strings, where JSON allows
/// whitespace.
fn structural_positions(json: &[u8]) -> Vec<usize> {
    let (mut in_string, mut escaped) = (false, false);
    let mut positions = Vec::new();
    for (position, byte) in json.iter().enumerate() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if *byte == b'"' {
            in_string = true;
        } else if matches!(byte, b'{' | b'[' | b':' | b',') {
            positions.push(position + 1);
        }
    }
    positions
}
