//! Distinguished names (RFC 5280 section 4.1.2.4), built attribute by attribute so that
//! string types and repeated attributes (JPKI's two `L`) are exactly as intended.

use const_oid::db::rfc4519;
use const_oid::ObjectIdentifier;
use der::asn1::{PrintableStringRef, SetOfVec, Utf8StringRef};
use der::{Any, Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

/// Builds a `Name` one single-valued RDN at a time.
#[derive(Debug, Default)]
pub struct NameBuilder {
    rdns: Vec<RelativeDistinguishedName>,
}

impl NameBuilder {
    /// An empty name.
    pub fn new() -> Self {
        Self::default()
    }

    /// `C=` as PrintableString (RFC 5280 requires it for countryName).
    pub fn country(self, code: &str) -> Result<Self, der::Error> {
        let value = Any::from(PrintableStringRef::new(code)?);
        self.push(rfc4519::C, value)
    }

    /// Any attribute as UTF8String.
    pub fn utf8(self, oid: ObjectIdentifier, text: &str) -> Result<Self, der::Error> {
        let value = Any::from(Utf8StringRef::new(text)?);
        self.push(oid, value)
    }

    /// `O=` as UTF8String.
    pub fn organization(self, text: &str) -> Result<Self, der::Error> {
        self.utf8(rfc4519::O, text)
    }

    /// `OU=` as UTF8String.
    pub fn organizational_unit(self, text: &str) -> Result<Self, der::Error> {
        self.utf8(rfc4519::OU, text)
    }

    /// `L=` as UTF8String.
    pub fn locality(self, text: &str) -> Result<Self, der::Error> {
        self.utf8(rfc4519::L, text)
    }

    /// `CN=` as UTF8String.
    pub fn common_name(self, text: &str) -> Result<Self, der::Error> {
        self.utf8(rfc4519::CN, text)
    }

    fn push(mut self, oid: ObjectIdentifier, value: Any) -> Result<Self, der::Error> {
        let mut set = SetOfVec::new();
        set.insert(AttributeTypeAndValue { oid, value })?;
        self.rdns.push(RelativeDistinguishedName::from(set));
        Ok(self)
    }

    /// The finished name.
    pub fn build(self) -> Name {
        RdnSequence::from(self.rdns)
    }
}

/// The string values of every attribute of type `oid`, in order.
pub fn attribute_values(name: &Name, oid: ObjectIdentifier) -> Vec<String> {
    let mut out = Vec::new();
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid == oid {
                if let Some(text) = any_to_string(&atv.value) {
                    out.push(text);
                }
            }
        }
    }
    out
}

/// Decodes a directory string of the common types.
pub fn any_to_string(value: &Any) -> Option<String> {
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            String::from_utf8(value.value().to_vec()).ok()
        }
        _ => None,
    }
}
