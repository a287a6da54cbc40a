//! `shuin node pair`: the operator CA certifies a node of a split deployment (a ca_admin's
//! signed request on the CA's local console; docs/deployment.md). The node's CSR comes
//! from `shuin operator csr --name NODE`. Unpairing is `shuin operator revoke --name NODE`.

use crate::console_client::Ask;
use crate::failure::{Context, Result};
use crate::output::print_answer;
use base64::Engine;
use serde_json::json;
use shuin_core::x509::node::NodeRole;
use shuin_core::Action;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum NodeCommand {
    /// Pair a node: its certificate names its role and the hosts it serves on.
    Pair {
        #[command(flatten)]
        ask: Ask,
        /// The node's CSR (PEM or DER); its CN is the node's name.
        #[arg(long)]
        csr: PathBuf,
        /// ra, repo, or ca (the CA's own link, which names no host).
        #[arg(long, value_parser = node_role)]
        role: NodeRole,
        /// A DNS name or IP address the node serves on (repeat for more).
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// Where to write the node's certificate (PEM).
        #[arg(long)]
        cert_out: PathBuf,
    },
}

fn node_role(text: &str) -> std::result::Result<NodeRole, String> {
    serde_json::from_value(json!(text)).map_err(|_| "must be ra, repo or ca".to_owned())
}

pub(crate) async fn run(command: NodeCommand) -> Result<()> {
    let NodeCommand::Pair {
        ask,
        csr,
        role,
        hosts,
        cert_out,
    } = command;
    let csr = shuin_ca::parts::read_pem_or_der(&csr).context("--csr")?;
    let csr = base64::engine::general_purpose::STANDARD.encode(csr);
    let params = json!({"csr": csr, "role": role, "hosts": hosts});
    let result = ask.call(Action::NodePair, params).await?;
    if let Some(pem) = result["certificate_pem"].as_str() {
        std::fs::write(&cert_out, pem).context(cert_out.display())?;
    }
    print_answer(Action::NodePair, &result, ask.json);
    Ok(())
}
