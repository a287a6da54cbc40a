//! `Time` choice for certificates and CRLs (RFC 5280 section 4.1.2.5): UTCTime through
//! 2049, GeneralizedTime from 2050.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_cert::der::asn1::{GeneralizedTime, UtcTime};
use x509_cert::time::Time;

/// 2050-01-01T00:00:00Z.
const YEAR_2050: u64 = 2_524_608_000;

/// Encodes `t` (truncated to seconds) as RFC 5280 requires.
pub fn rfc5280_time(t: SystemTime) -> Result<Time, der::Error> {
    let secs = crate::clock::unix_seconds(t);
    let t = UNIX_EPOCH + Duration::from_secs(secs);
    if secs < YEAR_2050 {
        Ok(Time::UtcTime(UtcTime::from_system_time(t)?))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_system_time(t)?))
    }
}

/// The instant a `Time` names.
pub fn to_system_time(t: &Time) -> SystemTime {
    t.to_system_time()
}
