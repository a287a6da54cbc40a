//! shuin-repo
