//! The CSV form of entry/exit records: UTF-8 (a BOM is skipped), LF or CRLF, header
//! `time,person,door,direction` on line 1 (columns in any order, no others), RFC 4180
//! quoting within a line, blank lines skipped.

use super::{quoted, RawEvent, FIELDS, MAX_CSV_BYTES, MAX_EVENTS};
use super::{AccessEvent, AccessEventError, AccessImportError, AccessPolicy, Field, Invalid};
use std::time::SystemTime;

/// Parses and validates a CSV file (see the [parent module](super)).
pub fn parse_csv(
    bytes: &[u8],
    policy: &AccessPolicy,
    now: SystemTime,
) -> Result<Vec<AccessEvent>, AccessImportError> {
    if bytes.len() > MAX_CSV_BYTES {
        return Err(AccessImportError::TooLarge {
            bytes: bytes.len(),
            max: MAX_CSV_BYTES,
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut lines = bytes.split(|b| *b == b'\n').zip(1u64..);
    let header = match lines.next() {
        Some((line, number)) => parse_header(line).map_err(|errors| invalid_at(number, errors))?,
        None => return Err(invalid_at(1, vec![AccessEventError::NoHeader])),
    };
    let mut events = Vec::new();
    let mut problems = Vec::new();
    for (line, number) in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if events.len() + problems.len() >= MAX_EVENTS {
            return Err(AccessImportError::TooManyEvents { max: MAX_EVENTS });
        }
        let fields = std::str::from_utf8(line)
            .map_err(|_| vec![AccessEventError::NotUtf8])
            .and_then(|text| split_fields(text).map_err(|e| vec![e]))
            .and_then(|fields| {
                if fields.len() == header.len() {
                    Ok(fields)
                } else {
                    Err(vec![AccessEventError::FieldCount {
                        found: fields.len(),
                        expected: header.len(),
                    }])
                }
            });
        let event = fields.and_then(|fields| {
            let mut raw = RawEvent::default();
            for (field, value) in header.iter().zip(fields) {
                raw.set(*field, value);
            }
            raw.validate(policy, now)
        });
        match event {
            Ok(event) => events.push(event),
            Err(errors) => problems.extend(errors.into_iter().map(|error| Invalid {
                position: number,
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

fn invalid_at(position: u64, errors: Vec<AccessEventError>) -> AccessImportError {
    AccessImportError::Invalid(
        errors
            .into_iter()
            .map(|error| Invalid { position, error })
            .collect(),
    )
}

fn parse_header(line: &[u8]) -> Result<Vec<Field>, Vec<AccessEventError>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(vec![AccessEventError::NoHeader]);
    }
    let text = std::str::from_utf8(line).map_err(|_| vec![AccessEventError::NotUtf8])?;
    let names = split_fields(text).map_err(|e| vec![e])?;
    let mut columns = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        let name = name.trim().to_ascii_lowercase();
        match Field::parse(&name) {
            Some(field) if columns.contains(&field) => {
                errors.push(AccessEventError::DuplicateColumn(field));
            }
            Some(field) => columns.push(field),
            None => errors.push(AccessEventError::UnknownColumn(quoted(&name))),
        }
    }
    errors.extend(
        FIELDS
            .into_iter()
            .filter(|f| !columns.contains(f))
            .map(AccessEventError::MissingColumn),
    );
    if errors.is_empty() {
        Ok(columns)
    } else {
        Err(errors)
    }
}

/// Splits one CSV line into fields (RFC 4180 quoting, within the line).
fn split_fields(line: &str) -> Result<Vec<String>, AccessEventError> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => return Err(AccessEventError::UnterminatedQuote),
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            // After the closing quote: white space, then a comma or the end.
            while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
            fields.push(field);
            match chars.next() {
                None => return Ok(fields),
                Some(',') => continue,
                Some(_) => return Err(AccessEventError::StrayQuote),
            }
        }
        loop {
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => break,
                Some('"') => return Err(AccessEventError::StrayQuote),
                Some(c) => field.push(c),
            }
        }
        fields.push(field);
    }
}
