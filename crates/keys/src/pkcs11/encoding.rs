//! DER glue between PKCS#11 attribute values and X.509: SubjectPublicKeyInfo from
//! `CKA_MODULUS`/`CKA_PUBLIC_EXPONENT` or `CKA_EC_PARAMS`/`CKA_EC_POINT`, raw ECDSA r‖s to
//! an ECDSA-Sig-Value, and the SHA-256 DigestInfo for `CKM_RSA_PKCS`.

use der::asn1::{BitString, Null, ObjectIdentifier, OctetStringRef, UintRef};
use der::{Any, Decode, Encode, Sequence};
use shuin_core::signature::{EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP256R1, SECP384R1};
use shuin_core::SignatureAlgorithm;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// `RSAPublicKey` (RFC 8017 appendix A.1.1).
#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// `ECDSA-Sig-Value` (RFC 3279 section 2.2.3).
#[derive(Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// The two curves shuin uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
}

impl Curve {
    pub(crate) fn oid(self) -> ObjectIdentifier {
        match self {
            Curve::P256 => SECP256R1,
            Curve::P384 => SECP384R1,
        }
    }

    /// Bytes of one coordinate (and of r and of s).
    pub(crate) fn field_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    pub(crate) fn algorithm(self) -> SignatureAlgorithm {
        match self {
            Curve::P256 => SignatureAlgorithm::EcdsaP256Sha256,
            Curve::P384 => SignatureAlgorithm::EcdsaP384Sha384,
        }
    }

    /// `CKA_EC_PARAMS`: the DER of the named curve's OID.
    pub(crate) fn ec_params_der(self) -> Result<Vec<u8>, der::Error> {
        self.oid().to_der()
    }

    fn from_ec_params(params: &[u8]) -> Result<Self, String> {
        let oid = ObjectIdentifier::from_der(params)
            .map_err(|e| format!("CKA_EC_PARAMS is not a named curve: {e}"))?;
        match oid {
            SECP256R1 => Ok(Curve::P256),
            SECP384R1 => Ok(Curve::P384),
            other => Err(format!("curve {other} is not supported (P-256 or P-384)")),
        }
    }

    /// The host-side digest for this curve's signature algorithm.
    pub(crate) fn digest(self, message: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        match self {
            Curve::P256 => sha2::Sha256::digest(message).to_vec(),
            Curve::P384 => sha2::Sha384::digest(message).to_vec(),
        }
    }
}

/// SPKI DER of an RSA key from its big-endian modulus and exponent.
pub(crate) fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Result<Vec<u8>, der::Error> {
    let key = RsaPublicKey {
        modulus: UintRef::new(modulus)?,
        public_exponent: UintRef::new(exponent)?,
    }
    .to_der()?;
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(Any::from(Null)),
        },
        subject_public_key: BitString::from_bytes(&key)?,
    }
    .to_der()
}

/// SPKI DER of an EC key, and its curve. `ec_point` may come wrapped in an OCTET STRING
/// (as PKCS#11 specifies and SoftHSM2 does) or bare (as some tokens do).
pub(crate) fn ec_spki(ec_params: &[u8], ec_point: &[u8]) -> Result<(Vec<u8>, Curve), String> {
    let curve = Curve::from_ec_params(ec_params)?;
    let bare_len = 1 + 2 * curve.field_len();
    let point = if ec_point.len() == bare_len && ec_point.first() == Some(&0x04) {
        ec_point
    } else {
        OctetStringRef::from_der(ec_point)
            .map_err(|e| format!("CKA_EC_POINT is neither a bare point nor an OCTET STRING: {e}"))?
            .as_bytes()
    };
    if point.len() != bare_len || point.first() != Some(&0x04) {
        return Err("CKA_EC_POINT is not an uncompressed point on the key's curve".into());
    }
    let der = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: EC_PUBLIC_KEY,
            parameters: Some(Any::encode_from(&curve.oid()).map_err(|e| e.to_string())?),
        },
        subject_public_key: BitString::from_bytes(point).map_err(|e| e.to_string())?,
    }
    .to_der()
    .map_err(|e| e.to_string())?;
    Ok((der, curve))
}

/// Converts the raw r‖s that `CKM_ECDSA` returns into a DER ECDSA-Sig-Value.
pub(crate) fn ecdsa_der_from_raw(raw: &[u8], curve: Curve) -> Result<Vec<u8>, der::Error> {
    if raw.len() != 2 * curve.field_len() {
        return Err(der::Error::from(der::ErrorKind::Length {
            tag: der::Tag::Sequence,
        }));
    }
    let (r, s) = raw.split_at(curve.field_len());
    EcdsaSigValue {
        r: UintRef::new(r)?,
        s: UintRef::new(s)?,
    }
    .to_der()
}

/// DER prefix of a SHA-256 `DigestInfo` (RFC 8017 section 9.2 note 1).
const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The SHA-256 `DigestInfo` over `message`, for `CKM_RSA_PKCS`.
pub(crate) fn sha256_digest_info(message: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut out = SHA256_DIGEST_INFO_PREFIX.to_vec();
    out.extend_from_slice(&sha2::Sha256::digest(message));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeySpec, Signer, SoftwareSigner};

    #[test]
    fn ec_point_wrapped_or_bare_gives_the_same_spki() {
        let (signer, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
        let spki = spki::SubjectPublicKeyInfoRef::from_der(signer.public_key_der()).unwrap();
        let point = spki.subject_public_key.raw_bytes();
        let params = Curve::P256.ec_params_der().unwrap();
        let wrapped = OctetStringRef::new(point).unwrap().to_der().unwrap();
        let (from_wrapped, curve) = ec_spki(&params, &wrapped).unwrap();
        let (from_bare, _) = ec_spki(&params, point).unwrap();
        assert_eq!(curve, Curve::P256);
        assert_eq!(from_wrapped, signer.public_key_der());
        assert_eq!(from_bare, signer.public_key_der());
        let p384 = Curve::P384.ec_params_der().unwrap();
        assert!(ec_spki(&p384, &wrapped).is_err(), "point of the wrong size");
    }

    #[test]
    fn raw_ecdsa_becomes_der() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a leading zero octet
        raw[63] = 1; // s is 1 after stripping zeros
        let der = ecdsa_der_from_raw(&raw, Curve::P256).unwrap();
        assert_eq!(&der[..4], &[0x30, 0x26, 0x02, 0x21]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
        assert!(ecdsa_der_from_raw(&raw[..63], Curve::P256).is_err());
    }

    #[test]
    fn digest_info_is_51_bytes() {
        assert_eq!(sha256_digest_info(b"x").len(), 51);
    }
}
