//! The ledger's tiles on PostgreSQL ([`crate::tiles`]).

use super::{unavailable, PostgresStore};

crate::tiles::tile_queries!(PostgresStore);
