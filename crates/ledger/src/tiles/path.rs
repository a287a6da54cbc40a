//! Tile paths: `tile/<L>/<N>[.p/<W>]`, with `N` in 3-digit path elements, all but the
//! last prefixed with `x` ([tlog-tiles], "Merkle Tree").
//!
//! Parsing is strict: a path is accepted only in the one form [`TileId::path`] writes, so
//! each tile has exactly one name (and one cache entry).
//!
//! [tlog-tiles]: https://c2sp.org/tlog-tiles

use super::{TileId, TILE_WIDTH};

/// The most 3-digit elements an index has (u64::MAX has 20 digits).
const MAX_INDEX_ELEMENTS: usize = 7;
/// The highest level a path may name ("between 0 and 63").
const MAX_PATH_LEVEL: u8 = 63;

/// Why a path is not a tile path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TilePathError {
    /// The path names an entry bundle (`tile/entries/...`), which shuin does not serve.
    #[error("entry bundles are not served: the entries carry personal data")]
    EntryBundle,
    /// The path is not of the form `tile/<L>/<N>[.p/<W>]`.
    #[error("not a tile path: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
}

fn malformed(reason: &'static str) -> TilePathError {
    TilePathError::Malformed { reason }
}

impl TileId {
    /// The path of the tile, `tile/<L>/<N>` or `tile/<L>/<N>.p/<W>`, relative to the
    /// log's prefix.
    pub fn path(&self) -> String {
        let mut path = format!("tile/{}/{}", self.level, index_path(self.index));
        if !self.is_full() {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }

    /// Parses a path made by [`TileId::path`] (relative to the prefix: `tile/...`).
    ///
    /// # Errors
    ///
    /// [`TilePathError::EntryBundle`] for `tile/entries/...`, and
    /// [`TilePathError::Malformed`] for anything else that is not exactly a tile path
    /// (leading zeros, a missing `x`, a width of 0 or 256 and more, ...).
    pub fn parse(path: &str) -> Result<TileId, TilePathError> {
        let rest = path
            .strip_prefix("tile/")
            .ok_or(malformed("it does not start with tile/"))?;
        let mut elements: Vec<&str> = rest.split('/').collect();
        if elements.first() == Some(&"entries") {
            return Err(TilePathError::EntryBundle);
        }
        if elements.len() < 2 {
            return Err(malformed("it has no level and index"));
        }
        let level = decimal(elements.remove(0))
            .and_then(|level| u8::try_from(level).ok())
            .filter(|&level| level <= MAX_PATH_LEVEL)
            .ok_or(malformed("the level is not a decimal from 0 to 63"))?;
        let width = partial_width(&mut elements)?;
        let index = index_of(&elements)?;
        let id = TileId {
            level,
            index,
            width,
        };
        // Only the canonical spelling (no leading x000 element).
        if id.path() != path {
            return Err(malformed("the index is not in its shortest form"));
        }
        Ok(id)
    }
}

/// Removes a trailing `.p/<W>` from `elements` and returns `W`, or 256 (full) if none.
fn partial_width(elements: &mut Vec<&str>) -> Result<u16, TilePathError> {
    let count = elements.len();
    let partial = count >= 2 && elements[count - 2].ends_with(".p");
    if !partial {
        return u16::try_from(TILE_WIDTH).map_err(|_| malformed("tile width"));
    }
    let width = elements
        .pop()
        .and_then(decimal)
        .and_then(|width| u16::try_from(width).ok())
        .filter(|&width| (1..256).contains(&width))
        .ok_or(malformed("a partial width is a decimal from 1 to 255"))?;
    if let Some(last) = elements.last_mut() {
        *last = last.trim_end_matches(".p");
    }
    Ok(width)
}

/// The index from its elements `xDDD/.../DDD`.
fn index_of(elements: &[&str]) -> Result<u64, TilePathError> {
    let Some((last, leading)) = elements.split_last() else {
        return Err(malformed("it has no index"));
    };
    if elements.len() > MAX_INDEX_ELEMENTS {
        return Err(malformed("the index has too many elements"));
    }
    let mut index: u64 = 0;
    for element in leading {
        let digits = element
            .strip_prefix('x')
            .ok_or(malformed("every index element but the last starts with x"))?;
        index = push_group(index, digits)?;
    }
    push_group(index, last)
}

/// `index * 1000 + digits`, where `digits` must be exactly three decimal digits.
fn push_group(index: u64, digits: &str) -> Result<u64, TilePathError> {
    if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("an index element is not three digits"));
    }
    let group = digits
        .parse::<u64>()
        .map_err(|_| malformed("an index element is not three digits"))?;
    index
        .checked_mul(1000)
        .and_then(|index| index.checked_add(group))
        .ok_or(malformed("the index is too large"))
}

/// A decimal without leading zeros ("0" itself is fine).
fn decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    text.parse().ok().filter(|_| canonical)
}

/// `N` as path elements: 1234067 is `x001/x234/067`.
fn index_path(index: u64) -> String {
    let mut groups = vec![format!("{:03}", index % 1000)];
    let mut rest = index / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn id(level: u8, index: u64, width: u16) -> TileId {
        TileId {
            level,
            index,
            width,
        }
    }

    #[test]
    fn the_specifications_examples() {
        // "index 1234067 will be encoded as x001/x234/067"
        assert_eq!(id(0, 1_234_067, 256).path(), "tile/0/x001/x234/067");
        assert_eq!(id(1, 0, 17).path(), "tile/1/000.p/17");
        assert_eq!(id(2, 0, 1).path(), "tile/2/000.p/1");
        assert_eq!(id(0, 273, 112).path(), "tile/0/273.p/112");
        assert_eq!(id(3, 1000, 256).path(), "tile/3/x001/000");
        assert_eq!(
            id(0, u64::MAX, 256).path(),
            "tile/0/x018/x446/x744/x073/x709/x551/615"
        );
    }

    #[test]
    fn paths_round_trip() {
        for level in [0, 1, 5, 63] {
            for index in [0, 1, 999, 1000, 1001, 999_999, 1_234_067, u64::MAX] {
                for width in [1, 112, 255, 256] {
                    let tile = id(level, index, width);
                    assert_eq!(TileId::parse(&tile.path()).unwrap(), tile);
                }
            }
        }
    }

    #[test]
    fn anything_but_the_canonical_form_is_refused() {
        for path in [
            "",
            "tile",
            "tile/",
            "tile/0",
            "tile/0/",
            "/tile/0/000",
            "tiles/0/000",
            "tile/00/000",
            "tile/01/000",
            "tile/64/000",
            "tile/-1/000",
            "tile/+1/000",
            "tile/a/000",
            "tile/0/00",
            "tile/0/0000",
            "tile/0/1",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/0/x1/002",
            "tile/0/y001/002",
            "tile/0/x001/x002",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/01",
            "tile/0/000.p/",
            "tile/0/000.p",
            "tile/0/000.p/1/2",
            "tile/0/000/",
            "tile/0/000.p/x1",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/0/x001/x018/x446/x744/x073/x709/x551/615",
            "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
            "tile/0/+12",
            "tile/0/ 12",
        ] {
            assert!(
                matches!(TileId::parse(path), Err(TilePathError::Malformed { .. })),
                "{path:?}"
            );
        }
        assert_eq!(
            TileId::parse("tile/entries/000"),
            Err(TilePathError::EntryBundle)
        );
        assert_eq!(
            TileId::parse("tile/entries/x001/000.p/3"),
            Err(TilePathError::EntryBundle)
        );
    }
}
