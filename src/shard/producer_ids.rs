//! Producer id allocation for idempotent producers (controller shard only).
//!
//! Ids must never repeat across restarts: partition logs rebuild each
//! producer's sequence state at start, and a reused id would collide with it.
//! So ids are handed out from blocks whose upper bound is written and synced
//! to `producer_ids` in the data dir before the first id of the block is used.

use std::io::Write;
use std::path::{Path, PathBuf};

const BLOCK: i64 = 1000;
const FILE: &str = "producer_ids";

pub struct ProducerIdBlock {
    next: i64,
    limit: i64,
    path: PathBuf,
}

impl ProducerIdBlock {
    /// Resumes after the last reserved block; never reuses an id handed out
    /// before, even from a block only partly used.
    pub fn load(data_dir: &Path) -> std::io::Result<ProducerIdBlock> {
        let path = data_dir.join(FILE);
        let limit = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<i64>().map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(ProducerIdBlock {
            next: limit,
            limit,
            path,
        })
    }

    pub fn allocate(&mut self) -> std::io::Result<i64> {
        if self.next == self.limit {
            self.reserve(self.limit + BLOCK)?;
        }
        debug_assert!(self.next < self.limit);
        let id = self.next;
        self.next += 1;
        Ok(id)
    }

    fn reserve(&mut self, limit: i64) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp)?;
        writeln!(file, "{limit}")?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        self.limit = limit;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_repeat_across_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let mut block = ProducerIdBlock::load(dir.path()).unwrap();
        let first: Vec<i64> = (0..3).map(|_| block.allocate().unwrap()).collect();
        assert_eq!(first, vec![0, 1, 2]);
        let mut again = ProducerIdBlock::load(dir.path()).unwrap();
        assert!(again.allocate().unwrap() >= BLOCK);
    }
}
