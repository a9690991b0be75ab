//! Keys from an existing archive (`--populate 0`): page through `/studies` with QIDO itself,
//! then list the series of a sample of studies and one instance of each sampled series.

use std::collections::HashSet;

use futures::{stream, StreamExt};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::Value;

use super::qido_keys::{Keys, SeriesKey, StudyKey};
use super::qido_queries::{SERIES_UID, SOP_UID, STUDY_UID};
use super::qido_run::{get, strings};

const PAGE: usize = 1000;
const MAX_STUDIES: usize = 50_000;
/// Studies whose series (and one instance per series) are listed.
const SAMPLE: usize = 200;
const IN_FLIGHT: usize = 4;

pub async fn discover(client: &reqwest::Client, url: &str, seed: u64) -> Result<Keys, String> {
    let mut studies = Vec::new();
    let mut seen = HashSet::new();
    while studies.len() < MAX_STUDIES {
        let page = format!("{url}/studies?limit={PAGE}&offset={}", studies.len());
        let items = get(client, &page)
            .await
            .1
            .map_err(|e| format!("{page}: {e}"))?;
        let before = studies.len();
        for item in &items {
            if let Some(key) = study_key(item) {
                if seen.insert(key.uid.clone()) {
                    studies.push(key);
                }
            }
        }
        // An empty page, or one with nothing new (a server ignoring offset), ends it.
        if studies.len() == before {
            break;
        }
    }
    if studies.is_empty() {
        return Err(format!(
            "{url} has no studies to query: populate it first (--populate N)"
        ));
    }

    let mut sample: Vec<usize> = (0..studies.len()).collect();
    sample.shuffle(&mut StdRng::seed_from_u64(seed));
    sample.truncate(SAMPLE);
    let series_lists: Vec<(usize, Vec<String>)> = stream::iter(sample)
        .map(|i| {
            let endpoint = format!("{url}/studies/{}/series", studies[i].uid);
            async move {
                let items = get(client, &endpoint).await.1.unwrap_or_default();
                let uids = items.iter().filter_map(|s| first(s, SERIES_UID)).collect();
                (i, uids)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let instances: Vec<(usize, String, Option<String>)> = stream::iter(
        series_lists
            .into_iter()
            .flat_map(|(i, uids)| uids.into_iter().map(move |uid| (i, uid))),
    )
    .map(|(i, series)| {
        let endpoint = format!(
            "{url}/studies/{}/series/{series}/instances?limit=1",
            studies[i].uid
        );
        async move {
            let items = get(client, &endpoint).await.1.unwrap_or_default();
            (
                i,
                series,
                items.first().and_then(|item| first(item, SOP_UID)),
            )
        }
    })
    .buffer_unordered(IN_FLIGHT)
    .collect()
    .await;
    for (i, uid, sop) in instances {
        studies[i].series.push(SeriesKey { uid, sop });
    }
    Ok(Keys::new(studies))
}

fn first(item: &Value, tag: &str) -> Option<String> {
    strings(item, tag).first().map(|s| s.to_string())
}

/// A study from its QIDO result (default study-level return attributes).
fn study_key(item: &Value) -> Option<StudyKey> {
    let text = |tag| first(item, tag).unwrap_or_default();
    let name = text("00100010");
    Some(StudyKey {
        uid: first(item, STUDY_UID)?,
        patient_id: text("00100020"),
        family: name
            .split('^')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        date: text("00080020"),
        accession: text("00080050"),
        modalities: strings(item, "00080061")
            .into_iter()
            .map(String::from)
            .collect(),
        series: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn study_keys_from_dicom_json() {
        let item = json!({
            "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller^Jürgen"}]},
            "00100020": {"vr": "LO", "Value": ["P0000001"]},
            "00080061": {"vr": "CS", "Value": ["MR", "SR"]},
        });
        let key = study_key(&item).unwrap();
        assert_eq!((key.uid.as_str(), key.family.as_str()), ("1.2.3", "Müller"));
        assert_eq!(key.modalities, ["MR", "SR"]);
        assert!(key.date.is_empty() && key.accession.is_empty());
        assert!(study_key(&json!({})).is_none());
    }
}
