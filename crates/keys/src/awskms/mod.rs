//! The AWS KMS key backend (`awskms:KEY`, KEY a key ARN, id or `alias/NAME`): issuer,
//! OCSP and audit keys that never leave KMS (theme ❸ of the 2024 criteria).
//!
//! - The public key comes from `GetPublicKey`; keys must be `SIGN_VERIFY` keys of RSA
//!   2048/3072/4096 (`RSASSA_PKCS1_V1_5_SHA_256`) or ECC P-256/P-384 (`ECDSA_SHA_256`,
//!   `ECDSA_SHA_384`).
//! - Messages up to 4096 bytes are sent whole (`RAW`); longer ones (large CRLs) as their
//!   digest (`DIGEST`).
//! - Every signature is verified locally under the key's public key before it is used;
//!   one that does not verify is refused ([`KeyError::BadSignature`]).
//! - Credentials come from the standard AWS chain (environment, profile, web identity,
//!   ECS, instance metadata); they are never in `shuin.toml` or in logs. Throttling and
//!   transient errors are retried by the SDK's standard retry with exponential backoff.

mod bridge;
mod facts;

pub use facts::KmsKeyFacts;

use crate::{BackendInfo, KeyBackend, KeyError, KeyGenerator, KeyRef, KeySpec, Signer};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    KeySpec as KmsKeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec, Tag,
};
use bridge::Bridge;
use shuin_core::SignatureAlgorithm;
use std::sync::Arc;
use std::time::Duration;

/// The largest message KMS signs whole (`MessageType=RAW`).
pub const RAW_LIMIT: usize = 4096;

const SERVICE: &str = "AWS KMS";

/// Where the backend finds KMS (`[ca.key_backend] kind = "awskms"`).
#[derive(Clone, Default)]
pub struct KmsSettings {
    /// The region; otherwise from the AWS chain (`AWS_REGION`, the profile).
    pub region: Option<String>,
    /// Another endpoint (an emulator, a VPC endpoint); otherwise the AWS chain's
    /// (`AWS_ENDPOINT_URL`) or the region's public endpoint.
    pub endpoint_url: Option<String>,
    /// Static credentials for an emulator in tests only; production takes the AWS chain,
    /// and `shuin.toml` has no field for them.
    pub test_credentials: Option<(String, String)>,
}

impl std::fmt::Debug for KmsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsSettings")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field(
                "test_credentials",
                &self.test_credentials.as_ref().map(|_| "(set)"),
            )
            .finish()
    }
}

/// Keys in AWS KMS.
#[derive(Clone)]
pub struct KmsBackend {
    inner: Arc<Shared>,
}

impl std::fmt::Debug for KmsBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsBackend")
            .field("region", &self.inner.region)
            .field("endpoint_url", &self.inner.endpoint_url)
            .finish()
    }
}

struct Shared {
    bridge: Bridge,
    client: aws_sdk_kms::Client,
    region: String,
    endpoint_url: Option<String>,
}

/// The service's error as a [`KeyError`]: its code and message, retryable when the
/// service was throttled or could not be reached.
fn service_error<E, R>(operation: &'static str, error: SdkError<E, R>) -> KeyError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (detail, retryable) = match &error {
        SdkError::ServiceError(context) => {
            let e = context.err();
            let code = e.code().unwrap_or("error");
            let retryable = matches!(
                code,
                "ThrottlingException"
                    | "KMSInternalException"
                    | "DependencyTimeoutException"
                    | "KeyUnavailableException"
            );
            (
                format!("{code}: {}", e.message().unwrap_or("no message")),
                retryable,
            )
        }
        SdkError::TimeoutError(_) => ("timed out".to_owned(), true),
        SdkError::DispatchFailure(failure) => (
            format!("the service could not be reached ({failure:?})"),
            true,
        ),
        other => (
            aws_sdk_kms::error::DisplayErrorContext(other).to_string(),
            false,
        ),
    };
    KeyError::Service {
        service: SERVICE,
        operation,
        detail,
        retryable,
    }
}

fn is_not_found<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    matches!(error, SdkError::ServiceError(context) if context.err().code() == Some("NotFoundException"))
}

fn rejected(key: &KeyRef, reason: impl Into<String>) -> KeyError {
    KeyError::Rejected {
        uri: key.to_string(),
        reason: reason.into(),
    }
}

impl KmsBackend {
    /// Builds the client from the AWS chain and `settings`, and checks that a region is
    /// known. No request is sent yet.
    pub fn connect(settings: &KmsSettings) -> Result<KmsBackend, KeyError> {
        let bridge = Bridge::start()?;
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some((id, secret)) = &settings.test_credentials {
            loader = loader.credentials_provider(aws_sdk_kms::config::Credentials::new(
                id.clone(),
                secret.clone(),
                None,
                None,
                "shuin-test",
            ));
        }
        let config = bridge.run(loader.load())?;
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| KeyError::Service {
                service: SERVICE,
                operation: "configuration",
                detail: "no AWS region: set region in [ca.key_backend] or AWS_REGION".into(),
                retryable: false,
            })?;
        let endpoint_url = settings
            .endpoint_url
            .clone()
            .or_else(|| config.endpoint_url().map(str::to_owned));
        Ok(KmsBackend {
            inner: Arc::new(Shared {
                client: aws_sdk_kms::Client::new(&config),
                bridge,
                region,
                endpoint_url,
            }),
        })
    }

    /// The region the client talks to.
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    fn key_id<'a>(&self, key: &'a KeyRef) -> Result<&'a str, KeyError> {
        key.aws_kms_key_id()
            .ok_or_else(|| KeyError::UnsupportedUri {
                uri: key.to_string(),
                reason: "the AWS KMS backend takes awskms:KEY".into(),
            })
    }

    /// The key's metadata (`DescribeKey`), as evidence for the audit pack and ceremonies.
    pub fn facts(&self, key: &KeyRef) -> Result<KmsKeyFacts, KeyError> {
        let client = self.inner.client.clone();
        let key_id = self.key_id(key)?.to_owned();
        let described = self
            .inner
            .bridge
            .run(async move { client.describe_key().key_id(key_id).send().await })?;
        match described {
            Ok(output) => output
                .key_metadata()
                .map(|m| KmsKeyFacts::from_metadata(m, &self.inner.region))
                .ok_or_else(|| rejected(key, "DescribeKey returned no metadata")),
            Err(e) if is_not_found(&e) => Err(KeyError::NotFound {
                uri: key.to_string(),
            }),
            Err(e) => Err(service_error("DescribeKey", e)),
        }
    }
}

impl crate::KeyFactsReader for KmsBackend {
    fn key_facts(&self, key: &KeyRef) -> Result<crate::KeyFacts, KeyError> {
        self.facts(key)
            .map(|metadata| crate::KeyFacts::Awskms { metadata })
    }

    fn key_policy(&self, key: &KeyRef) -> Result<Option<String>, KeyError> {
        self.policy(key).map(Some)
    }
}

impl KeyBackend for KmsBackend {
    fn signer(&self, key: &KeyRef) -> Result<Arc<dyn Signer>, KeyError> {
        Ok(Arc::new(KmsSigner::open(self, key)?))
    }

    fn info(&self) -> BackendInfo {
        match &self.inner.endpoint_url {
            None => BackendInfo {
                kind: "awskms".into(),
                production_grade: true,
                note: format!(
                    "AWS KMS in {} (keys in the provider's HSMs; see the provider's FIPS 140-3 validation)",
                    self.inner.region
                ),
            },
            Some(url) => BackendInfo {
                kind: "awskms".into(),
                production_grade: false,
                note: format!(
                    "AWS KMS API at {url} (region {}): an endpoint override, such as an emulator or a VPC endpoint; production grade only if it is AWS itself",
                    self.inner.region
                ),
            },
        }
    }
}

fn kms_spec(spec: KeySpec) -> KmsKeySpec {
    match spec {
        KeySpec::Rsa2048 => KmsKeySpec::Rsa2048,
        KeySpec::Rsa3072 => KmsKeySpec::Rsa3072,
        KeySpec::Rsa4096 => KmsKeySpec::Rsa4096,
        KeySpec::EcP256 => KmsKeySpec::EccNistP256,
        KeySpec::EcP384 => KmsKeySpec::EccNistP384,
    }
}

impl KeyGenerator for KmsBackend {
    /// Creates a `SIGN_VERIFY` key of `spec` in KMS (origin `AWS_KMS`, never
    /// exportable) and the alias `alias/LABEL`; returns the key by its ARN, which no
    /// alias change can redirect. Refuses a label whose alias exists.
    fn generate(&self, label: &str, spec: KeySpec) -> Result<KeyRef, KeyError> {
        let alias = format!("alias/{label}");
        if label.is_empty()
            || label.len() > 200
            || label.starts_with("aws")
            || !label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'))
        {
            return Err(rejected(
                &KeyRef::aws_kms(&alias),
                "a KMS key label is 1 to 200 of A-Z a-z 0-9 - _ /, not starting with aws",
            ));
        }
        let client = self.inner.client.clone();
        let probe = alias.clone();
        let existing = self
            .inner
            .bridge
            .run(async move { client.describe_key().key_id(probe).send().await })?;
        match existing {
            Ok(_) => {
                return Err(KeyError::AlreadyExists {
                    label: label.to_owned(),
                    location: format!("AWS KMS ({})", self.inner.region),
                })
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(service_error("DescribeKey", e)),
        }
        let client = self.inner.client.clone();
        let tag = Tag::builder()
            .tag_key("shuin-label")
            .tag_value(label)
            .build()
            .map_err(|e| rejected(&KeyRef::aws_kms(&alias), e.to_string()))?;
        let description = format!("shuin {label}");
        let created = self.inner.bridge.run(async move {
            client
                .create_key()
                .key_spec(kms_spec(spec))
                .key_usage(KeyUsageType::SignVerify)
                .description(description)
                .tags(tag)
                .send()
                .await
        })?;
        let arn = created
            .map_err(|e| service_error("CreateKey", e))?
            .key_metadata()
            .and_then(|m| m.arn().map(str::to_owned))
            .ok_or(KeyError::GenerationFailed)?;
        let client = self.inner.client.clone();
        let target = arn.clone();
        let aliased = self.inner.bridge.run(async move {
            client
                .create_alias()
                .alias_name(alias)
                .target_key_id(target)
                .send()
                .await
        })?;
        if let Err(e) = aliased {
            // The key was made but cannot be named: schedule it for deletion.
            let client = self.inner.client.clone();
            let orphan = arn.clone();
            let _ = self.inner.bridge.run(async move {
                client
                    .schedule_key_deletion()
                    .key_id(orphan)
                    .pending_window_in_days(7)
                    .send()
                    .await
            });
            return Err(service_error("CreateAlias", e));
        }
        Ok(KeyRef::aws_kms(&arn))
    }
}

/// A key in KMS, with its public key and algorithm fixed when it was opened.
pub struct KmsSigner {
    backend: KmsBackend,
    key: KeyRef,
    key_id: String,
    algorithm: SignatureAlgorithm,
    signing: SigningAlgorithmSpec,
    public_key_der: Vec<u8>,
}

impl std::fmt::Debug for KmsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KmsSigner({}, {:?})", self.key, self.algorithm)
    }
}

impl KmsSigner {
    /// Reads the key's public key, spec and usage (`GetPublicKey`).
    fn open(backend: &KmsBackend, key: &KeyRef) -> Result<KmsSigner, KeyError> {
        let key_id = backend.key_id(key)?.to_owned();
        let client = backend.inner.client.clone();
        let id = key_id.clone();
        let answer = backend
            .inner
            .bridge
            .run(async move { client.get_public_key().key_id(id).send().await })?;
        let output = match answer {
            Ok(output) => output,
            Err(e) if is_not_found(&e) => {
                return Err(KeyError::NotFound {
                    uri: key.to_string(),
                })
            }
            Err(e) => return Err(service_error("GetPublicKey", e)),
        };
        if output.key_usage() != Some(&KeyUsageType::SignVerify) {
            return Err(rejected(
                key,
                format!(
                    "key usage {:?}: a CA key must be SIGN_VERIFY",
                    output.key_usage()
                ),
            ));
        }
        let public_key_der = output
            .public_key()
            .map(|blob| blob.as_ref().to_vec())
            .ok_or_else(|| rejected(key, "GetPublicKey returned no public key"))?;
        // The algorithm follows from the public key itself (older answers and emulators
        // may leave KeySpec out).
        use shuin_core::key_policy::AcceptedKey;
        let (algorithm, signing) =
            match shuin_core::key_policy::check_subscriber_key(&public_key_der) {
                Ok(AcceptedKey::Rsa { .. }) => (
                    SignatureAlgorithm::RsaPkcs1Sha256,
                    SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
                ),
                Ok(AcceptedKey::EcP256) => (
                    SignatureAlgorithm::EcdsaP256Sha256,
                    SigningAlgorithmSpec::EcdsaSha256,
                ),
                Ok(AcceptedKey::EcP384) => (
                    SignatureAlgorithm::EcdsaP384Sha384,
                    SigningAlgorithmSpec::EcdsaSha384,
                ),
                Err(e) => {
                    return Err(rejected(
                        key,
                        format!(
                            "{} (key spec {:?}): expected RSA 2048/3072/4096 or ECC P-256/P-384",
                            e.detail,
                            output.key_spec()
                        ),
                    ))
                }
            };
        Ok(KmsSigner {
            backend: backend.clone(),
            key: key.clone(),
            key_id,
            algorithm,
            signing,
            public_key_der,
        })
    }

    /// What is sent for `message`: the message itself up to [`RAW_LIMIT`] bytes, its
    /// digest beyond.
    fn payload(&self, message: &[u8]) -> (MessageType, Vec<u8>) {
        use sha2::Digest;
        if message.len() <= RAW_LIMIT {
            return (MessageType::Raw, message.to_vec());
        }
        let digest = match self.algorithm {
            SignatureAlgorithm::EcdsaP384Sha384 => sha2::Sha384::digest(message).to_vec(),
            _ => sha2::Sha256::digest(message).to_vec(),
        };
        (MessageType::Digest, digest)
    }
}

impl Signer for KmsSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let (message_type, payload) = self.payload(message);
        let client = self.backend.inner.client.clone();
        let key_id = self.key_id.clone();
        let signing = self.signing.clone();
        let answer = self.backend.inner.bridge.run(async move {
            client
                .sign()
                .key_id(key_id)
                .message(Blob::new(payload))
                .message_type(message_type)
                .signing_algorithm(signing)
                .send()
                .await
        })?;
        let signature = answer
            .map_err(|e| service_error("Sign", e))?
            .signature()
            .map(|blob| blob.as_ref().to_vec())
            .ok_or(KeyError::SigningFailed)?;
        let oid = self.algorithm.algorithm_identifier().oid;
        shuin_core::signature::verify(&self.public_key_der, oid, message, &signature).map_err(
            |_| KeyError::BadSignature {
                uri: self.key.to_string(),
            },
        )?;
        Ok(signature)
    }
}
