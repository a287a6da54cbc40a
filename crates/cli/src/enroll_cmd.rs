//! `shuin enroll`: the applicant side of the legacy flow (docs/registration.md).

use crate::failure::Result;
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
    #[command(flatten)]
    new_key: crate::apply_cmd::NewKey,
    /// An e-mail address for the notices of issuance and revocation (kept with the
    /// application as personal data, never in the books).
    #[arg(long, value_parser = crate::apply_cmd::notice_email)]
    notice_email: Option<String>,
}

// The code must not reach a log through `{:?}`.
impl std::fmt::Debug for EnrollArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollArgs")
            .field("server", &self.server)
            .field("registration", &self.registration)
            .field("out", &self.new_key.out)
            .finish_non_exhaustive()
    }
}

pub(crate) fn run(args: EnrollArgs) -> Result<()> {
    let (key_spec, files) = args.new_key.prepare()?;
    let request = shuin_client::EnrollRequest {
        server: args.server,
        registration_id: args.registration,
        identification_code: Zeroizing::new(args.code),
        key_spec,
        notice_email: args.notice_email,
    };
    let outcome = shuin_client::enroll(&request)?;
    args.new_key.save(&files, &outcome)
}
