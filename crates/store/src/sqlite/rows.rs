//! The SQL of the shared row shapes (`crate::rows`) in this backend's dialect.

pub(super) const CERTIFICATE_SELECT_BY_SERIAL: &str =
    "SELECT serial, application_id, key_fingerprint, tbs_sha256, state, not_before, not_after, der FROM certificates WHERE serial = ?1";
pub(super) const CERTIFICATE_SELECT_BY_STATE: &str =
    "SELECT serial, application_id, key_fingerprint, tbs_sha256, state, not_before, not_after, der FROM certificates WHERE state = ?1 ORDER BY not_before, serial";
