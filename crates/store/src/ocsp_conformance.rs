//! Conformance checks for the spilled OCSP answers ([`crate::OcspAnswerStore`]), run by
//! [`crate::conformance::run`].

use crate::conformance::{ensure, fail};
use crate::OcspAnswerStore;
use shuin_core::Serial;

fn serial(n: u8) -> Result<Serial, String> {
    Serial::from_magnitude(&[0x6a, n]).ok_or_else(|| "a test serial".to_owned())
}

/// Answers are kept by serial, the newest replacing the older, a batch at a time.
pub(crate) async fn run<S: OcspAnswerStore>(store: &S) -> Result<(), String> {
    let (one, two) = (serial(1)?, serial(2)?);
    ensure!(
        store
            .ocsp_answer(&one)
            .await
            .map_err(|e| fail("answer", e))?
            .is_none(),
        "no answer kept yet"
    );
    store
        .put_ocsp_answers(&[(one.clone(), &[1; 900][..]), (two.clone(), &[2; 900][..])])
        .await
        .map_err(|e| fail("put", e))?;
    store
        .put_ocsp_answers(&[(one.clone(), &[3; 901][..])])
        .await
        .map_err(|e| fail("put again", e))?;
    store
        .put_ocsp_answers(&[])
        .await
        .map_err(|e| fail("put nothing", e))?;
    let kept = |s: &Serial| {
        let s = s.clone();
        async move { store.ocsp_answer(&s).await.map_err(|e| fail("answer", e)) }
    };
    ensure!(
        kept(&one).await? == Some(vec![3; 901]),
        "the newest replaces"
    );
    ensure!(
        kept(&two).await? == Some(vec![2; 900]),
        "each serial its own"
    );
    ensure!(kept(&serial(3)?).await?.is_none(), "no other answer");
    Ok(())
}
