//! An S3 bucket (AWS, or any S3-compatible store; tests use moto). Each item is one
//! object `PREFIX/ca.crl` etc. holding the DER, with its RFC 2585 content type; the
//! ledger's tiled log is under `PREFIX/ledger/`, with its content types and cache
//! lifetimes.

use super::{LogFile, PublishError, PublishedItem, Publisher};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, AttributeValue, Attributes, BackoffConfig, ClientOptions, ObjectStore, PutOptions,
    PutPayload, RetryConfig,
};
use std::time::Duration;

/// Access keys read from the operator's secret files.
#[derive(Clone)]
pub struct S3Credentials {
    /// AWS_ACCESS_KEY_ID.
    pub access_key_id: String,
    /// AWS_SECRET_ACCESS_KEY.
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Where to publish.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// The endpoint URL; `None` for AWS itself.
    pub endpoint: Option<String>,
    /// The bucket (it must exist).
    pub bucket: String,
    /// Prepended to the object names (`repository` gives `repository/ca.crl`).
    pub prefix: String,
    /// The region, for signing.
    pub region: String,
    /// The keys; `None` takes them from the environment (AWS_ACCESS_KEY_ID and so on,
    /// or the instance's role).
    pub credentials: Option<S3Credentials>,
    /// Allows a plain `http://` endpoint (local emulators only).
    pub allow_http: bool,
}

/// Publishes objects into an S3 bucket.
#[derive(Debug)]
pub struct S3Publisher {
    name: String,
    prefix: String,
    store: AmazonS3,
}

impl S3Publisher {
    /// Builds the client (no network traffic yet).
    pub fn new(settings: S3Settings) -> Result<Self, PublishError> {
        let mut builder = if settings.credentials.is_some() {
            AmazonS3Builder::new()
        } else {
            AmazonS3Builder::from_env()
        }
        .with_bucket_name(&settings.bucket)
        .with_region(&settings.region)
        .with_allow_http(settings.allow_http)
        // The publish queue retries with its own backoff; keep each attempt short.
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 1,
            retry_timeout: Duration::from_secs(20),
        })
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(Duration::from_secs(5))
                .with_timeout(Duration::from_secs(30))
                .with_allow_http(settings.allow_http),
        );
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(credentials) = &settings.credentials {
            builder = builder
                .with_access_key_id(&credentials.access_key_id)
                .with_secret_access_key(&credentials.secret_access_key);
        }
        let store = builder
            .build()
            .map_err(|e| PublishError::Settings(format!("S3 bucket {}: {e}", settings.bucket)))?;
        let prefix = settings.prefix.trim_matches('/').to_owned();
        let name = match &settings.endpoint {
            Some(endpoint) => format!(
                "s3:{}/{}/{prefix}",
                endpoint.trim_end_matches('/'),
                settings.bucket
            ),
            None => format!("s3:{}/{prefix}", settings.bucket),
        };
        Ok(Self {
            name: name.trim_end_matches('/').to_owned(),
            prefix,
            store,
        })
    }

    /// The object path of an item's file name.
    pub fn location(&self, file_name: &str) -> String {
        if self.prefix.is_empty() {
            file_name.to_owned()
        } else {
            format!("{}/{file_name}", self.prefix)
        }
    }

    /// The underlying store (for reading back in tests and checks).
    pub fn store(&self) -> &AmazonS3 {
        &self.store
    }
}

#[async_trait::async_trait]
impl Publisher for S3Publisher {
    fn name(&self) -> &str {
        &self.name
    }

    async fn publish(&self, item: &PublishedItem) -> Result<(), PublishError> {
        let location = self.location(&item.kind.file_name());
        let path = ObjectPath::parse(&location)
            .map_err(|e| PublishError::Settings(format!("S3 object name {location:?}: {e}")))?;
        let mut attributes = Attributes::new();
        attributes.insert(
            Attribute::ContentType,
            AttributeValue::from(item.kind.content_type()),
        );
        self.store
            .put_opts(
                &path,
                PutPayload::from(item.der.as_slice().to_vec()),
                PutOptions::from(attributes),
            )
            .await
            .map(|_| ())
            .map_err(|source| PublishError::ObjectStore { location, source })
    }

    fn carries_log(&self) -> bool {
        true
    }

    async fn publish_log_file(&self, file: &LogFile) -> Result<(), PublishError> {
        let location = self.location(&format!("ledger/{}", file.path));
        let path = ObjectPath::parse(&location)
            .map_err(|e| PublishError::Settings(format!("S3 object name {location:?}: {e}")))?;
        let mut attributes = Attributes::new();
        attributes.insert(
            Attribute::ContentType,
            AttributeValue::from(file.content_type),
        );
        attributes.insert(
            Attribute::CacheControl,
            AttributeValue::from(file.cache_control),
        );
        self.store
            .put_opts(
                &path,
                PutPayload::from(file.bytes.clone()),
                PutOptions::from(attributes),
            )
            .await
            .map(|_| ())
            .map_err(|source| PublishError::ObjectStore { location, source })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings(prefix: &str) -> S3Settings {
        S3Settings {
            endpoint: Some("http://127.0.0.1:9".into()),
            bucket: "shuin".into(),
            prefix: prefix.into(),
            region: "us-east-1".into(),
            credentials: Some(S3Credentials {
                access_key_id: "id".into(),
                secret_access_key: "secret".into(),
            }),
            allow_http: true,
        }
    }

    #[test]
    fn object_names_follow_the_prefix() {
        let bare = S3Publisher::new(settings("")).unwrap();
        assert_eq!(bare.location("ca.crl"), "ca.crl");
        let nested = S3Publisher::new(settings("/pki/repository/")).unwrap();
        assert_eq!(nested.location("ca.crl"), "pki/repository/ca.crl");
        assert_eq!(nested.name(), "s3:http://127.0.0.1:9/shuin/pki/repository");
    }

    #[test]
    fn secrets_are_not_printed() {
        let text = format!("{:?}", settings("").credentials);
        assert!(!text.contains("secret\""), "{text}");
    }
}
