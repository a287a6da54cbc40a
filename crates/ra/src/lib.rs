//! shuin-ra
