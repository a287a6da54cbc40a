//! shuin-server
