//! `FilePersister`: the quorum's durable state in one directory
//! (`DATA_DIR/metadata/`), written with glommio so the controller shard's
//! executor never blocks on the disk; recovery at start is plain std::fs.
//!
//! Layout:
//! - `raft.log`: entries after the snapshot, appended as frames
//!   `[u32 len][u32 crc32c(payload)][payload = protobuf Entry]`, all little
//!   endian. A raft conflict (entries replacing a suffix) first truncates
//!   the file at the first replaced frame and syncs that truncation, so a
//!   crash can never leave new frames followed by stale ones.
//! - `snapshot`: one frame holding a protobuf `Snapshot`, replaced
//!   atomically (written aside, synced, renamed, directory synced). Once a
//!   snapshot is durable, `raft.log` is rewritten the same way to hold only
//!   the entries after it.
//! - `hardstate`: `[u32 crc32c][u64 term][u64 vote][u64 commit]`, replaced
//!   atomically whenever term or vote change. A lost term or vote could let
//!   this node vote twice in a term, so those are always durable before any
//!   message that depends on them leaves.
//! - `commit`: `[u32 crc32c][u64 commit]`, overwritten in place, never
//!   synced, whenever only the commit index moved (almost every ready). A
//!   lost or torn commit index is safe in raft: the node merely re-learns
//!   it from the leader; recovery takes the larger of the two files' values
//!   (a torn write fails its crc and is ignored), and the core clamps it to
//!   the recovered log. It is only ever written after the entries it
//!   covers are synced, so it never runs ahead of the durable log.
//!
//! Recovery truncates a torn tail frame (short, bad length or bad crc),
//! drops entries the snapshot covers, and rewrites the log if it held any.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use glommio::io::{BufferedFile, Directory, OpenOptions};
use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState, Snapshot};

use super::durable::{suffix_survives, Persist, Recovered};

const LOG: &str = "raft.log";
const SNAPSHOT: &str = "snapshot";
const HARD_STATE: &str = "hardstate";
const COMMIT: &str = "commit";

/// Frame header: length then crc32c, both u32.
const HEADER: usize = 8;
/// Larger frames are treated as torn (a garbage length).
const MAX_FRAME: usize = super::codec::MAX_MESSAGE_BYTES;

/// Where one durable entry sits in `raft.log`.
#[derive(Debug, Clone, Copy)]
struct Frame {
    pos: u64,
    term: u64,
}

/// See the module doc.
pub struct FilePersister {
    dir: PathBuf,
    snapshot_index: u64,
    snapshot_term: u64,
    /// `frames[i]` holds entry `snapshot_index + 1 + i`.
    frames: Vec<Frame>,
    /// End of the last good frame: where the next one goes.
    log_end: u64,
    /// The hard state as last written.
    hard_state: HardState,
    /// Opened on first use: `open` runs outside the executor.
    log: Option<BufferedFile>,
    commit: Option<BufferedFile>,
    directory: Option<Directory>,
}

impl FilePersister {
    /// Opens (creating if needed) the directory and recovers its contents.
    pub fn open(dir: &Path) -> io::Result<(FilePersister, Recovered)> {
        create_durably(dir)?;
        for name in [LOG, SNAPSHOT, HARD_STATE, COMMIT] {
            remove_if_present(&aside(dir, name))?;
        }
        let snapshot = read_snapshot(dir)?;
        let (snapshot_index, snapshot_term) = snapshot
            .as_ref()
            .map_or((0, 0), |s| (s.get_metadata().index, s.get_metadata().term));
        let mut hard_state = read_hard_state(dir)?;
        hard_state.commit = hard_state.commit.max(read_commit(dir));
        let (entries, frames, log_end) = recover_log(dir, snapshot_index, snapshot_term)?;
        let persister = FilePersister {
            dir: dir.to_path_buf(),
            snapshot_index,
            snapshot_term,
            frames,
            log_end,
            hard_state: hard_state.clone(),
            log: None,
            commit: None,
            directory: None,
        };
        let recovered = Recovered {
            hard_state,
            snapshot,
            entries,
        };
        Ok((persister, recovered))
    }

    /// Makes `p` durable: snapshot, then entries, then hard state (see the
    /// module doc for what is synced when). On error the on-disk state is
    /// some prefix of `p` applied; the caller must stop using the `Quorum`
    /// and rebuild it (and this persister) from `open`.
    pub async fn persist(&mut self, p: &Persist) -> io::Result<()> {
        if let Some(s) = &p.snapshot {
            self.install_snapshot(s).await?;
        }
        if !p.entries.is_empty() {
            self.append(&p.entries).await?;
        }
        if let Some(hs) = &p.hard_state {
            self.save_hard_state(hs).await?;
        }
        Ok(())
    }

    fn last_index(&self) -> u64 {
        self.snapshot_index + self.frames.len() as u64
    }

    fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        let i = index.checked_sub(self.snapshot_index + 1)?;
        self.frames.get(usize::try_from(i).ok()?).map(|f| f.term)
    }

    async fn log_file(&mut self) -> io::Result<&BufferedFile> {
        if self.log.is_none() {
            self.log = Some(open_rw(&self.dir.join(LOG)).await?);
        }
        self.log
            .as_ref()
            .ok_or_else(|| io::Error::other("log file"))
    }

    async fn sync_dir(&mut self) -> io::Result<()> {
        if self.directory.is_none() {
            self.directory = Some(Directory::open(&self.dir).await?);
        }
        match &self.directory {
            Some(d) => Ok(d.sync().await?),
            None => Err(io::Error::other("directory")),
        }
    }

    /// Writes `bytes` as file `name`, atomically: aside, sync, rename, sync
    /// the directory. Returns the new file, open.
    async fn replace_file(&mut self, name: &str, bytes: Vec<u8>) -> io::Result<BufferedFile> {
        // Read-write: a rewritten log is read back at the next rewrite.
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .buffered_open(aside(&self.dir, name))
            .await?;
        write_all(&f, bytes, 0).await?;
        f.fdatasync().await?;
        f.rename(self.dir.join(name)).await?;
        self.sync_dir().await?;
        Ok(f)
    }

    async fn install_snapshot(&mut self, s: &Snapshot) -> io::Result<()> {
        let (index, term) = (s.get_metadata().index, s.get_metadata().term);
        if index <= self.snapshot_index {
            return Ok(()); // an equal or newer one is already durable
        }
        let payload = s.write_to_bytes().map_err(io::Error::other)?;
        let f = self.replace_file(SNAPSHOT, frame(&payload)).await?;
        f.close().await?;
        let survives = suffix_survives(self.term_at(index), term);
        let kept: Vec<Frame> = if survives {
            let skip = (index - self.snapshot_index) as usize;
            self.frames.get(skip..).unwrap_or_default().to_vec()
        } else {
            Vec::new()
        };
        self.rewrite_log(kept).await?;
        self.snapshot_index = index;
        self.snapshot_term = term;
        Ok(())
    }

    /// Replaces `raft.log` with one holding only the `kept` frames (a
    /// suffix of the current ones), atomically.
    async fn rewrite_log(&mut self, kept: Vec<Frame>) -> io::Result<()> {
        let start = kept.first().map_or(self.log_end, |f| f.pos);
        let len = usize::try_from(self.log_end - start).map_err(io::Error::other)?;
        let bytes = if len == 0 {
            Vec::new()
        } else {
            read_exact(self.log_file().await?, start, len).await?
        };
        let new = self.replace_file(LOG, bytes).await?;
        if let Some(old) = self.log.replace(new) {
            old.close().await?;
        }
        self.frames = kept
            .into_iter()
            .map(|f| Frame {
                pos: f.pos - start,
                term: f.term,
            })
            .collect();
        self.log_end -= start;
        Ok(())
    }

    async fn append(&mut self, entries: &[Entry]) -> io::Result<()> {
        let first = entries[0].index;
        if first <= self.snapshot_index || first > self.last_index() + 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "append at {first} outside ({}, {}]",
                    self.snapshot_index,
                    self.last_index() + 1
                ),
            ));
        }
        if first <= self.last_index() {
            self.truncate_from(first).await?;
        }
        let mut buf = Vec::new();
        for e in entries {
            self.frames.push(Frame {
                pos: self.log_end + buf.len() as u64,
                term: e.term,
            });
            buf.extend_from_slice(&frame(&e.write_to_bytes().map_err(io::Error::other)?));
        }
        let end = self.log_end;
        self.log_end += buf.len() as u64;
        let log = self.log_file().await?;
        write_all(log, buf, end).await?;
        log.fdatasync().await?;
        Ok(())
    }

    /// Cuts the log before entry `index`, durably, before anything new is
    /// written after it.
    async fn truncate_from(&mut self, index: u64) -> io::Result<()> {
        let keep = (index - self.snapshot_index - 1) as usize;
        let pos = self.frames[keep].pos;
        let log = self.log_file().await?;
        log.truncate(pos).await?;
        log.fdatasync().await?;
        self.frames.truncate(keep);
        self.log_end = pos;
        Ok(())
    }

    async fn save_hard_state(&mut self, hs: &HardState) -> io::Result<()> {
        let old = &self.hard_state;
        if hs.term != old.term || hs.vote != old.vote {
            let f = self.replace_file(HARD_STATE, encode_hard_state(hs)).await?;
            f.close().await?;
        } else if hs.commit != old.commit {
            if self.commit.is_none() {
                self.commit = Some(open_rw(&self.dir.join(COMMIT)).await?);
            }
            if let Some(f) = &self.commit {
                write_all(f, encode_commit(hs.commit), 0).await?;
            }
        }
        self.hard_state = hs.clone();
        Ok(())
    }
}

fn aside(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.tmp"))
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

async fn open_rw(path: &Path) -> io::Result<BufferedFile> {
    Ok(OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .buffered_open(path)
        .await?)
}

/// `write_at` may write less than asked (see write(2)); finish the job.
async fn write_all(f: &BufferedFile, mut buf: Vec<u8>, mut pos: u64) -> io::Result<()> {
    while !buf.is_empty() {
        let n = f.write_at(buf.clone(), pos).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0"));
        }
        buf.drain(..n);
        pos += n as u64;
    }
    Ok(())
}

async fn read_exact(f: &BufferedFile, mut pos: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let r = f.read_at(pos, len - out.len()).await?;
        if r.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "log shorter than indexed",
            ));
        }
        out.extend_from_slice(&r);
        pos += r.len() as u64;
    }
    Ok(out)
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The payload of the frame at the start of `bytes`, or None if it is torn.
fn unframe(bytes: &[u8]) -> Option<&[u8]> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..HEADER)?.try_into().ok()?);
    if len > MAX_FRAME {
        return None;
    }
    let payload = bytes.get(HEADER..HEADER + len)?;
    (crc32c::crc32c(payload) == crc).then_some(payload)
}

fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("corrupt raft {what}"))
}

/// The snapshot file was replaced atomically: damage is not a torn write
/// but a broken disk, and starting without it could lose committed state.
fn read_snapshot(dir: &Path) -> io::Result<Option<Snapshot>> {
    let Some(bytes) = read_optional(&dir.join(SNAPSHOT))? else {
        return Ok(None);
    };
    let payload = unframe(&bytes).ok_or_else(|| corrupt("snapshot"))?;
    let s = Snapshot::parse_from_bytes(payload).map_err(|_| corrupt("snapshot"))?;
    Ok(Some(s))
}

fn encode_hard_state(hs: &HardState) -> Vec<u8> {
    let mut body = Vec::with_capacity(24);
    for v in [hs.term, hs.vote, hs.commit] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    let mut out = crc32c::crc32c(&body).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// Like the snapshot, damage here is refused: a lost vote is unsafe.
fn read_hard_state(dir: &Path) -> io::Result<HardState> {
    let Some(bytes) = read_optional(&dir.join(HARD_STATE))? else {
        return Ok(HardState::default());
    };
    let words = checked_words::<3>(&bytes).ok_or_else(|| corrupt("hard state"))?;
    let mut hs = HardState::default();
    (hs.term, hs.vote, hs.commit) = (words[0], words[1], words[2]);
    Ok(hs)
}

fn encode_commit(commit: u64) -> Vec<u8> {
    let body = commit.to_le_bytes();
    let mut out = crc32c::crc32c(&body).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// 0 if missing or torn: the commit index may always be forgotten.
fn read_commit(dir: &Path) -> u64 {
    let bytes = read_optional(&dir.join(COMMIT)).ok().flatten();
    bytes
        .and_then(|b| checked_words::<1>(&b))
        .map_or(0, |w| w[0])
}

/// `[u32 crc32c][N × u64]`, if the crc matches.
fn checked_words<const N: usize>(bytes: &[u8]) -> Option<[u64; N]> {
    let crc = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let body = bytes.get(4..4 + 8 * N)?;
    if crc32c::crc32c(body) != crc {
        return None;
    }
    let mut out = [0u64; N];
    for (i, w) in out.iter_mut().enumerate() {
        *w = u64::from_le_bytes(body[8 * i..8 * i + 8].try_into().ok()?);
    }
    Some(out)
}

/// Reads `raft.log`: the valid frames up to the first torn one, checked for
/// contiguity, minus what the snapshot covers. Leaves the file holding
/// exactly the returned entries, at the returned frames, ending at the
/// returned length.
fn recover_log(
    dir: &Path,
    snap_index: u64,
    snap_term: u64,
) -> io::Result<(Vec<Entry>, Vec<Frame>, u64)> {
    let path = dir.join(LOG);
    let bytes = read_optional(&path)?.unwrap_or_default();
    let (entries, frames, good_len) = scan_frames(&bytes)?;
    let first = entries.first().map_or(snap_index + 1, |e| e.index);
    if first == snap_index + 1 {
        if good_len < bytes.len() as u64 {
            truncate_file(&path, good_len)?;
        }
        return Ok((entries, frames, good_len));
    }
    if first > snap_index + 1 {
        return Err(corrupt("log: gap after the snapshot"));
    }
    // Left over from a crash between making a snapshot durable and
    // rewriting the log: finish the job.
    let term_at_snapshot = entries
        .iter()
        .find(|e| e.index == snap_index)
        .map(|e| e.term);
    let kept: Vec<Entry> = if suffix_survives(term_at_snapshot, snap_term) {
        entries
            .into_iter()
            .filter(|e| e.index > snap_index)
            .collect()
    } else {
        Vec::new()
    };
    let (frames, len) = rewrite_log_sync(dir, &kept)?;
    Ok((kept, frames, len))
}

/// Valid frames from the start, and where they end. A torn frame ends the
/// scan; a valid frame out of sequence is corruption, not a torn write.
fn scan_frames(bytes: &[u8]) -> io::Result<(Vec<Entry>, Vec<Frame>, u64)> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut frames = Vec::new();
    let mut pos = 0;
    while let Some(payload) = unframe(&bytes[pos..]) {
        let Ok(e) = Entry::parse_from_bytes(payload) else {
            break;
        };
        if let Some(prev) = entries.last() {
            if e.index != prev.index + 1 || e.term < prev.term {
                return Err(corrupt("log: entries out of sequence"));
            }
        }
        frames.push(Frame {
            pos: pos as u64,
            term: e.term,
        });
        entries.push(e);
        pos += HEADER + payload.len();
    }
    Ok((entries, frames, pos as u64))
}

fn truncate_file(path: &Path, len: u64) -> io::Result<()> {
    let f = fs::OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    f.sync_all()
}

/// Creates the directory and an empty `raft.log` if missing, and syncs
/// the directory entries: fdatasync on a file does not make its name
/// durable, and entries synced into a file whose name is lost are lost.
fn create_durably(dir: &Path) -> io::Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir)?;
        if let Some(parent) = dir.parent() {
            fs::File::open(parent)?.sync_all()?;
        }
    }
    let log = dir.join(LOG);
    if !log.exists() {
        fs::File::create(&log)?.sync_all()?;
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn rewrite_log_sync(dir: &Path, entries: &[Entry]) -> io::Result<(Vec<Frame>, u64)> {
    let mut bytes = Vec::new();
    let mut frames = Vec::with_capacity(entries.len());
    for e in entries {
        frames.push(Frame {
            pos: bytes.len() as u64,
            term: e.term,
        });
        bytes.extend_from_slice(&frame(&e.write_to_bytes().map_err(io::Error::other)?));
    }
    let tmp = aside(dir, LOG);
    fs::write(&tmp, &bytes)?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, dir.join(LOG))?;
    fs::File::open(dir)?.sync_all()?;
    Ok((frames, bytes.len() as u64))
}
