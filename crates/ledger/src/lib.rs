//! shuin-ledger
