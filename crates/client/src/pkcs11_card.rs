//! The applicant's JPKI card over PKCS#11 (OpenSC's `jpki` driver for a real My Number
//! card, or a SoftHSM2 token shaped like one in tests).
//!
//! The token is found by label (`JPKI` by default), the user logs in with the signing
//! PIN, and the signing certificate and key are the objects with `CKA_ID` 02. The CMS
//! signed attributes are signed with `CKM_SHA256_RSA_PKCS`, or with `CKM_RSA_PKCS` over a
//! SHA-256 DigestInfo when the token lacks the combined mechanism. A key with
//! `CKA_ALWAYS_AUTHENTICATE` gets a context-specific login (`CKU_CONTEXT_SPECIFIC`)
//! between `C_SignInit` and the signature, as PKCS#11 requires.

use crate::{CardSigner, ClientError};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use sha2::Digest;
use std::path::Path;
use std::sync::Mutex;
use zeroize::Zeroizing;

/// The JPKI signing objects' `CKA_ID`.
pub const JPKI_SIGNING_ID: u8 = 0x02;
/// The label OpenSC gives the JPKI application's token.
pub const JPKI_TOKEN_LABEL: &str = "JPKI";

/// DER prefix of a SHA-256 DigestInfo (RFC 8017 section 9.2, note 1).
const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

fn card_error(what: impl std::fmt::Display, e: impl std::fmt::Display) -> ClientError {
    ClientError::Key(format!("card: {what}: {e}"))
}

/// A JPKI card reached through a PKCS#11 module.
pub struct Pkcs11Card {
    // Kept alive for the session; finalized on drop.
    _context: Pkcs11,
    session: Mutex<Session>,
    key: ObjectHandle,
    certificate_der: Vec<u8>,
    always_authenticate: bool,
    combined_mechanism: bool,
    pin: Zeroizing<String>,
}

impl std::fmt::Debug for Pkcs11Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Card")
            .field("always_authenticate", &self.always_authenticate)
            .field("combined_mechanism", &self.combined_mechanism)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Card {
    /// Loads `module`, finds the token labelled `token_label`, logs in with the signing
    /// `pin`, and reads the signing certificate and key (ID 02).
    pub fn open(
        module: &Path,
        token_label: &str,
        pin: Zeroizing<String>,
    ) -> Result<Self, ClientError> {
        let context = Pkcs11::new(module)
            .map_err(|e| card_error(format!("loading {}", module.display()), e))?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(card_error("C_Initialize", e)),
        }
        let mut present = Vec::new();
        let mut found = None;
        for slot in context
            .get_slots_with_token()
            .map_err(|e| card_error("C_GetSlotList", e))?
        {
            let info = context
                .get_token_info(slot)
                .map_err(|e| card_error("C_GetTokenInfo", e))?;
            let label = info.label().trim_end().to_owned();
            if label == token_label && found.is_none() {
                found = Some(slot);
            }
            present.push(label);
        }
        let slot = found.ok_or_else(|| {
            ClientError::Key(format!(
                "card: no token labelled {token_label:?} (is the card in the reader?); tokens present: {}",
                if present.is_empty() { "none".to_owned() } else { present.join(", ") }
            ))
        })?;
        let session = context
            .open_ro_session(slot)
            .map_err(|e| card_error("C_OpenSession", e))?;
        let auth = AuthPin::from(pin.as_str());
        match session.login(UserType::User, Some(&auth)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                return Err(ClientError::Key(
                    "card: the signing PIN is incorrect (a JPKI card locks after 5 wrong tries)"
                        .into(),
                ))
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                return Err(ClientError::Key(
                    "card: the signing PIN is locked; have it reset at the municipal office".into(),
                ))
            }
            Err(e) => return Err(card_error("C_Login", e)),
        }
        drop(auth);
        let id = vec![JPKI_SIGNING_ID];
        let find = |class: ObjectClass| -> Result<ObjectHandle, ClientError> {
            let objects = session
                .find_objects(&[Attribute::Class(class), Attribute::Id(id.clone())])
                .map_err(|e| card_error("C_FindObjects", e))?;
            objects.first().copied().ok_or_else(|| {
                ClientError::Key(format!(
                    "card: no {class} with ID 02 (the JPKI signing objects) on token {token_label:?}"
                ))
            })
        };
        let certificate = find(ObjectClass::CERTIFICATE)?;
        let key = find(ObjectClass::PRIVATE_KEY)?;
        let certificate_der = session
            .get_attributes(certificate, &[AttributeType::Value])
            .map_err(|e| card_error("reading the signing certificate", e))?
            .into_iter()
            .find_map(|a| match a {
                Attribute::Value(v) => Some(v),
                _ => None,
            })
            .ok_or_else(|| ClientError::Key("card: the signing certificate has no value".into()))?;
        // Attributes are looked up by type: a token may leave some out.
        let always_authenticate = session
            .get_attributes(key, &[AttributeType::AlwaysAuthenticate])
            .map_err(|e| card_error("reading the signing key's attributes", e))?
            .into_iter()
            .any(|a| matches!(a, Attribute::AlwaysAuthenticate(true)));
        let combined_mechanism = context
            .get_mechanism_info(slot, MechanismType::SHA256_RSA_PKCS)
            .is_ok();
        Ok(Self {
            _context: context,
            session: Mutex::new(session),
            key,
            certificate_der,
            always_authenticate,
            combined_mechanism,
            pin,
        })
    }

    /// Whether the signing key asks for the PIN at every signature.
    pub fn always_authenticate(&self) -> bool {
        self.always_authenticate
    }

    fn context_login(&self, session: &Session) -> Result<(), ClientError> {
        if self.always_authenticate {
            let auth = AuthPin::from(self.pin.as_str());
            session
                .login(UserType::ContextSpecific, Some(&auth))
                .map_err(|e| card_error("C_Login (context-specific)", e))?;
        }
        Ok(())
    }
}

impl CardSigner for Pkcs11Card {
    fn certificate_der(&self) -> Result<Vec<u8>, ClientError> {
        Ok(self.certificate_der.clone())
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, ClientError> {
        let session = self
            .session
            .lock()
            .map_err(|_| ClientError::Key("card: session lock poisoned".into()))?;
        if self.combined_mechanism {
            // Multi-part, so the context-specific login sits between C_SignInit and the
            // signature.
            session
                .sign_init(&Mechanism::Sha256RsaPkcs, self.key)
                .map_err(|e| card_error("C_SignInit", e))?;
            self.context_login(&session)?;
            session
                .sign_update(message)
                .map_err(|e| card_error("C_SignUpdate", e))?;
            session
                .sign_final()
                .map_err(|e| card_error("C_SignFinal", e))
        } else {
            let mut digest_info = SHA256_DIGEST_INFO_PREFIX.to_vec();
            digest_info.extend_from_slice(&sha2::Sha256::digest(message));
            if self.always_authenticate {
                // CKM_RSA_PKCS is single-part; modules that demand the context-specific
                // login accept it before the operation's data.
                session
                    .sign_init(&Mechanism::RsaPkcs, self.key)
                    .map_err(|e| card_error("C_SignInit", e))?;
                self.context_login(&session)?;
                session
                    .sign_update(&digest_info)
                    .map_err(|e| card_error("C_SignUpdate", e))?;
                session
                    .sign_final()
                    .map_err(|e| card_error("C_SignFinal", e))
            } else {
                session
                    .sign(&Mechanism::RsaPkcs, self.key, &digest_info)
                    .map_err(|e| card_error("C_Sign", e))
            }
        }
    }
}
