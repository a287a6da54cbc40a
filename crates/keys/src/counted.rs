//! A signer whose signatures are counted in a backend's [`SigningPoolFigures`], for a
//! backend without sessions of its own (software keys), so that `/metrics` shows how
//! many signatures were made whatever the backend.

use crate::{KeyError, Signer};
use shuin_core::signing_pool::SigningPoolFigures;
use shuin_core::SignatureAlgorithm;
use std::sync::Arc;

/// `inner`, with each signature counted in `figures`.
#[derive(Debug)]
pub(crate) struct CountedSigner {
    pub(crate) inner: Arc<dyn Signer>,
    pub(crate) figures: Arc<SigningPoolFigures>,
}

impl Signer for CountedSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.inner.algorithm()
    }

    fn public_key_der(&self) -> &[u8] {
        self.inner.public_key_der()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.figures.work_started();
        let signature = self.inner.sign(message);
        self.figures.work_ended();
        if signature.is_err() {
            self.figures.count_error();
        }
        signature
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{KeySpec, SoftwareSigner};

    #[test]
    fn each_signature_is_counted_and_none_stays_in_flight() {
        let figures = Arc::new(SigningPoolFigures::default());
        let signer = CountedSigner {
            inner: Arc::new(SoftwareSigner::generate(KeySpec::EcP256).unwrap().0),
            figures: figures.clone(),
        };
        signer.sign(b"one").unwrap();
        signer.sign(b"two").unwrap();
        let now = figures.snapshot("software", "keys");
        assert_eq!((now.signatures, now.in_flight, now.errors), (2, 0, 0));
        assert_eq!(signer.public_key_der(), signer.inner.public_key_der());
    }
}
