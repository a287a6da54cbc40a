//! The body of `POST /add-checkpoint` (C2SP tlog-witness):
//!
//! ```text
//! old <size of the witness's latest checkpoint, decimal, no leading zeros>
//! <consistency proof hash, base64>          zero to 63 lines
//! <empty line>
//! <the checkpoint: a signed note>
//! ```
//!
//! Every line ends in a newline. Parsing never panics, whatever the bytes.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use shuin_ledger::{Checkpoint, SignedNote};

/// The most consistency proof lines a client may send.
pub const MAX_PROOF_LINES: usize = 63;

/// A parsed add-checkpoint request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the proof starts from.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<[u8; 32]>,
    /// The submitted note, with every signature line.
    pub note: SignedNote,
    /// The checkpoint in the note's text (its first three lines).
    pub checkpoint: Checkpoint,
}

/// What is malformed in a request (answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed add-checkpoint request: {0}")]
pub struct Malformed(pub &'static str);

impl AddCheckpoint {
    /// Parses a request body.
    ///
    /// # Errors
    ///
    /// [`Malformed`] naming the first fault.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, Malformed> {
        let text = std::str::from_utf8(body).map_err(|_| Malformed("the body is not UTF-8"))?;
        let (old_line, mut rest) = text
            .split_once('\n')
            .ok_or(Malformed("there is no old size line"))?;
        let old_size = old_line
            .strip_prefix("old ")
            .and_then(decimal)
            .ok_or(Malformed(
                "the first line is not \"old <decimal size without leading zeros>\"",
            ))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest.split_once('\n').ok_or(Malformed(
                "the proof lines are not followed by an empty line",
            ))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(Malformed("more than 63 consistency proof lines"));
            }
            proof.push(proof_hash(line)?);
        }
        let note = SignedNote::parse(rest)
            .map_err(|_| Malformed("the checkpoint is not a signed note"))?;
        let checkpoint = checkpoint_of(&note.text)?;
        Ok(AddCheckpoint {
            old_size,
            proof,
            note,
            checkpoint,
        })
    }
}

/// A decimal with no leading zeros (`0` itself allowed), as tlog specifications write
/// sizes.
pub fn decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

fn proof_hash(line: &str) -> Result<[u8; 32], Malformed> {
    let bytes = BASE64
        .decode(line)
        .map_err(|_| Malformed("a consistency proof line is not standard base64"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| Malformed("a consistency proof hash is not 32 bytes"))
}

/// The checkpoint in a note text: origin, size and root hash, then any extension lines
/// (non-empty, opaque, signed with the rest but not interpreted).
pub fn checkpoint_of(text: &str) -> Result<Checkpoint, Malformed> {
    let mut ends = text.match_indices('\n').map(|(at, _)| at);
    let third = ends
        .nth(2)
        .ok_or(Malformed("the checkpoint has fewer than three lines"))?;
    let (head, extensions) = text.split_at(third + 1);
    if extensions.split_terminator('\n').any(str::is_empty) {
        return Err(Malformed("the checkpoint has an empty extension line"));
    }
    Checkpoint::parse_body(head)
        .map_err(|_| Malformed("the checkpoint's origin, size or root hash line is malformed"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    const NOTE: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

    #[test]
    fn the_specification_example_parses() {
        let body = format!(
            "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\n{NOTE}"
        );
        let request = AddCheckpoint::parse(body.as_bytes()).unwrap();
        assert_eq!(request.old_size, 20_852_014);
        assert_eq!(request.proof.len(), 4);
        assert_eq!(request.checkpoint.size, 20_852_163);
        assert_eq!(request.checkpoint.origin, "example.com/behind-the-sofa");
        let empty = AddCheckpoint::parse(format!("old 0\n\n{NOTE}").as_bytes()).unwrap();
        assert!(empty.proof.is_empty());
    }

    #[test]
    fn extension_lines_are_kept_in_the_signed_text() {
        let note = NOTE.replacen("q2I=\n", "q2I=\nextension\n", 1);
        let request = AddCheckpoint::parse(format!("old 0\n\n{note}").as_bytes()).unwrap();
        assert!(request.note.text.ends_with("extension\n"));
        assert_eq!(request.checkpoint.size, 20_852_163);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let hash = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n";
        let too_many = format!("old 1\n{}\n{NOTE}", hash.repeat(64));
        for body in [
            String::new(),
            "old 1".to_owned(),
            format!("old 01\n\n{NOTE}"),
            format!("old -1\n\n{NOTE}"),
            format!("old 18446744073709551616\n\n{NOTE}"),
            format!("new 1\n\n{NOTE}"),
            format!("old 1\n{NOTE}"),
            format!("old 1\nAAAA\n\n{NOTE}"),
            format!("old 1\n!!!\n\n{NOTE}"),
            format!("old 1\n{hash}"),
            "old 1\n\nnot a note\n".to_owned(),
            format!("old 1\n\n{}", NOTE.replace("20852163", "020852163")),
            too_many,
        ] {
            assert!(AddCheckpoint::parse(body.as_bytes()).is_err(), "{body:?}");
        }
        assert!(AddCheckpoint::parse(&[0xff, 0xfe, b'\n']).is_err());
        let sixty_three = format!("old 1\n{}\n{NOTE}", hash.repeat(63));
        assert_eq!(
            AddCheckpoint::parse(sixty_three.as_bytes())
                .unwrap()
                .proof
                .len(),
            63
        );
    }

    #[test]
    fn any_bytes_parse_or_fail_without_panicking() {
        // A cheap deterministic fuzz: every prefix and a byte-flipped copy of a request.
        let body = format!("old 3\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\n{NOTE}");
        let bytes = body.as_bytes();
        for end in 0..bytes.len() {
            let _ = AddCheckpoint::parse(&bytes[..end]);
            let mut flipped = bytes.to_vec();
            flipped[end] ^= 0x80;
            let _ = AddCheckpoint::parse(&flipped);
            flipped[end] = b'\n';
            let _ = AddCheckpoint::parse(&flipped);
        }
    }
}
