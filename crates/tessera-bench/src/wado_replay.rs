//! What a web viewer (OHIF) does to open a series: QIDO for the study, its series, the
//! series metadata, then one frame of every instance with N requests in flight. Timed from
//! the QIDO to the last frame byte; every frame is checked against the stored pixels. The CT
//! replays are the "OHIF replay" operations; another series (the MR) is named by its label.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use super::qido_run::strings;
use super::wado_get::{self, get, Check, Job, Row, FRAMES, JSON};

const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    /// Which series: empty for the CT (the "OHIF replay" operations), else e.g. `MR`.
    pub series_label: &'static str,
    /// `cold` (right after storing: nothing in the frame cache) or `warm`.
    pub state: &'static str,
    pub concurrency: usize,
    pub qido_ms: f64,
    pub series_ms: f64,
    pub metadata_ms: f64,
    /// From sending the QIDO to the last byte of the last frame.
    pub time_to_all_frames_s: f64,
    pub frames: usize,
    /// Over the frame phase alone.
    pub frames_per_s: f64,
    pub mb_per_s: f64,
    pub errors: usize,
    pub first_error: Option<String>,
    /// The frame phase: latency percentiles, server CPU and RSS.
    pub frames_row: Option<Row>,
}

pub struct Target<'a> {
    pub url: &'a str,
    pub study: &'a str,
    pub series: &'a str,
    pub instances: usize,
    pub series_in_study: usize,
    /// Frame 1 of each instance as stored, by Instance Number (1-based); a single entry is
    /// every instance's frame (the CT slices share their pixels).
    pub frames: Vec<Bytes>,
    /// Empty for the CT series; else the label of the series' rows, e.g. `MR`.
    pub label: &'static str,
}

impl Target<'_> {
    /// The name of the frame phase's row.
    pub fn item(&self, state: &str) -> String {
        if self.label.is_empty() {
            format!("replay frames {state}")
        } else {
            format!("{} replay {state}", self.label)
        }
    }

    /// Frame 1 of the instance numbered `number`, as stored.
    fn frame(&self, number: u64) -> Option<&Bytes> {
        match self.frames.as_slice() {
            [shared] => Some(shared),
            frames => frames.get(usize::try_from(number).ok()?.checked_sub(1)?),
        }
    }
}

pub async fn run(
    client: &reqwest::Client,
    target: &Target<'_>,
    state: &'static str,
    concurrency: usize,
    server_pid: Option<u32>,
) -> Replay {
    let mut replay = Replay {
        series_label: target.label,
        state,
        concurrency,
        qido_ms: 0.0,
        series_ms: 0.0,
        metadata_ms: 0.0,
        time_to_all_frames_s: 0.0,
        frames: 0,
        frames_per_s: 0.0,
        mb_per_s: 0.0,
        errors: 0,
        first_error: None,
        frames_row: None,
    };
    let (url, study, series) = (target.url, target.study, target.series);
    let start = Instant::now();
    let steps = [
        (
            format!("{url}/studies?StudyInstanceUID={study}"),
            Some(1),
            false,
        ),
        (
            format!("{url}/studies/{study}/series"),
            Some(target.series_in_study),
            false,
        ),
        (
            format!("{url}/studies/{study}/series/{series}/metadata"),
            Some(target.instances),
            true,
        ),
    ];
    let mut metadata = Vec::new();
    for (i, (step, items, keep)) in steps.into_iter().enumerate() {
        let job = Job {
            url: step,
            accept: JSON,
            check: Check::Json { items, keep },
        };
        let got = get(client, &job, TIMEOUT).await;
        let ms = got.latency.as_secs_f64() * 1000.0;
        match i {
            0 => replay.qido_ms = ms,
            1 => replay.series_ms = ms,
            _ => replay.metadata_ms = ms,
        }
        if let Some(err) = got.error {
            replay.errors = 1;
            replay.first_error = Some(format!("{}: {err}", job.url));
            return replay;
        }
        metadata = got.json.unwrap_or_default();
    }
    let jobs = match frame_jobs(target, &metadata) {
        Ok(jobs) => jobs,
        Err(err) => {
            replay.errors = 1;
            replay.first_error = Some(err);
            return replay;
        }
    };
    let before_frames = start.elapsed();
    let item = target.item(state);
    let (row, _) = wado_get::load(
        client,
        &item,
        Arc::new(jobs),
        concurrency,
        server_pid,
        TIMEOUT,
    )
    .await;
    replay.time_to_all_frames_s = before_frames.as_secs_f64() + row.seconds;
    replay.frames = row.requests;
    replay.frames_per_s = row.requests_per_s;
    replay.mb_per_s = row.mb_per_s;
    replay.errors = row.errors;
    replay.first_error = row.first_error.clone();
    replay.frames_row = Some(row);
    replay
}

/// Frame 1 of every instance of the metadata, in Instance Number order, each expected to be
/// the target's frame of that number (rows x columns x 2 bytes).
fn frame_jobs(target: &Target<'_>, metadata: &[Value]) -> Result<Vec<Job>, String> {
    let mut instances = Vec::with_capacity(metadata.len());
    for item in metadata {
        let sop = strings(item, "00080018")
            .first()
            .map(|s| s.to_string())
            .ok_or("series metadata: an instance without SOPInstanceUID")?;
        let number = |tag: &str| {
            item.get(tag)
                .and_then(|a| a.get("Value"))
                .and_then(|v| v.get(0))
                .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()))
        };
        let rows = number("00280010").ok_or("series metadata: no Rows")?;
        let cols = number("00280011").ok_or("series metadata: no Columns")?;
        let instance = number("00200013").unwrap_or(0);
        let frame = target
            .frame(instance)
            .ok_or_else(|| format!("series metadata: no instance {instance} was stored"))?;
        if rows * cols * 2 != frame.len() as u64 {
            return Err(format!(
                "series metadata: {rows}x{cols} (x2 bytes) does not match the {} bytes stored",
                frame.len()
            ));
        }
        instances.push((instance, sop, frame.clone()));
    }
    instances.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let (url, study, series) = (target.url, target.study, target.series);
    Ok(instances
        .into_iter()
        .map(|(_, sop, frame)| Job {
            url: format!("{url}/studies/{study}/series/{series}/instances/{sop}/frames/1"),
            accept: FRAMES,
            check: Check::Parts(vec![frame]),
        })
        .collect())
}

pub fn print(replays: &[Replay]) {
    for r in replays {
        println!(
            "{}replay {} c{}: QIDO {:.1} ms, series {:.1} ms, metadata {:.1} ms, {} frames; \
             time to all frames {:.3} s; frames {:.0}/s, {:.1} MB/s{}",
            if r.series_label.is_empty() {
                String::new()
            } else {
                format!("{} ", r.series_label)
            },
            r.state,
            r.concurrency,
            r.qido_ms,
            r.series_ms,
            r.metadata_ms,
            r.frames,
            r.time_to_all_frames_s,
            r.frames_per_s,
            r.mb_per_s,
            r.first_error.as_deref().map_or(String::new(), |e| format!(
                ", {} error(s), first: {e}",
                r.errors
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn instance(sop: &str, number: u64) -> Value {
        json!({"00080018": {"vr": "UI", "Value": [sop]},
               "00200013": {"vr": "IS", "Value": [number]},
               "00280010": {"vr": "US", "Value": [1]},
               "00280011": {"vr": "US", "Value": [2]}})
    }

    fn target(frames: Vec<Bytes>) -> Target<'static> {
        Target {
            url: "http://h",
            study: "1",
            series: "2",
            instances: 2,
            series_in_study: 1,
            frames,
            label: "MR",
        }
    }

    #[test]
    fn each_instance_is_checked_against_its_own_frame_in_instance_order() {
        let (a, b) = (Bytes::from_static(b"aaaa"), Bytes::from_static(b"bbbb"));
        let metadata = [instance("9.2", 2), instance("9.1", 1)];
        let jobs = frame_jobs(&target(vec![a.clone(), b.clone()]), &metadata).unwrap();
        assert!(jobs[0].url.ends_with("/instances/9.1/frames/1"));
        assert!(matches!(&jobs[0].check, Check::Parts(p) if p == &vec![a.clone()]));
        assert!(matches!(&jobs[1].check, Check::Parts(p) if p == &vec![b]));
        // One frame is every instance's; an instance number beyond the frames is an error.
        let shared = frame_jobs(&target(vec![a.clone()]), &metadata).unwrap();
        assert!(matches!(&shared[1].check, Check::Parts(p) if p == &vec![a.clone()]));
        let more = [instance("9.3", 3), instance("9.1", 1)];
        let two = vec![a.clone(), a];
        assert!(frame_jobs(&target(two), &more).is_err());
        assert_eq!(target(Vec::new()).item("cold"), "MR replay cold");
    }
}
