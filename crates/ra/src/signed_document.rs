//! The JSON documents holders sign (`shuin-revocation/1`, `shuin-disclosure/1`): parsed
//! only after the signature was checked, with the format named first so that a document
//! of another format is refused as such, not as malformed.

use crate::RaError;
use serde::de::DeserializeOwned;
use shuin_core::ReasonCode;

/// Parses `content` as a document of `format` (its `format` member must say so).
pub(crate) fn parse<T: DeserializeOwned>(content: &[u8], format: &str) -> Result<T, RaError> {
    let value: serde_json::Value = serde_json::from_slice(content).map_err(|e| {
        RaError::reject(
            ReasonCode::MalformedRequest,
            format!("the request is not JSON: {e}"),
        )
    })?;
    match value.get("format").and_then(|f| f.as_str()) {
        Some(found) if found == format => {}
        Some(other) => {
            return Err(RaError::reject(
                ReasonCode::UnsupportedFormat,
                format!("format {other:?} is not supported; use {format:?}"),
            ))
        }
        None => {
            return Err(RaError::reject(
                ReasonCode::MalformedRequest,
                "the request has no string field \"format\"",
            ))
        }
    }
    serde_json::from_value(value).map_err(|e| {
        RaError::reject(
            ReasonCode::MalformedRequest,
            format!("the request does not match {format}: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        format: String,
        nonce: String,
    }

    fn code(content: &str) -> Option<ReasonCode> {
        match parse::<Doc>(content.as_bytes(), "x/1") {
            Ok(_) => None,
            Err(RaError::Rejected(r)) => Some(r.code),
            Err(_) => Some(ReasonCode::InternalError),
        }
    }

    #[test]
    fn formats_and_shapes_are_told_apart() {
        assert_eq!(code(r#"{"format":"x/1","nonce":"n"}"#), None);
        assert_eq!(
            code(r#"{"format":"y/1","nonce":"n"}"#),
            Some(ReasonCode::UnsupportedFormat)
        );
        assert_eq!(code(r#"{"nonce":"n"}"#), Some(ReasonCode::MalformedRequest));
        assert_eq!(
            code(r#"{"format":"x/1","nonce":"n","extra":1}"#),
            Some(ReasonCode::MalformedRequest)
        );
        assert_eq!(code("not json"), Some(ReasonCode::MalformedRequest));
    }
}
