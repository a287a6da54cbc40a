//! Builds and signs a CRL of 1,000,000 entries with the streaming encoder and reports
//! the time and the process's peak resident memory (VmHWM). Run:
//! `cargo bench -p shuin-ca --bench crl_million` (ENTRIES=N to change the size).

use shuin_core::x509::crl_stream::{encode_crl, CrlHeader, StreamEntry};
use shuin_core::x509::name::NameBuilder;
use shuin_core::Serial;
use shuin_keys::{KeySpec, Signer, SoftwareSigner};
use std::time::{Duration, Instant, UNIX_EPOCH};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    f64::from(u32::try_from(kib).unwrap_or(u32::MAX)) / 1024.0
}

fn entries(n: u64) -> impl Iterator<Item = StreamEntry> {
    (0..n).map(|i| {
        // 16-byte positive serials like shuin's, spread by a multiplicative hash.
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1).to_be_bytes());
        bytes[8..].copy_from_slice(&i.to_be_bytes());
        bytes[0] = (bytes[0] & 0x7f) | 0x01;
        StreamEntry {
            serial: Serial::from_magnitude(&bytes).unwrap_or_else(|| unreachable!("non-zero")),
            revoked_at: UNIX_EPOCH + Duration::from_secs(1_790_000_000 + i),
            reason_code: Some([1u8, 4, 5][usize::try_from(i % 3).unwrap_or(0)]),
            invalidity_date: None,
        }
    })
}

fn main() {
    let n: u64 = std::env::var("ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (key, _) = SoftwareSigner::generate(KeySpec::Rsa2048).unwrap_or_else(|e| panic!("{e}"));
    let header = CrlHeader {
        issuer: NameBuilder::new()
            .country("JP")
            .and_then(|b| b.common_name("bench Issuing CA"))
            .unwrap_or_else(|e| panic!("{e}"))
            .build(),
        issuer_key_id: vec![0x11; 20],
        this_update: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        next_update: UNIX_EPOCH + Duration::from_secs(1_800_086_400),
        number: 1,
        extra_extensions: Vec::new(),
    };
    let before = peak_rss_kib();
    let started = Instant::now();
    let der = encode_crl(
        &header,
        key.algorithm(),
        || Ok::<_, shuin_keys::KeyError>(entries(n)),
        |tbs| key.sign(tbs),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let elapsed = started.elapsed();
    let peak = peak_rss_kib();
    println!(
        "crl_million: entries={n} bytes={} build_and_sign_seconds={:.3} peak_rss_mib={:.1} (before {:.1})",
        der.len(),
        elapsed.as_secs_f64(),
        mib(peak),
        mib(before)
    );
    if let Ok(path) = std::env::var("CRL_OUT") {
        std::fs::write(path, &der).unwrap_or_else(|e| panic!("{e}"));
    }
}
