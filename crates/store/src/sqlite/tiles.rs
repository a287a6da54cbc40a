//! The ledger's tiles on SQLite ([`crate::tiles`]).

use super::{unavailable, SqliteStore};

crate::tiles::tile_queries!(SqliteStore);
