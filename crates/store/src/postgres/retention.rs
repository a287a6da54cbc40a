//! Evidence retention on PostgreSQL ([`crate::retention`]).

use super::{unavailable, PostgresStore};
use crate::rows::{secs, time_of};

crate::retention::evidence_retention_impl!(PostgresStore);
