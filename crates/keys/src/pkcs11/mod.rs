//! The PKCS#11 backend (cryptoki): keys generated and kept inside a token (an HSM, a
//! network or cloud HSM through its PKCS#11 library, or SoftHSM2 in tests).
//!
//! The token is found by label (slot numbers change), the user logs in once, and a small
//! pool of sessions serves concurrent signing. RSA signs with `CKM_SHA256_RSA_PKCS` (or
//! `CKM_RSA_PKCS` over a DigestInfo when the token lacks it); ECDSA hashes on the host and
//! signs with `CKM_ECDSA`, whose raw r‖s is converted to DER.

mod connection;
mod encoding;
mod session_pool;

use crate::attributes::{KeyAttributeEvidence, KeyAttributes, TokenFacts};
use crate::pool_size::PoolSize;
use crate::{BackendInfo, KeyBackend, KeyError, KeyGenerator, KeyRef, KeySpec, Pkcs11Uri, Signer};
use connection::{is_lost, Connection, Live};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use cryptoki::types::Ulong;
use encoding::Curve;
use shuin_core::signing_pool::{SigningPoolFigures, SigningPoolSnapshot};
use shuin_core::SignatureAlgorithm;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use zeroize::Zeroizing;

fn device(operation: impl Into<String>, source: CkError) -> KeyError {
    KeyError::Device {
        operation: operation.into(),
        source: Box::new(source),
    }
}

/// How RSA keys sign on this token.
#[derive(Debug, Clone, Copy)]
enum RsaMechanism {
    Sha256RsaPkcs,
    RsaPkcsOverDigestInfo,
}

struct Shared {
    /// Keeps the library loaded.
    context: Pkcs11,
    module: PathBuf,
    token: TokenFacts,
    /// The logged-in sessions, renewed after the token went away and came back.
    connection: Connection,
    rsa: RsaMechanism,
    /// Serialises check-then-generate within this process.
    generating: Mutex<()>,
}

impl Shared {
    /// Renews the sessions after generation `lost` failed (see `connection.rs`).
    fn renew(&self, lost: u64) -> Result<(), KeyError> {
        self.connection
            .renew(lost, &self.context, &self.module, &self.token.label)
    }

    /// Runs `f` on a session, renewing the sessions once after a loss.
    fn with_session<T>(&self, f: impl Fn(&Session) -> Result<T, KeyError>) -> Result<T, KeyError> {
        self.connection
            .with_renewal(&self.context, &self.module, &self.token.label, f)
    }
}

/// A logged-in PKCS#11 token. Keeps the user PIN (zeroized on drop) only to log in again
/// when the token's sessions are lost (a network HSM restarting).
#[derive(Clone)]
pub struct Pkcs11Backend {
    shared: Arc<Shared>,
}

impl fmt::Debug for Pkcs11Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Backend")
            .field("module", &self.shared.module)
            .field("token", &self.shared.token.label)
            .field("sessions", &self.shared.connection.live().pool.len())
            .finish()
    }
}

fn find_slot(context: &Pkcs11, module: &Path, label: &str) -> Result<(Slot, TokenFacts), KeyError> {
    let slots = context
        .get_slots_with_token()
        .map_err(|e| device("C_GetSlotList", e))?;
    let mut found: Vec<(Slot, TokenFacts)> = Vec::new();
    let mut present = Vec::new();
    for slot in slots {
        let info = context
            .get_token_info(slot)
            .map_err(|e| device("C_GetTokenInfo", e))?;
        if info.label() == label {
            found.push((
                slot,
                TokenFacts {
                    label: info.label().to_owned(),
                    manufacturer: info.manufacturer_id().to_owned(),
                    model: info.model().to_owned(),
                    serial: info.serial_number().to_owned(),
                    firmware_version: info.firmware_version().to_string(),
                    hardware_version: info.hardware_version().to_string(),
                },
            ));
        } else {
            present.push(format!("{:?}", info.label()));
        }
    }
    if found.len() > 1 {
        return Err(KeyError::Rejected {
            uri: format!("pkcs11 token {label:?}"),
            reason: format!(
                "{} tokens carry this label; labels must be unique",
                found.len()
            ),
        });
    }
    found.pop().ok_or_else(|| KeyError::TokenNotFound {
        label: label.to_owned(),
        module: module.display().to_string(),
        present: if present.is_empty() {
            "none".to_owned()
        } else {
            present.join(", ")
        },
    })
}

impl Pkcs11Backend {
    /// Loads `module`, finds the token labelled `token_label`, logs in as the user with
    /// `pin` (zeroized when this returns) and opens a session pool of the default size.
    pub fn open(
        module: &Path,
        token_label: &str,
        pin: Zeroizing<String>,
    ) -> Result<Self, KeyError> {
        Self::open_sized(module, token_label, pin, PoolSize::default())
    }

    /// [`Pkcs11Backend::open`] with `size.sessions` sessions and room for
    /// `size.signing_queue` signatures waiting for one.
    pub fn open_sized(
        module: &Path,
        token_label: &str,
        pin: Zeroizing<String>,
        size: PoolSize,
    ) -> Result<Self, KeyError> {
        let context =
            Pkcs11::new(module).map_err(|e| device(format!("loading {}", module.display()), e))?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(device("C_Initialize", e)),
        }
        let figures = Arc::new(SigningPoolFigures::default());
        let (pool, token) = connection::open_sessions(
            &context,
            module,
            token_label,
            pin.as_str(),
            (size, &figures),
        )?;
        let slot = find_slot(&context, module, token_label)?.0;
        // Asked one by one: listing all mechanisms makes cryptoki log every vendor one.
        let rsa = if context
            .get_mechanism_info(slot, MechanismType::SHA256_RSA_PKCS)
            .is_ok()
        {
            RsaMechanism::Sha256RsaPkcs
        } else {
            RsaMechanism::RsaPkcsOverDigestInfo
        };
        Ok(Self {
            shared: Arc::new(Shared {
                context,
                module: module.to_owned(),
                token,
                connection: Connection::new(pool, Some(pin), size, figures),
                rsa,
                generating: Mutex::new(()),
            }),
        })
    }

    /// The facts of the token labelled `token_label`, read without logging in (for
    /// status output; a sealed instance has no PIN to log in with).
    pub fn token_facts(module: &Path, token_label: &str) -> Result<TokenFacts, KeyError> {
        let context =
            Pkcs11::new(module).map_err(|e| device(format!("loading {}", module.display()), e))?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(device("C_Initialize", e)),
        }
        find_slot(&context, module, token_label).map(|(_, facts)| facts)
    }

    /// The token this backend is logged in to.
    pub fn token(&self) -> &TokenFacts {
        &self.shared.token
    }

    fn uri_for(&self, key: &KeyRef) -> Result<Pkcs11Uri, KeyError> {
        let uri = Pkcs11Uri::from_key_ref(key)?;
        if uri.token != self.shared.token.label {
            return Err(KeyError::UnsupportedUri {
                uri: key.to_string(),
                reason: format!(
                    "the key is in token {:?}, but this backend is open on token {:?}",
                    uri.token, self.shared.token.label
                ),
            });
        }
        Ok(uri)
    }

    fn private_key(
        &self,
        session: &Session,
        key: &KeyRef,
        uri: &Pkcs11Uri,
    ) -> Result<ObjectHandle, KeyError> {
        let mut found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(uri.object.as_bytes().to_vec()),
            ])
            .map_err(|e| device("C_FindObjects", e))?;
        match found.len() {
            1 => found.pop().ok_or(KeyError::NotFound {
                uri: key.to_string(),
            }),
            0 => Err(KeyError::NotFound {
                uri: key.to_string(),
            }),
            n => Err(KeyError::Rejected {
                uri: key.to_string(),
                reason: format!("{n} private keys carry this label; labels must be unique"),
            }),
        }
    }

    fn load_signer(
        &self,
        session: &Session,
        key: &KeyRef,
        generation: u64,
    ) -> Result<Pkcs11Signer, KeyError> {
        let uri = self.uri_for(key)?;
        let handle = self.private_key(session, key, &uri)?;
        let rejected = |reason: String| KeyError::Rejected {
            uri: key.to_string(),
            reason,
        };
        let private = session
            .get_attributes(handle, &[AttributeType::KeyType, AttributeType::Id])
            .map_err(|e| device("C_GetAttributeValue", e))?;
        let key_type = private.iter().find_map(|a| match a {
            Attribute::KeyType(t) => Some(*t),
            _ => None,
        });
        let id = private.iter().find_map(|a| match a {
            Attribute::Id(id) => Some(id.clone()),
            _ => None,
        });
        // The public half: same CKA_ID if the key has one, else the same label.
        let public_template = match &id {
            Some(id) if !id.is_empty() => vec![
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Id(id.clone()),
            ],
            _ => vec![
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Label(uri.object.as_bytes().to_vec()),
            ],
        };
        let public = session
            .find_objects(&public_template)
            .map_err(|e| device("C_FindObjects", e))?
            .first()
            .copied();
        let (kind, spki_der) = if key_type == Some(KeyType::RSA) {
            // An RSA private key object also carries the modulus and exponent.
            let source = public.unwrap_or(handle);
            let values = session
                .get_attributes(
                    source,
                    &[AttributeType::Modulus, AttributeType::PublicExponent],
                )
                .map_err(|e| device("C_GetAttributeValue", e))?;
            let modulus = values.iter().find_map(|a| match a {
                Attribute::Modulus(m) => Some(m.as_slice()),
                _ => None,
            });
            let exponent = values.iter().find_map(|a| match a {
                Attribute::PublicExponent(e) => Some(e.as_slice()),
                _ => None,
            });
            let (Some(modulus), Some(exponent)) = (modulus, exponent) else {
                return Err(rejected(
                    "the token did not report CKA_MODULUS and CKA_PUBLIC_EXPONENT".into(),
                ));
            };
            let spki = encoding::rsa_spki(modulus, exponent)
                .map_err(|e| rejected(format!("RSA public key: {e}")))?;
            (SignKind::Rsa(self.shared.rsa), spki)
        } else if key_type == Some(KeyType::EC) {
            let public = public.ok_or_else(|| {
                rejected("no public key object with the key's CKA_ID or label".into())
            })?;
            let values = session
                .get_attributes(public, &[AttributeType::EcParams, AttributeType::EcPoint])
                .map_err(|e| device("C_GetAttributeValue", e))?;
            let params = values.iter().find_map(|a| match a {
                Attribute::EcParams(p) => Some(p.as_slice()),
                _ => None,
            });
            let point = values.iter().find_map(|a| match a {
                Attribute::EcPoint(p) => Some(p.as_slice()),
                _ => None,
            });
            let (Some(params), Some(point)) = (params, point) else {
                return Err(rejected(
                    "the token did not report CKA_EC_PARAMS and CKA_EC_POINT".into(),
                ));
            };
            let (spki, curve) = encoding::ec_spki(params, point).map_err(rejected)?;
            (SignKind::Ec(curve), spki)
        } else {
            return Err(rejected(format!(
                "key type {key_type:?} is not supported (RSA or EC)"
            )));
        };
        Ok(Pkcs11Signer {
            shared: self.shared.clone(),
            key: key.clone(),
            handle: Mutex::new((generation, handle)),
            uri: key.to_string(),
            kind,
            spki_der,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum SignKind {
    Rsa(RsaMechanism),
    Ec(Curve),
}

/// A private key inside a token. `Debug` shows only the URI and algorithm.
pub struct Pkcs11Signer {
    shared: Arc<Shared>,
    key: KeyRef,
    /// The key's handle, valid for one generation of sessions.
    handle: Mutex<(u64, ObjectHandle)>,
    uri: String,
    kind: SignKind,
    spki_der: Vec<u8>,
}

impl Pkcs11Signer {
    /// The key's handle in `live`'s generation: found again by URI after a renewal,
    /// and refused unless it is still the same key (the same public key).
    fn handle_in(&self, live: &Live) -> Result<ObjectHandle, KeyError> {
        let mut held = self.handle.lock().unwrap_or_else(PoisonError::into_inner);
        if held.0 == live.generation {
            return Ok(held.1);
        }
        let backend = Pkcs11Backend {
            shared: self.shared.clone(),
        };
        let found = live
            .pool
            .with(|session| backend.load_signer(session, &self.key, live.generation))?;
        if found.spki_der != self.spki_der {
            return Err(KeyError::Rejected {
                uri: self.uri.clone(),
                reason: "after the token came back, the key under this label is another key".into(),
            });
        }
        let handle = found
            .handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1;
        *held = (live.generation, handle);
        Ok(handle)
    }

    /// Signs on `live`'s sessions.
    fn sign_in(&self, live: &Live, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let handle = self.handle_in(live)?;
        live.pool.with(|session| {
            match self.kind {
                SignKind::Rsa(RsaMechanism::Sha256RsaPkcs) => {
                    session.sign(&Mechanism::Sha256RsaPkcs, handle, message)
                }
                SignKind::Rsa(RsaMechanism::RsaPkcsOverDigestInfo) => session.sign(
                    &Mechanism::RsaPkcs,
                    handle,
                    &encoding::sha256_digest_info(message),
                ),
                SignKind::Ec(curve) => {
                    session.sign(&Mechanism::Ecdsa, handle, &curve.digest(message))
                }
            }
            .map_err(|e| device(format!("C_Sign with {}", self.uri), e))
        })
    }
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs11Signer({}, {})", self.uri, self.algorithm().name())
    }
}

impl Signer for Pkcs11Signer {
    fn algorithm(&self) -> SignatureAlgorithm {
        match self.kind {
            SignKind::Rsa(_) => SignatureAlgorithm::RsaPkcs1Sha256,
            SignKind::Ec(curve) => curve.algorithm(),
        }
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let live = self.shared.connection.live();
        let signature = match self.sign_in(&live, message) {
            Err(e) if is_lost(&e) => {
                self.shared.renew(live.generation)?;
                self.sign_in(&self.shared.connection.live(), message)?
            }
            other => other?,
        };
        match self.kind {
            SignKind::Rsa(_) => Ok(signature),
            SignKind::Ec(curve) => {
                encoding::ecdsa_der_from_raw(&signature, curve).map_err(|_| KeyError::SigningFailed)
            }
        }
    }
}

impl KeyBackend for Pkcs11Backend {
    fn signer(&self, key: &KeyRef) -> Result<Arc<dyn Signer>, KeyError> {
        let attempt = |live: &Live| {
            live.pool
                .with(|session| self.load_signer(session, key, live.generation))
        };
        let live = self.shared.connection.live();
        let signer = match attempt(&live) {
            Err(e) if is_lost(&e) => {
                self.shared.renew(live.generation)?;
                attempt(&self.shared.connection.live())?
            }
            other => other?,
        };
        Ok(Arc::new(signer))
    }

    fn signing_pool(&self) -> Option<SigningPoolSnapshot> {
        let figures = self.shared.connection.figures();
        Some(figures.snapshot("pkcs11", &self.shared.token.label))
    }

    fn info(&self) -> BackendInfo {
        let token = &self.shared.token;
        let software_token = token.manufacturer.contains("SoftHSM");
        BackendInfo {
            kind: "pkcs11".into(),
            production_grade: !software_token,
            note: if software_token {
                format!(
                    "SoftHSM2 token {:?}: a software token for tests, not an HSM",
                    token.label
                )
            } else {
                format!(
                    "PKCS#11 token {:?}: {} {} (serial {}, firmware {})",
                    token.label,
                    token.manufacturer,
                    token.model,
                    token.serial,
                    token.firmware_version
                )
            },
        }
    }
}

fn check_label(label: &str) -> Result<(), KeyError> {
    if label.is_empty() || label.len() > 64 || label.chars().any(char::is_control) {
        return Err(KeyError::UnsupportedUri {
            uri: label.into(),
            reason: "a key label is 1 to 64 bytes of printable text".into(),
        });
    }
    Ok(())
}

fn generation_templates(
    spec: KeySpec,
    label: &str,
    id: &[u8],
) -> Result<(Mechanism<'static>, Vec<Attribute>, Vec<Attribute>), KeyError> {
    let common = |private: bool| {
        vec![
            Attribute::Token(true),
            Attribute::Private(private),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ]
    };
    // Signing only: no encryption, wrapping or derivation with an issuer key.
    let mut public = common(false);
    public.extend([
        Attribute::Verify(true),
        Attribute::Encrypt(false),
        Attribute::Wrap(false),
    ]);
    let mut private = common(true);
    private.extend([
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
    ]);
    let mechanism = match spec {
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            let bits: usize = match spec {
                KeySpec::Rsa3072 => 3072,
                KeySpec::Rsa4096 => 4096,
                _ => 2048,
            };
            let bits = Ulong::try_from(bits).map_err(|_| KeyError::GenerationFailed)?;
            public.extend([
                Attribute::ModulusBits(bits),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ]);
            Mechanism::RsaPkcsKeyPairGen
        }
        KeySpec::EcP256 | KeySpec::EcP384 => {
            let curve = if spec == KeySpec::EcP256 {
                Curve::P256
            } else {
                Curve::P384
            };
            let params = curve
                .ec_params_der()
                .map_err(|_| KeyError::GenerationFailed)?;
            public.push(Attribute::EcParams(params));
            Mechanism::EccKeyPairGen
        }
    };
    Ok((mechanism, public, private))
}

impl KeyGenerator for Pkcs11Backend {
    fn generate(&self, label: &str, spec: KeySpec) -> Result<KeyRef, KeyError> {
        check_label(label)?;
        let _one_at_a_time = self
            .shared
            .generating
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut id = [0u8; 16];
        aws_lc_rs::rand::fill(&mut id).map_err(|_| KeyError::GenerationFailed)?;
        let (mechanism, public, private) = generation_templates(spec, label, &id)?;
        self.shared.with_session(|session| {
            let existing = session
                .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
                .map_err(|e| device("C_FindObjects", e))?;
            if !existing.is_empty() {
                return Err(KeyError::AlreadyExists {
                    label: label.into(),
                    location: format!("token {:?}", self.shared.token.label),
                });
            }
            session
                .generate_key_pair(&mechanism, &public, &private)
                .map_err(|e| device(format!("C_GenerateKeyPair for {label:?}"), e))?;
            Ok(())
        })?;
        Ok(Pkcs11Uri {
            token: self.shared.token.label.clone(),
            object: label.to_owned(),
        }
        .to_key_ref())
    }
}

impl KeyAttributes for Pkcs11Backend {
    fn attributes(&self, key: &KeyRef) -> Result<KeyAttributeEvidence, KeyError> {
        let uri = self.uri_for(key)?;
        let values = self.shared.with_session(|session| {
            let handle = self.private_key(session, key, &uri)?;
            session
                .get_attributes(
                    handle,
                    &[
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::NeverExtractable,
                        AttributeType::AlwaysSensitive,
                        AttributeType::Local,
                        AttributeType::KeyType,
                        AttributeType::Id,
                    ],
                )
                .map_err(|e| device("C_GetAttributeValue", e))
        })?;
        // Look each attribute up by type: the token may leave some out.
        let flag = |wanted: AttributeType| {
            values.iter().find_map(|a| match (a, wanted) {
                (Attribute::Sensitive(v), AttributeType::Sensitive)
                | (Attribute::Extractable(v), AttributeType::Extractable)
                | (Attribute::NeverExtractable(v), AttributeType::NeverExtractable)
                | (Attribute::AlwaysSensitive(v), AttributeType::AlwaysSensitive)
                | (Attribute::Local(v), AttributeType::Local) => Some(*v),
                _ => None,
            })
        };
        let key_type = values.iter().find_map(|a| match a {
            Attribute::KeyType(t) if *t == KeyType::RSA => Some("rsa".to_owned()),
            Attribute::KeyType(t) if *t == KeyType::EC => Some("ec".to_owned()),
            Attribute::KeyType(t) => Some(format!("{t}")),
            _ => None,
        });
        let id_hex = values.iter().find_map(|a| match a {
            Attribute::Id(id) => Some(id.iter().map(|b| format!("{b:02x}")).collect()),
            _ => None,
        });
        Ok(KeyAttributeEvidence {
            uri: key.to_string(),
            key_type: key_type.unwrap_or_else(|| "not reported".into()),
            id_hex: id_hex.unwrap_or_default(),
            sensitive: flag(AttributeType::Sensitive),
            extractable: flag(AttributeType::Extractable),
            never_extractable: flag(AttributeType::NeverExtractable),
            always_sensitive: flag(AttributeType::AlwaysSensitive),
            local: flag(AttributeType::Local),
            token: self.shared.token.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SoftHSM2 has `CKM_SHA256_RSA_PKCS`, so the DigestInfo fallback is forced here.
    #[test]
    fn rsa_over_digest_info_verifies_like_the_combined_mechanism() {
        let Some(module) = crate::softhsm::module_for_tests().unwrap() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let token =
            crate::softhsm::SoftHsmToken::create(&module, dir.path(), "digest-info", "4321")
                .unwrap();
        token.use_in_this_process();
        let size = PoolSize {
            sessions: crate::pool_size::SessionCount::new(3).unwrap(),
            ..PoolSize::default()
        };
        let backend = token.open_sized(size).unwrap();
        let key = backend.generate("rsa", KeySpec::Rsa2048).unwrap();
        let live = backend.shared.connection.live();
        let loaded = live
            .pool
            .with(|session| backend.load_signer(session, &key, live.generation))
            .unwrap();
        let handle = *loaded.handle.lock().unwrap();
        for mechanism in [
            RsaMechanism::Sha256RsaPkcs,
            RsaMechanism::RsaPkcsOverDigestInfo,
        ] {
            let signer = Pkcs11Signer {
                shared: backend.shared.clone(),
                key: key.clone(),
                handle: Mutex::new(handle),
                uri: loaded.uri.clone(),
                kind: SignKind::Rsa(mechanism),
                spki_der: loaded.spki_der.clone(),
            };
            let signature = signer.sign(b"to be signed").unwrap();
            let oid = signer.algorithm().algorithm_identifier().oid;
            assert!(shuin_core::signature::verify(
                signer.public_key_der(),
                oid,
                b"to be signed",
                &signature
            )
            .is_ok());
        }
        let pool = backend.signing_pool().unwrap();
        assert_eq!(
            (pool.key_backend.as_str(), pool.pool.as_str()),
            ("pkcs11", "digest-info")
        );
        assert_eq!((pool.sessions, pool.in_flight, pool.waiting), (3, 0, 0));
        assert_eq!(pool.errors, 0);
    }
}
