//! The eight steps of a batch, in the order that keeps writers of one study serialised and
//! the change feed's lock short.

use std::collections::{BTreeMap, BTreeSet};

use super::instances::InstanceValues;
use super::rows::{unchanged_modalities, StudyChange};
use super::{BatchWriter, Delta};
use crate::index::changes::{self, ChangeAction, NewChange};
use crate::index::model::{NewInstance, StoreOutcome};
use crate::index::upkeep::{insert_extra_values, recount_series, recount_study, refresh_fragment};
use crate::index::{DuplicatePolicy, IndexError};
use crate::query::attributes::Level;

impl BatchWriter<'_> {
    /// Record `batch` (one transaction, the caller's); one outcome per instance, in order.
    pub(in crate::index) async fn write(
        &mut self,
        batch: &[NewInstance],
        policy: DuplicatePolicy,
    ) -> Result<Vec<StoreOutcome>, IndexError> {
        let mut outcomes: Vec<Option<StoreOutcome>> = vec![None; batch.len()];

        // 1. Study rows, in UID order.
        let studies: BTreeSet<&str> = batch
            .iter()
            .map(|i| i.extracted.study_uid.as_str())
            .collect();
        let mut stored_studies = BTreeMap::new();
        for study in &studies {
            stored_studies.insert(*study, self.ensure_study(study).await?);
        }
        // 2. Series rows; a series recorded under another study refuses its instances.
        let series: BTreeMap<&str, &str> = batch
            .iter()
            .map(|i| {
                (
                    i.extracted.series_uid.as_str(),
                    i.extracted.study_uid.as_str(),
                )
            })
            .collect();
        let mut stored_series = BTreeMap::new();
        for (series_uid, study_uid) in &series {
            stored_series.insert(
                *series_uid,
                self.ensure_series(series_uid, study_uid).await?,
            );
        }
        let mut candidates = Vec::new();
        for (idx, item) in batch.iter().enumerate() {
            let ex = &item.extracted;
            match stored_series.get(ex.series_uid.as_str()) {
                Some(stored) if stored.study_uid != ex.study_uid.as_str() => {
                    outcomes[idx] = Some(StoreOutcome::SeriesInOtherStudy {
                        existing_study: stored.study_uid.clone(),
                    });
                }
                _ => candidates.push(idx),
            }
        }

        // 3. Instances; conflicts (already stored) are settled one by one by the policy.
        let values: Vec<InstanceValues> = batch
            .iter()
            .map(InstanceValues::of)
            .collect::<Result<_, _>>()?;
        let mut inserted = self.insert_instances(batch, &values, &candidates).await?;
        let mut series_delta: BTreeMap<String, Delta> = BTreeMap::new();
        let mut study_delta: BTreeMap<String, Delta> = BTreeMap::new();
        let mut moved = Vec::new();
        for &idx in &candidates {
            let ex = &batch[idx].extracted;
            // The first copy of a SOP Instance UID in the batch is the inserted one.
            let (outcome, added) = if inserted.remove(ex.sop_uid.as_str()) {
                (StoreOutcome::Stored, 1)
            } else {
                let (outcome, from) = self
                    .resolve_duplicate(&batch[idx], &values[idx], policy)
                    .await?;
                let added = match from {
                    Some(from) if from.series != ex.series_uid.as_str() => {
                        moved.push(from);
                        1
                    }
                    _ => 0,
                };
                (outcome, added)
            };
            if outcome.keeps_new_blob() && !self.extras.is_empty() {
                let owners = [
                    ex.study_uid.to_string(),
                    ex.series_uid.to_string(),
                    ex.sop_uid.to_string(),
                ];
                insert_extra_values(self.conn, self.extras, &owners, &ex.metadata).await?;
            }
            if outcome.keeps_new_blob() {
                for (map, key) in [
                    (&mut series_delta, ex.series_uid.as_str()),
                    (&mut study_delta, ex.study_uid.as_str()),
                ] {
                    let delta = map.entry(key.to_string()).or_default();
                    delta.added += added;
                    delta.source = Some(idx);
                }
            }
            outcomes[idx] = Some(outcome);
        }

        // 4. Series: attributes, counts and QIDO members, or away with a new series that
        // got nothing.
        let mut series_added_to: BTreeMap<String, i64> = BTreeMap::new();
        for (series_uid, study_uid) in &series {
            let stored = &stored_series[series_uid];
            match series_delta.get(*series_uid) {
                Some(delta) => {
                    self.update_series(series_uid, stored, delta, batch).await?;
                    if stored.created() {
                        *series_added_to.entry(study_uid.to_string()).or_default() += 1;
                    }
                }
                None if stored.created() => {
                    self.delete_if_empty("series", "series_uid", series_uid)
                        .await?;
                }
                None => {}
            }
        }
        // 5. Studies likewise.
        for study in &studies {
            let stored = &stored_studies[study];
            match study_delta.get(*study) {
                Some(delta) => {
                    let modalities = unchanged_modalities(
                        stored,
                        series_delta
                            .iter()
                            .map(|(uid, delta)| (&stored_series[uid.as_str()], delta))
                            .filter(|(stored, _)| stored.study_uid == *study),
                        batch,
                    );
                    let change = StudyChange {
                        delta,
                        new_series: series_added_to.get(*study).copied().unwrap_or(0),
                        modalities,
                    };
                    self.update_study(study, stored, &change, batch, &candidates)
                        .await?;
                }
                None if stored.created() => {
                    self.delete_if_empty("studies", "study_uid", study).await?;
                }
                None => {}
            }
        }
        // 6. Overwrites that moved an instance elsewhere: recount where it came from.
        for from in &moved {
            recount_series(self.conn, &from.series).await?;
            recount_study(self.conn, &from.study, self.now).await?;
        }
        // 7. The stored QIDO members of the series and studies the recounts changed (those
        // of the others were written with their rows).
        let moved_series: BTreeSet<&str> = moved.iter().map(|m| m.series.as_str()).collect();
        for series in moved_series {
            refresh_fragment(self.conn, Level::Series, series).await?;
        }
        let moved_studies: BTreeSet<&str> = moved.iter().map(|m| m.study.as_str()).collect();
        for study in moved_studies {
            refresh_fragment(self.conn, Level::Study, study).await?;
        }
        let outcomes: Vec<StoreOutcome> = outcomes
            .into_iter()
            .map(|o| o.ok_or_else(|| IndexError::Corrupt("instance without outcome".into())))
            .collect::<Result<_, _>>()?;
        // 8. The change feed, last: on PostgreSQL its lock is held until commit.
        let changes: Vec<NewChange> = batch
            .iter()
            .zip(&outcomes)
            .filter_map(|(item, outcome)| {
                let action = match outcome {
                    StoreOutcome::Stored => ChangeAction::Create,
                    StoreOutcome::Replaced { .. } => ChangeAction::Update,
                    _ => return None,
                };
                let ex = &item.extracted;
                Some(NewChange {
                    action,
                    study: ex.study_uid.to_string(),
                    series: ex.series_uid.to_string(),
                    sop: ex.sop_uid.to_string(),
                })
            })
            .collect();
        changes::append(self.conn, self.dialect, &changes).await?;
        Ok(outcomes)
    }
}
