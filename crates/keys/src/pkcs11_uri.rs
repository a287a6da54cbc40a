//! RFC 7512 `pkcs11:` URIs, restricted to what shuin uses: a token label and an object
//! label (`pkcs11:token=LABEL;object=LABEL`, optionally `;type=private`). Values are
//! percent-decoded; anything else (other path attributes, a query such as `pin-value`) is
//! refused with the reason, so a URI never silently means less than it says.

use crate::{KeyError, KeyRef};

/// A parsed `pkcs11:` key name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `CKA_LABEL` of the token (`token=`).
    pub token: String,
    /// `CKA_LABEL` of the key (`object=`).
    pub object: String,
}

fn refuse(uri: &str, reason: impl Into<String>) -> KeyError {
    KeyError::UnsupportedUri {
        uri: uri.to_owned(),
        reason: reason.into(),
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes; the result must be UTF-8.
fn percent_decode(uri: &str, value: &str) -> Result<String, KeyError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = bytes.get(i + 1).copied().and_then(hex_value);
            let low = bytes.get(i + 2).copied().and_then(hex_value);
            match (high, low) {
                (Some(h), Some(l)) => out.push(h * 16 + l),
                _ => return Err(refuse(uri, "a % escape must be followed by two hex digits")),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| refuse(uri, "a percent-decoded value is not UTF-8"))
}

/// Escapes everything but RFC 3986 unreserved characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Pkcs11Uri {
    /// Parses `pkcs11:token=...;object=...[;type=private]`.
    pub fn parse(uri: &str) -> Result<Self, KeyError> {
        let rest = uri
            .strip_prefix("pkcs11:")
            .ok_or_else(|| refuse(uri, "a PKCS#11 URI starts with pkcs11:"))?;
        if rest.contains('?') {
            return Err(refuse(
                uri,
                "query attributes (such as pin-value or module-path) are not accepted; the PIN comes from the configured PIN file",
            ));
        }
        let mut token = None;
        let mut object = None;
        for part in rest.split(';').filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| refuse(uri, format!("attribute {part:?} has no '='")))?;
            let value = percent_decode(uri, value)?;
            let slot = match name {
                "token" => &mut token,
                "object" => &mut object,
                "type" => {
                    if value != "private" {
                        return Err(refuse(
                            uri,
                            format!("type={value} is not supported; issuer keys are type=private"),
                        ));
                    }
                    continue;
                }
                other => {
                    return Err(refuse(
                        uri,
                        format!(
                            "attribute {other:?} is not supported; use token=LABEL;object=LABEL"
                        ),
                    ))
                }
            };
            if slot.replace(value).is_some() {
                return Err(refuse(uri, format!("attribute {name:?} appears twice")));
            }
        }
        match (token, object) {
            (Some(token), Some(object)) if !token.is_empty() && !object.is_empty() => {
                Ok(Self { token, object })
            }
            _ => Err(refuse(
                uri,
                "both token=LABEL and object=LABEL are required (and must not be empty)",
            )),
        }
    }

    /// Parses the URI of a [`KeyRef`].
    pub fn from_key_ref(key: &KeyRef) -> Result<Self, KeyError> {
        Self::parse(key.as_str())
    }

    /// The canonical URI text, values percent-encoded.
    pub fn to_uri(&self) -> String {
        format!(
            "pkcs11:token={};object={}",
            percent_encode(&self.token),
            percent_encode(&self.object)
        )
    }

    /// As a [`KeyRef`].
    pub fn to_key_ref(&self) -> KeyRef {
        KeyRef::pkcs11(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        let uri = Pkcs11Uri::parse("pkcs11:token=My%20HSM;object=shuin-issuing").unwrap();
        assert_eq!(uri.token, "My HSM");
        assert_eq!(uri.object, "shuin-issuing");
        assert_eq!(uri.to_uri(), "pkcs11:token=My%20HSM;object=shuin-issuing");
        assert_eq!(Pkcs11Uri::parse(&uri.to_uri()).unwrap(), uri);
        let odd = Pkcs11Uri {
            token: "朱印;a=b".into(),
            object: "x%y".into(),
        };
        assert_eq!(Pkcs11Uri::parse(&odd.to_uri()).unwrap(), odd);
        assert!(Pkcs11Uri::parse("pkcs11:object=k;token=t;type=private").is_ok());
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for (uri, reason) in [
            ("pkcs11:token=t", "required"),
            ("pkcs11:object=k", "required"),
            ("pkcs11:token=;object=k", "required"),
            ("pkcs11:token=t;object=k;id=%01", "\"id\" is not supported"),
            ("pkcs11:token=t;object=k?pin-value=1234", "PIN file"),
            ("pkcs11:token=t;object=k;type=public", "type=public"),
            ("pkcs11:token=t;object=k;object=j", "twice"),
            ("pkcs11:token=t;object=%4", "hex digits"),
            ("pkcs11:token=t;object=%ff", "UTF-8"),
            ("pkcs11:token", "no '='"),
            ("soft:x", "starts with pkcs11:"),
        ] {
            let error = Pkcs11Uri::parse(uri).unwrap_err().to_string();
            assert!(error.contains(reason), "{uri}: {error}");
        }
    }
}
