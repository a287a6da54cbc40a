//! shuin-testkit
