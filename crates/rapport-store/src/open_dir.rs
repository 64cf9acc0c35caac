//! A directory opened once, for opening what is inside it by a short path.
//!
//! A read over many documents lists two chunk folders per document; from a
//! descriptor of the store the kernel walks three path components instead
//! of the whole path. At 100k records over 200 accounts that took `agenda`
//! from 11.7-12.5 to 11.2-11.5 ms and `person list` from 16.2-16.7 to
//! 15.0-15.3 ms (interleaved, 40 runs each). Reading the views the same way
//! (one component instead of the whole path) made no difference that the
//! machine's noise let show, so views are still opened by their path.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};

/// `path`, and its descriptor once it has been opened (not remembered
/// while the directory does not exist, so one created later is found).
#[derive(Debug, Clone)]
pub(crate) struct OpenDir {
    path: PathBuf,
    fd: Arc<OnceLock<OwnedFd>>,
}

impl OpenDir {
    pub(crate) fn new(path: PathBuf) -> OpenDir {
        OpenDir {
            path,
            fd: Arc::default(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn fd(&self) -> Option<&OwnedFd> {
        if let Some(fd) = self.fd.get() {
            return Some(fd);
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(&self.path, flags, Mode::empty()).ok()?;
        Some(self.fd.get_or_init(|| fd))
    }

    /// The metadata of `relative` (a path inside the directory), not
    /// following a last symbolic link.
    pub(crate) fn stat(&self, relative: &str) -> io::Result<rustix::fs::Stat> {
        let nofollow = rustix::fs::AtFlags::SYMLINK_NOFOLLOW;
        Ok(match self.fd() {
            Some(dir) => rustix::fs::statat(dir, relative, nofollow)?,
            None => rustix::fs::lstat(self.path.join(relative))?,
        })
    }

    /// `statx` of `relative` with `AT_STATX_FORCE_SYNC` (a network file
    /// system asks its server rather than answer from its cache), not
    /// following a last symbolic link, for the basic fields.
    #[cfg(target_os = "linux")]
    pub(crate) fn statx(&self, relative: &str) -> io::Result<rustix::fs::Statx> {
        use rustix::fs::{AtFlags, StatxFlags};
        let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::STATX_FORCE_SYNC;
        Ok(match self.fd() {
            Some(dir) => rustix::fs::statx(dir, relative, flags, StatxFlags::BASIC_STATS)?,
            None => rustix::fs::statx(
                rustix::fs::CWD,
                self.path.join(relative),
                flags,
                StatxFlags::BASIC_STATS,
            )?,
        })
    }

    /// Opens `relative` (a path inside the directory) with `flags`.
    pub(crate) fn open(&self, relative: &str, flags: OFlags) -> io::Result<OwnedFd> {
        let flags = flags | OFlags::CLOEXEC;
        Ok(match self.fd() {
            Some(dir) => rustix::fs::openat(dir, relative, flags, Mode::empty())?,
            None => rustix::fs::open(self.path.join(relative), flags, Mode::empty())?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A store's folder may not exist when the first read lists it (a new
    /// home), and be created by a write in the same process.
    #[test]
    fn a_directory_created_after_the_first_open_is_found() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = OpenDir::new(tmp.path().join("later"));
        let folder = OFlags::RDONLY | OFlags::DIRECTORY;
        let missing = dir.open("inside", folder).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        std::fs::create_dir_all(tmp.path().join("later/inside")).unwrap();
        dir.open("inside", folder).unwrap();
        // Opened from the descriptor now, and still right.
        std::fs::write(tmp.path().join("later/inside/file"), b"x").unwrap();
        dir.open("inside/file", OFlags::RDONLY).unwrap();
        let gone = dir.open("inside/none", OFlags::RDONLY).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
    }
}
