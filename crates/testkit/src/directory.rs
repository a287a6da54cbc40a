//! The on-disk layout behind `shuin testkit jpki-ca` and `shuin testkit card`.
//!
//! ```text
//! CA_DIR/ca.pem        the simulated J-LIS CA certificate
//! CA_DIR/ca.key        its PKCS#8 key, mode 0600
//! CA_DIR/revoked.txt   hex serials of revoked cards, one per line
//! CA_DIR/crl.der       the CRL over revoked.txt (thisUpdate now, nextUpdate now+7 days)
//! CARD_DIR/cert.pem    a card's signing certificate
//! CARD_DIR/key.pem     its key, mode 0600
//! ```

use crate::card::{CardSpec, TestCard};
use crate::error::{io, TestkitError};
use crate::jlis_ca::{SimulatedJlisCa, DAY};
use shuin_core::serial::Serial;
use std::path::Path;
use std::time::SystemTime;

/// How long a CRL written here stays fresh.
pub const CRL_LIFETIME_DAYS: u32 = 7;

/// Options of `shuin testkit card`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardDirOptions {
    /// Name (surname, U+3000, given name).
    pub name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// Address from the prefecture.
    pub address: String,
    /// `1`, `2` or `3`; `1` when `None`.
    pub gender: Option<String>,
    /// Put the card on the CA's CRL (and rewrite `crl.der`).
    pub revoked: bool,
    /// Make the card's validity end in the past (now-10 days .. now-1 day).
    pub expired: bool,
}

/// Creates a simulated J-LIS CA in `out` with an empty CRL.
pub fn make_jpki_ca_dir(out: &Path, now: SystemTime) -> Result<(), TestkitError> {
    let ca = SimulatedJlisCa::generate(now)?;
    ca.write_dir(out)?;
    refresh_crl(out, now)?;
    Ok(())
}

/// Issues a card from the CA in `ca_dir` and writes it to `out`.
pub fn make_card_dir(
    ca_dir: &Path,
    options: CardDirOptions,
    out: &Path,
    now: SystemTime,
) -> Result<TestCard, TestkitError> {
    let ca = SimulatedJlisCa::load_dir(ca_dir)?;
    let mut spec = CardSpec::signing(&options.name, &options.birth_date, &options.address, now);
    if let Some(gender) = options.gender {
        if !matches!(gender.as_str(), "1" | "2" | "3") {
            return Err(TestkitError::InvalidSpec("gender must be 1, 2 or 3".into()));
        }
        spec.gender = gender;
    }
    if options.expired {
        spec.not_before = now - 10 * DAY;
        spec.not_after = now - DAY;
    }
    let card = ca.issue_card(&spec)?;
    card.write_dir(out)?;
    if options.revoked {
        let list = ca_dir.join("revoked.txt");
        let mut text = read_optional(&list)?;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&hex::encode(card.serial()?));
        text.push('\n');
        std::fs::write(&list, text).map_err(io(&list))?;
        refresh_crl(ca_dir, now)?;
    }
    Ok(card)
}

/// Rewrites `crl.der` in `ca_dir` over the serials in `revoked.txt`, with thisUpdate
/// `now` and nextUpdate seven days later; returns the CRL. The file is replaced
/// atomically, since a running server may be watching it.
pub fn refresh_crl(ca_dir: &Path, now: SystemTime) -> Result<Vec<u8>, TestkitError> {
    let ca = SimulatedJlisCa::load_dir(ca_dir)?;
    let list = ca_dir.join("revoked.txt");
    let mut revoked = Vec::new();
    for line in read_optional(&list)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let serial = Serial::from_hex(line).ok_or_else(|| TestkitError::BadFile {
            path: list.clone(),
            detail: format!("{line:?} is not a hex serial"),
        })?;
        revoked.push(serial.magnitude().to_vec());
    }
    let crl = ca.crl_der(&revoked, now, now + CRL_LIFETIME_DAYS * DAY)?;
    let target = ca_dir.join("crl.der");
    let temporary = ca_dir.join("crl.der.tmp");
    std::fs::write(&temporary, &crl).map_err(io(&temporary))?;
    std::fs::rename(&temporary, &target).map_err(io(&target))?;
    Ok(crl)
}

fn read_optional(path: &Path) -> Result<String, TestkitError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(io(path)(e)),
    }
}
