//! The ledger as a tiled log, checked from outside: after 600 entry/exit records, an
//! independent reader written only from the C2SP specifications
//! (`tlog_tiles_reader.py`, Python standard library only) recomputes the signed root
//! from the tiles, from the running server and from the filesystem publisher's
//! directory, and checks inclusion of exported entries; tampered tiles are caught. The
//! tile endpoint's caching and 404s are checked too. Without python3 the reader's part
//! is skipped, unless `SHUIN_REQUIRE_PYTHON=1`.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use serde_json::Value;
use shuin_ledger::{Checkpoint, NoteKey};
use shuin_testkit::SimulatedJlisCa;
use std::path::Path;
use std::time::{Duration, Instant};

const EVENTS: usize = 600;
const READER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tlog_tiles_reader.py");

/// Posts `EVENTS` entry/exit records through the access-control endpoint.
fn traffic(instance: &Instance) {
    let token = instance.as_operator_json(ADMIN, &["facility", "access-token"])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let time = shuin_core::timefmt::rfc3339(now() - Duration::from_secs(3600));
    let events: Vec<Value> = (0..EVENTS)
        .map(|i| {
            serde_json::json!({"time": time, "person": format!("staff-{i}"), "door": "east", "direction": "in"})
        })
        .collect();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let answer = agent
        .post(&instance.url("/ledger/v1/access-events"))
        .header("Content-Type", "application/json")
        .header("Authorization", &format!("Bearer {token}"))
        .send(serde_json::to_vec(&events).unwrap().as_slice())
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
}

/// `shuin ledger export`: the entries, one per line, and the audit key.
fn export(instance: &Instance) -> (std::path::PathBuf, NoteKey) {
    let out_dir = instance.work.path().join("export");
    let out = shuin()
        .args(["ledger", "export", "--data"])
        .arg(&instance.data)
        .arg("--out")
        .arg(&out_dir)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let origin = serde_json::from_slice::<Value>(&out.stdout).unwrap()["origin"]
        .as_str()
        .unwrap()
        .to_owned();
    let pem = std::fs::read_to_string(out_dir.join("audit-key.pem")).unwrap();
    let (_, der) = der::pem::decode_vec(pem.as_bytes()).unwrap();
    (out_dir, NoteKey::from_spki(&origin, &der).unwrap())
}

/// Waits until `read` gives a checkpoint of at least `size` entries.
fn wait_checkpoint(
    what: &str,
    size: u64,
    key: &NoteKey,
    read: impl Fn() -> Option<String>,
) -> Checkpoint {
    let start = Instant::now();
    loop {
        if let Some(checkpoint) = read().and_then(|note| Checkpoint::open(&note, key).ok()) {
            if checkpoint.size >= size {
                return checkpoint;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no checkpoint of {size} entries from {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the reader on `source`: its JSON summary, or `None` without python3.
fn reader(source: &str, extra: &[&str]) -> Option<Result<Value, String>> {
    let mut args = vec![READER, source];
    args.extend_from_slice(extra);
    let out = external("python3", "SHUIN_REQUIRE_PYTHON", &args)?;
    Some(if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

fn header(url: &str) -> (u16, Option<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let answer = agent.get(url).call().unwrap();
    let cache = answer
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (answer.status().as_u16(), cache)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn an_independent_reader_recomputes_the_signed_root_from_the_tiles() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let mut instance = Instance::init_with(
        &[],
        jlis,
        &["--key-backend".into(), "software".into()],
        vec![],
    );
    instance.edit_config(
        "checkpoint_every_seconds = 60",
        "checkpoint_every_seconds = 1",
    );
    instance.append_config("\n[[publishers]]\nkind = \"filesystem\"\ndir = \"published\"\n");
    instance.serve();
    traffic(&instance);
    let (exported, key) = export(&instance);
    let entries = std::fs::read_to_string(exported.join("entries.jsonl")).unwrap();
    let size = u64::try_from(entries.lines().count()).unwrap();
    assert!(size > 600, "{size} entries");

    // The server: the latest checkpoint, and its tiles (grown on demand if need be).
    let served = wait_checkpoint("the server", size, &key, || {
        let (status, body) = get(&instance.url("/ledger/v1/checkpoint"));
        (status == 200).then_some(body)
    });
    // The directory: the tiles first, then their checkpoint.
    let published = instance.data.join("published").join("ledger");
    let copied = wait_checkpoint("the directory", size, &key, || {
        std::fs::read_to_string(published.join("checkpoint")).ok()
    });

    // Caching and refusals of the tile endpoint (the tree has 2 full level 0 tiles).
    assert_eq!(served.size / 256, 2, "{} entries", served.size);
    let tile = |path: &str| header(&instance.url(&format!("/ledger/v1/{path}")));
    let (status, cache) = tile("tile/0/000");
    assert_eq!(
        (status, cache.as_deref()),
        (200, Some("public, max-age=31536000, immutable"))
    );
    let width = served.size % 256;
    let (status, cache) = tile(&format!("tile/0/002.p/{width}"));
    assert_eq!(
        (status, cache.as_deref()),
        (200, Some("public, max-age=60"))
    );
    assert_eq!(
        tile("tile/0/002.p/255").0,
        404,
        "beyond the latest checkpoint"
    );
    assert_eq!(tile("tile/0/003").0, 404);
    assert_eq!(
        tile("tile/1/000").0,
        404,
        "level 1 is partial below 65,536 entries"
    );
    assert_eq!(tile("tile/1/000.p/2").0, 200);
    assert_eq!(
        tile("tile/entries/000").0,
        404,
        "entry bundles carry personal data"
    );
    assert_eq!(tile("tile/0/0").0, 404);
    assert_eq!(tile("tile/0/x000/000").0, 404);
    let (status, body) = get(&instance.url("/ledger/v1/tile/0/999"));
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "not_found"
    );

    // The independent reader, over HTTP (with the server's proofs) and over the directory.
    let entries_path = exported.join("entries.jsonl");
    let last = (size - 1).to_string();
    let mut args = vec!["--entries", entries_path.to_str().unwrap()];
    for index in ["0", "255", "256", "599", &last] {
        args.extend(["--check", index]);
    }
    let base = instance.url("/ledger/v1/");
    let with_proofs: Vec<&str> = args.iter().copied().chain(["--proofs"]).collect();
    let Some(over_http) = reader(&base, &with_proofs) else {
        return;
    };
    let over_http = over_http.unwrap();
    let used = Checkpoint::open(over_http["checkpoint"].as_str().unwrap(), &key).unwrap();
    assert!(used.size >= size);
    assert_eq!(
        (&over_http["size"], &over_http["root"]),
        (&used.size.into(), &used.root_hex().into())
    );
    assert_eq!(
        over_http["entries_checked"].as_array().unwrap().len(),
        5,
        "{over_http}"
    );
    let directory = format!("{}/", published.display());
    let from_files = reader(&directory, &args).unwrap().unwrap();
    let on_disk = Checkpoint::open(
        &std::fs::read_to_string(published.join("checkpoint")).unwrap(),
        &key,
    )
    .unwrap();
    assert!(on_disk.size >= copied.size);
    assert_eq!(from_files["size"], on_disk.size, "{from_files}");
    assert_eq!(from_files["root"], on_disk.root_hex());
    assert_eq!(
        from_files["entries_checked"].as_array().unwrap().len(),
        5,
        "{from_files}"
    );
    assert!(
        from_files["tiles_fetched"].as_array().unwrap().len() <= 4,
        "{from_files}"
    );

    // Copies of the directory with one hash changed: in the partial tile the root is
    // read from, the root is wrong; in a full tile below a level 1 hash, the entry no
    // longer hashes to its tile.
    let forge = |name: &str, tile: &str, hash: usize| {
        let forged = instance.work.path().join(name);
        copy_dir(&published, &forged);
        let target = forged.join(tile);
        let mut bytes = std::fs::read(&target).unwrap();
        bytes[hash * 32] ^= 1;
        std::fs::write(&target, bytes).unwrap();
        format!("{}/", forged.display())
    };
    let partial = format!("tile/0/002.p/{}", on_disk.size % 256);
    let refused = reader(&forge("forged-root", &partial, 0), &[]).unwrap();
    assert!(refused.unwrap_err().contains("the tiles give root"));
    let source = forge("forged-leaf", "tile/0/001", 3);
    assert!(
        reader(&source, &[]).unwrap().is_ok(),
        "the root does not read tile 0/1"
    );
    let refused = reader(
        &source,
        &[
            "--entries",
            entries_path.to_str().unwrap(),
            "--check",
            "259",
        ],
    )
    .unwrap();
    assert!(refused.unwrap_err().contains("entry 259 does not hash"));
    instance.stop();
}
