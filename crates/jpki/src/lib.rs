//! shuin-jpki
