//! The raw signing rate of an instance's issuer key: the denominator of the issuance
//! ratio. The key is opened from the instance's `shuin.toml` the way `shuin serve` opens
//! it (software directory, or the PKCS#11 token with the PIN file), and signs a real TBS
//! (the issuing CA certificate's, a subscriber TBS's size) through `Signer::sign`, as the
//! CA does, from `threads` threads for `seconds`.

use crate::latency::{ms_per_operation, per_second};
use der::{Decode, Encode};
use shuin_keys::config::{SessionCount, SigningQueue};
use shuin_keys::{KeyBackend, KeyRef, Pkcs11Backend, PoolSize, Signer, SoftwareBackend};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

fn text<'a>(table: &'a toml::Value, path: &[&str]) -> Result<&'a str, String> {
    let mut value = table;
    for key in path {
        value = value
            .get(key)
            .ok_or_else(|| format!("shuin.toml: no {}", path.join(".")))?;
    }
    value
        .as_str()
        .ok_or_else(|| format!("shuin.toml: {} is not a string", path.join(".")))
}

/// The PKCS#11 pool size `shuin.toml` sets, as `shuin serve` would open it.
fn pool_size(config: &toml::Value) -> Result<PoolSize, String> {
    let key_backend = config.get("ca").and_then(|ca| ca.get("key_backend"));
    let number = |name: &str| {
        key_backend
            .and_then(|k| k.get(name))
            .and_then(|v| v.as_integer())
    };
    let mut size = PoolSize::default();
    if let Some(n) = number("sessions") {
        size.sessions =
            SessionCount::new(u64::try_from(n).unwrap_or(0)).map_err(|e| e.to_string())?;
    }
    if let Some(n) = number("signing_queue") {
        size.signing_queue =
            SigningQueue::new(u64::try_from(n).unwrap_or(0)).map_err(|e| e.to_string())?;
    }
    Ok(size)
}

/// The issuer key and the kind of backend holding it.
fn open_issuer(dir: &Path) -> Result<(Arc<dyn Signer>, String), String> {
    let config_path = dir.join("shuin.toml");
    let config: toml::Value = std::fs::read_to_string(&config_path)
        .map_err(|e| format!("{}: {e}", config_path.display()))?
        .parse()
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let key = KeyRef::parse(text(&config, &["ca", "issuing_key"])?).map_err(|e| e.to_string())?;
    let kind = text(&config, &["ca", "key_backend", "kind"])?;
    let backend: Box<dyn KeyBackend> = match kind {
        "software" => Box::new(SoftwareBackend::new(
            dir.join(text(&config, &["ca", "key_backend", "dir"])?),
        )),
        "pkcs11" => {
            let module = dir.join(text(&config, &["ca", "key_backend", "module"])?);
            let token = text(&config, &["ca", "key_backend", "token"])?;
            let pin_file = dir.join(text(&config, &["ca", "key_backend", "pin_file"])?);
            let pin = Zeroizing::new(
                std::fs::read_to_string(&pin_file)
                    .map_err(|e| format!("{}: {e}", pin_file.display()))?,
            );
            let pin = Zeroizing::new(pin.trim_end_matches(['\n', '\r']).to_owned());
            let size = pool_size(&config)?;
            Box::new(
                Pkcs11Backend::open_sized(&module, token, pin, size).map_err(|e| e.to_string())?,
            )
        }
        other => return Err(format!("shuin.toml: unknown key backend {other:?}")),
    };
    let signer = backend.signer(&key).map_err(|e| e.to_string())?;
    Ok((signer, kind.to_owned()))
}

/// DER of the issuing CA certificate's TBS.
fn sample_tbs(dir: &Path) -> Result<Vec<u8>, String> {
    let path = dir.join("ca/issuing.pem");
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let der = match der::pem::decode_vec(&bytes) {
        Ok((_, der)) => der,
        Err(_) => bytes,
    };
    let certificate = x509_cert::Certificate::from_der(&der).map_err(|e| e.to_string())?;
    certificate
        .tbs_certificate
        .to_der()
        .map_err(|e| e.to_string())
}

/// Signs for `seconds` from `threads` threads.
pub(crate) fn run(dir: &Path, threads: usize, seconds: f64) -> Result<String, String> {
    let (signer, kind) = open_issuer(dir)?;
    let message = sample_tbs(dir)?;
    // One signature first: a key that cannot sign fails here, not in the count.
    signer.sign(&message).map_err(|e| e.to_string())?;
    let length = Duration::from_secs_f64(seconds.max(0.1));
    let signed = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let cpu_before = crate::cpu::cpu_seconds("self");
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                while start.elapsed() < length {
                    match signer.sign(&message) {
                        Ok(_) => signed.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            });
        }
    });
    let elapsed = start.elapsed();
    let cpu_after = crate::cpu::cpu_seconds("self");
    let failed = failed.into_inner();
    if failed > 0 {
        return Err(format!("{failed} signatures failed"));
    }
    let signed = signed.into_inner();
    // CPU per signature (this process, all threads; SoftHSM2 signs in-process too).
    let cpu_ms = ms_per_operation(
        cpu_before
            .zip(cpu_after)
            .map(|(before, after)| after - before),
        signed,
    );
    Ok(format!(
        "sign: backend={kind} algorithm={} threads={threads} signatures={signed} seconds={:.3} per_second={:.1} cpu_ms_per_signature={cpu_ms} tbs_bytes={}",
        signer.algorithm().name(),
        elapsed.as_secs_f64(),
        per_second(signed, elapsed),
        message.len(),
    ))
}
