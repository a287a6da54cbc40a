//! Node certificates of a split deployment (DESIGN.md section 10): the mutual-TLS identity
//! of an RA node, a repository node or the CA's link, issued by the operator CA when the
//! node is paired.
//!
//! A node certificate says what it is in its subject: `OU=shuin <role> node, CN=<name>`.
//! Operator certificates from the same CA carry only a CN (their subject is built by
//! [`crate::issuance::CaProfile::operator`], never taken from a CSR), so no operator can
//! pass for a node. Both server and client authentication are allowed: a node serves its
//! peer listener and dials others. The subject alternative names are the hosts the node
//! serves on (DNS names or IP addresses).

use crate::issuance::IssuerIdentity;
use crate::x509::extensions as ext;
use crate::x509::name::{attribute_values, NameBuilder};
use crate::x509::CertificateTemplate;
use crate::Serial;
use serde::{Deserialize, Serialize};
use spki::SubjectPublicKeyInfoOwned;
use std::time::{Duration, SystemTime};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsages, SubjectAltName};

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// The CA (high-security zone): it dials out, and listens on no network port.
    Ca,
    /// An RA node (secure zone).
    Ra,
    /// A repository node.
    Repo,
}

impl NodeRole {
    /// The organizational unit that marks this role's certificates.
    pub fn unit(self) -> &'static str {
        match self {
            NodeRole::Ca => "shuin ca node",
            NodeRole::Ra => "shuin ra node",
            NodeRole::Repo => "shuin repository node",
        }
    }

    fn of_unit(unit: &str) -> Option<NodeRole> {
        [NodeRole::Ca, NodeRole::Ra, NodeRole::Repo]
            .into_iter()
            .find(|role| role.unit() == unit)
    }
}

/// Who a node certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    /// Its role.
    pub role: NodeRole,
    /// Its name (the subject CN).
    pub name: String,
}

/// Why a certificate is not a node certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a shuin node certificate: {0}")]
pub struct NotANode(pub String);

impl NodeIdentity {
    /// Reads the node a certificate names (its signature is the TLS verifier's business).
    pub fn of(certificate_der: &[u8]) -> Result<NodeIdentity, NotANode> {
        use der::Decode;
        let cert = x509_cert::Certificate::from_der(certificate_der)
            .map_err(|e| NotANode(e.to_string()))?;
        let subject = &cert.tbs_certificate.subject;
        let units = attribute_values(subject, const_oid::db::rfc4519::OU);
        let [unit] = units.as_slice() else {
            return Err(NotANode("the subject must carry one node OU".into()));
        };
        let role = NodeRole::of_unit(unit)
            .ok_or_else(|| NotANode(format!("OU {unit:?} names no node role")))?;
        let names = attribute_values(subject, const_oid::db::rfc4519::CN);
        let [name] = names.as_slice() else {
            return Err(NotANode("the subject must carry one CN".into()));
        };
        Ok(NodeIdentity {
            role,
            name: name.clone(),
        })
    }
}

/// The certificate of `node` under the operator CA `issuer`, for `hosts` (DNS names or
/// IP addresses; none for the CA's link, which only dials out).
pub fn node_template(
    issuer: &IssuerIdentity,
    node: &NodeIdentity,
    hosts: &[String],
    spki: SubjectPublicKeyInfoOwned,
    serial: Serial,
    now: SystemTime,
    validity: Duration,
) -> Result<CertificateTemplate, der::Error> {
    use const_oid::db::rfc5280;
    let key_id = ext::key_identifier(&spki);
    let subject = NameBuilder::new()
        .organizational_unit(node.role.unit())?
        .common_name(&node.name)?
        .build();
    let mut extensions = vec![
        ext::basic_constraints(false, None)?,
        ext::key_usage(&[KeyUsages::DigitalSignature])?,
        ext::extension(
            &ExtendedKeyUsage(vec![rfc5280::ID_KP_SERVER_AUTH, rfc5280::ID_KP_CLIENT_AUTH]),
            false,
        )?,
        ext::subject_key_identifier(&key_id)?,
        ext::authority_key_identifier(&issuer.key_id)?,
    ];
    if !hosts.is_empty() {
        let names = hosts
            .iter()
            .map(|host| general_name(host))
            .collect::<Result<_, _>>()?;
        extensions.push(ext::extension(&SubjectAltName(names), false)?);
    }
    Ok(CertificateTemplate {
        serial,
        issuer: issuer.name.clone(),
        subject,
        not_before: now,
        not_after: now + validity,
        subject_public_key_info: spki,
        extensions,
    })
}

/// A host as a subject alternative name: an IP address, else a DNS name.
fn general_name(host: &str) -> Result<GeneralName, der::Error> {
    Ok(match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            GeneralName::IpAddress(der::asn1::OctetString::new(ip.octets().to_vec())?)
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            GeneralName::IpAddress(der::asn1::OctetString::new(ip.octets().to_vec())?)
        }
        Err(_) => GeneralName::DnsName(der::asn1::Ia5String::new(host)?),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use der::Encode;

    fn spki() -> SubjectPublicKeyInfoOwned {
        let mut point = vec![4u8];
        point.extend([7u8; 64]);
        SubjectPublicKeyInfoOwned {
            algorithm: spki::AlgorithmIdentifierOwned {
                oid: const_oid::db::rfc5912::ID_EC_PUBLIC_KEY,
                parameters: Some(der::Any::from(&const_oid::db::rfc5912::SECP_256_R_1)),
            },
            subject_public_key: der::asn1::BitString::from_bytes(&point).unwrap(),
        }
    }

    fn operator_ca() -> IssuerIdentity {
        IssuerIdentity {
            name: NameBuilder::new()
                .common_name("operator CA")
                .unwrap()
                .build(),
            key_id: vec![1; 20],
        }
    }

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    /// The DER of `template`'s certificate (with a dummy signature: only its content
    /// counts).
    fn signed(template: &CertificateTemplate) -> Vec<u8> {
        let tbs = template
            .to_tbs(crate::SignatureAlgorithm::EcdsaP256Sha256)
            .unwrap();
        crate::x509::assemble_certificate(tbs, &[0u8; 64])
            .unwrap()
            .to_der()
            .unwrap()
    }

    fn certificate(node: &NodeIdentity, hosts: &[String]) -> Vec<u8> {
        let serial = Serial::from_hex("01").unwrap();
        let day = Duration::from_secs(86_400);
        signed(&node_template(&operator_ca(), node, hosts, spki(), serial, at(), day).unwrap())
    }

    #[test]
    fn a_node_certificate_names_its_role_and_name() {
        for role in [NodeRole::Ca, NodeRole::Ra, NodeRole::Repo] {
            let node = NodeIdentity {
                role,
                name: "node-1".into(),
            };
            let hosts = [
                "ra1.example.jp".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ];
            assert_eq!(NodeIdentity::of(&certificate(&node, &hosts)).unwrap(), node);
        }
    }

    #[test]
    fn an_operator_certificate_is_no_node() {
        let serial = Serial::from_hex("02").unwrap();
        let day = Duration::from_secs(86_400);
        let template = crate::issuance::CaProfile::operator(
            &operator_ca(),
            "shuin ra node",
            spki(),
            serial,
            at(),
            day,
        )
        .unwrap();
        assert!(NodeIdentity::of(&signed(&template)).is_err());
        assert!(NodeIdentity::of(b"not a certificate").is_err());
    }
}
