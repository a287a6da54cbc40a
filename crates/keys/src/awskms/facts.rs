//! A KMS key's metadata as evidence (survey theme ❸ 3-3): what the provider says about
//! the key, read with `DescribeKey`.

pub use crate::facts::KmsKeyFacts;
use aws_sdk_kms::types::KeyMetadata;

impl KmsKeyFacts {
    pub(super) fn from_metadata(metadata: &KeyMetadata, region: &str) -> KmsKeyFacts {
        fn text<T: AsRef<str>>(value: Option<&T>) -> Option<String> {
            value.map(|v| v.as_ref().to_owned())
        }
        KmsKeyFacts {
            arn: metadata.arn().unwrap_or(metadata.key_id()).to_owned(),
            region: region.to_owned(),
            key_spec: text(metadata.key_spec()),
            key_usage: text(metadata.key_usage()),
            origin: text(metadata.origin()),
            key_manager: text(metadata.key_manager()),
            key_state: text(metadata.key_state()),
            enabled: metadata.enabled(),
            multi_region: metadata.multi_region(),
            creation_date: metadata.creation_date().and_then(|d| {
                d.fmt(aws_sdk_kms::primitives::DateTimeFormat::DateTime)
                    .ok()
            }),
            custom_key_store_id: metadata.custom_key_store_id().map(str::to_owned),
            cloud_hsm_cluster_id: metadata.cloud_hsm_cluster_id().map(str::to_owned),
        }
    }
}

impl super::KmsBackend {
    /// The key's policy document (`GetKeyPolicy`, the `default` policy, the only name
    /// KMS has), as evidence of who may use the key.
    pub fn policy(&self, key: &crate::KeyRef) -> Result<String, crate::KeyError> {
        let client = self.inner.client.clone();
        let key_id = self.key_id(key)?.to_owned();
        let answer = self.inner.bridge.run(async move {
            client
                .get_key_policy()
                .key_id(key_id)
                .policy_name("default")
                .send()
                .await
        })?;
        match answer {
            Ok(output) => output
                .policy()
                .map(str::to_owned)
                .ok_or_else(|| super::rejected(key, "GetKeyPolicy returned no policy")),
            Err(e) if super::is_not_found(&e) => Err(crate::KeyError::NotFound {
                uri: key.to_string(),
            }),
            Err(e) => Err(super::service_error("GetKeyPolicy", e)),
        }
    }
}
