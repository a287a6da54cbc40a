//! CMS SignedData signing (owned by the jpki/testkit helper).
