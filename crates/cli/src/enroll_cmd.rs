//! `shuin enroll`: the applicant side of the legacy flow (docs/registration.md).

use crate::failure::Result;
use shuin_client::OutcomeFiles;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// What `shuin enroll` takes.
#[derive(clap::Args)]
pub(crate) struct EnrollArgs {
    /// Server base URL.
    #[arg(long)]
    server: String,
    /// The registration id sent with the code.
    #[arg(long)]
    registration: String,
    /// The 利用者識別符号 (hyphens and case do not matter).
    #[arg(long)]
    code: String,
    /// The new key's type.
    #[arg(long, default_value = "p256")]
    key_type: String,
    /// Where to write the new private key (default: OUT.key; the chain goes to OUT.chain).
    #[arg(long)]
    key_out: Option<PathBuf>,
    /// Where to write the certificate.
    #[arg(long, default_value = "cert.pem")]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

// The code must not reach a log through `{:?}`.
impl std::fmt::Debug for EnrollArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollArgs")
            .field("server", &self.server)
            .field("registration", &self.registration)
            .field("out", &self.out)
            .finish_non_exhaustive()
    }
}

pub(crate) fn run(args: EnrollArgs) -> Result<()> {
    let files = OutcomeFiles::new(&args.out, args.key_out.as_deref());
    files.check_key_is_new()?;
    let request = shuin_client::EnrollRequest {
        server: args.server,
        registration_id: args.registration,
        identification_code: Zeroizing::new(args.code),
        key_spec: crate::apply_cmd::key_spec("--key-type", &args.key_type)?,
    };
    let outcome = shuin_client::enroll(&request)?;
    files.save(&outcome)?;
    crate::output::show(
        args.json,
        || files.to_json(&outcome),
        || files.text(&outcome),
    );
    Ok(())
}
