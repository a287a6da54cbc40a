//! Byte-exact views into DER, for the parts that are signed: re-encoding a decoded
//! structure could differ from what the signer signed (sorting of SET OF values, for
//! instance), so signatures are checked over the bytes as received.

use der::{Decode, Header, Reader, SliceReader};

/// The complete TLVs of the elements of one constructed value (SEQUENCE, SET or a
/// constructed context-specific tag), refusing trailing bytes.
pub(crate) fn elements(tlv: &[u8]) -> Result<Vec<&[u8]>, der::Error> {
    let mut reader = SliceReader::new(tlv)?;
    let header = Header::decode(&mut reader)?;
    if !header.tag.is_constructed() {
        return Err(der::ErrorKind::Noncanonical { tag: header.tag }.into());
    }
    let body = reader.read_slice(header.length)?;
    reader.finish(())?;
    let mut inner = SliceReader::new(body)?;
    let mut out = Vec::new();
    while !inner.is_finished() {
        out.push(inner.tlv_bytes()?);
    }
    Ok(out)
}

/// The first element of a SEQUENCE: the to-be-signed part of a certificate or CRL.
pub(crate) fn first_element(tlv: &[u8]) -> Result<&[u8], der::Error> {
    elements(tlv)?.first().copied().ok_or_else(|| {
        der::ErrorKind::Length {
            tag: der::Tag::Sequence,
        }
        .into()
    })
}

/// The signed parts of a DER `ContentInfo(SignedData)`, as received.
#[derive(Debug)]
pub(crate) struct RawSignedData<'a> {
    /// Each entry of `certificates [0] IMPLICIT CertificateSet`, in received order.
    pub(crate) certificates: Vec<&'a [u8]>,
    /// The `signedAttrs` of the first SignerInfo, re-tagged from `[0] IMPLICIT` to
    /// `SET OF` (0x31) as RFC 5652 section 5.4 prescribes for the signature input.
    pub(crate) signed_attributes_as_set: Option<Vec<u8>>,
}

/// Splits a `ContentInfo(SignedData)` that has already decoded as typed structures.
pub(crate) fn signed_data_parts(content_info: &[u8]) -> Result<RawSignedData<'_>, der::Error> {
    let missing = || {
        der::Error::from(der::ErrorKind::Length {
            tag: der::Tag::Sequence,
        })
    };
    let outer = elements(content_info)?;
    let explicit = outer.get(1).ok_or_else(missing)?;
    let signed_data = *elements(explicit)?.first().ok_or_else(missing)?;
    let fields = elements(signed_data)?;
    let mut certificates = Vec::new();
    for field in &fields {
        if field.first() == Some(&0xA0) {
            certificates = elements(field)?;
        }
    }
    let signer_infos = *fields.last().ok_or_else(missing)?;
    let signer_info = *elements(signer_infos)?.first().ok_or_else(missing)?;
    let mut signed_attributes_as_set = None;
    for element in elements(signer_info)? {
        if element.first() == Some(&0xA0) {
            let mut set = element.to_vec();
            set[0] = 0x31;
            signed_attributes_as_set = Some(set);
        }
    }
    Ok(RawSignedData {
        certificates,
        signed_attributes_as_set,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sequences_and_refuses_trailing_bytes() {
        let seq = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xAA];
        let parts = elements(&seq).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            parts,
            vec![&[0x02, 0x01, 0x05][..], &[0x04, 0x01, 0xAA][..]]
        );
        assert!(elements(&[0x30, 0x00, 0x00]).is_err());
        assert!(elements(&[0x02, 0x01, 0x05]).is_err());
        assert!(elements(&[]).is_err());
        assert!(first_element(&[0x30, 0x00]).is_err());
    }
}
