"""A FUSE file system that forgets, when its "power" is cut, everything that was not synced.

It passes every operation through to a backing folder, and keeps beside it a model of what
stable storage would hold:
- a file's content becomes durable when the file is fsynced (fsync or fdatasync), as it is
  at that moment;
- a folder's entries (each name, and which file or folder it names) become durable when the
  folder is fsynced; creating, renaming, linking or removing a name changes nothing durable
  until then;
- whatever existed when it was mounted is durable.
`cut` stops the machine: every later operation fails with EIO. `materialize DIR` then writes
the durable state to DIR: the tree of durable entries from the root, each file with its last
synced content, or empty when it was never synced. This is the least a POSIX file system
promises after a power loss (ext4 usually keeps more), so what survives here survives a real
machine's power loss, as far as the order of fsyncs goes (not a disk's lying write cache).

Written for tests/python/test_power_loss.py; not a mock of Tessera's own code: the server
under test runs unchanged on top of it.

Usage (as root, libfuse2 and fusepy installed):
    python3 powercut_fs.py BACKING MOUNTPOINT --state DIR --control SOCKET
The control socket takes one command per connection and answers one line:
    cut              -> "ok"      (every operation from now on fails with EIO)
    materialize DIR  -> "ok N"    (N files written)
    stats            -> "ok {json}"
"""

import argparse
import errno
import json
import os
import shutil
import socket
import stat
import threading

from fuse import FUSE, FuseOSError, Operations

# More scattered writes than this to one file between two syncs: copy it whole on sync.
MAX_RANGES = 4096


class PowerCutFs(Operations):
    use_ns = True

    def __init__(self, backing: str, state: str):
        self.root = os.path.realpath(backing)
        self.state = state
        os.makedirs(os.path.join(state, "content"), exist_ok=True)
        self.mutex = threading.RLock()
        self.cut = False
        self.next_id = 0
        self.ids: dict[int, int] = {}  # backing st_ino -> node id
        self.fh_ids: dict[int, int] = {}  # open file handle -> node id
        # Durable model: folder id -> {name: (node id, is_folder)}; ids with durable content.
        self.entries: dict[int, dict[str, tuple[int, bool]]] = {}
        self.synced: set[int] = set()
        # Since the last sync of each file: written ranges, or None for "copy it whole".
        self.dirty: dict[int, list[tuple[int, int]] | None] = {}
        self.counts = {"fsync": 0, "fsyncdir": 0, "write": 0}
        self.root_id = self._adopt_tree()

    # -- the model ---------------------------------------------------------------------

    def _new_id(self, ino: int) -> int:
        self.next_id += 1
        self.ids[ino] = self.next_id
        return self.next_id

    def _id_of(self, full: str) -> int:
        ino = os.lstat(full).st_ino
        found = self.ids.get(ino)
        return found if found is not None else self._new_id(ino)

    def _content(self, node: int) -> str:
        return os.path.join(self.state, "content", str(node))

    def _adopt_tree(self) -> int:
        """Everything already in the backing folder is durable."""
        root = self._new_id(os.lstat(self.root).st_ino)
        for folder, dirs, files in os.walk(self.root):
            folder_id = self.ids[os.lstat(folder).st_ino]
            listing = self.entries.setdefault(folder_id, {})
            for name in dirs:
                listing[name] = (self._new_id(os.lstat(os.path.join(folder, name)).st_ino), True)
            for name in files:
                full = os.path.join(folder, name)
                node = self._new_id(os.lstat(full).st_ino)
                listing[name] = (node, False)
                shutil.copyfile(full, self._content(node))
                self.synced.add(node)
        return root

    def _written(self, node: int, offset: int, length: int):
        ranges = self.dirty.setdefault(node, [])
        if ranges is None:
            return
        if len(ranges) >= MAX_RANGES:
            self.dirty[node] = None
        else:
            ranges.append((offset, length))

    def _sync_file(self, node: int, fd: int):
        """The file's content as it is now becomes its durable content."""
        target = self._content(node)
        ranges = self.dirty.pop(node, [])
        size = os.fstat(fd).st_size
        if ranges is None or node not in self.synced:
            with open(target, "wb") as out:
                offset = 0
                while offset < size:
                    chunk = os.pread(fd, min(1 << 20, size - offset), offset)
                    if not chunk:
                        break
                    out.write(chunk)
                    offset += len(chunk)
        else:
            out = os.open(target, os.O_WRONLY)
            try:
                for offset, length in ranges:
                    if offset < size:
                        os.pwrite(out, os.pread(fd, min(length, size - offset), offset), offset)
                os.ftruncate(out, size)
            finally:
                os.close(out)
        self.synced.add(node)

    def _sync_folder(self, full: str):
        """The folder's entries as they are now become its durable entries."""
        listing = {}
        for name in os.listdir(full):
            info = os.lstat(os.path.join(full, name))
            node = self.ids.get(info.st_ino)
            if node is None:
                node = self._new_id(info.st_ino)
            listing[name] = (node, stat.S_ISDIR(info.st_mode))
        self.entries[self._id_of(full)] = listing

    def materialize(self, out: str) -> int:
        written = 0

        def build(folder_id: int, into: str):
            nonlocal written
            os.makedirs(into, exist_ok=True)
            for name, (node, is_folder) in self.entries.get(folder_id, {}).items():
                path = os.path.join(into, name)
                if is_folder:
                    build(node, path)
                elif node in self.synced:
                    shutil.copyfile(self._content(node), path)
                    written += 1
                else:
                    open(path, "wb").close()
                    written += 1

        build(self.root_id, out)
        return written

    # -- operations ---------------------------------------------------------------------

    def __call__(self, op, *args):
        if self.cut and op not in ("release", "releasedir", "destroy"):
            raise FuseOSError(errno.EIO)
        try:
            return super().__call__(op, *args)
        except OSError as err:
            if isinstance(err, FuseOSError):
                raise
            raise FuseOSError(err.errno or errno.EIO) from err

    def _full(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def access(self, path, amode):
        if not os.access(self._full(path), amode):
            raise FuseOSError(errno.EACCES)
        return 0

    def getattr(self, path, fh=None):
        info = os.lstat(self._full(path))
        fields = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks")
        result = {key: getattr(info, key) for key in fields}
        for key in ("st_atime", "st_mtime", "st_ctime"):
            result[key] = getattr(info, key + "_ns")
        return result

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._full(path))

    def readlink(self, path):
        return os.readlink(self._full(path))

    def statfs(self, path):
        info = os.statvfs(self._full(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files",
                "f_flag", "f_frsize", "f_namemax")
        return {key: getattr(info, key) for key in keys}

    def chmod(self, path, mode):
        os.chmod(self._full(path), mode)
        return 0

    def chown(self, path, uid, gid):
        os.chown(self._full(path), uid, gid)
        return 0

    def utimens(self, path, times=None):
        os.utime(self._full(path), ns=times)
        return 0

    def mkdir(self, path, mode):
        full = self._full(path)
        with self.mutex:
            os.mkdir(full, mode)
            new = self._new_id(os.lstat(full).st_ino)
            if os.environ.get("POWERCUT_TRACE"):
                print("mkdir", path, new, os.lstat(full).st_ino, flush=True)
        return 0

    def rmdir(self, path):
        os.rmdir(self._full(path))
        return 0

    def unlink(self, path):
        os.unlink(self._full(path))
        return 0

    def rename(self, old, new):
        os.rename(self._full(old), self._full(new))
        return 0

    def link(self, target, source):
        os.link(self._full(source), self._full(target))
        return 0

    def symlink(self, target, source):
        full = self._full(target)
        with self.mutex:
            os.symlink(source, full)
            self._new_id(os.lstat(full).st_ino)
        return 0

    def create(self, path, mode, fi=None):
        full = self._full(path)
        with self.mutex:
            existed = os.path.lexists(full)
            fd = os.open(full, os.O_RDWR | os.O_CREAT, mode)
            ino = os.fstat(fd).st_ino
            node = self.ids[ino] if existed and ino in self.ids else self._new_id(ino)
            self.fh_ids[fd] = node
        return fd

    def open(self, path, flags):
        full = self._full(path)
        with self.mutex:
            fd = os.open(full, flags & ~os.O_CREAT)
            node = self._id_of(full)
            self.fh_ids[fd] = node
            if flags & os.O_TRUNC:
                self.dirty[node] = None
        return fd

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        with self.mutex:
            written = os.pwrite(fh, data, offset)
            self._written(self.fh_ids[fh], offset, written)
            self.counts["write"] += 1
        return written

    def truncate(self, path, length, fh=None):
        with self.mutex:
            if fh is not None:
                os.ftruncate(fh, length)
                node = self.fh_ids[fh]
            else:
                full = self._full(path)
                os.truncate(full, length)
                node = self._id_of(full)
            self.dirty[node] = None
        return 0

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        with self.mutex:
            self.fh_ids.pop(fh, None)
        os.close(fh)
        return 0

    def fsync(self, path, datasync, fh):
        with self.mutex:
            self._sync_file(self.fh_ids[fh], fh)
            self.counts["fsync"] += 1
        return 0

    def fsyncdir(self, path, datasync, fh):
        with self.mutex:
            self._sync_folder(self._full(path))
            self.counts["fsyncdir"] += 1
            if os.environ.get("POWERCUT_TRACE"):
                print("fsyncdir", path, self._id_of(self._full(path)), self.entries[self._id_of(self._full(path))], flush=True)
        return 0

    # -- control ------------------------------------------------------------------------

    def serve_control(self, path: str):
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(4)
        while True:
            conn, _ = server.accept()
            with conn:
                words = conn.recv(4096).decode().split()
                try:
                    answer = self._command(words)
                except Exception as err:  # answered, so the test sees why
                    answer = f"error {err!r}"
                conn.sendall((answer + "\n").encode())

    def _command(self, words: list[str]) -> str:
        if words == ["cut"]:
            with self.mutex:
                self.cut = True
            return "ok"
        if len(words) == 2 and words[0] == "materialize":
            with self.mutex:
                if not self.cut:
                    return "error: cut first"
                return f"ok {self.materialize(words[1])}"
        if words == ["stats"]:
            with self.mutex:
                return "ok " + json.dumps(self.counts)
        return f"error: unknown command {' '.join(words)!r}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("backing")
    parser.add_argument("mountpoint")
    parser.add_argument("--state", required=True)
    parser.add_argument("--control", required=True)
    args = parser.parse_args()
    fs = PowerCutFs(args.backing, args.state)
    threading.Thread(target=fs.serve_control, args=(args.control,), daemon=True).start()
    FUSE(fs, args.mountpoint, foreground=True, nothreads=False, allow_other=False)


if __name__ == "__main__":
    main()
