//! TLS for the listeners of the end-to-end tests: a throwaway CA and a server
//! certificate from OpenSSL.

use std::path::{Path, PathBuf};
use std::process::Command;

#[track_caller]
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA for the listeners' TLS certificates and one certificate for `san`
/// (`IP:127.0.0.1`, `DNS:localhost`), in DIR/tls (`cert.pem`, `key.pem`); returns the
/// CA's PEM path.
pub fn listener_certificates(data: &Path, san: &str) -> PathBuf {
    let dir = data.join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=listener CA",
        "-days",
        "2",
    ]);
    openssl(&dir, &args);
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "key.pem",
        "-out",
        "tls.csr",
        "-subj",
        "/CN=shuin listener",
    ]);
    openssl(&dir, &args);
    std::fs::write(
        dir.join("ext.cnf"),
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("key.pem"), std::fs::Permissions::from_mode(0o600)).unwrap();
    dir.join("ca.pem")
}
