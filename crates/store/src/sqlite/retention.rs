//! Evidence retention on SQLite ([`crate::retention`]).

use super::{secs, time_of, unavailable, SqliteStore};

crate::retention::evidence_retention_impl!(SqliteStore);
