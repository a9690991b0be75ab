//! Query plans of the main QIDO queries on both databases, over an index of a few thousand
//! instances: printed (run with --nocapture to read them) and checked to use indexes rather
//! than scanning the study or instance tables.

use bytes::Bytes;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_dictionary_std::uids;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use tessera::query::{parse, Level, Limits};
use tessera_dicom::uid::{SeriesUid, StudyUid};

use crate::helpers::*;

backend_tests! {
    every_index_in_memory => [query_plans_use_indexes];
}

const ROOT: &str = "2.25.9876543210";

/// A tiny metadata-only instance: study `s`, series `s*3+k`, instance `i`.
fn instance(study: u32, series: u32, number: u32) -> Bytes {
    let sop = format!("{ROOT}.3.{study}.{series}.{number}");
    let modality = ["CT", "MR", "US"][(series % 3) as usize];
    let mut obj = InMemDicomObject::new_empty();
    let mut put =
        |tag, vr, value: String| obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    put(
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::SECONDARY_CAPTURE_IMAGE_STORAGE.into(),
    );
    put(tags::SOP_INSTANCE_UID, VR::UI, sop.clone());
    put(
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        format!("{ROOT}.1.{study}"),
    );
    put(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        format!("{ROOT}.2.{study}.{series}"),
    );
    put(tags::PATIENT_ID, VR::LO, format!("P{:05}", study / 3));
    put(
        tags::PATIENT_NAME,
        VR::PN,
        format!("Family{}^Given{}", study % 97, study % 13),
    );
    put(
        tags::STUDY_DATE,
        VR::DA,
        format!("2020{:02}{:02}", 1 + study % 12, 1 + study % 28),
    );
    put(tags::ACCESSION_NUMBER, VR::SH, format!("A{study:07}"));
    put(tags::MODALITY, VR::CS, modality.into());
    put(tags::INSTANCE_NUMBER, VR::IS, number.to_string());
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(uids::SECONDARY_CAPTURE_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(sop),
        )
        .unwrap();
    let mut out = Vec::new();
    file.write_all(&mut out).unwrap();
    Bytes::from(out)
}

/// (name, level, study in the path, series in the path, query string)
type PlanCase = (
    &'static str,
    Level,
    Option<StudyUid>,
    Option<SeriesUid>,
    &'static str,
);

fn pairs(text: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn query_plans_use_indexes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // 600 studies x 2 series x 3 instances = 3,600 instances.
    let mut parts = Vec::new();
    for study in 0..600 {
        for series in 0..2 {
            for number in 1..=3 {
                parts.push(instance(study, series, number));
            }
        }
        if parts.len() >= 600 {
            assert_eq!(app.stow(&parts).await.status().as_u16(), 200);
            parts.clear();
        }
    }
    assert_eq!(app.counts().await, (600, 1200, 3600));
    app.state.index.analyze().await.unwrap();

    let study = StudyUid::parse(&format!("{ROOT}.1.42")).unwrap();
    let series = SeriesUid::parse(&format!("{ROOT}.2.42.1")).unwrap();
    let limits = Limits {
        default_limit: 100,
        max_limit: 1000,
    };
    let cases: Vec<PlanCase> = vec![
        (
            "PatientID exact",
            Level::Study,
            None,
            None,
            "PatientID=P00014",
        ),
        (
            "PatientName wildcard",
            Level::Study,
            None,
            None,
            "PatientName=Family4*",
        ),
        (
            "StudyDate range",
            Level::Study,
            None,
            None,
            "StudyDate=20200301-20200331",
        ),
        (
            "ModalitiesInStudy",
            Level::Study,
            None,
            None,
            "ModalitiesInStudy=MR",
        ),
        (
            "AccessionNumber",
            Level::Study,
            None,
            None,
            "AccessionNumber=A0000042",
        ),
        (
            "series in a study",
            Level::Series,
            Some(study.clone()),
            None,
            "",
        ),
        (
            "instances in a series",
            Level::Instance,
            Some(study),
            Some(series),
            "",
        ),
        ("paging", Level::Study, None, None, "limit=100&offset=500"),
        (
            "fuzzy PatientName",
            Level::Study,
            None,
            None,
            "PatientName=family4&fuzzymatching=true",
        ),
        (
            "series by Modality and month",
            Level::Series,
            None,
            None,
            "Modality=MR&StudyDate=20200301-20200331",
        ),
        ("instances page", Level::Instance, None, None, "limit=100"),
        (
            "ModalitiesInStudy and month",
            Level::Study,
            None,
            None,
            "ModalitiesInStudy=MR&StudyDate=20200301-20200331",
        ),
    ];
    for (name, level, study, series, params) in cases {
        let query = parse::parse(level, study, series, &pairs(params), &[], limits).unwrap();
        let plan = app.state.index.explain(&query).await.unwrap();
        println!("--- {backend:?} {name}: {params}\n{plan}");
        let (scans_studies, scans_series_or_instances) = match backend.index {
            IndexKind::Sqlite => (
                plan.lines().any(|l| l.contains("SCAN st")),
                plan.lines()
                    .any(|l| l.contains("SCAN i") || l.contains("SCAN se")),
            ),
            IndexKind::Postgres => (
                plan.contains("Seq Scan on studies"),
                plan.contains("Seq Scan on instances") || plan.contains("Seq Scan on series"),
            ),
        };
        // Paging walks the studies' primary key index by design, and a page of all
        // instances the instances' one; everything else must seek.
        let full_scan = (name != "instances page" && scans_series_or_instances)
            || (name != "paging" && scans_studies);
        assert!(!full_scan, "{backend:?} {name} scans a table:\n{plan}");
        if name == "instances page" && backend.index == IndexKind::Sqlite {
            // A walk of the instances' key index, stopped a page in.
            assert!(
                plan.contains("SCAN i USING INDEX sqlite_autoindex_instances_1")
                    || plan.contains("SCAN i USING COVERING INDEX sqlite_autoindex_instances_1"),
                "{backend:?} {name}:\n{plan}"
            );
        }
        if name == "ModalitiesInStudy" && backend.index == IndexKind::Sqlite {
            // The page read off the series' (modality, study_uid) index.
            assert!(
                plan.contains("SEARCH ms USING COVERING INDEX series_modality (modality=?)"),
                "{backend:?} {name}:\n{plan}"
            );
        }
        if [
            "series by Modality and month",
            "ModalitiesInStudy and month",
        ]
        .contains(&name)
            && backend.index == IndexKind::Sqlite
        {
            // From the month's studies to their series, not from every series of the
            // modality (which grows with the archive).
            // The page's keys are chosen in the subquery; its first step names the table the
            // join starts from.
            let first_search = plan
                .lines()
                .skip_while(|l| !l.contains("SUBQUERY"))
                .find(|l| l.contains("SEARCH") || l.contains("SCAN"))
                .unwrap_or("");
            assert!(
                first_search.contains("studies_study_date"),
                "{backend:?} {name}:\n{plan}"
            );
        }
        // And the query answers what it should.
        let rows = app.state.index.search(&query).await.unwrap();
        assert!(!rows.is_empty(), "{name}: no rows");
    }
}
