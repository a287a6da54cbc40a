//! The CLI as a client of the running server (DESIGN.md section 8): it asks for a nonce,
//! signs the canonical request with the operator's own key, sends it, and prints the
//! answer. It never opens the database.
//!
//! On the same machine it speaks to the local console socket (`--data DIR` or
//! `--socket PATH`, the high-security zone). From elsewhere it speaks to an operator
//! listener (`--server https://HOST:PORT`) over mutual TLS: the server's certificate is
//! checked against `--server-ca`, and the operator shows `--operator-cert` (the
//! certificate `operator add --cert-out` wrote at their enrolment), proven with the same
//! key that signs the request. One command is one connection, so one session.

use crate::admin_socket::{Request, SOCKET};
use crate::console::Outcome;
use crate::failure::{msg, Result};
use crate::operator_key::OperatorKeyArgs;
use serde_json::Value;
use shuin_books::console::Unsigned;
use shuin_core::{Action, Clock, SystemClock};
use shuin_keys::personal_tls::{self, ClientTlsError};
use shuin_keys::Signer;
use shuin_server::admin_socket;
use shuin_server::operator_api::client::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// How to reach the server and who is asking.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConsoleArgs {
    /// The instance directory; its local console socket DIR/admin.sock is used. From
    /// SHUIN_DATA when not given; --socket and --server win over both.
    #[arg(long, value_name = "DIR", env = "SHUIN_DATA", required_unless_present_any = ["socket", "server"])]
    pub(crate) data: Option<PathBuf>,
    /// The server's local console socket (instead of --data).
    #[arg(long, value_name = "PATH")]
    pub(crate) socket: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) key: OperatorKeyArgs,
    #[command(flatten)]
    pub(crate) network: NetworkArgs,
}

/// An operator listener of the server, reached over mutual TLS.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct NetworkArgs {
    /// An operator listener of the server, `https://HOST:PORT` (instead of --data or
    /// --socket); its zone (secure, remote) decides what may be done there.
    #[arg(long, value_name = "URL", conflicts_with = "socket", requires_all = ["server_ca", "operator_cert"])]
    pub(crate) server: Option<String>,
    /// The trust anchor of the listener's TLS certificate (PEM).
    #[arg(long, value_name = "PEM", requires = "server")]
    pub(crate) server_ca: Option<PathBuf>,
    /// The operator's certificate from the operator CA (PEM, as `operator add
    /// --cert-out` wrote it), for --operator-key.
    #[arg(long, value_name = "PEM", requires = "server")]
    pub(crate) operator_cert: Option<PathBuf>,
}

/// The console's arguments with the choice of output, shared by the commands that ask
/// the server for one action.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Ask {
    #[command(flatten)]
    pub(crate) console: ConsoleArgs,
    /// Machine-readable output.
    #[arg(long)]
    pub(crate) json: bool,
}

impl Ask {
    /// Signs `action` with `params` and has the server do it; returns its result.
    pub(crate) async fn call(&self, action: Action, params: Value) -> Result<Value> {
        call(&self.console, action, params, None).await
    }

    /// Has the server do `action` and prints its answer (`output::print_answer`).
    pub(crate) async fn answer(&self, action: Action, params: Value) -> Result<()> {
        let result = self.call(action, params).await?;
        crate::output::print_answer(action, &result, self.json);
        Ok(())
    }
}

impl ConsoleArgs {
    fn socket_path(&self) -> Result<PathBuf> {
        match (&self.socket, &self.data) {
            (Some(socket), _) => Ok(socket.clone()),
            (None, Some(data)) => Ok(data.join(SOCKET)),
            (None, None) => Err(msg("give --data DIR, --socket PATH or --server URL")),
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
    let signer = args.key.signer()?;
    let unsigned = Unsigned {
        action,
        params,
        attachment,
    };
    let socket = match &args.network.server {
        Some(_) => None,
        None => Some(args.socket_path()?),
    };
    let progress = crate::progress::TerminalProgress::stderr();
    progress.waiting(format!("the server is doing {}", action.as_str()));
    let outcome = match (&args.network.server, socket) {
        (Some(url), _) => over_network(&args.network, url, signer, unsigned).await,
        (None, Some(socket)) => on_socket(&socket, signer.as_ref(), unsigned).await,
        (None, None) => Err(msg("give --data DIR, --socket PATH or --server URL")),
    };
    shuin_ledger::export::Progress::end(&progress);
    match outcome? {
        Outcome::Done { result } => Ok(result),
        refused => Err(msg(refused.to_string())),
    }
}

/// The request signed with `signer` under `nonce`.
fn sign(unsigned: Unsigned, signer: &dyn Signer, nonce: String) -> Result<Request> {
    let key = signer.public_key_der();
    Ok(unsigned.sign(nonce, SystemClock.now(), key, |text| signer.sign(text))?)
}

/// On the local console socket: a nonce, then the request signed under it.
async fn on_socket(socket: &Path, signer: &dyn Signer, unsigned: Unsigned) -> Result<Outcome> {
    let nonce = match admin_socket::nonce(socket).await? {
        Ok(nonce) => nonce,
        Err(outcome) => return Ok(outcome),
    };
    Ok(admin_socket::request(socket, &sign(unsigned, signer, nonce)?).await?)
}

/// On an operator listener, nonce and request in one session.
async fn over_network(
    network: &NetworkArgs,
    url: &str,
    signer: Arc<dyn Signer>,
    unsigned: Unsigned,
) -> Result<Outcome> {
    let config = tls_client(network, signer.clone())?;
    let failed = |e: shuin_server::operator_api::client::ClientError| {
        msg(format!("{}: {url}: {e}", e.code()))
    };
    let mut connection = Connection::open(url, config).await.map_err(failed)?;
    let nonce = match connection.nonce().await.map_err(failed)? {
        Ok(nonce) => nonce,
        Err(outcome) => return Ok(outcome),
    };
    let request = sign(unsigned, signer.as_ref(), nonce)?;
    connection.request(&request).await.map_err(failed)
}

/// The TLS client: the listener's certificate checked against `--server-ca`, and the
/// operator's certificate proven with their key.
fn tls_client(network: &NetworkArgs, signer: Arc<dyn Signer>) -> Result<Arc<rustls::ClientConfig>> {
    let (Some(server_ca), Some(operator_cert)) = (&network.server_ca, &network.operator_cert)
    else {
        return Err(msg(
            "--server needs --server-ca PEM and --operator-cert PEM",
        ));
    };
    let read = |path: &Path, what: &str| {
        personal_tls::read_certificates(path).map_err(|e| msg(format!("{what} {e}")))
    };
    let anchors = read(server_ca, "--server-ca")?;
    let chain = read(operator_cert, "--operator-cert")?;
    personal_tls::client_config(anchors, chain, signer).map_err(|e| match e {
        ClientTlsError::KeyMismatch => msg(format!(
            "--operator-cert {} is not the certificate of --operator-key (another key)",
            operator_cert.display()
        )),
        other => msg(format!(
            "--server {}: {other}",
            network.server.as_deref().unwrap_or("")
        )),
    })
}
