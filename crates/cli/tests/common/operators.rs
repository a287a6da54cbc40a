//! Operators with personal keys for the end-to-end tests: key files (development and
//! tests only) under WORK/operators, enrolled by the first admin through the running
//! server, and commands run as an operator (signed requests over DIR/admin.sock).

use super::{shuin, Instance};
use serde_json::Value;
use shuin_keys::{KeySpec, SoftwareSigner};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The first ca_admin, enrolled at `init` with `--first-admin-csr`.
pub const ADMIN: &str = "管理 太郎";

/// Where `name`'s key file lives under `work`.
pub fn key_path(work: &Path, name: &str) -> PathBuf {
    work.join("operators")
        .join(format!("{}.key.pem", hex::encode(name.as_bytes())))
}

/// Where [`Instance::add_operator`] keeps `name`'s operator certificate (PEM).
pub fn certificate_path(work: &Path, name: &str) -> PathBuf {
    work.join("operators")
        .join(format!("{}.cert.pem", hex::encode(name.as_bytes())))
}

/// `file:PATH` of `name`'s key file, as `--operator-key` takes it.
pub fn key_uri(work: &Path, name: &str) -> OsString {
    let mut key = OsString::from("file:");
    key.push(key_path(work, name));
    key
}

/// Makes `name`'s key file and returns the DER CSR with `CN=name`.
pub fn make_key(work: &Path, name: &str) -> Vec<u8> {
    let path = key_path(work, name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let (signer, pkcs8) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let pem = shuin_keys::pkcs8_pem(&pkcs8).unwrap();
    shuin_keys::write_private_file(&path, pem.as_bytes()).unwrap();
    shuin_client::build_named_csr(&signer, name).unwrap()
}

impl Instance {
    /// `--data DIR --operator-key file:KEY` for `name`.
    pub fn operator_args(&self, name: &str) -> Vec<OsString> {
        vec![
            "--data".into(),
            self.data.clone().into(),
            "--operator-key".into(),
            key_uri(self.work.path(), name),
        ]
    }

    /// Runs `shuin ARGS` as `name` (a signed request to the running server).
    pub fn as_operator(&self, name: &str, args: &[&str]) -> Output {
        shuin()
            .args(args)
            .args(self.operator_args(name))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    }

    /// As [`Instance::as_operator`], asserting success; the JSON answer (`--json` is added).
    #[track_caller]
    pub fn as_operator_json(&self, name: &str, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.as_operator(name, &args);
        assert!(
            out.status.success(),
            "shuin {args:?} as {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `shuin audit pack --out OUT` by `name` (an auditor or a ca_admin), asserting
    /// success; the pack.json it wrote.
    #[track_caller]
    pub fn audit_pack(&self, name: &str, out: &std::path::Path) -> Value {
        let out_arg = out.to_str().unwrap();
        self.as_operator_json(name, &["audit", "pack", "--out", out_arg]);
        serde_json::from_str(&std::fs::read_to_string(out.join("pack.json")).unwrap()).unwrap()
    }

    /// Enrols `name` with `role` as the first admin (a key and CSR are made the first
    /// time, and the certificate kept at [`certificate_path`]; later roles are granted).
    pub fn add_operator(&self, name: &str, role: &str) {
        if key_path(self.work.path(), name).exists() {
            self.as_operator_json(
                ADMIN,
                &["operator", "grant", "--name", name, "--role", role],
            );
            return;
        }
        let csr = make_key(self.work.path(), name);
        let csr_path = self
            .work
            .path()
            .join("operators")
            .join(format!("{}.csr", hex::encode(name.as_bytes())));
        std::fs::write(&csr_path, csr).unwrap();
        self.as_operator_json(
            ADMIN,
            &[
                "operator",
                "add",
                "--csr",
                csr_path.to_str().unwrap(),
                "--role",
                role,
                "--cert-out",
                certificate_path(self.work.path(), name).to_str().unwrap(),
            ],
        );
    }

    /// Revokes `serial` with `shuin revoke` as `operator` (who must hold the `lra` role)
    /// and returns the command's JSON answer.
    pub fn revoke_as(&self, operator: &str, serial: &str, reason: &str) -> Value {
        self.as_operator_json(
            operator,
            &["revoke", "--serial", serial, "--reason", reason],
        )
    }
}
