//! shuin-ca
