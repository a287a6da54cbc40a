//! Notices to holders by e-mail (docs/web.md, "Notices by e-mail"), through the real
//! binary and a real SMTP server (Python's aiosmtpd, writing a Maildir): an application
//! made with `shuin apply --notice-email` gets the issuance notice, its revocation the
//! revocation notice, each queued and sent in the books with no address in them or in
//! the log; while the SMTP server is down the notice stays queued and goes out once it
//! is back.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use base64::Engine;
use shuin_testkit::SimulatedJlisCa;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOLDER_ADDRESS: &str = "yamada.taro@example.jp";

/// A real SMTP server writing what it receives to a Maildir.
struct SmtpServer {
    child: Child,
}

/// An aiosmtpd handler that refuses for good every recipient whose address starts with
/// `refused`, as a relay refuses an unknown mailbox.
const REFUSING_HANDLER: &str = r#"from aiosmtpd.handlers import Mailbox


class RefusingMailbox(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refused"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"
"#;

impl SmtpServer {
    /// `aiosmtpd` on `port`, or `None` when it is not installed (and not required).
    fn start(port: u16, maildir: &Path) -> Option<SmtpServer> {
        SmtpServer::start_with(port, maildir, None)
    }

    /// The same, refusing `refused*` recipients (the handler's module in `module_dir`).
    fn start_refusing(port: u16, maildir: &Path, module_dir: &Path) -> Option<SmtpServer> {
        std::fs::write(module_dir.join("refusing.py"), REFUSING_HANDLER).unwrap();
        SmtpServer::start_with(port, maildir, Some(module_dir))
    }

    fn start_with(port: u16, maildir: &Path, module_dir: Option<&Path>) -> Option<SmtpServer> {
        let handler = match module_dir {
            Some(_) => "refusing.RefusingMailbox",
            None => "aiosmtpd.handlers.Mailbox",
        };
        let mut command = Command::new("aiosmtpd");
        if let Some(dir) = module_dir {
            command.env("PYTHONPATH", dir);
        }
        let spawned = command
            .args(["-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", handler])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = spawned else {
            assert!(
                std::env::var("SHUIN_REQUIRE_AIOSMTPD").as_deref() != Ok("1"),
                "SHUIN_REQUIRE_AIOSMTPD=1 but aiosmtpd is not installed (pip install aiosmtpd)"
            );
            eprintln!("note: aiosmtpd not found; skipping the e-mail test");
            return None;
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(SmtpServer { child })
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The messages in the Maildir, oldest first.
fn messages(maildir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(maildir.join("new"))
        .map(|dir| dir.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort_by_key(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok());
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

fn wait_for_messages(maildir: &Path, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = messages(maildir);
        if found.len() >= count {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} messages arrived",
            found.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A message's header value and its text (the body decoded from base64 or
/// quoted-printable as lettre encoded it).
fn header(message: &str, name: &str) -> String {
    message
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_default()
        .to_owned()
}

fn text(message: &str) -> String {
    let (head, body) = message.split_once("\n\n").unwrap();
    if head.contains("Content-Transfer-Encoding: base64") {
        let joined: String = body.lines().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(joined)
            .unwrap();
        String::from_utf8(bytes).unwrap()
    } else {
        body.to_owned()
    }
}

/// The ledger's notice entries: (kind, notice kind, channel).
fn notice_entries(data: &Path, out: &Path) -> Vec<(String, String, String)> {
    export_entries(data, out)
        .iter()
        .filter(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("notice.")))
        .map(|e| {
            let field = |k: &str| e["payload"][k].as_str().unwrap_or_default().to_owned();
            (
                e["kind"].as_str().unwrap().to_owned(),
                field("kind"),
                field("channel"),
            )
        })
        .collect()
}

/// A served instance (software keys) whose notices go to the SMTP server on `port`.
fn serving_with_notices(jlis: SimulatedJlisCa, port: u16) -> Instance {
    let mut instance = Instance::init_with(
        &[],
        jlis,
        &["--key-backend".into(), "software".into()],
        vec![],
    );
    instance.append_config(&format!(
        "\n[notices]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nfrom = \"shuin CA <ca@example.jp>\"\n"
    ));
    instance.serve();
    instance
}

/// `shuin apply` with the card in `work/card` and `--notice-email address`.
fn apply_with_notices(instance: &Instance, work: &Path, address: &str) -> std::process::Output {
    shuin()
        .args(["apply", "--server", &instance.base, "--card-key"])
        .arg(work.join("card/key.pem"))
        .arg("--card-cert")
        .arg(work.join("card/cert.pem"))
        .args(["--name", NAME, "--birth-date", BIRTH, "--address", ADDRESS])
        .args(["--notice-email", address, "--json", "--out"])
        .arg(work.join("cert.pem"))
        .output()
        .unwrap()
}

#[test]
fn issuance_and_revocation_notices_are_mailed_and_ledgered() {
    let work = tempfile::tempdir().unwrap();
    let maildir = work.path().join("maildir");
    let port = free_port();
    let Some(smtp) = SmtpServer::start(port, &maildir) else {
        return;
    };
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let holder = card(&jlis, |_| {});
    holder.write_dir(&work.path().join("card")).unwrap();
    let instance = serving_with_notices(jlis, port);

    // Apply with an address: the issuance notice arrives.
    let applied = apply_with_notices(&instance, work.path(), HOLDER_ADDRESS);
    assert!(applied.status.success(), "{applied:?}");
    let answer: serde_json::Value = serde_json::from_slice(&applied.stdout).unwrap();
    let serial = answer["serial"].as_str().unwrap().to_owned();
    let issued = wait_for_messages(&maildir, 1);
    assert_eq!(header(&issued[0], "To"), HOLDER_ADDRESS);
    assert!(header(&issued[0], "From").contains("ca@example.jp"));
    let body = text(&issued[0]);
    assert!(
        body.contains("電子証明書を発行しました")
            && body.contains("Your certificate has been issued"),
        "{body}"
    );
    assert!(body.contains(&serial), "{body}");

    // An address that is not one is refused before anything is sent.
    let refused = shuin()
        .args([
            "apply",
            "--server",
            &instance.base,
            "--dev-card",
            "x",
            "--name",
            NAME,
        ])
        .args(["--birth-date", BIRTH, "--address", ADDRESS])
        .args(["--notice-email", "a@b.jp\r\nBcc: c@d.jp"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("one plain address"));

    // The SMTP server goes away; the holder revokes; the notice waits in the outbox.
    drop(smtp);
    // (The holder's card signs, as when the certificate's key is lost.)
    let revoked = shuin()
        .args([
            "revoke-mine",
            "--server",
            &instance.base,
            "--serial",
            &serial,
        ])
        .arg("--card-key")
        .arg(work.path().join("card/key.pem"))
        .arg("--card-cert")
        .arg(work.path().join("card/cert.pem"))
        .args(["--reason", "keyCompromise", "--json"])
        .output()
        .unwrap();
    assert!(revoked.status.success(), "{revoked:?}");
    let revoked: serde_json::Value = serde_json::from_slice(&revoked.stdout).unwrap();
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    std::thread::sleep(Duration::from_secs(3));
    let entries = notice_entries(&instance.data, &work.path().join("export-1"));
    assert!(
        entries.contains(&(
            "notice.queued".into(),
            "certificate_revoked".into(),
            String::new()
        )),
        "{entries:?}"
    );
    assert!(
        !entries
            .iter()
            .any(|(k, n, _)| k == "notice.sent" && n == "certificate_revoked"),
        "not sent while SMTP is down: {entries:?}"
    );
    let log = || std::fs::read_to_string(instance.work.path().join("serve.log")).unwrap();
    assert!(log().contains("SMTP connection failed"), "{}", log());

    // Back up: the revocation notice goes out.
    let _smtp = SmtpServer::start(port, &maildir).unwrap();
    let both = wait_for_messages(&maildir, 2);
    let body = text(&both[1]);
    assert!(
        body.contains("電子証明書を失効しました") && body.contains("keyCompromise"),
        "{body}"
    );
    assert!(body.contains(&serial), "{body}");

    // Each notice queued and sent once in the books, by SMTP; no address in the books
    // or in the log.
    std::thread::sleep(Duration::from_secs(1));
    let entries = notice_entries(&instance.data, &work.path().join("export-2"));
    for kind in ["certificate_issued", "certificate_revoked"] {
        for (entry, channel) in [("notice.queued", ""), ("notice.sent", "smtp")] {
            let n = entries
                .iter()
                .filter(|(k, nk, c)| k == entry && nk == kind && c == channel)
                .count();
            assert_eq!(n, 1, "{entry} {kind}: {entries:?}");
        }
    }
    let export = std::fs::read_to_string(work.path().join("export-2/entries.jsonl")).unwrap();
    assert!(
        !export.contains(HOLDER_ADDRESS),
        "the address is in the books"
    );
    assert!(!log().contains(HOLDER_ADDRESS), "the address is in the log");
}

#[test]
fn a_permanently_refused_address_sends_the_notice_to_the_file_gateway_once() {
    const REFUSED: &str = "refused.holder@example.jp";
    let work = tempfile::tempdir().unwrap();
    let maildir = work.path().join("maildir");
    let port = free_port();
    let Some(_smtp) = SmtpServer::start_refusing(port, &maildir, work.path()) else {
        return;
    };
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let holder = card(&jlis, |_| {});
    holder.write_dir(&work.path().join("card")).unwrap();
    let instance = serving_with_notices(jlis, port);
    let applied = apply_with_notices(&instance, work.path(), REFUSED);
    assert!(applied.status.success(), "{applied:?}");

    // The relay refuses the mailbox for good: the notice goes to the file gateway,
    // ledgered with the reply code, and is not tried again.
    let gateway = instance.data.join("notices.jsonl");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !gateway.exists() {
        assert!(
            Instant::now() < deadline,
            "the notice never reached the gateway"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let out = work.path().join("export");
    let sent: Vec<serde_json::Value> = export_entries(&instance.data, &out)
        .into_iter()
        .filter(|e| e["kind"] == "notice.sent")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["payload"]["channel"], "file");
    assert_eq!(sent[0]["payload"]["smtp_refused"], 550);
    assert!(messages(&maildir).is_empty());
    let line = std::fs::read_to_string(&gateway).unwrap();
    assert!(
        line.contains("certificate_issued") && !line.contains(REFUSED),
        "{line}"
    );
    let log = std::fs::read_to_string(instance.work.path().join("serve.log")).unwrap();
    assert!(
        log.contains("refused the notice's address for good"),
        "{log}"
    );
    assert!(!log.contains(REFUSED), "the address is in the log");
}
