//! The STOW-RS response data set (PS3.18 10.5.3, Table 10.5.3-1) in DICOM JSON or, when the
//! client asks for it, the Native DICOM Model XML (PS3.19 A.1).

use axum::http::{header, HeaderValue, StatusCode as HttpStatus};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::media::accept_ranges;
use crate::ingest::ItemReport;
use tessera_dicom::uid::StudyUid;

/// One attribute of the response data set.
enum Attr {
    Text(&'static str, &'static str, &'static str, String),
    Us(&'static str, &'static str, u16),
    Seq(&'static str, &'static str, Vec<Vec<Attr>>),
}

const RETRIEVE_URL: (&str, &str) = ("00081190", "RetrieveURL");

fn uid(tag: &'static str, keyword: &'static str, value: &str) -> Attr {
    Attr::Text(tag, "UI", keyword, value.to_string())
}

fn build(reports: &[ItemReport], root: &str, study: Option<&StudyUid>) -> Vec<Attr> {
    let mut referenced = Vec::new();
    let mut failed = Vec::new();
    let mut studies = std::collections::BTreeSet::new();
    for report in reports {
        match report {
            ItemReport::Stored {
                study,
                series,
                sop_class,
                sop_instance,
                warning,
            } => {
                studies.insert(study.to_string());
                let mut item = vec![
                    uid("00081150", "ReferencedSOPClassUID", sop_class.as_str()),
                    uid(
                        "00081155",
                        "ReferencedSOPInstanceUID",
                        sop_instance.as_str(),
                    ),
                    Attr::Text(
                        RETRIEVE_URL.0,
                        "UR",
                        RETRIEVE_URL.1,
                        format!("{root}/studies/{study}/series/{series}/instances/{sop_instance}"),
                    ),
                ];
                if let Some((code, _)) = warning {
                    item.push(Attr::Us("00081196", "WarningReason", code.0));
                }
                referenced.push(item);
            }
            ItemReport::Failed {
                sop_class,
                sop_instance,
                reason,
                ..
            } => {
                let item = vec![
                    uid(
                        "00081150",
                        "ReferencedSOPClassUID",
                        sop_class.as_deref().unwrap_or(""),
                    ),
                    uid(
                        "00081155",
                        "ReferencedSOPInstanceUID",
                        sop_instance.as_deref().unwrap_or(""),
                    ),
                    Attr::Us("00081197", "FailureReason", reason.0),
                ];
                failed.push(item);
            }
        }
    }
    let mut data_set = Vec::new();
    let study_url = match (study, studies.len()) {
        (Some(study), _) => Some(study.to_string()),
        (None, 1) => studies.into_iter().next(),
        _ => None,
    };
    if let Some(study) = study_url {
        data_set.push(Attr::Text(
            RETRIEVE_URL.0,
            "UR",
            RETRIEVE_URL.1,
            format!("{root}/studies/{study}"),
        ));
    }
    if !failed.is_empty() {
        data_set.push(Attr::Seq("00081198", "FailedSOPSequence", failed));
    }
    if !referenced.is_empty() {
        data_set.push(Attr::Seq("00081199", "ReferencedSOPSequence", referenced));
    }
    data_set
}

fn to_json(attrs: &[Attr]) -> Value {
    let mut map = Map::new();
    for attr in attrs {
        let (tag, value) = match attr {
            Attr::Text(tag, vr, _, v) if v.is_empty() => (tag, json!({ "vr": vr })),
            Attr::Text(tag, vr, _, v) => (tag, json!({ "vr": vr, "Value": [v] })),
            Attr::Us(tag, _, v) => (tag, json!({ "vr": "US", "Value": [v] })),
            Attr::Seq(tag, _, items) => (
                tag,
                json!({ "vr": "SQ", "Value": items.iter().map(|i| to_json(i)).collect::<Vec<_>>() }),
            ),
        };
        map.insert((*tag).to_string(), value);
    }
    Value::Object(map)
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn to_xml(attrs: &[Attr], out: &mut String) {
    for attr in attrs {
        match attr {
            Attr::Text(tag, vr, keyword, v) => {
                out.push_str(&format!("<DicomAttribute tag=\"{tag}\" vr=\"{vr}\" keyword=\"{keyword}\">"));
                if !v.is_empty() {
                    out.push_str(&format!("<Value number=\"1\">{}</Value>", escape_xml(v)));
                }
                out.push_str("</DicomAttribute>");
            }
            Attr::Us(tag, keyword, v) => out.push_str(&format!(
                "<DicomAttribute tag=\"{tag}\" vr=\"US\" keyword=\"{keyword}\"><Value number=\"1\">{v}</Value></DicomAttribute>"
            )),
            Attr::Seq(tag, keyword, items) => {
                out.push_str(&format!("<DicomAttribute tag=\"{tag}\" vr=\"SQ\" keyword=\"{keyword}\">"));
                for (n, item) in items.iter().enumerate() {
                    out.push_str(&format!("<Item number=\"{}\">", n + 1));
                    to_xml(item, out);
                    out.push_str("</Item>");
                }
                out.push_str("</DicomAttribute>");
            }
        }
    }
}

fn wants_xml(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    for range in accept_ranges(accept) {
        match range.essence.as_str() {
            "application/dicom+xml" => return true,
            "application/dicom+json" | "application/json" | "*/*" | "application/*" => {
                return false
            }
            _ => {}
        }
    }
    false
}

/// The HTTP answer: 200 all stored, 202 some failed or warnings, 409 none stored; RetrieveURLs
/// under `root`, the DICOMweb root.
pub fn respond(
    reports: &[ItemReport],
    root: &str,
    study: Option<&StudyUid>,
    accept: Option<&str>,
) -> Response {
    let failed = reports.iter().filter(|r| r.is_failure()).count();
    let warned = reports.iter().any(ItemReport::has_warning);
    let status = if failed == reports.len() {
        HttpStatus::CONFLICT
    } else if failed > 0 || warned {
        HttpStatus::ACCEPTED
    } else {
        HttpStatus::OK
    };
    let attrs = build(reports, root, study);
    let mut response = if wants_xml(accept) {
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<NativeDicomModel xmlns=\"http://dicom.nema.org/PS3.19/models/NativeDICOM\">",
        );
        to_xml(&attrs, &mut xml);
        xml.push_str("</NativeDicomModel>\n");
        (
            status,
            [(header::CONTENT_TYPE, "application/dicom+xml")],
            xml,
        )
            .into_response()
    } else {
        let body = to_json(&attrs).to_string();
        (
            status,
            [(header::CONTENT_TYPE, "application/dicom+json")],
            body,
        )
            .into_response()
    };
    // Say why in words too: the first failure and the first warning, as Warning headers.
    let first_failure = reports.iter().find_map(|r| match r {
        ItemReport::Failed {
            reason, message, ..
        } => Some(format!("{:04X}: {message}", reason.0)),
        _ => None,
    });
    let first_warning = reports.iter().find_map(|r| match r {
        ItemReport::Stored {
            warning: Some((code, message)),
            ..
        } => Some(format!("{:04X}: {message}", code.0)),
        _ => None,
    });
    for text in [first_failure, first_warning].into_iter().flatten() {
        let clean: String = text
            .chars()
            .map(|c| {
                if c == '"' || c.is_control() || !c.is_ascii() {
                    '\''
                } else {
                    c
                }
            })
            .take(300)
            .collect();
        if let Ok(value) = HeaderValue::from_str(&format!("299 tessera \"{clean}\"")) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}
