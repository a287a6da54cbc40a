//! Where the custodians' share files go (`shuin init --shares-out DIR`): outside the
//! instance directory, never over an earlier share, in a directory only its owner can
//! enter, each file readable only by its owner. The shares themselves are
//! [`crate::activation`]'s.

use crate::activation::share_path;
use crate::KeyError;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Why share files cannot go where they were asked to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShareFilesError {
    /// The share directory is inside the instance directory.
    #[error("--shares-out must be outside the instance directory: the shares must not sit beside the CA")]
    InsideInstance,
    /// A share file is there already.
    #[error("{} exists already; refusing to overwrite a share", path.display())]
    Exists {
        /// The share file.
        path: PathBuf,
    },
    /// The share directory could not be made owner-only.
    #[error("{}: {source}", path.display())]
    Directory {
        /// The share directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A share file could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The share file.
        path: PathBuf,
        /// Why.
        #[source]
        source: KeyError,
    },
}

/// Checks, before anything is made, that the shares of `custodians` can go to
/// `shares_out`: outside `instance_dir` (both taken from the current directory when
/// relative), and none of the share files there yet.
pub fn check_share_dir(
    shares_out: &Path,
    instance_dir: &Path,
    custodians: u8,
) -> Result<(), ShareFilesError> {
    let absolute = |p: &Path| {
        std::env::current_dir()
            .map(|cwd| cwd.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    if absolute(shares_out).starts_with(absolute(instance_dir)) {
        return Err(ShareFilesError::InsideInstance);
    }
    for index in 1..=custodians {
        let path = share_path(shares_out, index);
        if path.exists() {
            return Err(ShareFilesError::Exists { path });
        }
    }
    Ok(())
}

/// Writes the share files' texts (index 1 first) into `dir`, made if needed and set to
/// mode 0700; each file is new and mode 0600.
pub fn write_shares(dir: &Path, texts: &[Zeroizing<String>]) -> Result<(), ShareFilesError> {
    use std::os::unix::fs::PermissionsExt;
    let directory = |source| ShareFilesError::Directory {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(directory)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(directory)?;
    for (index, text) in (1..=u8::MAX).zip(texts) {
        let path = share_path(dir, index);
        crate::write_private_file(&path, text.as_bytes())
            .map_err(|source| ShareFilesError::Write { path, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn shares_go_outside_the_instance_and_never_over_a_share() {
        let root = tempfile::tempdir().unwrap();
        let instance = root.path().join("instance");
        let inside = check_share_dir(&instance.join("shares"), &instance, 3);
        assert!(matches!(inside, Err(ShareFilesError::InsideInstance)));
        let shares = root.path().join("shares");
        check_share_dir(&shares, &instance, 3).unwrap();
        let texts = vec![
            Zeroizing::new("one".to_owned()),
            Zeroizing::new("two".to_owned()),
        ];
        write_shares(&shares, &texts).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&shares), 0o700);
        assert_eq!(mode(&share_path(&shares, 2)), 0o600);
        assert_eq!(
            std::fs::read_to_string(share_path(&shares, 1)).unwrap(),
            "one"
        );
        let again = check_share_dir(&shares, &instance, 3)
            .unwrap_err()
            .to_string();
        assert!(again.ends_with("share-1.txt exists already; refusing to overwrite a share"));
        assert!(write_shares(&shares, &texts).is_err());
    }
}
