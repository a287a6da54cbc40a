//! The end-to-end tests of the `shuin` binary, as one test target: each file beside this
//! one is a module, and all share `common`. One binary instead of one per file keeps the
//! test build to one link of the workspace (each was about 100 MB, and CI's disk ran out
//! with 34 of them built twice).
//!
//! Run one file's tests with `cargo nextest run -p shuin --test e2e -E 'test(/^e2e_split::/)'`.

// Test support code: panicking on a broken fixture is the right failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../repo/tests/servers/mod.rs"]
mod servers;

mod cli_help;
mod crash;
mod e2e_access_events;
mod e2e_applications;
mod e2e_audit_pack;
mod e2e_audit_pin;
mod e2e_awskms;
mod e2e_card_pkcs11;
mod e2e_ceremony;
mod e2e_console;
mod e2e_console_downloads;
mod e2e_dev;
mod e2e_disclosure;
mod e2e_fetch;
mod e2e_init;
mod e2e_ledger_export;
mod e2e_limits;
mod e2e_network_pkcs11;
mod e2e_node_operators;
mod e2e_notices;
mod e2e_operator_tls;
mod e2e_operators;
mod e2e_personal_data;
mod e2e_progress;
mod e2e_publishers;
mod e2e_registration;
mod e2e_reissue;
mod e2e_review;
mod e2e_revocation;
mod e2e_seal;
mod e2e_softhsm;
mod e2e_split;
mod e2e_termination;
mod e2e_tiles;
mod e2e_two_nodes;
mod e2e_web;
mod e2e_witness;
mod e2e_zones;
