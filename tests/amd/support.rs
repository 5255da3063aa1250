//! Shared pieces of the AMD tests: the recorded fixture trees, writable copies of them, a
//! fake `/proc`, and [`Recorder`], a [`Sysfs`] that records every write as data and can
//! refuse files with `EACCES` (tests run as root, where `chmod 000` refuses nothing).

use gpuwarden::gpu::amd::{AmdConfig, AmdSource, RealSysfs, Sysfs};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The eleven recorded cards, by fixture folder.
pub const CARDS: [&str; 11] = [
    "hd7870",
    "r7-240",
    "rx5700xt",
    "rx580",
    "rx6600",
    "rx6900xt",
    "rx7600s",
    "rx7900xtx",
    "rx9070",
    "vangogh",
    "vega56",
];

/// `tests/fixtures/amd-sysfs/<card>`.
pub fn fixture(card: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/amd-sysfs")
        .join(card)
}

/// A writable copy of a fixture tree in a fresh temp dir; the tree is `dir.path()/tree`.
pub fn copy_tree(card: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&fixture(card), &dir.path().join("tree"));
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Every file of a tree with its bytes, for "ends as it began" checks. Trailing NULs are
/// dropped: some recorded attributes are padded to a page, which no reader sees.
pub fn tree_contents(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mut bytes = std::fs::read(&path).expect("read file");
                while bytes.last() == Some(&0) {
                    bytes.pop();
                }
                out.push((path.strip_prefix(root).expect("below root").into(), bytes));
            }
        }
    }
    out.sort();
    out
}

/// A `/proc` with only a kernel release (and whatever a test adds).
pub fn fake_proc() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("sys/kernel")).expect("mkdir");
    std::fs::write(dir.path().join("sys/kernel/osrelease"), "6.8.0-test\n").expect("write");
    dir
}

/// Writes (or rewrites) fd `fd` of `pid` in a fake `/proc`, a link to `target`, with `info`
/// as its fdinfo.
pub fn fd(proc: &Path, pid: u32, fd: u32, target: &str, info: &str) {
    let dir = proc.join(pid.to_string());
    std::fs::create_dir_all(dir.join("fd")).expect("mkdir fd");
    std::fs::create_dir_all(dir.join("fdinfo")).expect("mkdir fdinfo");
    let link = dir.join("fd").join(fd.to_string());
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink(target, link).expect("fd link");
    }
    std::fs::write(dir.join("fdinfo").join(fd.to_string()), info).expect("write fdinfo");
}

/// What amdgpu prints in the fdinfo of a client.
pub fn amdgpu(pdev: &str, client: u32, vram_kib: u64) -> String {
    format!(
        "pos:\t0\nflags:\t02100002\nmnt_id:\t26\ndrm-driver:\tamdgpu\ndrm-pdev:\t{pdev}\n\
         drm-client-id:\t{client}\ndrm-memory-vram:\t{vram_kib} KiB\ndrm-memory-gtt:\t4 KiB\n\
         drm-engine-gfx:\t123456 ns\n"
    )
}

/// A `stat` for `pid` in a fake `/proc` (what makes a process describable): started in the
/// far future of the boot clock, so its run time reads 0, no CPU time, no RSS.
pub fn stat(proc: &Path, pid: u32) {
    let fields: Vec<String> = (3..=21).map(|i| i.to_string()).collect();
    std::fs::write(
        proc.join(pid.to_string()).join("stat"),
        format!("{pid} (p) {} 999999999999 0 0\n", fields.join(" ")),
    )
    .expect("write stat");
}

/// A source over `sysfs_root` with a fake `/proc`, reading and writing through `fs`.
pub fn source(sysfs_root: &Path, proc_root: &Path, fs: Arc<dyn Sysfs>) -> AmdSource {
    AmdSource::with_sysfs(
        AmdConfig {
            sysfs_root: sysfs_root.to_path_buf(),
            proc_root: proc_root.to_path_buf(),
        },
        fs,
    )
    .expect("fixture tree has an AMD card")
}

/// One write the code under test made, relative to the tree, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub file: String,
    pub value: String,
    pub result: &'static str,
}

/// Records writes; refuses the files named in `refuse_read` / `refuse_write` (paths ending
/// so) with `EACCES`. It keeps two habits of sysfs attributes: writes to `pp_dpm_*` are
/// recorded but leave the file alone (the kernel takes a level mask and keeps showing its
/// table), and a value reads back with one newline after it.
pub struct Recorder {
    root: PathBuf,
    pub writes: Mutex<Vec<Write>>,
    pub refuse_read: Mutex<Vec<String>>,
    pub refuse_write: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn new(root: &Path) -> Arc<Self> {
        Arc::new(Recorder {
            root: root.to_path_buf(),
            writes: Mutex::new(Vec::new()),
            refuse_read: Mutex::new(Vec::new()),
            refuse_write: Mutex::new(Vec::new()),
        })
    }

    pub fn refuse_read(&self, suffix: &str) {
        self.refuse_read.lock().unwrap().push(suffix.to_string());
    }

    pub fn refuse_write(&self, suffix: &str) {
        self.refuse_write.lock().unwrap().push(suffix.to_string());
    }

    /// The writes so far, as `(file, value, result)`, and clears them.
    pub fn take(&self) -> Vec<Write> {
        std::mem::take(&mut *self.writes.lock().unwrap())
    }

    fn refused(list: &Mutex<Vec<String>>, path: &Path) -> bool {
        let path = path.to_string_lossy();
        list.lock()
            .unwrap()
            .iter()
            .any(|s| path.ends_with(s.as_str()))
    }
}

impl Sysfs for Recorder {
    fn read(&self, path: &Path) -> io::Result<String> {
        if Self::refused(&self.refuse_read, path) {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        RealSysfs.read(path)
    }

    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        let file = path
            .strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        let result = if Self::refused(&self.refuse_write, path) {
            Err(io::Error::from_raw_os_error(libc::EACCES))
        } else if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("pp_dpm_"))
        {
            // The kernel checks the attribute exists; the mask does not replace the table.
            std::fs::metadata(path).map(|_| ())
        } else {
            // Reading an attribute back shows the value and a newline, whatever was written.
            RealSysfs.write(path, &format!("{}\n", value.trim_end()))
        };
        self.writes.lock().unwrap().push(Write {
            file,
            value: value.to_string(),
            result: match &result {
                Ok(()) => "ok",
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => "EACCES",
                Err(e) if e.kind() == io::ErrorKind::NotFound => "ENOENT",
                Err(_) => "error",
            },
        });
        result
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        RealSysfs.list(dir)
    }
}

/// `Write` from a tuple, to keep expected lists short.
pub fn w(file: &str, value: &str, result: &'static str) -> Write {
    Write {
        file: file.to_string(),
        value: value.to_string(),
        result,
    }
}
