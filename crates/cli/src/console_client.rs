//! The CLI as a client of the running server (DESIGN.md section 8): it asks for a nonce,
//! signs the canonical request with the operator's own key, sends it, and prints the
//! answer. It never opens the database.

use crate::admin_socket::{ask, Answer, Request, SOCKET};
use crate::console::Outcome;
use crate::failure::{msg, Context, Result};
use crate::operator_key::OperatorKeyArgs;
use serde_json::Value;
use shuin_books::console;
use shuin_core::{Action, Clock, SystemClock};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// How to reach the server and who is asking.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConsoleArgs {
    /// The instance directory; its local console socket DIR/admin.sock is used.
    #[arg(long, value_name = "DIR", required_unless_present = "socket")]
    pub(crate) data: Option<PathBuf>,
    /// The server's local console socket (instead of --data).
    #[arg(long, value_name = "PATH", conflicts_with = "data")]
    pub(crate) socket: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) key: OperatorKeyArgs,
}

impl ConsoleArgs {
    fn socket_path(&self) -> Result<PathBuf> {
        match (&self.socket, &self.data) {
            (Some(socket), _) => Ok(socket.clone()),
            (None, Some(data)) => Ok(data.join(SOCKET)),
            (None, None) => Err(msg("give --data DIR or --socket PATH")),
        }
    }
}

/// Signs `action` with `params` and has the server do it; returns its result. An
/// `attachment` (a share, an identity, a CSV) travels beside the signed request, which
/// carries its SHA-256 (`attachment_sha256`), so it never enters the books.
pub(crate) async fn call(
    args: &ConsoleArgs,
    action: Action,
    params: Value,
    attachment: Option<Zeroizing<String>>,
) -> Result<Value> {
    let socket = args.socket_path()?;
    let signer = args.key.signer()?;
    let nonce = match ask(&socket, &Request::Nonce).await? {
        Answer::Nonce { nonce } => nonce,
        Answer::Signed { outcome } => return Err(msg(outcome.to_string())),
        Answer::Error { message } => return Err(msg(message)),
        Answer::Status(_) => return Err(msg("the server answered with its status")),
    };
    let request = console::request_to_sign(
        action,
        params,
        attachment.as_ref().map(|text| text.as_str()),
        nonce,
        SystemClock.now(),
        signer.public_key_der(),
    );
    let text = request.canonical_text().map_err(|e| msg(e.to_string()))?;
    let signature = signer
        .sign(text.as_bytes())
        .context("signing the request with the operator key")?;
    let signed = console::signed(text, &signature);
    let attachment = attachment.map(|s| s.as_str().to_owned());
    match ask(&socket, &Request::Signed { signed, attachment }).await? {
        Answer::Signed {
            outcome: Outcome::Done { result },
        } => Ok(result),
        Answer::Signed { outcome } => Err(msg(outcome.to_string())),
        Answer::Error { message } => Err(msg(message)),
        other => Err(msg(format!("unexpected answer: {other:?}"))),
    }
}
