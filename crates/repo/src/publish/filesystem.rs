//! A directory that a web server (or rsync) serves: `ca.crt`, `root.crt`, `ca.crl`,
//! `root.crl`, each replaced atomically (temporary file, fsync, rename), so a reader
//! sees the old file or the new one, never half of one; and the ledger's tiled log under
//! `ledger/` (`ledger/checkpoint`, `ledger/tile/<L>/<N>[.p/<W>]`), written the same way.

use super::{LogFile, PublishError, PublishedItem, Publisher};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Publishes into a directory (created if missing).
#[derive(Debug, Clone)]
pub struct FilesystemPublisher {
    name: String,
    dir: PathBuf,
}

impl FilesystemPublisher {
    /// Publishes into `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            name: format!("filesystem:{}", dir.display()),
            dir,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait::async_trait]
impl Publisher for FilesystemPublisher {
    fn name(&self) -> &str {
        &self.name
    }

    async fn publish(&self, item: &PublishedItem) -> Result<(), PublishError> {
        let dir = self.dir.clone();
        let name = item.kind.file_name().into_owned();
        let der = item.der.clone();
        let path = self.dir.join(&name);
        tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &der))
            .await
            .map_err(|e| PublishError::Io {
                path,
                source: std::io::Error::other(e),
            })?
    }

    fn carries_log(&self) -> bool {
        true
    }

    async fn publish_log_file(&self, file: &LogFile) -> Result<(), PublishError> {
        let target = self.dir.join("ledger").join(&file.path);
        let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
            return Err(PublishError::Settings(format!(
                "ledger file {:?} has no name",
                file.path
            )));
        };
        let (dir, name) = (dir.to_path_buf(), name.to_string_lossy().into_owned());
        let bytes = file.bytes.clone();
        tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &bytes))
            .await
            .map_err(|e| PublishError::Io {
                path: target,
                source: std::io::Error::other(e),
            })?
    }
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), PublishError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PublishError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let target = dir.join(name);
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(PublishError::Io {
            path: temporary,
            source,
        });
    }
    if let Err(source) = std::fs::rename(&temporary, &target) {
        let _ = std::fs::remove_file(&temporary);
        return Err(PublishError::Io {
            path: target,
            source,
        });
    }
    // Make the rename itself durable.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::publish::ItemKind;
    use std::sync::Arc;

    #[tokio::test]
    async fn replaces_files_atomically_and_leaves_no_temporaries() {
        let work = tempfile::tempdir().unwrap();
        let publisher = FilesystemPublisher::new(work.path().join("repo"));
        for (number, der) in [(1, vec![0x30, 0x00]), (2, vec![0x30, 0x01, 0x05])] {
            let item = PublishedItem {
                kind: ItemKind::CaCrl,
                crl_number: Some(number),
                der: Arc::new(der.clone()),
            };
            publisher.publish(&item).await.unwrap();
            assert_eq!(std::fs::read(publisher.dir().join("ca.crl")).unwrap(), der);
        }
        let names: Vec<_> = std::fs::read_dir(publisher.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["ca.crl"]);
    }
}
