//! Crash-safe, tamper-resistant file replacement, for key files and for any other state that
//! must survive a crash whole (the validator's scores).
//!
//! The data goes to a temporary file with an unpredictable name in the target's directory,
//! opened with create-new and no-follow (a file or symlink planted there makes the write fail
//! instead of redirecting it), is fsynced, renamed over the target, and then the directory is
//! fsynced so the rename itself survives a power loss.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `data` atomically: after a crash at any point the file holds either
/// the old or the new contents. The new file has permission `mode` (Unix) whatever the umask
/// allows or less. The parent directory must exist.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent_dir(path);
    let tmp = temp_path(path, &dir);
    let written = (|| {
        let mut file = open_new(&tmp, mode)?;
        file.write_all(data)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // Only ours: create-new guarantees nobody else's file was at this name.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&dir)
}

/// Fsyncs a directory, so that a rename or a new entry in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn temp_path(path: &Path, dir: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()))
}

fn open_new(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one", 0o600).expect("first write");
        write_atomic(&path, b"two", 0o600).expect("second write");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        let entries = fs::read_dir(dir.path()).expect("dir").count();
        assert_eq!(entries, 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn refuses_to_follow_or_reuse_an_existing_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"untouched").expect("victim");
        let planted = dir.path().join("planted");
        std::os::unix::fs::symlink(&victim, &planted).expect("symlink");
        let err = open_new(&planted, 0o600).expect_err("a symlink is not opened");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        fs::write(dir.path().join("plain"), b"x").expect("plain");
        assert!(open_new(&dir.path().join("plain"), 0o600).is_err());
        assert_eq!(fs::read(&victim).expect("read"), b"untouched");
    }
}
