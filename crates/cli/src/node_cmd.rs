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
    /// Make an RA or repository node's directory from the CA's instance and the node's
    /// certificate.
    Init {
        /// ra (the default) or repo.
        #[arg(long, default_value = "ra", value_parser = serve_role)]
        role: shuin_server::node::ServeRole,
        /// The CA's instance directory (public files and shuin.toml are copied).
        #[arg(long)]
        from: PathBuf,
        /// The new node's directory.
        #[arg(long)]
        data: PathBuf,
        /// The node's name, as its certificate names it.
        #[arg(long)]
        name: String,
        /// The node certificate from `shuin node pair --role ra|repo`, and its key.
        #[arg(long)]
        certificate: PathBuf,
        /// The node certificate's private key (PKCS#8 PEM, mode 0600).
        #[arg(long)]
        key: PathBuf,
        /// Where applicants reach an RA node; where verifiers reach a repository node.
        #[arg(long)]
        listen: String,
        /// Where verifiers fetch the CA certificates, terms and CP/CPS from the node.
        #[arg(long)]
        repository_listen: Option<String>,
        /// Where the CA's link dials the node (mutual TLS).
        #[arg(long)]
        peer_listen: String,
        /// Where monitoring staff read an RA node's /metrics and /monitoring from
        /// outside the facility (remote zone; mutual TLS with an operator certificate).
        #[arg(long)]
        monitor_listen: Option<String>,
        /// Where LRAs act on an RA node with their operator keys (`shuin review ...
        /// --server`; secure zone; mutual TLS with an operator certificate).
        #[arg(long)]
        operator_listen: Option<String>,
        /// The node's public base URL (default: the CA's `public_url`).
        #[arg(long)]
        public_url: Option<String>,
        /// The node's store: sqlite:PATH (default sqlite:shuin.db) or postgres://...
        #[arg(long, default_value = "sqlite:shuin.db")]
        store_url: String,
        /// A file holding the PostgreSQL password.
        #[arg(long)]
        store_password_file: Option<PathBuf>,
        /// The store is another RA node's already: this node joins it (several RA nodes
        /// on one PostgreSQL database).
        #[arg(long)]
        join: bool,
    },
}

fn serve_role(text: &str) -> std::result::Result<shuin_server::node::ServeRole, String> {
    use shuin_server::node::ServeRole;
    match serde_json::from_value(json!(text)) {
        Ok(role @ (ServeRole::Ra | ServeRole::Repo)) => Ok(role),
        _ => Err("must be ra or repo".to_owned()),
    }
}

fn node_role(text: &str) -> std::result::Result<NodeRole, String> {
    serde_json::from_value(json!(text)).map_err(|_| "must be ra, repo or ca".to_owned())
}

pub(crate) async fn run(command: NodeCommand) -> Result<()> {
    let (ask, csr, role, hosts, cert_out) = match command {
        NodeCommand::Pair {
            ask,
            csr,
            role,
            hosts,
            cert_out,
        } => (ask, csr, role, hosts, cert_out),
        NodeCommand::Init {
            role,
            from,
            data,
            name,
            certificate,
            key,
            listen,
            repository_listen,
            peer_listen,
            monitor_listen,
            operator_listen,
            public_url,
            store_url,
            store_password_file,
            join,
        } => {
            let init = crate::split::RaNodeInit {
                from: &from,
                data: &data,
                name: &name,
                certificate: &certificate,
                key: &key,
                listen: &listen,
                repository_listen: repository_listen.as_deref(),
                peer_listen: &peer_listen,
                monitor_listen: monitor_listen.as_deref(),
                operator_listen: operator_listen.as_deref(),
                public_url: public_url.as_deref(),
                store: crate::runtime::store_section(&store_url, &store_password_file)?,
                join,
                role,
            };
            let keys = crate::split::init_ra_node(&init).await?;
            crate::output::say!(
                "made the {} node {name} in {}: serve it with `shuin serve --role {} --data {}`",
                role.as_str(),
                data.display(),
                role.as_str(),
                data.display()
            );
            if let Some(key) = keys.book {
                crate::output::say!("its book's checkpoints verify with {key} (witnesses: shuin witness init --log-key)");
            }
            if let Some(key) = keys.witness {
                crate::output::say!("it witnesses the CA's checkpoints under /witness/ with {key} (the CA's [[ledger.witnesses]])");
            }
            return Ok(());
        }
    };
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
