//! Tests of the read path's two answers: file slices (what the broker
//! splices to sockets) and cache batches, against what was appended.

use std::os::unix::fs::FileExt;

use bytes::Bytes;

use super::batch::testing::{batch, Spec};
use super::tests::headers;
use super::tests_maintenance::run;
use super::{LogConfig, PartitionLog, ReadData};

/// The bytes a read answer stands for (a slice is read through its own
/// descriptor, as splice would).
fn bytes_of(data: ReadData) -> Vec<u8> {
    match data {
        ReadData::Memory(batches) => batches.iter().flat_map(|b| b.to_vec()).collect(),
        ReadData::File(slice) => {
            let file = std::fs::File::from(slice.file);
            let mut buf = vec![0u8; slice.len as usize];
            file.read_exact_at(&mut buf, slice.pos).expect("read slice");
            buf
        }
    }
}

/// Appends batches of varied sizes (so index hints and header walks both
/// matter) and returns each stored batch's (base, last, len).
async fn fill(log: &PartitionLog) -> Vec<(i64, i64, usize)> {
    let mut out = Vec::new();
    for i in 0..120 {
        let spec = Spec {
            records: 1 + i % 4,
            value_len: [20, 700, 3000, 90][i as usize % 4],
            timestamp: 1000 + i as i64,
            ..Spec::default()
        };
        let b = batch(spec);
        let a = log.append(&Bytes::from(b.clone()), 0, 0).expect("append");
        a.durable.await.expect("durable");
        out.push((a.base_offset, a.last_offset, b.len()));
    }
    out
}

fn segment_bases(dir: &std::path::Path) -> Vec<i64> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".log").and_then(|n| n.parse().ok())
        })
        .collect()
}

#[test]
fn file_slices_are_whole_batches_within_limits() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            segment_bytes: 40_000,
            index_interval_bytes: 4096,
            segment_index_bytes: 4096,
            cache_bytes: 0,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(dir.path().join("p"), cfg).await.unwrap();
        let stored = fill(&log).await;
        let end = log.high_watermark();
        let bases = segment_bases(&dir.path().join("p"));
        assert!(bases.len() > 3, "several segments");
        for max_bytes in [1usize, 100, 5000, 9000, 64 << 10, 1 << 20] {
            let mut offset = 0;
            while offset < end {
                let data = log.read_data(offset, max_bytes, true).await.unwrap();
                assert!(matches!(data, ReadData::File(_)), "cache is off");
                let copied = log.read(offset, max_bytes, true).await.unwrap();
                let got = bytes_of(data);
                assert_eq!(got, copied.to_vec(), "splice and copy agree");
                let hs = headers(&got);
                let first = stored.iter().position(|b| b.1 >= offset).unwrap();
                assert_eq!(
                    hs[0].base_offset, stored[first].0,
                    "starts at the batch holding {offset}"
                );
                assert!(got.len() <= max_bytes || hs.len() == 1, "over max_bytes");
                // Nothing that would have fitted was left out, unless the
                // next batch starts the next segment.
                if let Some(&(base, _, len)) = stored.get(first + hs.len()) {
                    if got.len() + len <= max_bytes {
                        assert!(bases.contains(&base), "stopped early before {base}");
                    }
                }
                offset = hs.last().unwrap().last_offset() + 1;
            }
        }
        let none = log.read_data(0, 10, false).await.unwrap();
        assert!(
            none.is_empty(),
            "min_one=false and a first batch over the limit"
        );
        log.close().await.unwrap();
    });
}

#[test]
fn cache_answers_with_the_stored_batches_unjoined() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("p"), LogConfig::default())
            .await
            .unwrap();
        let stored = fill(&log).await;
        let ReadData::Memory(batches) = log.read_data(0, 1 << 20, true).await.unwrap() else {
            panic!("the default cache holds all of it");
        };
        assert!(batches.len() > 1, "several batches, each its own buffer");
        for (b, s) in batches.iter().zip(&stored) {
            assert_eq!((headers(b)[0].base_offset, b.len()), (s.0, s.2));
        }
        log.close().await.unwrap();
    });
}
