//! The `searchset` Bundle of an ImagingStudy search.

use serde_json::{json, Value};

/// A page of matches: `entries` are (fullUrl, resource).
pub struct Page {
    pub total: u64,
    pub self_url: String,
    pub next_url: Option<String>,
    pub entries: Vec<(String, Value)>,
}

pub fn searchset(page: Page) -> Value {
    let mut links = vec![json!({ "relation": "self", "url": page.self_url })];
    if let Some(next) = page.next_url {
        links.push(json!({ "relation": "next", "url": next }));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": page.total,
        "link": links,
    });
    if !page.entries.is_empty() {
        bundle["entry"] = page
            .entries
            .into_iter()
            .map(|(full_url, resource)| {
                json!({ "fullUrl": full_url, "resource": resource, "search": { "mode": "match" } })
            })
            .collect();
    }
    bundle
}
