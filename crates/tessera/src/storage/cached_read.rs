//! Reading a local file without leaving the async thread when nothing has to wait for the
//! disk: a warm frame is in the page cache, and handing its read to the blocking pool (a
//! thread woken, then the request's task woken back) cost more than the read itself.
//!
//! Linux only, and only when the kernel can promise not to block: the path is resolved from
//! the dentry cache alone (`openat2` with `RESOLVE_CACHED`, Linux 5.12) and the bytes are
//! read from the page cache alone (`preadv2` with `RWF_NOWAIT`, Linux 4.14). When either
//! would wait, or the kernel does not know the call, the answer is `None` and the caller
//! reads on the blocking pool as before.

use std::ops::Range;
use std::path::Path;

/// What [`try_read`] found without blocking.
pub enum Cached {
    /// The bytes of the range (fewer when the file is shorter).
    Bytes(Vec<u8>),
    /// The file does not exist.
    Missing,
    /// A read error other than "would block".
    Failed(std::io::Error),
}

/// Read `range` of `path` from the kernel's caches; `None` when that would block.
#[cfg(target_os = "linux")]
pub fn try_read(path: &Path, range: Range<u64>) -> Option<Cached> {
    use std::ffi::CString;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;

    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: open_how is plain integers, for which all zeroes is the documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_CACHED;
    // SAFETY: `c_path` is a NUL-terminated string and `how` a valid open_how of the size
    // passed; both outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            c_path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENOENT) => Some(Cached::Missing),
            // EAGAIN: not all in the dentry cache; ENOSYS, EINVAL: an older kernel.
            _ => None,
        };
    }
    let fd = i32::try_from(fd).ok()?;
    // SAFETY: the descriptor was just opened and is owned here only.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    read_nowait(&file, range)
}

#[cfg(target_os = "linux")]
fn read_nowait(file: &std::os::fd::OwnedFd, range: Range<u64>) -> Option<Cached> {
    use std::os::fd::AsRawFd;

    let length = usize::try_from(range.end.saturating_sub(range.start)).ok()?;
    let mut buffer: Vec<u8> = Vec::with_capacity(length);
    while buffer.len() < length {
        let filled = buffer.len();
        let spare = buffer.spare_capacity_mut();
        let iov = libc::iovec {
            iov_base: spare.as_mut_ptr().cast(),
            iov_len: spare.len(),
        };
        let offset = libc::off_t::try_from(range.start + filled as u64).ok()?;
        // SAFETY: the iovec points at the buffer's spare capacity, which the kernel may
        // write; only the bytes it reports written are then counted as initialized.
        let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, offset, libc::RWF_NOWAIT) };
        match n {
            0 => break,
            n if n > 0 => {
                let n = usize::try_from(n).ok()?;
                // SAFETY: the kernel initialized `n` more bytes, within the capacity.
                unsafe { buffer.set_len(filled + n.min(length - filled)) };
            }
            _ => {
                let err = std::io::Error::last_os_error();
                return match err.raw_os_error() {
                    // Not in the page cache; EOPNOTSUPP, EINVAL: no RWF_NOWAIT here.
                    Some(libc::EAGAIN | libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS) => None,
                    Some(libc::EINTR) => continue,
                    _ => Some(Cached::Failed(err)),
                };
            }
        }
    }
    Some(Cached::Bytes(buffer))
}

/// Other systems always read on the blocking pool.
#[cfg(not(target_os = "linux"))]
pub fn try_read(_path: &Path, _range: Range<u64>) -> Option<Cached> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn reads_a_cached_range_and_reports_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        std::fs::write(&path, &data).unwrap();
        // Just written: in the page cache, its path in the dentry cache.
        match try_read(&path, 1_000..51_000) {
            Some(Cached::Bytes(bytes)) => assert_eq!(bytes, &data[1_000..51_000]),
            Some(Cached::Missing) => panic!("reported missing"),
            Some(Cached::Failed(err)) => panic!("failed: {err}"),
            None => panic!("a file just written was not read from the caches"),
        }
        match try_read(&path, 90_000..120_000) {
            Some(Cached::Bytes(bytes)) => assert_eq!(bytes, &data[90_000..]),
            _ => panic!("a range past the end gives the bytes there are"),
        }
        assert!(matches!(
            try_read(&dir.path().join("none"), 0..10),
            Some(Cached::Missing) | None
        ));
    }
}
