//! Entry/exit records of the certificate equipment room (入退室管理): the event model
//! and its validation, shared by `shuin facility import-access` (CSV) and
//! `POST /ledger/v1/access-events` (JSON). Pure: no I/O, the time is passed in.
//!
//! An event is `{time, person, door, direction}`:
//! - `time`: RFC 3339 with an offset (`2026-11-26T09:15:00+09:00`), normalised to UTC
//!   (`2026-11-26T00:15:00Z`); at most [`AccessPolicy::max_skew`] after now;
//! - `person`: non-empty, at most [`MAX_PERSON_CHARS`] characters, no control or
//!   bidirectional-override characters;
//! - `door`: likewise (at most [`MAX_DOOR_CHARS`]), and one of [`AccessPolicy::doors`]
//!   when that list is not empty;
//! - `direction`: `in` or `out` (also `入`/`入室` and `出`/`出室`/`退室`), normalised to
//!   `in`/`out`.
//!
//! Surrounding white space is removed from every field. The CSV form
//! ([`parse_csv`]) is UTF-8 (a BOM is skipped), LF or CRLF, with the header
//! `time,person,door,direction` (columns in any order, no others) on line 1; fields may be
//! double-quoted (RFC 4180, `""` for a quote) but may not span lines; blank lines are
//! skipped. Every bad line is reported with its number (line 1 is the header), and one
//! bad line refuses the whole file.
//!
//! Two events with the same normalised fields are the same event: their
//! [`AccessEvent::idempotency_key`] is equal, so a repeated import or POST is skipped.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The ledger entry kind of one event (facility book).
pub const KIND: &str = "facility.access_event";
/// The largest CSV file accepted.
pub const MAX_CSV_BYTES: usize = 8 * 1024 * 1024;
/// The most events in one CSV file or one request.
pub const MAX_EVENTS: usize = 50_000;
/// The longest `person`, in characters.
pub const MAX_PERSON_CHARS: usize = 128;
/// The longest `door`, in characters.
pub const MAX_DOOR_CHARS: usize = 64;
/// The default tolerance for event times ahead of the clock.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);

mod csv;

pub use csv::parse_csv;

const FIELDS: [Field; 4] = [Field::Time, Field::Person, Field::Door, Field::Direction];

/// One field of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `time`
    Time,
    /// `person`
    Person,
    /// `door`
    Door,
    /// `direction`
    Direction,
}

impl Field {
    /// The field's name in the CSV header and the JSON object.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Time => "time",
            Field::Person => "person",
            Field::Door => "door",
            Field::Direction => "direction",
        }
    }

    fn parse(name: &str) -> Option<Field> {
        FIELDS.into_iter().find(|f| f.as_str() == name)
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Into or out of the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Entering (入室).
    In,
    /// Leaving (退室).
    Out,
}

impl Direction {
    /// `in` or `out`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }

    fn parse(text: &str) -> Option<Direction> {
        match text.to_ascii_lowercase().as_str() {
            "in" | "入" | "入室" => Some(Direction::In),
            "out" | "出" | "出室" | "退室" => Some(Direction::Out),
            _ => None,
        }
    }
}

/// A validated, normalised event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessEvent {
    /// RFC 3339 in UTC (`Z`), fractional seconds kept when given.
    pub time: String,
    /// Who passed the door, as the access-control system names them.
    pub person: String,
    /// Which door.
    pub door: String,
    /// In or out.
    pub direction: Direction,
}

impl AccessEvent {
    /// `access:` and the hex SHA-256 of the JSON array `[time, person, door, direction]`
    /// of the normalised fields: equal for the same event however it arrives.
    pub fn idempotency_key(&self) -> String {
        let tuple = serde_json::json!([self.time, self.person, self.door, self.direction.as_str()]);
        format!(
            "access:{}",
            hex::encode(Sha256::digest(tuple.to_string().as_bytes()))
        )
    }

    /// The ledger payload: the event and where it came from (`csv:<file>`, `http`).
    pub fn payload(&self, source: &str) -> serde_json::Value {
        serde_json::json!({
            "time": self.time,
            "person": self.person,
            "door": self.door,
            "direction": self.direction.as_str(),
            "source": source,
        })
    }
}

/// What the instance accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    /// The doors of the certificate equipment room; empty accepts any door name.
    pub doors: Vec<String>,
    /// How far an event may lie after the clock's now.
    pub max_skew: Duration,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self {
            doors: Vec::new(),
            max_skew: DEFAULT_MAX_SKEW,
        }
    }
}

/// What is wrong with one field, line or item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessEventError {
    /// A required field is empty.
    #[error("{0}: is empty")]
    Empty(Field),
    /// A field is longer than allowed.
    #[error("{field}: {chars} characters, at most {max} allowed")]
    TooLong {
        /// Which field.
        field: Field,
        /// Its length.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A field holds a control, line-separator or bidirectional-override character.
    #[error("{0}: holds a control character")]
    ControlCharacter(Field),
    /// `time` is not RFC 3339 with an offset.
    #[error("time: {0} is not an RFC 3339 time with an offset (like 2026-11-26T09:15:00+09:00)")]
    TimeInvalid(String),
    /// `time` lies in the future beyond the allowed skew.
    #[error("time: {time} is in the future (now {now}, {skew_seconds} s of clock skew allowed)")]
    TimeInFuture {
        /// The event time, normalised.
        time: String,
        /// The clock's now.
        now: String,
        /// The allowed skew.
        skew_seconds: u64,
    },
    /// `door` is not one of the configured doors.
    #[error("door: {door} is not a configured door of the certificate equipment room ([facility] doors)")]
    DoorNotConfigured {
        /// The door as given (quoted, shortened).
        door: String,
    },
    /// `direction` is neither in nor out.
    #[error("direction: {0} must be in or out (or 入/出)")]
    DirectionInvalid(String),
    /// A JSON item lacks a field.
    #[error("{0}: is missing")]
    Missing(Field),
    /// A JSON item's field is not a string.
    #[error("{0}: must be a string")]
    NotString(Field),
    /// A JSON item has a field that is not one of the four.
    #[error("unknown field {0}")]
    UnknownField(String),
    /// A JSON item is not an object.
    #[error("not an object with time, person, door and direction")]
    NotAnObject,
    /// A CSV line is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// A quoted CSV field is not closed on its line.
    #[error("a quoted field is not closed on this line")]
    UnterminatedQuote,
    /// A quote in the middle of an unquoted CSV field, or text after a closing quote.
    #[error("a stray double quote (quote the whole field and double inner quotes)")]
    StrayQuote,
    /// A CSV line has the wrong number of fields.
    #[error("{found} fields where the header has {expected}")]
    FieldCount {
        /// Fields on the line.
        found: usize,
        /// Columns in the header.
        expected: usize,
    },
    /// The CSV header names an unknown column.
    #[error("header: unknown column {0} (expected time,person,door,direction)")]
    UnknownColumn(String),
    /// The CSV header names a column twice.
    #[error("header: column {0} appears twice")]
    DuplicateColumn(Field),
    /// Line 1 is empty (or the file is).
    #[error("header: line 1 must be the header time,person,door,direction")]
    NoHeader,
    /// The CSV header lacks a column.
    #[error("header: column {0} is missing (expected time,person,door,direction)")]
    MissingColumn(Field),
}

impl AccessEventError {
    /// The field concerned, if the error is about one.
    pub fn field(&self) -> Option<Field> {
        use AccessEventError as E;
        match self {
            E::Empty(f) | E::ControlCharacter(f) | E::Missing(f) | E::NotString(f) => Some(*f),
            E::TooLong { field, .. } => Some(*field),
            E::TimeInvalid(_) | E::TimeInFuture { .. } => Some(Field::Time),
            E::DoorNotConfigured { .. } => Some(Field::Door),
            E::DirectionInvalid(_) => Some(Field::Direction),
            _ => None,
        }
    }
}

/// One error at one place: a CSV line number (1 is the header) or a JSON item index
/// (from 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The line number or item index.
    pub position: u64,
    /// What is wrong there.
    pub error: AccessEventError,
}

/// Why a whole input is refused; nothing of it may be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessImportError {
    /// The input is larger than allowed.
    #[error("larger than the {max} bytes allowed")]
    TooLarge {
        /// The size seen (at least).
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// More events than allowed.
    #[error("more than {max} events; split the input")]
    TooManyEvents {
        /// The limit.
        max: usize,
    },
    /// The JSON body is not an array.
    #[error("the body must be a JSON array of events")]
    NotAnArray,
    /// Lines or items are invalid (all of them are listed, in order).
    #[error("{} invalid", .0.len())]
    Invalid(Vec<Invalid>),
}

/// Validates a JSON array of event objects `{"time", "person", "door", "direction"}`
/// (all strings, no other members).
pub fn parse_json(
    value: &serde_json::Value,
    policy: &AccessPolicy,
    now: SystemTime,
) -> Result<Vec<AccessEvent>, AccessImportError> {
    let items = value.as_array().ok_or(AccessImportError::NotAnArray)?;
    if items.len() > MAX_EVENTS {
        return Err(AccessImportError::TooManyEvents { max: MAX_EVENTS });
    }
    let mut events = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (item, index) in items.iter().zip(0u64..) {
        match json_item(item).and_then(|raw| raw.validate(policy, now)) {
            Ok(event) => events.push(event),
            Err(errors) => problems.extend(errors.into_iter().map(|error| Invalid {
                position: index,
                error,
            })),
        }
    }
    if problems.is_empty() {
        Ok(events)
    } else {
        Err(AccessImportError::Invalid(problems))
    }
}

/// Whether `token` hashes (SHA-256) to `expected_sha256_hex`, compared in constant time.
pub fn token_matches(token: &str, expected_sha256_hex: &str) -> bool {
    let Ok(expected) = hex::decode(expected_sha256_hex.trim()) else {
        return false;
    };
    let actual = Sha256::digest(token.as_bytes());
    if expected.len() != actual.len() {
        return false;
    }
    let difference = expected
        .iter()
        .zip(actual.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
}

fn json_item(item: &serde_json::Value) -> Result<RawEvent, Vec<AccessEventError>> {
    let object = item
        .as_object()
        .ok_or_else(|| vec![AccessEventError::NotAnObject])?;
    let mut raw = RawEvent::default();
    let mut errors: Vec<AccessEventError> = object
        .keys()
        .filter(|k| Field::parse(k).is_none())
        .map(|k| AccessEventError::UnknownField(quoted(k)))
        .collect();
    for field in FIELDS {
        match object.get(field.as_str()) {
            None => errors.push(AccessEventError::Missing(field)),
            Some(serde_json::Value::String(text)) => raw.set(field, text.clone()),
            Some(_) => errors.push(AccessEventError::NotString(field)),
        }
    }
    if errors.is_empty() {
        Ok(raw)
    } else {
        Err(errors)
    }
}

/// The four fields as given.
#[derive(Debug, Default)]
struct RawEvent {
    time: String,
    person: String,
    door: String,
    direction: String,
}

impl RawEvent {
    fn set(&mut self, field: Field, value: String) {
        match field {
            Field::Time => self.time = value,
            Field::Person => self.person = value,
            Field::Door => self.door = value,
            Field::Direction => self.direction = value,
        }
    }

    /// Every problem of the event, or the normalised event.
    fn validate(
        self,
        policy: &AccessPolicy,
        now: SystemTime,
    ) -> Result<AccessEvent, Vec<AccessEventError>> {
        let mut errors = Vec::new();
        let time = normalise_time(self.time.trim(), policy.max_skew, now)
            .map_err(|e| errors.push(e))
            .ok();
        let person = name(Field::Person, &self.person, MAX_PERSON_CHARS)
            .map_err(|e| errors.push(e))
            .ok();
        let door = name(Field::Door, &self.door, MAX_DOOR_CHARS)
            .and_then(|door| {
                if policy.doors.is_empty() || policy.doors.iter().any(|d| d == &door) {
                    Ok(door)
                } else {
                    Err(AccessEventError::DoorNotConfigured {
                        door: quoted(&door),
                    })
                }
            })
            .map_err(|e| errors.push(e))
            .ok();
        let direction = Direction::parse(self.direction.trim())
            .ok_or_else(|| errors.push(AccessEventError::DirectionInvalid(quoted(&self.direction))))
            .ok();
        match (time, person, door, direction) {
            (Some(time), Some(person), Some(door), Some(direction)) if errors.is_empty() => {
                Ok(AccessEvent {
                    time,
                    person,
                    door,
                    direction,
                })
            }
            _ => Err(errors),
        }
    }
}

fn normalise_time(
    text: &str,
    max_skew: Duration,
    now: SystemTime,
) -> Result<String, AccessEventError> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| AccessEventError::TimeInvalid(quoted(text)))?
        .to_offset(UtcOffset::UTC);
    let normalised = parsed
        .format(&Rfc3339)
        .map_err(|_| AccessEventError::TimeInvalid(quoted(text)))?;
    if SystemTime::from(parsed) > now + max_skew {
        return Err(AccessEventError::TimeInFuture {
            time: normalised,
            now: crate::timefmt::rfc3339(now),
            skew_seconds: max_skew.as_secs(),
        });
    }
    Ok(normalised)
}

/// A trimmed, bounded name without control characters.
fn name(field: Field, text: &str, max: usize) -> Result<String, AccessEventError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AccessEventError::Empty(field));
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(AccessEventError::TooLong { field, chars, max });
    }
    if text.chars().any(forbidden) {
        return Err(AccessEventError::ControlCharacter(field));
    }
    Ok(text.to_owned())
}

/// Control characters, line and paragraph separators, bidirectional overrides and
/// isolates, and the BOM: nothing a book should carry inside a name.
fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

/// Input echoed in a message: debug-quoted (control characters escaped), at most 40
/// characters.
fn quoted(text: &str) -> String {
    let short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    /// 2026-11-26T00:00:00Z.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_651_200)
    }

    fn policy(doors: &[&str]) -> AccessPolicy {
        AccessPolicy {
            doors: doors.iter().map(|d| (*d).to_owned()).collect(),
            max_skew: DEFAULT_MAX_SKEW,
        }
    }

    fn invalid(
        result: Result<Vec<AccessEvent>, AccessImportError>,
    ) -> Vec<(u64, AccessEventError)> {
        match result {
            Err(AccessImportError::Invalid(list)) => {
                list.into_iter().map(|i| (i.position, i.error)).collect()
            }
            other => panic!("expected invalid rows, got {other:?}"),
        }
    }

    #[test]
    fn a_good_file_is_normalised() {
        let csv = "\u{FEFF}time,person,door,direction\r\n\
                   2026-11-26T08:30:00+09:00,山田　太郎,east,in\r\n\
                   \r\n\
                   \"2026-11-25T23:45:10Z\",\"Sato, \"\"Ken\"\"\",east , 退室\r\n";
        let events = parse_csv(csv.as_bytes(), &policy(&["east"]), now()).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].time, "2026-11-25T23:30:00Z");
        assert_eq!(events[0].person, "山田　太郎");
        assert_eq!(events[0].direction, Direction::In);
        assert_eq!(events[1].person, "Sato, \"Ken\"");
        assert_eq!(events[1].door, "east");
        assert_eq!(events[1].direction, Direction::Out);
        let payload = events[1].payload("csv:a.csv");
        assert_eq!(payload["direction"], "out");
        assert_eq!(payload["source"], "csv:a.csv");
    }

    #[test]
    fn columns_may_come_in_any_order() {
        let csv = "Direction,Door,Person,Time\nin,d,p,2026-11-25T10:00:00Z\n";
        let events = parse_csv(csv.as_bytes(), &policy(&[]), now()).unwrap();
        assert_eq!(events[0].door, "d");
        assert_eq!(events[0].time, "2026-11-25T10:00:00Z");
    }

    #[test]
    fn the_same_event_in_another_offset_has_the_same_key() {
        let a = "time,person,door,direction\n2026-11-25T19:00:00+09:00,p,d,in\n";
        let b = "time,person,door,direction\n2026-11-25T10:00:00Z, p ,d,IN\n";
        let a = parse_csv(a.as_bytes(), &policy(&[]), now()).unwrap();
        let b = parse_csv(b.as_bytes(), &policy(&[]), now()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0].idempotency_key(), b[0].idempotency_key());
        assert!(a[0].idempotency_key().starts_with("access:"));
        let mut other = a[0].clone();
        other.direction = Direction::Out;
        assert_ne!(other.idempotency_key(), a[0].idempotency_key());
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let csv = "time,person,door,direction\n\
                   2026-11-25T10:00:00Z,ok,east,in\n\
                   2026-11-25 10:00,bad time,east,in\n\
                   2026-11-25T10:00:00Z,,west,sideways\n\
                   2026-11-25T10:00:00Z,p,east\n\
                   2026-11-25T10:00:00Z,\"open,east,in\n\
                   2026-11-26T01:00:00Z,future,east,in\n";
        let errors = invalid(parse_csv(csv.as_bytes(), &policy(&["east"]), now()));
        let lines: Vec<u64> = errors.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, vec![3, 4, 4, 4, 5, 6, 7]);
        assert!(matches!(errors[0].1, AccessEventError::TimeInvalid(_)));
        assert_eq!(errors[1].1, AccessEventError::Empty(Field::Person));
        assert!(matches!(
            errors[2].1,
            AccessEventError::DoorNotConfigured { .. }
        ));
        assert!(matches!(errors[3].1, AccessEventError::DirectionInvalid(_)));
        assert_eq!(
            errors[4].1,
            AccessEventError::FieldCount {
                found: 3,
                expected: 4
            }
        );
        assert_eq!(errors[5].1, AccessEventError::UnterminatedQuote);
        assert!(matches!(errors[6].1, AccessEventError::TimeInFuture { .. }));
        assert_eq!(errors[6].1.field(), Some(Field::Time));
    }

    #[test]
    fn a_bad_header_is_line_one() {
        let errors = invalid(parse_csv(b"time,name,door,door\n", &policy(&[]), now()));
        assert_eq!(
            errors,
            vec![
                (1, AccessEventError::UnknownColumn("\"name\"".into())),
                (1, AccessEventError::DuplicateColumn(Field::Door)),
                (1, AccessEventError::MissingColumn(Field::Person)),
                (1, AccessEventError::MissingColumn(Field::Direction)),
            ]
        );
        assert_eq!(
            invalid(parse_csv(b"", &policy(&[]), now())),
            vec![(1, AccessEventError::NoHeader)]
        );
    }

    #[test]
    fn control_characters_and_bad_bytes_are_refused() {
        let mut csv = b"time,person,door,direction\n".to_vec();
        csv.extend_from_slice(b"2026-11-25T10:00:00Z,a\x07b,d,in\n");
        csv.extend_from_slice(b"2026-11-25T10:00:00Z,\xff,d,in\n");
        csv.extend_from_slice("2026-11-25T10:00:00Z,a\u{202E}b,d,in\n".as_bytes());
        csv.extend_from_slice(b"2026-11-25T10:00:00Z,a\"b,d,in\n");
        let errors = invalid(parse_csv(&csv, &policy(&[]), now()));
        assert_eq!(
            errors,
            vec![
                (2, AccessEventError::ControlCharacter(Field::Person)),
                (3, AccessEventError::NotUtf8),
                (4, AccessEventError::ControlCharacter(Field::Person)),
                (5, AccessEventError::StrayQuote),
            ]
        );
    }

    #[test]
    fn limits_hold() {
        let long = "x".repeat(MAX_PERSON_CHARS + 1);
        let csv = format!("time,person,door,direction\n2026-11-25T10:00:00Z,{long},d,in\n");
        let errors = invalid(parse_csv(csv.as_bytes(), &policy(&[]), now()));
        assert!(matches!(errors[0].1, AccessEventError::TooLong { .. }));
        let big = vec![b' '; MAX_CSV_BYTES + 1];
        assert!(matches!(
            parse_csv(&big, &policy(&[]), now()),
            Err(AccessImportError::TooLarge { .. })
        ));
    }

    #[test]
    fn json_items_are_checked_by_index() {
        let body = serde_json::json!([
            {"time": "2026-11-25T10:00:00Z", "person": "p", "door": "d", "direction": "入"},
            {"time": "2026-11-25T10:00:00Z", "person": 7, "door": "d", "direction": "in", "badge": "1"},
            "not an object",
        ]);
        let errors = invalid(parse_json(&body, &policy(&[]), now()));
        assert_eq!(
            errors,
            vec![
                (1, AccessEventError::UnknownField("\"badge\"".into())),
                (1, AccessEventError::NotString(Field::Person)),
                (2, AccessEventError::NotAnObject),
            ]
        );
        let good = serde_json::json!([
            {"time": "2026-11-25T10:00:00Z", "person": "p", "door": "d", "direction": "入"},
        ]);
        let events = parse_json(&good, &policy(&[]), now()).unwrap();
        assert_eq!(events[0].direction, Direction::In);
        assert_eq!(
            parse_json(&serde_json::json!({}), &policy(&[]), now()),
            Err(AccessImportError::NotAnArray)
        );
    }

    #[test]
    fn tokens_compare_by_hash() {
        let hash = hex::encode(Sha256::digest(b"secret-token"));
        assert!(token_matches("secret-token", &hash));
        assert!(!token_matches("secret-tokeN", &hash));
        assert!(!token_matches("secret-token", "zz"));
        assert!(!token_matches("secret-token", ""));
    }
}
