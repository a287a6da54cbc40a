//! What several targets share: the shipped J-LIS signing CA certificate, as DER, read
//! with a minimal PEM reader to keep the fuzz crate's dependencies to the crates under
//! test.
#![allow(dead_code)]

/// The shipped J-LIS signing CA certificate (DER).
pub fn signca03_der() -> Option<Vec<u8>> {
    der_of_pem(shuin_jpki::shipped_signca03_pem())
}

/// The bytes of the first PEM block of `pem`.
pub fn der_of_pem(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for c in body.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}
