//! shuin-store
