//! The active controller's planning of AlterClientQuotas, sans-IO: the
//! request's alterations and the image in, one `ClientQuota` record per
//! changed key and the per-entity outcomes out. Kafka's rules are
//! `crate::quota::admin`'s; a validate-only request commits nothing and
//! answers the same.

use serde::{Deserialize, Serialize};

use super::commands::{Plan, Reply};
use super::image::MetadataImage;
use super::records::MetadataRecord;
use crate::quota::admin::{self, Alteration};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientQuotasCommand {
    pub alterations: Vec<Alteration>,
    pub validate_only: bool,
}

pub fn plan(image: &MetadataImage, command: &ClientQuotasCommand) -> Plan {
    let (outcomes, changes) = admin::alter(&image.client_quotas, &command.alterations);
    let records = match command.validate_only {
        true => Vec::new(),
        false => changes
            .into_iter()
            .map(|c| MetadataRecord::ClientQuota {
                entity: c.entity,
                key: c.key,
                value: c.value,
            })
            .collect(),
    };
    Plan {
        records,
        reply: Reply::QuotasAltered(outcomes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::entity::{EntityName, QuotaEntity};

    fn command(value: Option<f64>, validate_only: bool) -> ClientQuotasCommand {
        ClientQuotasCommand {
            alterations: vec![Alteration {
                entity: vec![("client-id".into(), Some("slow".into()))],
                ops: vec![("producer_byte_rate".into(), value)],
            }],
            validate_only,
        }
    }

    #[test]
    fn alterations_become_records_the_image_applies_and_snapshots() {
        let mut image = MetadataImage::default();
        let checked = plan(&image, &command(Some(1e6), true));
        assert!(checked.records.is_empty());
        assert!(matches!(&checked.reply, Reply::QuotasAltered(o) if o[0].1 .0 == 0));

        let plan_set = plan(&image, &command(Some(1e6), false));
        assert_eq!(plan_set.records.len(), 1);
        image.apply_batch(1, &plan_set.records);
        let slow = QuotaEntity::new(None, Some(EntityName::named("slow")));
        assert_eq!(
            image.client_quotas.value(&slow, "producer_byte_rate"),
            Some(1e6)
        );
        let back = MetadataImage::from_snapshot(&image.to_snapshot()).unwrap();
        assert_eq!(back.client_quotas, image.client_quotas);
        let batch = super::super::records::encode(&plan_set.records);
        assert_eq!(
            super::super::records::decode(&batch).unwrap(),
            plan_set.records
        );

        let removal = plan(&image, &command(None, false));
        image.apply_batch(2, &removal.records);
        assert!(image.client_quotas.is_empty());
        // An old snapshot without quotas still loads.
        assert!(MetadataImage::from_snapshot(
            br#"{"offset":3,"cluster_id":null,"brokers":{},"topics":{},"next_producer_id":0}"#
        )
        .is_ok());
    }
}
