//! `[node]` in shuin.toml: what this instance is in a split deployment (DESIGN.md section
//! 10, docs/deployment.md), and `shuin serve --role`.
//!
//! - `all` (the default, no `[node]` needed): one process with the CA, the RA and the
//!   repository, calling each other in process.
//! - `ra`: an RA node. It serves applicants and queues approved orders for the CA's link
//!   on its peer listener (`client_auth = "peer"`); it opens no key. Its operator
//!   listeners (secure zone: LRA work; remote zone: monitoring) decide with the roster
//!   the CA's link hands over (`crate::node_console`).
//! - `repo`: a repository node. It serves the CA certificates, CRLs and OCSP answers the
//!   CA's link hands it, on repository listeners and its peer listener; it holds no key
//!   and no RA.
//! - `ca`: the CA. It listens on no network port: it dials each node of `[[node.links]]`
//!   with its node certificate (`tls`), and its only way in is the local console.

use crate::config::{ListenerSection, ServerSection};
use crate::tls::{ClientAuth, TlsSection};
use serde::{Deserialize, Serialize};

/// What `shuin serve` runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServeRole {
    /// Everything in one process.
    #[default]
    All,
    /// An RA node.
    Ra,
    /// The CA, dialling out to its nodes.
    Ca,
    /// A repository node.
    Repo,
}

impl ServeRole {
    /// The name `--role` and `[node] role` use.
    pub fn as_str(self) -> &'static str {
        match self {
            ServeRole::All => "all",
            ServeRole::Ra => "ra",
            ServeRole::Ca => "ca",
            ServeRole::Repo => "repo",
        }
    }
}

/// `[node]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// `all`, `ra` or `ca`.
    #[serde(default)]
    pub role: ServeRole,
    /// The node's name, as its node certificate names it (`ra` and `ca`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The CA's node certificate and key, paths relative to the instance (`ca`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSection>,
    /// The RA nodes the CA dials (`ca`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkSection>,
}

/// One `[[node.links]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSection {
    /// `https://HOST:PORT` of the node's peer listener.
    pub url: String,
    /// What the node is: `ra` (the default; the link takes its orders) or `repo` (the
    /// link only hands it the repository's content).
    #[serde(default, skip_serializing_if = "LinkedNode::is_ra")]
    pub node: LinkedNode,
}

/// The kind of node a link dials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkedNode {
    /// An RA node: orders, and the repository's content.
    #[default]
    Ra,
    /// A repository node: the repository's content only.
    Repo,
}

impl LinkedNode {
    fn is_ra(&self) -> bool {
        *self == LinkedNode::Ra
    }
}

/// A `[node]` that cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("[node] (role = {role:?}): {reason}")]
pub struct NodeError {
    role: &'static str,
    reason: String,
}

impl NodeSection {
    /// Whether the section is the default one (left out of a written shuin.toml).
    pub fn is_default(&self) -> bool {
        *self == NodeSection::default()
    }

    /// Refuses a node that cannot be served with `server` as its listeners.
    pub fn check(&self, server: &ServerSection) -> Result<(), NodeError> {
        let refuse = |reason: &str| NodeError {
            role: self.role.as_str(),
            reason: reason.to_owned(),
        };
        let peer = |l: &ListenerSection| l.client_auth == ClientAuth::Peer;
        let operator = |l: &ListenerSection| l.client_auth == ClientAuth::Operator;
        match self.role {
            ServeRole::All if !self.links.is_empty() || self.tls.is_some() => Err(refuse(
                "links and tls belong to the CA of a split deployment (role = \"ca\")",
            )),
            ServeRole::All if server.listeners.iter().any(peer) => Err(refuse(
                "a peer listener belongs to an RA node (role = \"ra\")",
            )),
            ServeRole::Ca if self.tls.is_none() || self.links.is_empty() => Err(refuse(
                "the CA dials its RA nodes: give tls = { certificate, key } (its node certificate from `shuin node pair --role ca`) and at least one [[node.links]] url",
            )),
            ServeRole::Ca if self.links.iter().any(|l| !l.url.starts_with("https://")) => {
                Err(refuse("a link's url is https://HOST:PORT of an RA node's peer listener"))
            }
            ServeRole::Ra if !server.listeners.iter().any(peer) => Err(refuse(
                "an RA node serves the CA's link on a listener with client_auth = \"peer\"",
            )),
            ServeRole::Ra
                if server.listeners.iter().any(|l| {
                    operator(l)
                        && !matches!(
                            l.zone,
                            crate::zones::ListenerZone::Secure | crate::zones::ListenerZone::Remote
                        )
                }) =>
            {
                Err(refuse(
                    "an RA node's operator listeners serve the secure zone (LRA work) or the remote zone (monitoring)",
                ))
            }
            ServeRole::Ra
                if server
                    .listeners
                    .iter()
                    .any(|l| l.client_auth == ClientAuth::Passkey) =>
            {
                Err(refuse(
                    "an RA node serves no web console (client_auth = \"passkey\"): its operators sign with their operator keys on an operator listener (shuin ... --server)",
                ))
            }
            ServeRole::Repo if !server.listeners.iter().any(peer) => Err(refuse(
                "a repository node takes the CA's pushes on a listener with client_auth = \"peer\"",
            )),
            ServeRole::Repo
                if server
                    .listeners
                    .iter()
                    .any(|l| !peer(l) && l.zone != crate::zones::ListenerZone::Repository) =>
            {
                Err(refuse(
                    "a repository node serves only listeners of zone \"repository\" besides its peer listener",
                ))
            }
            ServeRole::Ra | ServeRole::Ca | ServeRole::Repo if self.name.is_none() => {
                Err(refuse("name the node as its certificate does (name = \"...\")"))
            }
            _ => Ok(()),
        }
    }
}

/// Where a node made by `shuin node init` listens.
#[derive(Debug, Clone, Copy)]
pub struct NodeAddresses<'a> {
    /// Applicants at an RA node; verifiers at a repository node.
    pub listen: &'a str,
    /// An RA node's repository listener (terms, CA certificates, CP/CPS, CRLs, OCSP).
    pub repository: Option<&'a str>,
    /// An RA node's operator listener for LRAs (secure zone).
    pub operators: Option<&'a str>,
    /// An RA node's monitoring listener (remote zone).
    pub monitoring: Option<&'a str>,
    /// The CA's link.
    pub peer: &'a str,
}

impl NodeAddresses<'_> {
    /// The listeners of a node of `role` (`Ra` or `Repo`), those with TLS presenting
    /// the node certificate `tls`. A repository node serves verifiers only: operator and
    /// monitoring listeners are refused for it.
    pub fn listeners(
        &self,
        role: ServeRole,
        tls: &TlsSection,
    ) -> Result<Vec<ListenerSection>, NodeError> {
        use crate::zones::ListenerZone;
        let repo = role == ServeRole::Repo;
        if repo && (self.operators.is_some() || self.monitoring.is_some()) {
            return Err(NodeError {
                role: role.as_str(),
                reason: "operator and monitoring listeners are for an RA node: a repository node serves verifiers only".into(),
            });
        }
        let listener =
            |listen: &str, zone, tls: Option<&TlsSection>, client_auth| ListenerSection {
                listen: listen.to_owned(),
                zone,
                tls: tls.cloned(),
                client_auth,
                console_origin: None,
            };
        let first = if repo {
            ListenerZone::Repository
        } else {
            ListenerZone::Front
        };
        let mut listeners = vec![listener(self.listen, first, None, ClientAuth::None)];
        if let Some(address) = self.repository {
            listeners.push(listener(
                address,
                ListenerZone::Repository,
                None,
                ClientAuth::None,
            ));
        }
        if let Some(address) = self.operators {
            listeners.push(listener(
                address,
                ListenerZone::Secure,
                Some(tls),
                ClientAuth::Operator,
            ));
        }
        if let Some(address) = self.monitoring {
            listeners.push(listener(
                address,
                ListenerZone::Remote,
                Some(tls),
                ClientAuth::Operator,
            ));
        }
        listeners.push(listener(
            self.peer,
            ListenerZone::Secure,
            Some(tls),
            ClientAuth::Peer,
        ));
        Ok(listeners)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parsed(text: &str) -> Result<(), String> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            node: NodeSection,
            #[serde(default)]
            server: ServerSection,
        }
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        file.node.check(&file.server).map_err(|e| e.to_string())
    }

    const PEER: &str = "[[server.listeners]]\nlisten = \"127.0.0.1:9443\"\nzone = \"secure\"\nclient_auth = \"peer\"\ntls = { certificate = \"n.pem\", key = \"n.key\" }\n";

    #[test]
    fn a_node_listens_where_node_init_was_told() {
        let tls = TlsSection {
            certificate: "node/ra-1.pem".into(),
            key: "node/ra-1.key".into(),
        };
        let addresses = NodeAddresses {
            listen: "127.0.0.1:8081",
            repository: Some("127.0.0.1:8082"),
            operators: Some("127.0.0.1:9447"),
            monitoring: Some("127.0.0.1:9446"),
            peer: "127.0.0.1:9443",
        };
        let listeners = addresses.listeners(ServeRole::Ra, &tls).unwrap();
        let server = ServerSection {
            listeners: listeners.clone(),
            ..Default::default()
        };
        let node = NodeSection {
            role: ServeRole::Ra,
            name: Some("ra-1".into()),
            ..Default::default()
        };
        node.check(&server).unwrap();
        let shape: Vec<_> = listeners
            .iter()
            .map(|l| (l.zone.as_str(), l.client_auth, l.tls.is_some()))
            .collect();
        assert_eq!(
            shape,
            [
                ("front", ClientAuth::None, false),
                ("repository", ClientAuth::None, false),
                ("secure", ClientAuth::Operator, true),
                ("remote", ClientAuth::Operator, true),
                ("secure", ClientAuth::Peer, true),
            ]
        );
        let error = addresses.listeners(ServeRole::Repo, &tls).unwrap_err();
        assert!(error.to_string().contains("for an RA node"), "{error}");
    }

    #[test]
    fn each_role_needs_what_it_serves_with() {
        parsed("").unwrap();
        parsed(&format!("[node]\nrole = \"ra\"\nname = \"ra-1\"\n{PEER}")).unwrap();
        let operators = PEER
            .replace("9443", "9446")
            .replace("\"peer\"", "\"operator\"");
        parsed(&format!(
            "[node]\nrole = \"ra\"\nname = \"ra-1\"\n{PEER}{operators}"
        ))
        .unwrap();
        let ca = "[node]\nrole = \"ca\"\nname = \"ca\"\ntls = { certificate = \"c.pem\", key = \"c.key\" }\n[[node.links]]\nurl = \"https://127.0.0.1:9443\"\n";
        parsed(ca).unwrap();
        let cases = [
            (
                "[node]\nrole = \"ra\"\nname = \"ra-1\"\n",
                "on a listener with client_auth",
            ),
            (&*format!("[node]\nrole = \"ra\"\n{PEER}"), "name the node"),
            (
                "[node]\nrole = \"ca\"\nname = \"ca\"\n",
                "at least one [[node.links]]",
            ),
            (PEER, "belongs to an RA node"),
            (
                &*format!(
                    "[node]\nrole = \"ra\"\nname = \"ra-1\"\n{PEER}{}",
                    PEER.replace("9443", "9444")
                        .replace("\"peer\"", "\"passkey\"")
                ),
                "no web console",
            ),
            (
                &*format!(
                    "[node]\nrole = \"ra\"\nname = \"ra-1\"\n{PEER}{}",
                    PEER.replace("9443", "9445")
                        .replace("\"peer\"", "\"operator\"")
                        .replace("\"secure\"", "\"front\"")
                ),
                "secure zone (LRA work) or the remote zone",
            ),
            ("[node]\nrole = \"edge\"\n", "unknown variant"),
        ];
        for (text, expected) in cases {
            let error = parsed(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
        let repo = "[node]\nrole = \"repo\"\nname = \"repo-1\"\n[[server.listeners]]\nlisten = \"127.0.0.1:8080\"\nzone = \"repository\"\n";
        parsed(&format!("{repo}{PEER}")).unwrap();
        assert!(parsed(repo).unwrap_err().contains("client_auth = \"peer\""));
        let front = format!("{PEER}{}", repo.replace("\"repository\"", "\"front\""));
        assert!(parsed(&front)
            .unwrap_err()
            .contains("only listeners of zone"));
        let plain = ca.replace("https://", "http://");
        assert!(parsed(&plain).unwrap_err().contains("https://HOST:PORT"));
    }
}
