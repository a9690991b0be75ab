//! The whole route table walked with every role: no credentials, every role but the one a
//! route needs, and only that role. The router is built from the same table
//! (`tessera::http::routes::table`), so a new route joins this walk with its decision, and
//! one without a decision cannot exist. The partition twins of the DICOMweb routes
//! (`/dicom-web/partitions/{partition}/...`) are walked in the partition `walk`, which holds
//! the same instance.

use bytes::Bytes;
use serde_json::Value;
use tessera::auth::Role;
use tessera::http::routes::{table, Access, RouteInfo};

use crate::auth_support::*;
use crate::helpers::{Backend, TestApp};
use crate::suite::{ct_variant, ct_variant_uid};

const STUDY: &str = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
/// The partition the twin routes are walked in.
const PARTITION: &str = "walk";

struct Walk {
    app: TestApp,
    /// A key with only this role, and one with every role but it.
    only: Vec<(Role, String)>,
    all_but: Vec<(Role, String)>,
    series: String,
    next_variant: u32,
    /// Where the export jobs of the walk write (a file:// store).
    export_to: String,
    /// The export job the job routes name (made before any delete).
    job: String,
}

impl Walk {
    fn only(&self, role: Role) -> &str {
        &self.only.iter().find(|(r, _)| *r == role).unwrap().1
    }

    fn all_but(&self, role: Role) -> &str {
        &self.all_but.iter().find(|(r, _)| *r == role).unwrap().1
    }

    /// Store one more instance of the study's series (as the write-only key), in the
    /// default partition or in `partition`; its SOP UID.
    async fn store_another(&mut self, partition: Option<&str>) -> String {
        self.next_variant += 1;
        let n = self.next_variant;
        let root = match partition {
            Some(name) => format!("/dicom-web/partitions/{name}"),
            None => "/dicom-web".to_string(),
        };
        let response = self
            .app
            .client
            .post(self.app.url(&format!("{root}/studies")))
            .bearer_auth(self.only(Role::Write))
            .header("content-type", "application/dicom")
            .body(ct_variant(n))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        ct_variant_uid(n)
    }

    /// The route's path with its parameters filled, and the body of a POST.
    async fn fill(&mut self, route: &RouteInfo) -> (String, Option<Bytes>) {
        let mut sop = ct_variant_uid(1);
        let twin = route.path.contains("{partition}");
        let body = if route.path == "/jobs/export" {
            // An export of the study into a folder store of this test's own.
            Some(Bytes::from(
                serde_json::json!({"studies": [STUDY], "to": self.export_to}).to_string(),
            ))
        } else if route.path == "/jobs/deidentify" {
            // Its de-identification, to the same store, under the walk's project.
            Some(Bytes::from(
                serde_json::json!({
                    "source": {"studies": [STUDY]},
                    "target": {"to": self.export_to},
                    "project": "walk",
                })
                .to_string(),
            ))
        } else if route.path == "/dicom-web/partitions" && route.method == "POST" {
            // A partition of its own (only the call with the admin role creates it).
            self.next_variant += 1;
            Some(Bytes::from(
                serde_json::json!({ "name": format!("made-{}", self.next_variant) }).to_string(),
            ))
        } else if route.method == "POST" {
            self.next_variant += 1;
            Some(ct_variant(self.next_variant))
        } else {
            None
        };

        if route.method == "DELETE" {
            // Something to delete, whatever went before.
            sop = self.store_another(twin.then_some(PARTITION)).await;
        }
        let audit_id = if route.path.contains("/AuditEvent/") {
            let (status, _, body) = get_as(
                &self.app,
                "/fhir/AuditEvent?_count=1",
                Some(self.only(Role::Admin)),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            let bundle: Value = serde_json::from_str(&body).unwrap();
            bundle["entry"][0]["resource"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        } else {
            String::new()
        };
        let path = route
            .path
            .replace("{study}", STUDY)
            .replace("{series}", &self.series)
            .replace("{instance}", &sop)
            .replace("{frames}", "1")
            .replace(
                "{*path}",
                if route.path.starts_with("/viewer") {
                    "index.html"
                } else {
                    "7FE00010"
                },
            )
            .replace("/Endpoint/{id}", "/Endpoint/tessera-dicomweb")
            .replace("/AuditEvent/{id}", &format!("/AuditEvent/{audit_id}"))
            .replace("{job}", &self.job)
            .replace("{partition}", PARTITION);
        (path, body)
    }

    /// A new export job (as the admin-only key); its id.
    async fn export_job(&self) -> String {
        let response = self
            .app
            .client
            .post(self.app.url("/jobs/export"))
            .bearer_auth(self.only(Role::Admin))
            .body(serde_json::json!({"studies": [STUDY], "to": self.export_to}).to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let job: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(status, 202, "{job}");
        job["id"].as_str().unwrap().to_string()
    }

    async fn call(
        &self,
        route: &RouteInfo,
        path: &str,
        body: &Option<Bytes>,
        key: Option<&str>,
    ) -> (u16, String) {
        let mut request = self
            .app
            .client
            .request(route.method.clone(), self.app.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/dicom")
                .body(body.clone());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }
}

#[tokio::test]
async fn every_route_answers_401_403_or_success_by_role() {
    let viewer = tempfile::tempdir().unwrap();
    std::fs::write(viewer.path().join("index.html"), "<html>viewer</html>").unwrap();
    let viewer_dir = viewer.path().to_path_buf();
    let exports = tempfile::tempdir().unwrap();
    let secret = exports.path().join("walk.key");
    std::fs::write(&secret, "the route walk's project secret").unwrap();
    let project = format!("walk={}", secret.display());
    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, move |s| {
        require_auth(s, None);
        s.viewer_dir = Some(viewer_dir);
        s.deid_projects = vec![project];
    })
    .await;
    let mut only = Vec::new();
    let mut all_but = Vec::new();
    for role in Role::ALL {
        only.push((
            role,
            api_key(&app, &format!("only-{role}"), role.name()).await,
        ));
        let others: Vec<&str> = Role::ALL
            .iter()
            .filter(|r| **r != role)
            .map(|r| r.name())
            .collect();
        all_but.push((
            role,
            api_key(&app, &format!("all-but-{role}"), &others.join(",")).await,
        ));
    }
    let mut walk = Walk {
        app,
        only,
        all_but,
        series: String::new(),
        next_variant: 0,
        export_to: format!("file://{}", exports.path().display()),
        job: String::new(),
    };
    // The partition of the twin routes.
    let created = walk
        .app
        .client
        .post(walk.app.url("/dicom-web/partitions"))
        .bearer_auth(walk.only(Role::Admin))
        .body(serde_json::json!({ "name": PARTITION }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // The instance every read route names (variant 1), in both partitions.
    assert_eq!(walk.store_another(None).await, ct_variant_uid(1));
    walk.next_variant = 0;
    assert_eq!(walk.store_another(Some(PARTITION)).await, ct_variant_uid(1));
    let (status, _, body) = get_as(
        &walk.app,
        &format!("/dicom-web/studies/{STUDY}/series"),
        Some(walk.only(Role::Read)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let series: Value = serde_json::from_str(&body).unwrap();
    walk.series = series[0]["0020000E"]["Value"][0]
        .as_str()
        .unwrap()
        .to_string();

    walk.job = walk.export_job().await;

    // Deletes last, instance before series before study, so that reads find what they name.
    let mut routes = table();
    routes.sort_by_key(|r| (r.method == "DELETE", std::cmp::Reverse(r.path.len())));
    let mut checked = 0;
    for route in &routes {
        let (path, body) = walk.fill(route).await;
        let what = format!("{} {path}", route.method);
        let needed = match route.access {
            Access::Open => None,
            Access::Needs(role) => Some(role),
            Access::Metrics => Some(Role::Admin),
        };
        let Some(role) = needed else {
            let (status, text) = walk.call(route, &path, &body, None).await;
            assert!(
                (200..300).contains(&status),
                "{what} is open: {status} {text}"
            );
            checked += 1;
            continue;
        };
        let (status, text) = walk.call(route, &path, &body, None).await;
        assert_eq!(status, 401, "{what} without credentials: {text}");
        let (status, text) = walk
            .call(route, &path, &body, Some(walk.all_but(role)))
            .await;
        assert_eq!(status, 403, "{what} with every role but {role}: {text}");
        assert!(
            text.contains(&format!("the {role} role is required")),
            "{what}: {text}"
        );
        let (status, text) = walk.call(route, &path, &body, Some(walk.only(role))).await;
        assert!(
            (200..300).contains(&status),
            "{what} with {role}: {status} {text}"
        );
        checked += 1;
    }
    assert_eq!(checked, routes.len());
    assert!(checked >= 40, "the table holds every route ({checked})");
    // Every DICOMweb route has its partition twin in the table, walked above.
    let plain = routes
        .iter()
        .filter(|r| {
            r.path.starts_with("/dicom-web/") && !r.path.starts_with("/dicom-web/partitions")
        })
        .count();
    let twins = routes
        .iter()
        .filter(|r| r.path.starts_with("/dicom-web/partitions/{partition}/"))
        .count();
    assert!(
        plain >= 29 && twins == plain,
        "{plain} DICOMweb routes, {twins} twins"
    );
}
