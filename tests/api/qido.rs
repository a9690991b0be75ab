//! QIDO-RS (PS3.18 10.6, PS3.4 C.2.2.2) through HTTP against the real application, on the
//! SQLite and the PostgreSQL index with the same expectations. The corpus is in
//! qido_fixtures.rs; expectations are sets of labels (`S05`, `S05.2`, `S05.2.1`, `chrH31`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dicom_core::VR;
use dicom_dictionary_std::tags;
use serde_json::{json, Value};
use tessera::config::Settings;

use crate::helpers::*;
use crate::qido_fixtures::*;

backend_tests! {
    every_index_in_memory => [
        matching_table,
        returned_attributes,
        includefield_variants,
        paging_is_complete_and_stable,
        max_limit_is_capped_with_a_warning,
        xml_results,
        bad_requests_are_400_naming_the_parameter,
        injection_attempts_change_nothing,
    ];
    // It restarts the app on the same data: the blobs must outlive the first one.
    every_index_on_local_disk => [extra_attributes_are_back_filled];
}

/// `(path and query under /dicom-web, expected labels)`. Values are written unencoded (`\`
/// separates list values and is sent as %5C); `{label}` is replaced by the UID; `["*"]`
/// means every object of the level.
#[rustfmt::skip]
const CASES: &[(&str, &[&str])] = &[
    // --- study level: everything, person names
    ("/studies", &["*"]),
    ("/studies?PatientName=Doe^John", &["S01", "S12"]),
    ("/studies?PatientName=DOE^JOHN", &["S01", "S12"]),
    ("/studies?PatientName=doe^jane", &["S02"]),
    ("/studies?PatientName=Doe*", &["S01", "S02", "S12"]),
    ("/studies?PatientName=*^John", &["S01", "S08", "S12"]),
    ("/studies?PatientName=D?e^J*", &["S01", "S02", "S12"]),
    ("/studies?PatientName=Müller^Hans", &["S04"]),
    ("/studies?PatientName=müller*", &["S04"]),
    ("/studies?PatientName=Muller^Hans", &[]),
    ("/studies?PatientName=O'Brien^Patrick", &["S10"]),
    ("/studies?PatientName=Harrison*", &["S05"]),
    ("/studies?PatientName=*Harrison", &["S06"]),
    ("/studies?PatientName=dzsordzs^herizon", &["S06"]),
    ("/studies?PatientName=García^José", &["S03"]),
    ("/studies?PatientName=Garcia^Jose", &[]),
    ("/studies?PatientName=*", &["*"]),
    ("/studies?PatientName=", &["*"]),
    ("/studies?PatientName=Nobody^Atall", &[]),
    // fuzzy: case- and accent-insensitive, each word a prefix of a name component
    ("/studies?PatientName=jo&fuzzymatching=true", &["S01", "S03", "S08", "S09", "S12"]),
    ("/studies?PatientName=doe jo&fuzzymatching=true", &["S01", "S12"]),
    ("/studies?PatientName=Harris^&fuzzymatching=true", &["S05"]),
    ("/studies?PatientName=^Harris&fuzzymatching=true", &["S06"]),
    ("/studies?PatientName=harris&fuzzymatching=true", &["S05", "S06"]),
    ("/studies?PatientName==heri&fuzzymatching=true", &["S06"]),
    ("/studies?PatientName=jose&fuzzymatching=true", &["S03"]),
    ("/studies?PatientName=GARCIA&fuzzymatching=true", &["S03"]),
    ("/studies?PatientName=muller&fuzzymatching=true", &["S04"]),
    ("/studies?PatientName=jerome&fuzzymatching=true", &["chrFren"]),
    ("/studies?PatientName=rudiger&fuzzymatching=true", &["chrGerm"]),
    ("/studies?PatientName=smith john&fuzzymatching=true", &["S08"]),
    ("/studies?PatientName=zz&fuzzymatching=true", &[]),
    // fuzzy with wild cards, as OHIF sends them (`*text*`): they match inside words
    ("/studies?PatientName=*arris*&fuzzymatching=true", &["S05", "S06"]),
    ("/studies?PatientName=*ULLER*&fuzzymatching=true", &["S04"]),
    ("/studies?PatientName=j?hn&fuzzymatching=true", &["S01", "S08", "S09", "S12"]),
    ("/studies?PatientName=*arri*^&fuzzymatching=true", &["S05"]),
    // non-Latin names, whatever character set the file used
    ("/studies?PatientName=Διονυσιος", &["chrGreek"]),
    ("/studies?PatientName=διονυσιος", &["chrGreek"]),
    ("/studies?PatientName=Διον*", &["chrGreek"]),
    ("/studies?PatientName=Люк*", &["chrRuss"]),
    ("/studies?PatientName=люк*", &["chrRuss"]),
    ("/studies?PatientName=山田*", &["chrH31"]),
    ("/studies?PatientName=Yamada*", &["chrH31"]),
    ("/studies?PatientName=yamada^tarou", &["chrH31"]),
    ("/studies?PatientName=山田^太郎", &["chrH31"]),
    ("/studies?PatientName=やまだ^たろう", &["chrH31"]),
    ("/studies?PatientName=Hong^Gildong", &["chrI2"]),
    ("/studies?PatientName=洪^吉洞", &["chrI2"]),
    ("/studies?PatientName=홍*", &["chrI2"]),
    ("/studies?PatientName=김희중", &["chrKoreanMulti"]),
    ("/studies?PatientName=王^小東", &["chrX1"]),
    ("/studies?PatientName=Wang*", &["chrX1"]),
    ("/studies?PatientName=Buc^Jérôme", &["chrFren"]),
    ("/studies?PatientName=äneas^rüdiger", &["chrGerm"]),
    ("/studies?PatientName=Äneas*", &["chrGerm"]),
    // patient ID: case-sensitive, % and _ are literal
    ("/studies?PatientID=A%B", &["S03"]),
    ("/studies?PatientID=A_B", &["S04"]),
    ("/studies?PatientID=A%", &[]),
    ("/studies?PatientID=A_", &[]),
    ("/studies?PatientID=A?B", &["S03", "S04", "S05"]),
    ("/studies?PatientID=A*", &["S03", "S04", "S05"]),
    ("/studies?PatientID=pid-008", &["S08"]),
    ("/studies?PatientID=PID-008", &[]),
    ("/studies?PatientID=PID-00?", &["S01", "S02", "S07", "S09"]),
    ("/studies?PatientID=H31EXAMPLE", &["chrH31"]),
    ("/studies?00100020=A_B", &["S04"]),
    // accession number: case-sensitive
    ("/studies?AccessionNumber=acc1", &["S02"]),
    ("/studies?AccessionNumber=ACC1", &["S01"]),
    ("/studies?AccessionNumber=ACC?", &["S01", "S03", "S11"]),
    ("/studies?AccessionNumber=acc*", &["S02", "S04"]),
    // dates and times
    ("/studies?StudyDate=20200101-20201231", &["S01", "S02", "S03", "S07", "S09", "S10", "S12"]),
    ("/studies?StudyDate=20200101-", &["S01", "S02", "S03", "S04", "S07", "S08", "S09", "S10", "S12"]),
    ("/studies?StudyDate=-20191231", &["S05", "S06", "CT_small", "chrKoreanMulti"]),
    ("/studies?StudyDate=20200115", &["S01", "S12"]),
    ("/studies?StudyDate=20200101-20200101", &["S09"]),
    ("/studies?00080020=20190101-20191231", &["S05"]),
    ("/studies?StudyTime=0900-1200", &["S01", "S05", "S07", "S09", "S10"]),
    ("/studies?StudyTime=0900-1000", &["S01", "S09"]),
    ("/studies?StudyTime=-0800", &["S04", "S06", "CT_small"]),
    ("/studies?StudyTime=2300-", &["S03"]),
    ("/studies?StudyDate=20200115-20200620&StudyTime=1200-1500", &["S02", "S07", "S12"]),
    ("/studies?StudyDate=20200115&StudyTime=0900-1000", &["S01"]),
    ("/studies?StudyDate=20200115-20200620&StudyTime=1200-1500&PatientName=Doe*", &["S02", "S12"]),
    ("/studies?PatientBirthDate=19700101-19791231", &["S01", "S02", "S09", "S12"]),
    // modalities in study
    ("/studies?ModalitiesInStudy=CT", &["S01", "S04", "S05", "S07", "S10", "S12", "CT_small"]),
    ("/studies?ModalitiesInStudy=CT\\MR", &["S01", "S02", "S04", "S05", "S06", "S07", "S09", "S10", "S12", "CT_small"]),
    ("/studies?ModalitiesInStudy=SR", &["S01", "S08", "S09", "S11"]),
    ("/studies?ModalitiesInStudy=OT", &["chrGreek", "chrRuss", "chrH31", "chrI2", "chrX1", "chrFren", "chrGerm"]),
    ("/studies?ModalitiesInStudy=CR", &["chrKoreanMulti"]),
    ("/studies?ModalitiesInStudy=CT&PatientName=Doe*", &["S01", "S12"]),
    ("/studies?ModalitiesInStudy=US&StudyDate=20200101-20201231", &["S03", "S07"]),
    // UIDs and other keys
    ("/studies?StudyInstanceUID={S01}", &["S01"]),
    ("/studies?StudyInstanceUID={S01}\\{S03}\\{CT_small}", &["S01", "S03", "CT_small"]),
    ("/studies?StudyInstanceUID=1.2.3.999", &[]),
    ("/studies?0020000D={S02}", &["S02"]),
    ("/studies?00100010=Doe*", &["S01", "S02", "S12"]),
    ("/studies?PatientSex=F", &["S02", "S07", "S09"]),
    ("/studies?PatientSex=O", &["S11", "CT_small"]),
    ("/studies?ReferringPhysicianName=Welby*", &["S01", "S05"]),
    ("/studies?ReferringPhysicianName=house^gregory", &["S07"]),
    ("/studies?StudyID=ST1", &["S01"]),
    ("/studies?StudyID=ST1*", &["S01", "S10", "S11", "S12"]),
    ("/studies?StudyDescription=*Chest*", &["S01", "S05", "S07", "chrKoreanMulti"]),
    ("/studies?StudyDescription=chest*", &["S04"]),
    ("/studies?PatientName=Doe*&PatientSex=F", &["S02"]),
    // --- series level
    ("/series?Modality=CT", &["S01.1", "S04.1", "S05.1", "S07.1", "S10.1", "S10.2", "S12.1", "CT_small"]),
    ("/series?Modality=SR", &["S01.2", "S08.1", "S08.2", "S09.2", "S11.2"]),
    ("/series?PatientID=PID-002", &["S02.1", "S02.2"]),
    ("/series?PatientName=Doe*", &["S01.1", "S01.2", "S02.1", "S02.2", "S12.1", "S12.2"]),
    ("/series?SeriesNumber=3", &["S05.3"]),
    ("/series?SeriesNumber=7", &["S06.2"]),
    ("/series?SeriesNumber=102", &["S10.2"]),
    ("/series?SeriesDescription=Axial", &["S05.1", "S07.1", "S10.1", "S12.1"]),
    ("/series?SeriesDescription=Axial*", &["S01.1", "S05.1", "S07.1", "S10.1", "S12.1"]),
    ("/series?SeriesDescription=*Axial", &["S02.1", "S02.2", "S05.1", "S07.1", "S10.1", "S12.1"]),
    ("/series?BodyPartExamined=HEAD", &["S02.1", "S02.2", "S04.2", "S05.2", "S12.1", "S12.2"]),
    ("/series?BodyPartExamined=CHEST", &["S01.1", "S04.1", "S05.1", "S07.1", "chrKoreanMulti"]),
    ("/series?PerformedProcedureStepStartDate=20200101-20200131", &["S01.1", "S01.2", "S09.1"]),
    ("/series?PerformedProcedureStepStartTime=0900-1000", &["S01.1", "S09.1"]),
    ("/series?SeriesInstanceUID={S01.1}\\{S05.2}", &["S01.1", "S05.2"]),
    ("/series?SeriesInstanceUID={series:CT_small}", &["CT_small"]),
    ("/series?StudyInstanceUID={S05}", &["S05.1", "S05.2", "S05.3"]),
    ("/series?Modality=US&StudyDate=20200101-", &["S03.1", "S03.2", "S07.2"]),
    ("/series?0008103E=Report", &["S01.2", "S08.1", "S09.2", "S11.2"]),
    ("/series?Modality=MR&PatientSex=F", &["S02.1", "S02.2", "S09.1"]),
    ("/series?Modality=OT&PatientName=山田*", &["chrH31"]),
    ("/studies/{S05}/series", &["S05.1", "S05.2", "S05.3"]),
    ("/studies/{S05}/series?Modality=MR", &["S05.2"]),
    ("/studies/{S05}/series?PatientName=Doe*", &[]),
    ("/studies/1.2.3.4.5.999/series", &[]),
    // --- instance level
    ("/instances?StudyInstanceUID={S01}&Modality=CT", &["S01.1.1", "S01.1.2", "S01.1.3", "S01.1.4"]),
    ("/instances?InstanceNumber=3", &["S01.1.3", "S02.1.3", "S03.1.3", "S05.1.3", "S07.1.3", "S09.1.3"]),
    ("/instances?InstanceNumber=30", &["S10.1.3"]),
    ("/instances?SOPClassUID=1.2.840.10008.5.1.4.1.1.88.11", &["S01.2.1", "S08.1.1", "S08.2.1", "S09.2.1", "S11.2.1"]),
    ("/instances?SOPInstanceUID={S02.1.2}", &["S02.1.2"]),
    ("/instances?SOPInstanceUID={S02.1.2}\\{S09.1.4}", &["S02.1.2", "S09.1.4"]),
    ("/instances?SOPInstanceUID={sop:chrH31}\\{S01.1.1}", &["chrH31", "S01.1.1"]),
    ("/instances?PatientName=Johnson^Mary", &["S09.1.1", "S09.1.2", "S09.1.3", "S09.1.4", "S09.2.1"]),
    ("/instances?PatientID=A_B&Modality=MR", &["S04.2.1", "S04.2.2"]),
    ("/instances?SeriesInstanceUID={S07.2}", &["S07.2.1", "S07.2.2"]),
    ("/instances?StudyDate=20201231", &["S03.1.1", "S03.1.2", "S03.1.3", "S03.2.1", "S03.2.2", "S10.1.1", "S10.1.2", "S10.1.3", "S10.1.4", "S10.1.5", "S10.2.1", "S10.2.2"]),
    ("/instances?PatientName=山田*", &["chrH31"]),
    ("/instances?SOPClassUID=1.2.840.10008.5.1.4.1.1.7&PatientName=Wang*", &["chrX1"]),
    ("/studies/{S02}/instances", &["S02.1.1", "S02.1.2", "S02.1.3", "S02.2.1", "S02.2.2"]),
    ("/studies/{S02}/instances?InstanceNumber=2", &["S02.1.2", "S02.2.2"]),
    ("/studies/{S01}/instances?Modality=SR", &["S01.2.1"]),
    ("/studies/{S02}/series/{S02.2}/instances", &["S02.2.1", "S02.2.2"]),
    ("/studies/{S02}/series/{S01.1}/instances", &[]),
    ("/studies/{S10}/series/{S10.1}/instances?InstanceNumber=30", &["S10.1.3"]),
];

/// Matching on the extra attributes, once configured (see extra_attributes_are_back_filled).
#[rustfmt::skip]
const EXTRA_CASES: &[(&str, &[&str])] = &[
    ("/series?StationName=CTSTATION1", &["S01.1", "S05.1", "S10.1", "S10.2"]),
    ("/series?StationName=CT*", &["S01.1", "S04.1", "S05.1", "S07.1", "S10.1", "S10.2", "S12.1", "CT_small"]),
    ("/series?00081010=MRI-EAST", &["S02.1", "S02.2", "S05.2", "S09.1"]),
    ("/series?StationName=mri-east", &[]),
    ("/series?StationName=CR250", &["chrKoreanMulti"]),
    ("/studies/{S05}/series?StationName=US-NORTH", &["S05.3"]),
    ("/instances?StationName=SRSERVER&PatientSex=F", &["S09.2.1"]),
    ("/instances?AcquisitionDateTime=20200115093101", &["S01.1.1"]),
    ("/instances?AcquisitionDateTime=20200115093102-20200115093103", &["S01.1.2", "S01.1.3"]),
    ("/instances?AcquisitionDateTime=20200301-", &["S07.1.1", "S07.1.2", "S07.1.3"]),
    ("/instances?AcquisitionDateTime=-20200115120000", &["S01.1.1", "S01.1.2", "S01.1.3", "S01.1.4"]),
    ("/studies?InstitutionName=General Hospital", &["S01", "S02", "S05", "S07", "S09"]),
    ("/studies?InstitutionName=Klinikum*", &["S04", "S12"]),
    ("/studies?00080080=JFK IMAGING CENTER", &["CT_small"]),
];

// ---------------------------------------------------------------------------------------
// Tests

pub async fn matching_table(backend: Backend) {
    let app = corpus_app(backend).await;
    let failures = run_cases(&app, &Labels::load(), CASES).await;
    assert!(
        failures.is_empty(),
        "{backend:?}: {} of {} QIDO matching cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

pub async fn returned_attributes(backend: Backend) {
    let app = corpus_app(backend).await;
    let labels = Labels::load();
    let corpus = corpus();
    let expected = expected();

    // Study level: every synthetic study, every value.
    let studies = get(&app, "/studies").await.results("/studies");
    for spec in &corpus {
        let uid = spec.uid();
        let o = find(&studies, Level::Study, &uid);
        let ctx = format!("/studies {}", spec.label);
        assert_text(o, "00080020", "DA", &[spec.date], &ctx);
        assert_text(o, "00080030", "TM", &[spec.time], &ctx);
        assert_text(o, "00080050", "SH", &[spec.accession], &ctx);
        assert_set(o, "00080061", "CS", &spec.modalities(), &ctx);
        assert_set(o, "00080062", "UI", &spec.sop_classes(), &ctx);
        assert_pn(o, "00080090", spec.referring, &ctx);
        assert_pn(o, "00100010", spec.patient_name, &ctx);
        assert_text(o, "00100020", "LO", &[spec.patient_id], &ctx);
        assert_text(o, "00100030", "DA", &[spec.birth_date], &ctx);
        assert_text(o, "00100040", "CS", &[spec.sex], &ctx);
        assert_text(o, "0020000D", "UI", &[&uid], &ctx);
        assert_text(o, "00200010", "SH", &[&spec.study_id], &ctx);
        assert_number(o, "00201206", "IS", spec.series.len() as f64, &ctx);
        assert_number(o, "00201208", "IS", spec.instance_count() as f64, &ctx);
        let url = app.url(&format!("/dicom-web/studies/{uid}"));
        assert_text(o, "00081190", "UR", &[&url], &ctx);
    }
    // Real files: names decoded from their character sets into PN groups.
    for name in REAL_FILES {
        let o = find(&studies, Level::Study, labels.study(name));
        let want = expected[format!("{name}.dcm")]["patient_name"]
            .as_str()
            .unwrap();
        assert_pn(o, "00100010", want, &format!("/studies {name}"));
        assert_number(o, "00201206", "IS", 1.0, name);
        assert_number(o, "00201208", "IS", 1.0, name);
    }
    let h31 = find(&studies, Level::Study, labels.study("chrH31"));
    assert_eq!(
        h31["00100010"]["Value"][0],
        json!({"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"})
    );
    let s06 = find(&studies, Level::Study, labels.study("S06"));
    assert_eq!(
        s06["00100010"]["Value"][0],
        json!({"Alphabetic": "George^Harrison", "Ideographic": "dzsordzs^herizon"})
    );

    // Series level (no study in the path: study defaults come along).
    let series = get(&app, "/series").await.results("/series");
    assert_eq!(series.len(), labels.all(Level::Series).len());
    for spec in &corpus {
        for (si, se) in spec.series.iter().enumerate() {
            let n = si + 1;
            let uid = spec.series_uid(n);
            let o = find(&series, Level::Series, &uid);
            let ctx = format!("/series {}.{n}", spec.label);
            assert_text(o, "00080060", "CS", &[se.modality], &ctx);
            assert_text(o, "0008103E", "LO", &[se.description], &ctx);
            assert_number(o, "00200011", "IS", se.number.parse().unwrap(), &ctx);
            assert_text(o, "0020000E", "UI", &[&uid], &ctx);
            assert_text(o, "0020000D", "UI", &[&spec.uid()], &ctx);
            assert_number(o, "00201209", "IS", se.instances.len() as f64, &ctx);
            if !se.pps_date.is_empty() {
                assert_text(o, "00400244", "DA", &[se.pps_date], &ctx);
                assert_text(o, "00400245", "TM", &[se.pps_time], &ctx);
            }
            let url = app.url(&format!("/dicom-web/studies/{}/series/{uid}", spec.uid()));
            assert_text(o, "00081190", "UR", &[&url], &ctx);
            assert_pn(o, "00100010", spec.patient_name, &ctx);
            assert_text(o, "00100020", "LO", &[spec.patient_id], &ctx);
            assert_text(o, "00080020", "DA", &[spec.date], &ctx);
        }
    }
    // Within a study: the same series values.
    let in_study = get(&app, &labels.fill("/studies/{S05}/series"))
        .await
        .results("/studies/S05/series");
    let o = find(&in_study, Level::Series, labels.series("S05.3"));
    assert_text(o, "00080060", "CS", &["US"], "S05.3");
    assert_number(o, "00200011", "IS", 3.0, "S05.3");
    assert_number(o, "00201209", "IS", 1.0, "S05.3");

    // Instance level.
    let instances = get(&app, "/instances").await.results("/instances");
    assert_eq!(instances.len(), labels.all(Level::Instance).len());
    for spec in &corpus {
        for (si, se) in spec.series.iter().enumerate() {
            let n = si + 1;
            for (ii, inst) in se.instances.iter().enumerate() {
                let i = ii + 1;
                let sop = spec.sop_uid(n, i);
                let o = find(&instances, Level::Instance, &sop);
                let ctx = format!("/instances {}.{n}.{i}", spec.label);
                assert_text(o, "00080016", "UI", &[sop_class(se.modality)], &ctx);
                assert_text(o, "00080018", "UI", &[&sop], &ctx);
                assert_number(o, "00200013", "IS", inst.number.parse().unwrap(), &ctx);
                assert_text(o, "0020000D", "UI", &[&spec.uid()], &ctx);
                assert_text(o, "0020000E", "UI", &[&spec.series_uid(n)], &ctx);
                if se.modality != "SR" {
                    assert_number(o, "00280010", "US", 8.0, &ctx);
                    assert_number(o, "00280011", "US", 8.0, &ctx);
                    assert_number(o, "00280100", "US", 8.0, &ctx);
                }
                if inst.frames > 1 {
                    assert_number(o, "00280008", "IS", f64::from(inst.frames), &ctx);
                }
                let url = app.url(&format!(
                    "/dicom-web/studies/{}/series/{}/instances/{sop}",
                    spec.uid(),
                    spec.series_uid(n)
                ));
                assert_text(o, "00081190", "UR", &[&url], &ctx);
                assert_pn(o, "00100010", spec.patient_name, &ctx);
                assert_text(o, "00100020", "LO", &[spec.patient_id], &ctx);
            }
        }
    }
    let ct = find(&instances, Level::Instance, labels.instance("CT_small"));
    assert_number(ct, "00280010", "US", 128.0, "CT_small");
    assert_number(ct, "00280100", "US", 16.0, "CT_small");
    assert_pn(ct, "00100010", "CompressedSamples^CT1", "CT_small");
}

pub async fn includefield_variants(backend: Backend) {
    let app = corpus_app(backend).await;
    let labels = Labels::load();
    let one = |template: &str| {
        let pq = labels.fill(template);
        let app = &app;
        async move {
            let results = get(app, &pq).await.results(&pq);
            assert_eq!(results.len(), 1, "{pq}: {results:?}");
            results.into_iter().next().unwrap()
        }
    };

    for template in [
        "/studies?StudyInstanceUID={S01}&includefield=00081030",
        "/studies?StudyInstanceUID={S01}&includefield=StudyDescription",
        "/studies?StudyInstanceUID={S01}&StudyDescription=",
        "/studies?StudyInstanceUID={S01}&StudyDescription=CT*",
    ] {
        let o = one(template).await;
        assert_text(&o, "00081030", "LO", &["CT Chest"], template);
    }
    for template in [
        "/series?SeriesInstanceUID={S01.1}&includefield=StudyDescription,BodyPartExamined",
        "/series?SeriesInstanceUID={S01.1}&includefield=00081030&includefield=BodyPartExamined",
        "/series?SeriesInstanceUID={S01.1}&includefield=StudyDescription&includefield=00180015",
    ] {
        let o = one(template).await;
        assert_text(&o, "00081030", "LO", &["CT Chest"], template);
        assert_text(&o, "00180015", "CS", &["CHEST"], template);
        assert_text(&o, "0008103E", "LO", &["Axial 5mm"], template);
    }
    // Universal matching returns the attribute.
    let template = "/series?SeriesInstanceUID={S01.1}&BodyPartExamined=";
    assert_text(&one(template).await, "00180015", "CS", &["CHEST"], template);
    let template = "/studies?StudyInstanceUID={S04}&PatientName=";
    assert_pn(&one(template).await, "00100010", "Müller^Hans", template);

    // includefield=all: every stored top-level attribute that is not bulk data.
    let template = "/instances?SOPInstanceUID={sop:CT_small}&includefield=all";
    let o = one(template).await;
    assert_decimals(&o, "00180050", &[5.0], template);
    assert_decimals(&o, "00180060", &[120.0], template);
    assert_text(&o, "00080070", "LO", &["GE MEDICAL SYSTEMS"], template);
    assert_text(&o, "00080080", "LO", &["JFK IMAGING CENTER"], template);
    assert_text(&o, "00081010", "SH", &["CT01_OC0"], template);
    assert_text(&o, "00181210", "SH", &["STANDARD"], template);
    assert_text(&o, "00204000", "LT", &["Uncompressed"], template);
    assert_text(
        &o,
        "00080008",
        "CS",
        &["ORIGINAL", "PRIMARY", "AXIAL"],
        template,
    );
    assert_decimals(&o, "00280030", &[0.661468, 0.661468], template);
    assert_text(
        &o,
        "00080018",
        "UI",
        &[labels.instance("CT_small")],
        template,
    );
    assert_no_inline_pixels(&o, template);

    let template = "/studies/{S01}/series/{S01.1}/instances?InstanceNumber=1&includefield=all";
    let o = one(template).await;
    assert_text(&o, "00080080", "LO", &["General Hospital"], template);
    assert_text(&o, "00081010", "SH", &["CTSTATION1"], template);
    assert_text(&o, "0008002A", "DT", &["20200115093101"], template);
    assert_text(&o, "00280004", "CS", &["MONOCHROME2"], template);
    assert_text(
        &o,
        "00080018",
        "UI",
        &[labels.instance("S01.1.1")],
        template,
    );
    assert_no_inline_pixels(&o, template);
}

pub async fn paging_is_complete_and_stable(backend: Backend) {
    let app = corpus_app(backend).await;
    let labels = Labels::load();

    for (path, page_size) in [
        ("/instances", 7),
        ("/studies", 5),
        ("/series?Modality=CT", 3),
    ] {
        let full = uids(&get(&app, path).await.results(path), Level::of(path));
        let again = uids(&get(&app, path).await.results(path), Level::of(path));
        assert_eq!(
            full, again,
            "{path}: the order changes between two requests"
        );
        let mut paged = Vec::new();
        let mut offset = 0;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let pq = format!("{path}{sep}limit={page_size}&offset={offset}");
            let page = uids(&get(&app, &pq).await.results(&pq), Level::of(path));
            assert!(page.len() <= page_size, "{pq}: {} results", page.len());
            let repeat = uids(&get(&app, &pq).await.results(&pq), Level::of(path));
            assert_eq!(page, repeat, "{pq}: a page changes between two requests");
            if page.is_empty() {
                break;
            }
            offset += page.len();
            paged.extend(page);
            assert!(offset <= 1000, "{path}: paging never ends");
        }
        let distinct: BTreeSet<_> = paged.iter().collect();
        assert_eq!(
            distinct.len(),
            paged.len(),
            "{path}: duplicates across pages"
        );
        assert_eq!(
            paged, full,
            "{path}: the pages differ from the whole answer"
        );
    }
    let all_instances = uids(
        &get(&app, "/instances").await.results("/instances"),
        Level::Instance,
    );
    let want: BTreeSet<String> = labels
        .all(Level::Instance)
        .iter()
        .map(|l| labels.instance(l).to_string())
        .collect();
    assert_eq!(all_instances.into_iter().collect::<BTreeSet<_>>(), want);

    let studies = labels.all(Level::Study).len();
    let last = get(&app, &format!("/studies?limit=5&offset={}", studies - 1))
        .await
        .results("last page");
    assert_eq!(last.len(), 1);
    for pq in [
        format!("/studies?offset={studies}"),
        "/studies?offset=1000".to_string(),
        "/studies?PatientName=Doe*&offset=3".to_string(),
    ] {
        assert_eq!(
            get(&app, &pq).await.results(&pq),
            Vec::<Value>::new(),
            "{pq}"
        );
    }
    let pq = "/studies?PatientName=Doe*&limit=2";
    assert_eq!(get(&app, pq).await.results(pq).len(), 2);
}

pub async fn max_limit_is_capped_with_a_warning(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        *s = settings_with(s, "qido_max_limit = 5\nqido_default_limit = 3")
    })
    .await;
    store_corpus(&app).await;
    let labels = Labels::load();
    let studies = labels.all(Level::Study).len();

    let default = get(&app, "/studies").await;
    assert_eq!(default.results("/studies").len(), 3, "default limit");

    let capped = get(&app, "/studies?limit=100").await;
    assert_eq!(
        capped.results("limit=100").len(),
        5,
        "limit over the maximum"
    );
    let warning = capped
        .warning
        .clone()
        .expect("a response cut by the maximum limit carries a Warning header");
    assert!(warning.starts_with("299"), "Warning: {warning}");

    let asked = get(&app, "/studies?limit=4").await;
    assert_eq!(asked.results("limit=4").len(), 4);
    assert_eq!(
        asked.warning, None,
        "the client's own limit is no server cut"
    );

    let few = get(&app, "/studies?PatientName=Doe*&limit=100").await;
    assert_eq!(few.results("Doe*").len(), 3);
    assert_eq!(few.warning, None, "nothing was cut");

    // Walking with the cap still reaches everything.
    let mut seen = Vec::new();
    for offset in (0..studies + 5).step_by(5) {
        let pq = format!("/studies?limit=100&offset={offset}");
        seen.extend(uids(&get(&app, &pq).await.results(&pq), Level::Study));
    }
    let distinct: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(distinct.len(), seen.len(), "duplicates across capped pages");
    assert_eq!(distinct.len(), studies);
}

pub async fn xml_results(backend: Backend) {
    let app = corpus_app(backend).await;
    let labels = Labels::load();

    let answer = get_with(&app, "/studies?PatientName=Doe*", "application/dicom+xml").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let parts = xml_parts(&answer);
    assert_eq!(parts.len(), 3, "one part per result");
    let mut found = BTreeSet::new();
    for part in &parts {
        assert!(part.contains("<NativeDicomModel"), "{part}");
        assert!(part.contains("keyword=\"StudyInstanceUID\""), "{part}");
        for label in ["S01", "S02", "S12"] {
            if part.contains(&format!(
                "<Value number=\"1\">{}</Value>",
                labels.study(label)
            )) {
                found.insert(label);
            }
        }
    }
    assert_eq!(found, BTreeSet::from(["S01", "S02", "S12"]));
    let s12 = parts
        .iter()
        .find(|p| p.contains(labels.study("S12")))
        .unwrap();
    for needle in [
        "tag=\"00100010\"",
        "vr=\"PN\"",
        "<PersonName number=\"1\">",
        "<Alphabetic>",
        "<FamilyName>Doe</FamilyName>",
        "<GivenName>John</GivenName>",
        "tag=\"00201208\"",
    ] {
        assert!(s12.contains(needle), "{needle} missing in {s12}");
    }

    let answer = get_with(
        &app,
        &labels.fill("/series?StudyInstanceUID={S06}&SeriesNumber=1"),
        "application/dicom+xml",
    )
    .await;
    let parts = xml_parts(&answer);
    assert_eq!(parts.len(), 1);
    for needle in [
        labels.series("S06.1"),
        "<Ideographic>",
        "<FamilyName>dzsordzs</FamilyName>",
        "<GivenName>herizon</GivenName>",
        "tag=\"00080060\"",
    ] {
        assert!(
            parts[0].contains(needle),
            "{needle} missing in {}",
            parts[0]
        );
    }
}

pub async fn bad_requests_are_400_naming_the_parameter(backend: Backend) {
    let app = corpus_app(backend).await;
    let labels = Labels::load();
    let long_uid = format!("1.{}", "2".repeat(70));
    let long_path = format!("/studies/{long_uid}/series");
    #[rustfmt::skip]
    let cases: &[(&str, &[&str])] = &[
        ("/studies?PatientNam=x", &["PatientNam"]),
        ("/studies?ZZZZZZZZ=1", &["ZZZZZZZZ"]),
        ("/studies?StudyDate=2020-13-45x", &["StudyDate"]),
        ("/studies?StudyDate=20201345", &["StudyDate"]),
        ("/studies?StudyDate=20200101-20190101", &["StudyDate"]),
        ("/studies?StudyDate=2020*", &["StudyDate"]),
        ("/studies?StudyTime=25xx", &["StudyTime"]),
        ("/studies?PatientBirthDate=1970-01-01", &["PatientBirthDate"]),
        ("/series?PerformedProcedureStepStartTime=9am", &["PerformedProcedureStepStartTime"]),
        ("/studies?StudyInstanceUID=1.2.abc", &["StudyInstanceUID"]),
        ("/studies?StudyInstanceUID=1.2.3\\1.2.abc", &["StudyInstanceUID"]),
        ("/studies?StudyInstanceUID=1.2.*", &["StudyInstanceUID"]),
        ("/series?SeriesInstanceUID=1.2.?", &["SeriesInstanceUID"]),
        ("/instances?SOPInstanceUID=1.2.3*", &["SOPInstanceUID"]),
        ("/studies?limit=ten", &["limit"]),
        ("/studies?limit=-1", &["limit"]),
        ("/studies?offset=-1", &["offset"]),
        ("/studies?offset=abc", &["offset"]),
        ("/studies?includefield=NotAKeyword", &["NotAKeyword"]),
        ("/studies?includefield=StudyDescription,NotAKeyword", &["NotAKeyword"]),
        ("/studies?ReferencedStudySequence=x", &["ReferencedStudySequence"]),
        ("/studies?00081110=x", &["00081110", "ReferencedStudySequence"]),
        ("/instances?InstanceNumber=abc", &["InstanceNumber"]),
        ("/series?SeriesNumber=x", &["SeriesNumber"]),
        ("/series?StationName=CTSTATION1", &["StationName"]),
        ("/studies/1.2.abc/series", &["1.2.abc", "UID"]),
        ("/studies/{S01}/series/1.2.x/instances", &["1.2.x", "UID"]),
        (long_path.as_str(), &[long_uid.as_str(), "UID", "64"]),
    ];
    let mut failures = Vec::new();
    for (template, needles) in cases {
        let pq = labels.fill(template);
        let answer = get(&app, &pq).await;
        if let Err(why) = answer.bad_request(needles) {
            failures.push(format!("{template}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{backend:?}: {} of {} bad requests not answered 400 as expected:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

pub async fn injection_attempts_change_nothing(backend: Backend) {
    let app = corpus_app(backend).await;
    let labels = Labels::load();
    let counts = app.counts().await;
    let payloads = [
        "/studies?PatientID=' OR 1=1 --",
        "/studies?PatientID=' OR '1'='1",
        "/studies?PatientName=x'); DROP TABLE studies; --",
        "/studies?PatientName=Doe*'; UPDATE studies SET patient_name='x'; --",
        "/studies?PatientName=%' OR 'a'='a",
        "/studies?PatientName=x' OR 1=1 --&fuzzymatching=true",
        "/studies?includefield=00100010);--",
        "/studies?includefield=PatientName) FROM studies; DROP TABLE instances; --",
        "/studies?StudyDescription=*' OR '1'='1",
        "/studies?AccessionNumber='; DELETE FROM instances; --",
        "/studies?ModalitiesInStudy=CT') OR ('1'='1",
        "/studies?ModalitiesInStudy=XX\\MR') OR 1=1 --",
        "/studies?StudyDate=20200101' OR '1'='1",
        "/studies?StudyInstanceUID=1.2.3') OR ('1'='1",
        "/studies?limit=1; DROP TABLE studies",
        "/studies?offset=0 OR 1=1",
        "/studies?PatientName'--=x",
        "/series?Modality=CT') OR ('1'='1",
        "/series?SeriesDescription=\"; DROP TABLE series; --",
        "/instances?SOPClassUID=1.2' UNION SELECT * FROM instances --",
        "/instances?InstanceNumber=1 OR 1=1",
        "/studies/1.2.3' OR '1'='1/series",
    ];
    let mut failures = Vec::new();
    for pq in payloads {
        let answer = get(&app, pq).await;
        match answer.status {
            200 => match serde_json::from_slice::<Value>(&answer.body) {
                Ok(Value::Array(a)) if a.is_empty() => {}
                _ => failures.push(format!("{pq}: 200 with {}", answer.text())),
            },
            400 => {
                if let Err(why) = answer.bad_request(&[]) {
                    failures.push(format!("{pq}: {why}"));
                }
            }
            // A path that is no QIDO route at all.
            404 if pq.starts_with("/studies/1.2.3'") => {}
            other => failures.push(format!("{pq}: status {other}: {}", answer.text())),
        }
    }
    assert!(failures.is_empty(), "{backend:?}:\n{}", failures.join("\n"));

    assert_eq!(app.counts().await, counts, "rows changed");
    let all = uids(
        &get(&app, "/studies").await.results("/studies"),
        Level::Study,
    );
    assert_eq!(all.len(), labels.all(Level::Study).len());
    let failures = run_cases(&app, &labels, &CASES[..12]).await;
    assert!(
        failures.is_empty(),
        "after injection attempts:\n{}",
        failures.join("\n")
    );
}

pub async fn extra_attributes_are_back_filled(backend: Backend) {
    // Local blobs (the backend is on local disk): they outlive the first app, which is what a
    // back-fill reads.
    let first = TestApp::spawn(backend).await;
    store_corpus(&first).await;
    let labels = Labels::load();
    for (pq, needle) in [
        ("/series?StationName=CTSTATION1", "StationName"),
        ("/series?00081010=CTSTATION1", "00081010"),
        (
            "/instances?AcquisitionDateTime=20200115093101",
            "AcquisitionDateTime",
        ),
        (
            "/studies?InstitutionName=General Hospital",
            "InstitutionName",
        ),
    ] {
        let answer = get(&first, pq).await;
        let needles = [needle, "StationName"];
        let needles = if needle == "00081010" {
            &needles[..]
        } else {
            &needles[..1]
        };
        if let Err(why) = answer.bad_request(needles) {
            panic!("{pq} before the attribute is configured: {why}");
        }
    }

    let settings = settings_with(
        &first.settings,
        r#"extra_query_attributes = ["series:StationName", "instance:0008002A", "study:InstitutionName"]"#,
    );
    let dir = first.dir.clone();
    first.stop().await;
    let app = TestApp::start(settings, dir).await;

    // A back-fill may run in the background: wait (bounded) for the first answer.
    let (first_case, want) = EXTRA_CASES[0];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let failures = run_cases(&app, &labels, &[(first_case, want)]).await;
        if failures.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{backend:?}: extra attribute never back-filled:\n{}",
            failures.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let failures = run_cases(&app, &labels, EXTRA_CASES).await;
    assert!(
        failures.is_empty(),
        "{backend:?}: {} of {} extra-attribute cases failed:\n{}",
        failures.len(),
        EXTRA_CASES.len(),
        failures.join("\n")
    );

    // The matched attribute comes back in the results.
    let results = get(&app, "/series?StationName=CTSTATION1")
        .await
        .results("StationName");
    for o in &results {
        assert_text(o, "00081010", "SH", &["CTSTATION1"], "StationName result");
    }

    // Instances stored from now on are matched too.
    let new = Part10::new(CT, "2.25.3000.99.1.1")
        .text(tags::STUDY_INSTANCE_UID, VR::UI, "2.25.1000.99")
        .text(tags::SERIES_INSTANCE_UID, VR::UI, "2.25.2000.99.1")
        .text(tags::MODALITY, VR::CS, "CT")
        .text(tags::PATIENT_NAME, VR::PN, "New^Patient")
        .text(tags::PATIENT_ID, VR::LO, "PID-099")
        .text(tags::STATION_NAME, VR::SH, "NEWSTATION")
        .text(tags::INSTITUTION_NAME, VR::LO, "New Clinic")
        .text(tags::ACQUISITION_DATE_TIME, VR::DT, "20240229120000")
        .pixels(8, 8, 1)
        .build();
    let stored = app.stow_one(&new).await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    for (pq, tag, uid) in [
        (
            "/series?StationName=NEWSTATION",
            "0020000E",
            "2.25.2000.99.1",
        ),
        ("/studies?InstitutionName=New*", "0020000D", "2.25.1000.99"),
        (
            "/instances?AcquisitionDateTime=20240101-",
            "00080018",
            "2.25.3000.99.1.1",
        ),
    ] {
        let results = get(&app, pq).await.results(pq);
        let got: Vec<_> = results.iter().map(|o| o[tag]["Value"][0].clone()).collect();
        assert_eq!(got, vec![json!(uid)], "{pq}");
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

/// An app on `backend` with the whole corpus stored.
async fn corpus_app(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    store_corpus(&app).await;
    app
}

async fn store_corpus(app: &TestApp) {
    let mut files = synthetic_files();
    files.extend(real_files());
    for chunk in files.chunks(16) {
        let result = app.stow(chunk).await;
        let result = StowResult::from(result).await;
        assert_eq!(
            result.status, 200,
            "storing the corpus: {:?} {}",
            result.warning, result.body
        );
    }
}

/// Settings resolved from a TOML file: `base`'s index, blob store and data dir plus `extra`
/// (QIDO settings such as `qido_max_limit`), as an operator would write them.
fn settings_with(base: &Settings, extra: &str) -> Settings {
    let path = base.data_dir.join("qido-test-settings.toml");
    let text = format!(
        "data_dir = {:?}\ndatabase_url = {:?}\nstorage_url = {:?}\nlisten = \"127.0.0.1:0\"\n\
         sweep_interval = 0\nduplicate_policy = \"reject\"\n{extra}\n",
        base.data_dir.display().to_string(),
        base.database_url(),
        base.storage_url(),
    );
    std::fs::write(&path, text).unwrap();
    Settings::from_file(&path)
        .unwrap_or_else(|e| panic!("the settings file does not take {extra:?}: {e}"))
}

struct Answer {
    status: u16,
    content_type: String,
    warning: Option<String>,
    body: Bytes,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The DICOM JSON results of a 200 answer (panics otherwise).
    fn results(&self, context: &str) -> Vec<Value> {
        assert_eq!(self.status, 200, "{context}: {}", self.text());
        assert!(
            self.content_type.starts_with("application/dicom+json"),
            "{context}: Content-Type {}",
            self.content_type
        );
        match serde_json::from_slice(&self.body) {
            Ok(Value::Array(items)) => items,
            _ => panic!("{context}: not a JSON array: {}", self.text()),
        }
    }

    /// A 400 with `{"error":"bad_request","message":...}` naming one of `needles` (any when
    /// empty).
    fn bad_request(&self, needles: &[&str]) -> Result<(), String> {
        if self.status != 400 {
            return Err(format!("status {}: {}", self.status, self.text()));
        }
        if !self.content_type.starts_with("application/json") {
            return Err(format!("Content-Type {}", self.content_type));
        }
        let body: Value = serde_json::from_slice(&self.body)
            .map_err(|_| format!("body is not JSON: {}", self.text()))?;
        if body["error"] != "bad_request" {
            return Err(format!("error is not bad_request: {body}"));
        }
        let message = body["message"]
            .as_str()
            .ok_or_else(|| format!("no message: {body}"))?;
        if !needles.is_empty() && !needles.iter().any(|n| message.contains(n)) {
            return Err(format!("message {message:?} names none of {needles:?}"));
        }
        Ok(())
    }
}

/// Percent-encode the query of `path?k=v&k=v` (values as written; `\` becomes %5C, a space
/// %20; the first `=` of a pair separates key and value).
fn encode(path_and_query: &str) -> String {
    let enc = |s: &str| {
        url::form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    let path_enc = |s: &str| s.split('/').map(&enc).collect::<Vec<_>>().join("/");
    match path_and_query.split_once('?') {
        None => path_enc(path_and_query),
        Some((path, query)) => {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    format!("{}={}", enc(k), enc(v))
                })
                .collect();
            format!("{}?{}", path_enc(path), pairs.join("&"))
        }
    }
}

async fn get(app: &TestApp, path_and_query: &str) -> Answer {
    get_with(app, path_and_query, "application/dicom+json").await
}

async fn get_with(app: &TestApp, path_and_query: &str, accept: &str) -> Answer {
    let url = app.url(&format!("/dicom-web{}", encode(path_and_query)));
    let response = app
        .client
        .get(&url)
        .header("accept", accept)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_string())
    };
    let status = response.status().as_u16();
    let content_type = header("content-type").unwrap_or_default();
    let warning = header("warning");
    let body = response.bytes().await.unwrap();
    Answer {
        status,
        content_type,
        warning,
        body,
    }
}

/// Run table cases; one line per failure.
async fn run_cases(app: &TestApp, labels: &Labels, cases: &[(&str, &[&str])]) -> Vec<String> {
    let mut failures = Vec::new();
    for (template, expected) in cases {
        let level = Level::of(template);
        let answer = get(app, &labels.fill(template)).await;
        if answer.status != 200 {
            failures.push(format!(
                "{template}\n    status {}: {}",
                answer.status,
                answer.text()
            ));
            continue;
        }
        if !answer.content_type.starts_with("application/dicom+json") {
            failures.push(format!(
                "{template}\n    Content-Type {}",
                answer.content_type
            ));
            continue;
        }
        let results = match serde_json::from_slice::<Value>(&answer.body) {
            Ok(Value::Array(items)) => items,
            _ => {
                failures.push(format!(
                    "{template}\n    not a JSON array: {}",
                    answer.text()
                ));
                continue;
            }
        };
        let got: Vec<String> = results
            .iter()
            .map(|o| match o[level.uid_tag()]["Value"][0].as_str() {
                Some(uid) => labels.label(level, uid),
                None => format!("<no {}>", level.uid_tag()),
            })
            .collect();
        let got_set: BTreeSet<String> = got.iter().cloned().collect();
        let want: BTreeSet<String> = if expected.len() == 1 && expected[0] == "*" {
            labels.all(level).into_iter().collect()
        } else {
            expected.iter().map(|s| s.to_string()).collect()
        };
        if got_set.len() != got.len() {
            failures.push(format!("{template}\n    duplicates: {got:?}"));
        } else if got_set != want {
            failures.push(format!(
                "{template}\n    missing {:?}\n    extra   {:?}",
                want.difference(&got_set).collect::<Vec<_>>(),
                got_set.difference(&want).collect::<Vec<_>>()
            ));
        }
    }
    failures
}

/// The identifying UIDs of results, in order.
fn uids(results: &[Value], level: Level) -> Vec<String> {
    results
        .iter()
        .map(|o| {
            o[level.uid_tag()]["Value"][0]
                .as_str()
                .unwrap_or_else(|| panic!("result without {}: {o}", level.uid_tag()))
                .to_string()
        })
        .collect()
}

fn find<'a>(results: &'a [Value], level: Level, uid: &str) -> &'a Value {
    let mut matching = results
        .iter()
        .filter(|o| o[level.uid_tag()]["Value"][0] == uid);
    let found = matching
        .next()
        .unwrap_or_else(|| panic!("no result with {} {uid}", level.uid_tag()));
    assert!(matching.next().is_none(), "{uid} appears twice");
    found
}

fn element<'a>(o: &'a Value, tag: &str, vr: &str, ctx: &str) -> &'a Value {
    let e = o
        .get(tag)
        .unwrap_or_else(|| panic!("{ctx}: {tag} missing in {o}"));
    assert_eq!(e["vr"], vr, "{ctx}: {tag} VR in {e}");
    e
}

/// Text values (an empty `want` value: present without a value).
fn assert_text(o: &Value, tag: &str, vr: &str, want: &[&str], ctx: &str) {
    let e = element(o, tag, vr, ctx);
    if want.len() == 1 && want[0].is_empty() {
        let empty = e
            .get("Value")
            .is_none_or(|v| v == &json!([]) || v == &json!([""]) || v == &json!([null]));
        assert!(empty, "{ctx}: {tag} should be empty: {e}");
        return;
    }
    assert_eq!(e["Value"], json!(want), "{ctx}: {tag}");
}

/// Values in any order, without repeats.
fn assert_set(o: &Value, tag: &str, vr: &str, want: &[&str], ctx: &str) {
    let e = element(o, tag, vr, ctx);
    let got: Vec<&str> = e["Value"]
        .as_array()
        .unwrap_or_else(|| panic!("{ctx}: {tag} has no values: {e}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let set: BTreeSet<&str> = got.iter().copied().collect();
    assert_eq!(set.len(), got.len(), "{ctx}: {tag} repeats values: {e}");
    assert_eq!(set, want.iter().copied().collect(), "{ctx}: {tag}");
}

/// IS/DS/US values are JSON numbers.
fn assert_number(o: &Value, tag: &str, vr: &str, want: f64, ctx: &str) {
    assert_numbers(o, tag, vr, &[want], ctx)
}

fn assert_numbers(o: &Value, tag: &str, vr: &str, want: &[f64], ctx: &str) {
    let e = element(o, tag, vr, ctx);
    let got: Vec<Option<f64>> = e["Value"]
        .as_array()
        .unwrap_or_else(|| panic!("{ctx}: {tag} has no values: {e}"))
        .iter()
        .map(|v| v.as_f64())
        .collect();
    let want: Vec<Option<f64>> = want.iter().map(|w| Some(*w)).collect();
    assert_eq!(got, want, "{ctx}: {tag} (numbers) in {e}");
}

/// DS values copied from the stored data set: JSON numbers, or (CP 1861) numeric strings.
fn assert_decimals(o: &Value, tag: &str, want: &[f64], ctx: &str) {
    let e = element(o, tag, "DS", ctx);
    let got: Vec<Option<f64>> = e["Value"]
        .as_array()
        .unwrap_or_else(|| panic!("{ctx}: {tag} has no values: {e}"))
        .iter()
        .map(|v| match v {
            Value::String(s) => s.trim().parse().ok(),
            other => other.as_f64(),
        })
        .collect();
    let want: Vec<Option<f64>> = want.iter().map(|w| Some(*w)).collect();
    assert_eq!(got, want, "{ctx}: {tag} (decimals) in {e}");
}

/// A PN as DICOM JSON: groups split at `=` into Alphabetic, Ideographic, Phonetic.
fn assert_pn(o: &Value, tag: &str, name: &str, ctx: &str) {
    if name.is_empty() {
        return assert_text(o, tag, "PN", &[""], ctx);
    }
    let mut want = serde_json::Map::new();
    for (group, value) in ["Alphabetic", "Ideographic", "Phonetic"]
        .iter()
        .zip(name.split('='))
    {
        if !value.is_empty() {
            want.insert(group.to_string(), json!(value));
        }
    }
    let e = element(o, tag, "PN", ctx);
    assert_eq!(e["Value"], json!([want]), "{ctx}: {tag}");
}

/// Pixel Data is never inline: absent, or only a BulkDataURI.
fn assert_no_inline_pixels(o: &Value, ctx: &str) {
    if let Some(e) = o.get("7FE00010") {
        assert!(
            e.get("InlineBinary").is_none() && e.get("Value").is_none(),
            "{ctx}: Pixel Data inline: {}",
            &e.to_string()[..e.to_string().len().min(200)]
        );
    }
}

/// The parts of a `multipart/related; type="application/dicom+xml"` answer, as text.
fn xml_parts(answer: &Answer) -> Vec<String> {
    assert_eq!(answer.status, 200, "{}", answer.text());
    let ct = &answer.content_type;
    assert!(ct.starts_with("multipart/related"), "Content-Type {ct}");
    assert!(
        ct.contains("type=\"application/dicom+xml\"") || ct.contains("type=application/dicom+xml"),
        "Content-Type {ct}"
    );
    let boundary = ct
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .unwrap_or_else(|| panic!("no boundary in {ct}"))
        .trim_matches('"')
        .to_string();
    let text = answer.text();
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    for chunk in text.split(&delimiter).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let (headers, body) = chunk
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("part without headers: {chunk}"));
        assert!(
            headers
                .to_ascii_lowercase()
                .contains("content-type: application/dicom+xml"),
            "part headers: {headers}"
        );
        parts.push(body.to_string());
    }
    parts
}

/// The corpus is what the expectations above assume: parseable files, the documented counts.
#[test]
fn corpus_files_parse_with_the_documented_shape() {
    let corpus = corpus();
    let series: usize = corpus.iter().map(|s| s.series.len()).sum();
    let instances: usize = corpus.iter().map(|s| s.instance_count()).sum();
    assert_eq!((corpus.len(), series, instances), (12, 25, 52));
    let labels = Labels::load();
    assert_eq!(labels.all(Level::Study).len(), 12 + REAL_FILES.len());
    for study in &corpus {
        for (label, bytes) in study.files() {
            let obj = dicom_object::DefaultDicomObject::from_reader(&bytes[128..])
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            let sop = obj
                .element(tags::SOP_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap();
            assert_eq!(sop, labels.instance(&label), "{label}");
            assert_eq!(obj.meta().media_storage_sop_instance_uid(), sop, "{label}");
        }
    }
}
