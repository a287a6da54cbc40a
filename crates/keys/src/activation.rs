//! Activation of the issuer key: M-of-N custodian shares of the secret that unwraps the
//! token PIN.
//!
//! `shuin init --custodians N --threshold M` does not split the token PIN itself: a PIN is
//! short, and anything that checks a share against a short secret lets one custodian
//! guess the rest offline. Instead a random 256-bit wrapping key is split with Shamir's
//! scheme over GF(256) (the `blahaj` crate, shares zeroized on drop), and the PIN is
//! kept in `shuin.toml` only as AES-256-GCM ciphertext under that key. Each share's
//! SHA-256 (with the instance id and index) is kept too, so a wrong share is refused on
//! arrival without the secret; with a 256-bit key behind it, M-1 shares and the digests
//! do not let anyone find the missing share or the PIN.
//!
//! A share file is typable text: comment lines, then one line
//! `shuin-share-v1 <instance> <M>-of-<N> <index> <hex in groups of 4> <checksum>`, where
//! the checksum is the first 4 bytes of SHA-256 over the rest, to catch typing mistakes.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shuin_core::RandomSource;
use zeroize::Zeroizing;

const MAGIC: &str = "shuin-share-v1";

/// Why shares could not be made, read or combined into the PIN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActivationError {
    /// `[ca.seal]`, or the M-of-N asked for, breaks a rule.
    #[error("{0}")]
    InvalidSettings(&'static str),
    /// The threshold and the number of custodians do not fit together.
    #[error(
        "--threshold {threshold} with --custodians {custodians}: need 2 <= threshold <= custodians"
    )]
    InvalidThreshold {
        /// M.
        threshold: u8,
        /// N.
        custodians: u8,
    },
    /// The random source failed.
    #[error("random: {0}")]
    Random(#[source] shuin_core::random::RandomError),
    /// A share's text is not a well-formed share.
    #[error("{0}")]
    MalformedShare(String),
    /// The shares do not rebuild the wrapping key.
    #[error("recovering the wrapping key: {0}")]
    Recover(String),
    /// Sealing or opening the PIN failed (wrong shares, or a damaged `sealed_pin`).
    #[error("{0}")]
    Seal(&'static str),
}

type Result<T, E = ActivationError> = std::result::Result<T, E>;

fn malformed(text: impl Into<String>) -> ActivationError {
    ActivationError::MalformedShare(text.into())
}
const KEY_LEN: usize = 32;

/// `[ca.seal]` in shuin.toml: everything needed to check shares and open the PIN, and
/// nothing that reveals either.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealConfig {
    /// Random identifier of this instance's share set (16 hex digits).
    pub instance_id: String,
    /// N: shares made.
    pub custodians: u8,
    /// M: shares needed.
    pub threshold: u8,
    /// Hex SHA-256 of each share (index 1 first), bound to the instance id and index.
    pub share_digests: Vec<String>,
    /// Base64 of nonce || AES-256-GCM(wrapping key, PIN) with the instance id as AAD.
    pub sealed_pin: String,
}

impl SealConfig {
    /// Checks `[ca.seal]` once at start-up.
    pub fn check(&self) -> Result<()> {
        let hex_id =
            self.instance_id.len() == 16 && self.instance_id.chars().all(|c| c.is_ascii_hexdigit());
        if !hex_id
            || self.threshold < 2
            || self.threshold > self.custodians
            || self.share_digests.len() != usize::from(self.custodians)
        {
            return Err(ActivationError::InvalidSettings(
                "ca.seal: needs a 16-hex-digit instance_id, 2 <= threshold <= custodians and one share digest per custodian",
            ));
        }
        Ok(())
    }
}

/// One custodian's share, parsed and checked against its own checksum.
pub struct Share {
    /// The instance's share-set identifier.
    pub instance_id: String,
    /// M, as the share says.
    pub threshold: u8,
    /// N, as the share says.
    pub custodians: u8,
    /// This share's index (1 to N).
    pub index: u8,
    /// The Shamir share bytes (x, then y), zeroized on drop.
    bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Share")
            .field("instance_id", &self.instance_id)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

fn share_digest(instance_id: &str, index: u8, bytes: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(MAGIC.as_bytes());
    hash.update(instance_id.as_bytes());
    hash.update([index]);
    hash.update(bytes);
    hex::encode(hash.finalize())
}

fn checksum(head: &str, body_hex: &str) -> String {
    let digest = Sha256::digest(format!("{head} {body_hex}").as_bytes());
    hex::encode(&digest[..4])
}

fn share_line(instance_id: &str, threshold: u8, custodians: u8, index: u8, bytes: &[u8]) -> String {
    let head = format!("{MAGIC} {instance_id} {threshold}-of-{custodians} {index}");
    let body = hex::encode(bytes);
    let grouped: Vec<&str> = body
        .as_bytes()
        .chunks(4)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!("{head} {} {}", grouped.join("-"), checksum(&head, &body))
}

/// A share file's text.
fn share_file(config: &SealConfig, index: u8, bytes: &[u8]) -> String {
    format!(
        "# shuin custodian share {index} of {n}; any {m} of the {n} unseal the CA.\n\
         # Instance {id}. Keep this share offline and private; never copy it to the CA host's disk.\n\
         # Give it to the running server with: shuin unseal --data DIR --share-file FILE\n\
         {}\n",
        share_line(&config.instance_id, config.threshold, config.custodians, index, bytes),
        n = config.custodians,
        m = config.threshold,
        id = config.instance_id,
    )
}

/// Checks M-of-N before anything is made: 2 <= M <= N <= 32.
pub fn check_counts(custodians: u8, threshold: u8) -> Result<()> {
    if threshold < 2 || threshold > custodians {
        return Err(ActivationError::InvalidThreshold {
            threshold,
            custodians,
        });
    }
    if custodians > 32 {
        return Err(ActivationError::InvalidSettings("--custodians: at most 32"));
    }
    Ok(())
}

/// The file of share `index` (from 1) in `dir`: `share-<index>.txt`.
pub fn share_path(dir: &std::path::Path, index: u8) -> std::path::PathBuf {
    dir.join(format!("share-{index}.txt"))
}

/// Splits a fresh wrapping key, seals `pin` under it, and returns the configuration and
/// the N share files' texts (index 1 first).
pub fn split(
    pin: &str,
    custodians: u8,
    threshold: u8,
    rng: &dyn RandomSource,
) -> Result<(SealConfig, Vec<Zeroizing<String>>)> {
    check_counts(custodians, threshold)?;
    let mut id = [0u8; 8];
    rng.fill(&mut id).map_err(ActivationError::Random)?;
    let instance_id = hex::encode(id);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rng.fill(key.as_mut_slice())
        .map_err(ActivationError::Random)?;
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(ActivationError::Random)?;
    let aead = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key.as_slice())
            .map_err(|_| ActivationError::Seal("AES-256-GCM key"))?,
    );
    // Room for the tag up front: appending it must not move the buffer and leave a
    // plaintext copy of the PIN behind in freed memory.
    let mut sealed = Zeroizing::new(Vec::with_capacity(pin.len() + AES_256_GCM.tag_len()));
    sealed.extend_from_slice(pin.as_bytes());
    aead.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(instance_id.as_bytes()),
        &mut *sealed,
    )
    .map_err(|_| ActivationError::Seal("sealing the PIN"))?;
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&sealed);

    let shares: Vec<blahaj::Share> = blahaj::Sharks(threshold)
        .dealer(key.as_slice())
        .take(usize::from(custodians))
        .collect();
    let mut digests = Vec::new();
    let mut raw = Vec::new();
    for share in &shares {
        let bytes = Zeroizing::new(Vec::<u8>::from(share));
        let index = share.x.0;
        digests.push(share_digest(&instance_id, index, &bytes));
        raw.push((index, bytes));
    }
    let config = SealConfig {
        instance_id,
        custodians,
        threshold,
        share_digests: digests,
        sealed_pin: base64::engine::general_purpose::STANDARD.encode(blob),
    };
    let files = raw
        .iter()
        .map(|(index, bytes)| Zeroizing::new(share_file(&config, *index, bytes)))
        .collect();
    Ok((config, files))
}

/// Parses a share file's text; refuses text that is not a share or was mistyped.
pub fn parse(text: &str) -> Result<Share> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| malformed("the file holds no share line"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [magic, instance_id, m_of_n, index, body, check] = fields.as_slice() else {
        return Err(malformed(format!(
            "not a shuin share: expected `{MAGIC} INSTANCE M-of-N INDEX SHARE CHECKSUM`"
        )));
    };
    if *magic != MAGIC {
        return Err(malformed(format!("not a shuin share (no {MAGIC})")));
    }
    let instance_id = instance_id.to_ascii_lowercase();
    let (m, n) = m_of_n
        .to_ascii_lowercase()
        .split_once("-of-")
        .and_then(|(m, n)| Some((m.parse::<u8>().ok()?, n.parse::<u8>().ok()?)))
        .ok_or_else(|| malformed(format!("not a shuin share: {m_of_n:?} is not M-of-N")))?;
    let index: u8 = index
        .parse()
        .map_err(|_| malformed(format!("not a shuin share: index {index:?}")))?;
    let body_hex = Zeroizing::new(body.replace('-', "").to_ascii_lowercase());
    let head = format!("{MAGIC} {instance_id} {m}-of-{n} {index}");
    if checksum(&head, &body_hex) != check.to_ascii_lowercase() {
        return Err(malformed(
            "the share's checksum does not match: it was mistyped or damaged",
        ));
    }
    let bytes = Zeroizing::new(
        hex::decode(body_hex.as_bytes()).map_err(|_| malformed("the share is not hex"))?,
    );
    if bytes.len() != KEY_LEN + 1 || bytes.first() != Some(&index) {
        return Err(malformed("the share has the wrong length or index"));
    }
    Ok(Share {
        instance_id,
        threshold: m,
        custodians: n,
        index,
        bytes,
    })
}

/// Why a share is refused, as a short machine-readable reason and a sentence.
pub fn check(
    config: &SealConfig,
    share: &Share,
) -> std::result::Result<(), (&'static str, String)> {
    if share.instance_id != config.instance_id {
        return Err((
            "foreign",
            format!(
                "share for instance {}, but this instance is {}: it belongs to another CA or an earlier share set",
                share.instance_id, config.instance_id
            ),
        ));
    }
    if share.threshold != config.threshold || share.custodians != config.custodians {
        return Err((
            "wrong",
            format!(
                "the share says {}-of-{} but this instance is {}-of-{}",
                share.threshold, share.custodians, config.threshold, config.custodians
            ),
        ));
    }
    let expected = usize::from(share.index)
        .checked_sub(1)
        .and_then(|i| config.share_digests.get(i));
    match expected {
        Some(expected)
            if *expected == share_digest(&share.instance_id, share.index, &share.bytes) =>
        {
            Ok(())
        }
        Some(_) => Err((
            "wrong",
            format!(
                "share {} is not the share made for this instance",
                share.index
            ),
        )),
        None => Err((
            "wrong",
            format!("there is no share {} in this instance", share.index),
        )),
    }
}

/// Rebuilds the wrapping key from checked shares and opens the PIN.
pub fn open_pin(config: &SealConfig, shares: &[Share]) -> Result<Zeroizing<String>> {
    let parsed: Vec<blahaj::Share> = shares
        .iter()
        .filter_map(|s| blahaj::Share::try_from(s.bytes.as_slice()).ok())
        .collect();
    let key = Zeroizing::new(
        blahaj::Sharks(config.threshold)
            .recover(&parsed)
            .map_err(|e| ActivationError::Recover(e.to_string()))?,
    );
    let blob = base64::engine::general_purpose::STANDARD
        .decode(&config.sealed_pin)
        .map_err(|_| ActivationError::Seal("ca.seal.sealed_pin is not base64"))?;
    if blob.len() < NONCE_LEN {
        return Err(ActivationError::Seal("ca.seal.sealed_pin is too short"));
    }
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    let nonce =
        Nonce::try_assume_unique_for_key(nonce).map_err(|_| ActivationError::Seal("nonce"))?;
    let aead = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key.as_slice())
            .map_err(|_| ActivationError::Seal("AES-256-GCM key"))?,
    );
    let mut buffer = Zeroizing::new(sealed.to_vec());
    let plain = aead
        .open_in_place(nonce, Aad::from(config.instance_id.as_bytes()), &mut buffer)
        .map_err(|_| ActivationError::Seal("the shares do not open the sealed PIN"))?;
    let pin = std::str::from_utf8(plain)
        .map_err(|_| ActivationError::Seal("the sealed PIN is not UTF-8"))?;
    Ok(Zeroizing::new(pin.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuin_core::OsRandom;

    #[test]
    fn any_threshold_of_shares_opens_the_pin_and_wrong_ones_are_refused() {
        let (config, files) = split("pin-1234", 3, 2, &OsRandom).unwrap();
        config.check().unwrap();
        assert_eq!(files.len(), 3);
        let shares: Vec<Share> = files.iter().map(|f| parse(f).unwrap()).collect();
        for share in &shares {
            check(&config, share).unwrap();
        }
        let pick = |a: usize, b: usize| vec![parse(&files[a]).unwrap(), parse(&files[b]).unwrap()];
        assert_eq!(open_pin(&config, &pick(0, 1)).unwrap().as_str(), "pin-1234");
        assert_eq!(open_pin(&config, &pick(2, 0)).unwrap().as_str(), "pin-1234");
        assert!(open_pin(&config, &pick(1, 1)).is_err());
        assert!(!toml::to_string(&config).unwrap().contains("pin-1234"));

        // A typing mistake breaks the checksum.
        let line = files[0].lines().last().unwrap();
        let mut fields: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        fields[4] = format!("f{}", &fields[4][1..]);
        assert!(parse(&fields.join(" "))
            .unwrap_err()
            .to_string()
            .contains("checksum"));
        // Upper case and extra spaces are fine.
        assert!(parse(&format!(
            "  {}  ",
            line.to_uppercase().replace("SHUIN-SHARE-V1", MAGIC)
        ))
        .is_ok());

        // A share of another split is foreign.
        let (other, other_files) = split("pin-1234", 3, 2, &OsRandom).unwrap();
        let foreign = parse(&other_files[0]).unwrap();
        assert_eq!(check(&config, &foreign).unwrap_err().0, "foreign");
        // The same index with other content, checksum recomputed, is wrong.
        let theirs = parse(&other_files[1]).unwrap();
        let forged = share_line(&config.instance_id, 2, 3, theirs.index, &theirs.bytes);
        let forged = parse(&forged).unwrap();
        assert_eq!(check(&config, &forged).unwrap_err().0, "wrong");
        assert_ne!(other.instance_id, config.instance_id);
        assert!(split("p", 3, 1, &OsRandom).is_err());
        assert!(split("p", 2, 3, &OsRandom).is_err());
    }
}
