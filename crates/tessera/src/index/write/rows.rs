//! Study and series rows: inserted when missing and locked (on PostgreSQL) for the batch,
//! then updated once each with the batch's attributes, count increments and stored QIDO
//! members.

use std::collections::BTreeSet;

use sqlx::Row;

use super::{BatchWriter, Delta};
use crate::index::model::NewInstance;
use crate::index::upkeep::{
    joined, list_modalities, replace_name_words, row_fragment, split_multi, NameForms,
};
use crate::index::IndexError;
use crate::query::attributes::Level;
use crate::query::values::RowValue;
use tessera_dicom::datetime::{self, Bound};

/// A study row as the batch found it (after inserting it if missing), locked on PostgreSQL:
/// what the study's new attributes, counts and QIDO members are computed from.
pub(super) struct StoredStudy {
    pub(super) num_instances: i64,
    pub(super) num_series: i64,
    pub(super) modalities: Option<String>,
    pub(super) sop_classes: Option<String>,
    pub(super) patient_name: Option<String>,
    pub(super) referring_physician_name: Option<String>,
}

impl StoredStudy {
    /// Rows without instances do not outlive the transaction that made them: an empty row
    /// is one this batch inserted.
    pub(super) fn created(&self) -> bool {
        self.num_instances == 0
    }
}

/// A series row as the batch found it (after inserting it if missing).
pub(super) struct StoredSeries {
    pub(super) study_uid: String,
    pub(super) num_instances: i64,
    pub(super) modality: Option<String>,
}

impl StoredSeries {
    /// Like [`StoredStudy::created`].
    pub(super) fn created(&self) -> bool {
        self.num_instances == 0
    }
}

/// What the batch changes in one study row.
pub(super) struct StudyChange<'d> {
    pub(super) delta: &'d Delta,
    /// Series the batch created in the study.
    pub(super) new_series: i64,
    /// ModalitiesInStudy when the batch provably leaves it as stored; `None`: read it.
    pub(super) modalities: Option<Option<String>>,
}

/// The stored ModalitiesInStudy, if the series the batch updates (`updated`: as found, and
/// what it did to each) cannot have changed it: no series lost a modality (each kept its
/// own, or had none) and every modality they now have is already listed.
pub(super) fn unchanged_modalities<'a>(
    study: &StoredStudy,
    mut updated: impl Iterator<Item = (&'a StoredSeries, &'a Delta)>,
    batch: &[NewInstance],
) -> Option<Option<String>> {
    let listed = split_multi(study.modalities.as_deref());
    let same = updated.all(|(stored, delta)| {
        let Some(source) = delta.source else {
            return true;
        };
        let new = batch[source].extracted.series.modality.as_deref();
        let old = stored.modality.as_deref();
        old == new || (old.is_none() && new.is_none_or(|m| listed.contains(m)))
    });
    same.then(|| study.modalities.clone())
}

impl BatchWriter<'_> {
    /// Insert the study row if missing and read what the batch needs of it. The no-op
    /// update on conflict makes one statement both insert and read the row, and on
    /// PostgreSQL lock it until commit (the lock that serialises writers of one study).
    pub(super) async fn ensure_study(&mut self, study: &str) -> Result<StoredStudy, IndexError> {
        let row = sqlx::query(
            "INSERT INTO studies (study_uid, created_at, updated_at) VALUES ($1, $2, $2) \
             ON CONFLICT (study_uid) DO UPDATE SET updated_at = studies.updated_at \
             RETURNING num_instances, num_series, modalities_in_study, sop_classes_in_study, \
             patient_name, referring_physician_name",
        )
        .bind(study)
        .bind(self.now)
        .fetch_one(&mut *self.conn)
        .await
        .map_err(IndexError::db("insert study"))?;
        let read = |err| IndexError::db("read study")(err);
        Ok(StoredStudy {
            num_instances: row.try_get(0).map_err(read)?,
            num_series: row.try_get(1).map_err(read)?,
            modalities: row.try_get(2).map_err(read)?,
            sop_classes: row.try_get(3).map_err(read)?,
            patient_name: row.try_get(4).map_err(read)?,
            referring_physician_name: row.try_get(5).map_err(read)?,
        })
    }

    /// Insert the series row if missing and read its study, count and modality (one
    /// statement, as for the study).
    pub(super) async fn ensure_series(
        &mut self,
        series: &str,
        study: &str,
    ) -> Result<StoredSeries, IndexError> {
        let row = sqlx::query(
            "INSERT INTO series (series_uid, study_uid, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) \
             ON CONFLICT (series_uid) DO UPDATE SET updated_at = series.updated_at \
             RETURNING study_uid, num_instances, modality",
        )
        .bind(series)
        .bind(study)
        .bind(self.now)
        .fetch_one(&mut *self.conn)
        .await
        .map_err(IndexError::db("insert series"))?;
        let read = |err| IndexError::db("read series")(err);
        Ok(StoredSeries {
            study_uid: row.try_get(0).map_err(read)?,
            num_instances: row.try_get(1).map_err(read)?,
            modality: row.try_get(2).map_err(read)?,
        })
    }

    pub(super) async fn update_series(
        &mut self,
        series: &str,
        stored: &StoredSeries,
        delta: &Delta,
        batch: &[NewInstance],
    ) -> Result<(), IndexError> {
        let Some(source) = delta.source else {
            return Ok(());
        };
        let s = &batch[source].extracted.series;
        let time_norm = s
            .performed_procedure_step_start_time
            .as_deref()
            .and_then(|t| datetime::time(t, Bound::Lower));
        let text = |v: Option<&str>| RowValue::Text(v.map(str::to_string));
        let qido = row_fragment(
            Level::Series,
            &[
                ("series_uid", text(Some(series))),
                ("modality", text(s.modality.as_deref())),
                ("series_number", RowValue::Int(s.series_number)),
                ("series_description", text(s.series_description.as_deref())),
                ("series_date", text(s.series_date.as_deref())),
                ("series_time", text(s.series_time.as_deref())),
                (
                    "pps_start_date",
                    text(s.performed_procedure_step_start_date.as_deref()),
                ),
                (
                    "pps_start_time",
                    text(s.performed_procedure_step_start_time.as_deref()),
                ),
                ("body_part_examined", text(s.body_part_examined.as_deref())),
                ("laterality", text(s.laterality.as_deref())),
                (
                    "num_instances",
                    RowValue::Int(Some(stored.num_instances + delta.added)),
                ),
            ],
        )?;
        sqlx::query(
            "UPDATE series SET modality = $2, series_number = $3, series_description = $4, \
             series_date = $5, series_time = $6, pps_start_date = $7, pps_start_time = $8, \
             body_part_examined = $9, laterality = $10, updated_at = $11, \
             num_instances = num_instances + $12, pps_start_time_norm = $13, qido_json = $14 \
             WHERE series_uid = $1",
        )
        .bind(series)
        .bind(s.modality.as_deref())
        .bind(s.series_number)
        .bind(s.series_description.as_deref())
        .bind(s.series_date.as_deref())
        .bind(s.series_time.as_deref())
        .bind(s.performed_procedure_step_start_date.as_deref())
        .bind(s.performed_procedure_step_start_time.as_deref())
        .bind(s.body_part_examined.as_deref())
        .bind(s.laterality.as_deref())
        .bind(self.now)
        .bind(delta.added)
        .bind(time_norm)
        .bind(qido)
        .execute(&mut *self.conn)
        .await
        .map_err(IndexError::db("update series"))?;
        Ok(())
    }

    pub(super) async fn update_study(
        &mut self,
        study: &str,
        stored: &StoredStudy,
        change: &StudyChange<'_>,
        batch: &[NewInstance],
        candidates: &[usize],
    ) -> Result<(), IndexError> {
        let Some(source) = change.delta.source else {
            return Ok(());
        };
        // ModalitiesInStudy from the (few) series rows unless the batch provably left it
        // as stored; SOPClassesInStudy as a growing set.
        let modalities = match &change.modalities {
            Some(unchanged) => unchanged.clone(),
            None => list_modalities(self.conn, study).await?,
        };
        let mut classes: BTreeSet<String> = split_multi(stored.sop_classes.as_deref());
        for &idx in candidates {
            let ex = &batch[idx].extracted;
            if ex.study_uid.as_str() == study {
                classes.insert(ex.sop_class.to_string());
            }
        }
        let classes = joined(classes.into_iter().collect());
        let item = &batch[source];
        let s = &item.extracted.study;
        let patient = NameForms::of(s.patient_name.as_deref());
        let referring = NameForms::of(s.referring_physician_name.as_deref());
        let time_norm = s
            .study_time
            .as_deref()
            .and_then(|t| datetime::time(t, Bound::Lower));
        let date_time = datetime::combine(s.study_date.as_deref(), s.study_time.as_deref());
        let charset = item.extracted.specific_character_set.as_deref();
        let text = |v: Option<&str>| RowValue::Text(v.map(str::to_string));
        let qido = row_fragment(
            Level::Study,
            &[
                ("study_uid", text(Some(study))),
                ("patient_name", text(s.patient_name.as_deref())),
                ("patient_id", text(s.patient_id.as_deref())),
                (
                    "issuer_of_patient_id",
                    text(s.issuer_of_patient_id.as_deref()),
                ),
                ("patient_birth_date", text(s.patient_birth_date.as_deref())),
                ("patient_sex", text(s.patient_sex.as_deref())),
                ("study_date", text(s.study_date.as_deref())),
                ("study_time", text(s.study_time.as_deref())),
                ("timezone_offset", text(s.timezone_offset.as_deref())),
                ("accession_number", text(s.accession_number.as_deref())),
                ("study_id", text(s.study_id.as_deref())),
                ("study_description", text(s.study_description.as_deref())),
                (
                    "referring_physician_name",
                    text(s.referring_physician_name.as_deref()),
                ),
                ("specific_character_set", text(charset)),
                (
                    "num_instances",
                    RowValue::Int(Some(stored.num_instances + change.delta.added)),
                ),
                (
                    "num_series",
                    RowValue::Int(Some(stored.num_series + change.new_series)),
                ),
                ("modalities_in_study", text(modalities.as_deref())),
                ("sop_classes_in_study", text(classes.as_deref())),
            ],
        )?;
        sqlx::query(
            "UPDATE studies SET patient_name = $2, patient_id = $3, issuer_of_patient_id = $4, \
             patient_birth_date = $5, patient_sex = $6, study_date = $7, study_time = $8, \
             timezone_offset = $9, accession_number = $10, study_id = $11, \
             study_description = $12, referring_physician_name = $13, \
             specific_character_set = $14, updated_at = $15, \
             num_instances = num_instances + $16, num_series = num_series + $17, \
             modalities_in_study = $18, sop_classes_in_study = $19, \
             pn_patient_a = $20, pn_patient_i = $21, pn_patient_p = $22, \
             pn_referring_a = $23, pn_referring_i = $24, pn_referring_p = $25, \
             study_time_norm = $26, study_datetime = $27, qido_json = $28 \
             WHERE study_uid = $1",
        )
        .bind(study)
        .bind(s.patient_name.as_deref())
        .bind(s.patient_id.as_deref())
        .bind(s.issuer_of_patient_id.as_deref())
        .bind(s.patient_birth_date.as_deref())
        .bind(s.patient_sex.as_deref())
        .bind(s.study_date.as_deref())
        .bind(s.study_time.as_deref())
        .bind(s.timezone_offset.as_deref())
        .bind(s.accession_number.as_deref())
        .bind(s.study_id.as_deref())
        .bind(s.study_description.as_deref())
        .bind(s.referring_physician_name.as_deref())
        .bind(charset)
        .bind(self.now)
        .bind(change.delta.added)
        .bind(change.new_series)
        .bind(modalities)
        .bind(classes)
        .bind(patient.groups[0].clone())
        .bind(patient.groups[1].clone())
        .bind(patient.groups[2].clone())
        .bind(referring.groups[0].clone())
        .bind(referring.groups[1].clone())
        .bind(referring.groups[2].clone())
        .bind(time_norm)
        .bind(date_time)
        .bind(qido)
        .execute(&mut *self.conn)
        .await
        .map_err(IndexError::db("update study"))?;
        // The words follow from the two names alone: the same names, the same words.
        if stored.patient_name == s.patient_name
            && stored.referring_physician_name == s.referring_physician_name
        {
            return Ok(());
        }
        replace_name_words(
            self.conn,
            study,
            &[("patient", &patient), ("referring", &referring)],
        )
        .await
    }

    pub(super) async fn delete_if_empty(
        &mut self,
        table: &str,
        key: &str,
        value: &str,
    ) -> Result<(), IndexError> {
        let sql = format!("DELETE FROM {table} WHERE {key} = $1 AND num_instances = 0");
        sqlx::query(&sql)
            .bind(value)
            .execute(&mut *self.conn)
            .await
            .map_err(IndexError::db("drop empty row"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::BlobKey;

    /// A real instance of the given series modality.
    fn instance(modality: Option<&str>) -> NewInstance {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/CT_small.dcm");
        let bytes = std::fs::read(path).unwrap();
        let mut extracted = tessera_dicom::extract::parse(&bytes)
            .unwrap()
            .extract()
            .unwrap();
        extracted.series.modality = modality.map(str::to_string);
        NewInstance {
            extracted,
            blob_key: BlobKey::from_stored("k".to_string()),
            blob_size: 1,
            blob_sha256: None,
        }
    }

    fn study(modalities: Option<&str>) -> StoredStudy {
        StoredStudy {
            num_instances: 1,
            num_series: 1,
            modalities: modalities.map(str::to_string),
            sop_classes: None,
            patient_name: None,
            referring_physician_name: None,
        }
    }

    fn series(modality: Option<&str>) -> StoredSeries {
        StoredSeries {
            study_uid: "1.2".into(),
            num_instances: 1,
            modality: modality.map(str::to_string),
        }
    }

    fn from(source: usize) -> Delta {
        Delta {
            added: 1,
            source: Some(source),
        }
    }

    #[test]
    fn modalities_in_study_are_kept_only_when_provably_unchanged() {
        let batch = [instance(Some("CT")), instance(Some("MR")), instance(None)];
        let listed = study(Some("CT\\MR"));
        let (ct, none) = (series(Some("CT")), series(None));
        // The series keeps its modality.
        let same = unchanged_modalities(&listed, [(&ct, &from(0))].into_iter(), &batch);
        assert_eq!(same, Some(Some("CT\\MR".into())));
        // A new series whose modality is already listed.
        let listed_new = unchanged_modalities(&listed, [(&none, &from(1))].into_iter(), &batch);
        assert_eq!(listed_new, Some(Some("CT\\MR".into())));
        // A series that changes modality (CT to MR) may have taken CT away: read it again.
        let changed = unchanged_modalities(&listed, [(&ct, &from(1))].into_iter(), &batch);
        assert_eq!(changed, None);
        // A new modality not yet listed.
        let only_ct = study(Some("CT"));
        let new = unchanged_modalities(&only_ct, [(&none, &from(1))].into_iter(), &batch);
        assert_eq!(new, None);
        // A series that loses its modality.
        let lost = unchanged_modalities(&listed, [(&ct, &from(2))].into_iter(), &batch);
        assert_eq!(lost, None);
        // Nothing stored from the batch in the series: unchanged.
        let idle = Delta {
            added: 0,
            source: None,
        };
        let untouched = unchanged_modalities(&listed, [(&ct, &idle)].into_iter(), &batch);
        assert_eq!(untouched, Some(Some("CT\\MR".into())));
    }
}
