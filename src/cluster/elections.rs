//! Counting leader elections in the metadata log as a node applies it: a
//! `Partition` record that gives an existing partition a different leader
//! (not none) is an election; one whose new leader was not in the ISR the
//! partition had just before is unclean (the record does not say, so the
//! image before it decides). Partitions without a leader are counted from
//! an image for the offline-partitions gauge.
//!
//! Pure: the raft loop feeds records through [`apply_counting`]; whether a
//! node reports what it counted (only the active controller does) is the
//! caller's business.

use super::image::{MetadataImage, NO_LEADER};
use super::records::MetadataRecord;

/// Elections seen in some records.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Elections {
    pub elections: u64,
    pub unclean: u64,
}

/// Applies one raft entry's records at `offset` (as
/// `MetadataImage::apply_batch` does) and counts the elections among them,
/// each against the image as it stood just before that record.
pub fn apply_counting(
    image: &mut MetadataImage,
    offset: u64,
    records: &[MetadataRecord],
) -> Elections {
    let mut seen = Elections::default();
    image.offset = offset;
    for record in records {
        if let Some(unclean) = election(image, record) {
            seen.elections += 1;
            seen.unclean += u64::from(unclean);
        }
        image.apply(offset, record);
    }
    seen
}

/// Whether `record` elects a new leader for a partition of `image`, and if
/// so whether the election is unclean.
fn election(image: &MetadataImage, record: &MetadataRecord) -> Option<bool> {
    let MetadataRecord::Partition {
        topic_id,
        partition,
        leader,
        ..
    } = record
    else {
        return None;
    };
    let before = image.topic_by_id(topic_id)?.partition(*partition)?;
    if *leader == NO_LEADER || *leader == before.leader {
        return None;
    }
    Some(!before.isr.contains(leader))
}

/// Partitions of `image` without a leader.
pub fn offline_partitions(image: &MetadataImage) -> u64 {
    image
        .topics
        .values()
        .flat_map(|t| &t.partitions)
        .filter(|p| p.leader == NO_LEADER)
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn partition(id: Uuid, isr: &[i32], leader: i32, epoch: i32) -> MetadataRecord {
        MetadataRecord::Partition {
            topic_id: id,
            partition: 0,
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            leader,
            leader_epoch: epoch,
            partition_epoch: epoch,
        }
    }

    #[test]
    fn leader_changes_are_elections_and_out_of_isr_ones_unclean() {
        let id = Uuid::from_u128(7);
        let mut image = MetadataImage::default();
        let created = [
            MetadataRecord::Topic {
                name: "t".into(),
                id,
            },
            partition(id, &[1, 2, 3], 1, 0),
        ];
        // A new partition's first leader is not an election.
        assert_eq!(
            apply_counting(&mut image, 1, &created),
            Elections::default()
        );
        let isr_only = [partition(id, &[1, 2], 1, 1)];
        assert_eq!(apply_counting(&mut image, 2, &isr_only).elections, 0);
        // 1 fails: 2 (in the ISR) takes over, then 2 fails too: none.
        let clean = [partition(id, &[2], 2, 2), partition(id, &[2], NO_LEADER, 3)];
        let seen = apply_counting(&mut image, 3, &clean);
        assert_eq!((seen.elections, seen.unclean), (1, 0));
        assert_eq!(offline_partitions(&image), 1);
        // 3 was out of the ISR: unclean.
        let unclean = [partition(id, &[3], 3, 4)];
        let seen = apply_counting(&mut image, 4, &unclean);
        assert_eq!((seen.elections, seen.unclean), (1, 1));
        assert_eq!(offline_partitions(&image), 0);
        assert_eq!(image.offset, 4);
    }
}
