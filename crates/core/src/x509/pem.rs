//! PEM or DER: the certificates, CSRs and keys operators hand in come either way. A PEM
//! block must carry the label asked for (RFC 7468 section 2); anything that is not PEM
//! is taken as DER, for the parser that follows to judge.

/// A PEM block whose label is not the one expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a {expected}, found {found:?}")]
pub struct UnexpectedLabel {
    /// The label asked for, e.g. `CERTIFICATE`.
    pub expected: &'static str,
    /// The label found.
    pub found: String,
}

/// The DER in `bytes`: the body of a PEM block labelled `label`, or `bytes` as they are
/// when they are not PEM.
pub fn der_labelled(bytes: Vec<u8>, label: &'static str) -> Result<Vec<u8>, UnexpectedLabel> {
    match der::pem::decode_vec(&bytes) {
        Ok((found, der)) if found == label => Ok(der),
        Ok((found, _)) => Err(UnexpectedLabel {
            expected: label,
            found: found.to_owned(),
        }),
        Err(_) => Ok(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(label: &str, der: &[u8]) -> Vec<u8> {
        der::pem::encode_string(label, der::pem::LineEnding::LF, der)
            .expect("PEM")
            .into_bytes()
    }

    #[test]
    fn pem_with_the_label_or_der_is_taken() {
        assert_eq!(
            der_labelled(pem("CERTIFICATE", b"\x30\x00"), "CERTIFICATE"),
            Ok(b"\x30\x00".to_vec())
        );
        assert_eq!(
            der_labelled(b"\x30\x00".to_vec(), "CERTIFICATE"),
            Ok(b"\x30\x00".to_vec())
        );
        let other = der_labelled(pem("PRIVATE KEY", b"\x30\x00"), "CERTIFICATE REQUEST");
        assert_eq!(
            other.map_err(|e| e.to_string()),
            Err("expected a CERTIFICATE REQUEST, found \"PRIVATE KEY\"".to_owned())
        );
    }
}
