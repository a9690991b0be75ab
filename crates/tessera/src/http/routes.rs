//! The whole route table: every route with the role it needs, what its audit record says,
//! and whose data it touches. The router is built from this table alone, so a route cannot
//! exist without an access decision; the access test walks [`table`] with every role.
//!
//! Every DICOMweb route is also served under `/dicom-web/partitions/{partition}` (its
//! partition twin, same role and audit kind): the twin's guard checks the caller and the
//! partition, then hands the request to that partition's own router ([`partition_router`],
//! the plain DICOMweb routes over the partition's services; see [`super::partitions`]).

use axum::http::Method;
use axum::routing::{delete as del, get, on, post, MethodFilter, MethodRouter};
use axum::Router;

pub use super::access::{Access, Audited, Scope};
use super::{
    bulkdata, changefeed, deid_jobs, delete, fhir, frames, health, home, jobs, metrics, partitions,
    qido, rendered, stow, viewer, wado, AppState,
};
use crate::auth::Role;

/// The DICOMweb root of the plain routes.
const DICOMWEB: &str = "/dicom-web";
/// Where the partition twins of the DICOMweb routes live.
pub const PARTITION_ROOT: &str = "/dicom-web/partitions/{partition}";

/// One row of the table, without its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: Method,
    /// The full path pattern, `{name}` for parameters.
    pub path: String,
    pub access: Access,
    pub audited: Audited,
    pub scope: Scope,
}

pub(super) struct Route {
    pub info: RouteInfo,
    pub handler: MethodRouter<AppState>,
}

/// Whose data a plain route touches, from its path: DICOMweb, FHIR ImagingStudy and
/// Endpoint, and export jobs read the default partition; the audit trail and metrics are
/// the archive's; the rest (health, pages, the capability statement) no one's.
fn scope_of(path: &str) -> Scope {
    let default = [
        "/dicom-web/",
        "/fhir/ImagingStudy",
        "/fhir/Endpoint",
        "/jobs/",
    ];
    if default.iter().any(|p| path.starts_with(p)) {
        Scope::Default
    } else if path.starts_with("/fhir/AuditEvent") || path == "/metrics" {
        Scope::Archive
    } else {
        Scope::Unscoped
    }
}

fn route(
    method: Method,
    path: impl Into<String>,
    access: Access,
    audited: Audited,
    handler: MethodRouter<AppState>,
) -> Route {
    let path = path.into();
    Route {
        info: RouteInfo {
            method,
            scope: scope_of(&path),
            path,
            access,
            audited,
        },
        handler,
    }
}

/// Every route with its handler: the plain routes, the partition twins of the DICOMweb
/// ones, and the partitions' own (list, create).
pub(super) fn routes() -> Vec<Route> {
    let plain = plain_routes();
    let twins: Vec<Route> = plain
        .iter()
        .filter(|r| is_dicomweb(&r.info.path))
        .map(|r| twin(&r.info))
        .collect();
    let mut all = plain;
    all.extend(twins);
    all.push(Route {
        info: RouteInfo {
            method: Method::GET,
            path: "/dicom-web/partitions".into(),
            access: Access::Needs(Role::Read),
            audited: Audited::No,
            scope: Scope::Unscoped,
        },
        handler: get(partitions::list),
    });
    all.push(Route {
        info: RouteInfo {
            method: Method::POST,
            path: "/dicom-web/partitions".into(),
            access: Access::Needs(Role::Admin),
            audited: Audited::PartitionChange,
            scope: Scope::Archive,
        },
        handler: post(partitions::create),
    });
    all
}

/// A plain DICOMweb route (not the partitions' own).
fn is_dicomweb(path: &str) -> bool {
    path.starts_with("/dicom-web/") && !path.starts_with("/dicom-web/partitions")
}

/// The partition twin of a plain DICOMweb route: same method, role and audit kind, under
/// `/dicom-web/partitions/{partition}`, handled by handing the request to the partition.
fn twin(plain: &RouteInfo) -> Route {
    let rest = plain.path.strip_prefix(DICOMWEB).unwrap_or(&plain.path);
    let filter = MethodFilter::try_from(plain.method.clone()).unwrap_or(MethodFilter::GET);
    Route {
        info: RouteInfo {
            method: plain.method.clone(),
            path: format!("{PARTITION_ROOT}{rest}"),
            access: plain.access,
            audited: plain.audited,
            scope: Scope::Named,
        },
        handler: on(filter, partitions::forward),
    }
}

/// A partition's own router: the plain DICOMweb routes over its services, without guards
/// (the twin's guard has checked the caller and records the request) and without the
/// layers the whole application has once (shedding, compression, metrics, CORS).
pub(super) fn partition_router(state: AppState) -> Router {
    let mut router = Router::new();
    for route in plain_routes() {
        if is_dicomweb(&route.info.path) {
            router = router.route(&route.info.path, route.handler);
        }
    }
    router.with_state(state)
}

/// The plain routes with their handlers.
fn plain_routes() -> Vec<Route> {
    use Access::{Needs, Open};
    use Audited::{Query, Read, Store};
    use Method as M;
    const READ: Access = Needs(Role::Read);
    const DW: &str = "/dicom-web";
    const STUDY: &str = "/dicom-web/studies/{study}";
    const SERIES: &str = "/dicom-web/studies/{study}/series/{series}";
    const INSTANCE: &str = "/dicom-web/studies/{study}/series/{series}/instances/{instance}";
    let write = Needs(Role::Write);
    let remove = Needs(Role::Delete);
    vec![
        route(M::GET, "/", Open, Audited::No, get(home::home)),
        route(M::GET, "/viewer", Open, Audited::No, get(viewer::bare)),
        route(M::GET, "/viewer/", Open, Audited::No, get(viewer::index)),
        route(
            M::GET,
            "/viewer/app-config.js",
            Open,
            Audited::No,
            get(viewer::app_config),
        ),
        route(
            M::GET,
            "/viewer/{*path}",
            Open,
            Audited::No,
            get(viewer::asset),
        ),
        route(M::GET, "/healthz", Open, Audited::No, get(health::healthz)),
        route(
            M::GET,
            "/metrics",
            Access::Metrics,
            Audited::No,
            get(metrics::metrics),
        ),
        // STOW-RS
        route(
            M::POST,
            format!("{DW}/studies"),
            write,
            Store,
            post(stow::store),
        ),
        route(M::POST, STUDY, write, Store, post(stow::store_in_study)),
        // QIDO-RS
        route(
            M::GET,
            format!("{DW}/studies"),
            READ,
            Query,
            get(qido::studies),
        ),
        route(
            M::GET,
            format!("{DW}/series"),
            READ,
            Query,
            get(qido::series),
        ),
        route(
            M::GET,
            format!("{DW}/instances"),
            READ,
            Query,
            get(qido::instances),
        ),
        route(
            M::GET,
            format!("{STUDY}/series"),
            READ,
            Query,
            get(qido::study_series),
        ),
        route(
            M::GET,
            format!("{STUDY}/instances"),
            READ,
            Query,
            get(qido::study_instances),
        ),
        route(
            M::GET,
            format!("{SERIES}/instances"),
            READ,
            Query,
            get(qido::series_instances),
        ),
        // WADO-RS
        route(M::GET, STUDY, READ, Read, get(wado::retrieve_study)),
        route(M::GET, SERIES, READ, Read, get(wado::retrieve_series)),
        route(M::GET, INSTANCE, READ, Read, get(wado::retrieve_instance)),
        route(
            M::GET,
            format!("{STUDY}/metadata"),
            READ,
            Read,
            get(wado::study_metadata),
        ),
        route(
            M::GET,
            format!("{SERIES}/metadata"),
            READ,
            Read,
            get(wado::series_metadata),
        ),
        route(
            M::GET,
            format!("{INSTANCE}/metadata"),
            READ,
            Read,
            get(wado::instance_metadata),
        ),
        route(
            M::GET,
            format!("{INSTANCE}/bulkdata/{{*path}}"),
            READ,
            Read,
            get(bulkdata::bulk_data),
        ),
        route(
            M::GET,
            format!("{INSTANCE}/frames/{{frames}}"),
            READ,
            Read,
            get(frames::frames),
        ),
        route(
            M::GET,
            format!("{INSTANCE}/frames/{{frames}}/rendered"),
            READ,
            Read,
            get(rendered::frames_rendered),
        ),
        route(
            M::GET,
            format!("{INSTANCE}/frames/{{frames}}/thumbnail"),
            READ,
            Read,
            get(rendered::frames_thumbnail),
        ),
        route(
            M::GET,
            format!("{INSTANCE}/rendered"),
            READ,
            Read,
            get(rendered::instance_rendered),
        ),
        route(
            M::GET,
            format!("{INSTANCE}/thumbnail"),
            READ,
            Read,
            get(rendered::instance_thumbnail),
        ),
        route(
            M::GET,
            format!("{SERIES}/rendered"),
            READ,
            Read,
            get(rendered::series_rendered),
        ),
        route(
            M::GET,
            format!("{SERIES}/thumbnail"),
            READ,
            Read,
            get(rendered::series_thumbnail),
        ),
        route(
            M::GET,
            format!("{STUDY}/rendered"),
            READ,
            Read,
            get(rendered::study_rendered),
        ),
        route(
            M::GET,
            format!("{STUDY}/thumbnail"),
            READ,
            Read,
            get(rendered::study_thumbnail),
        ),
        // Deletes
        route(
            M::DELETE,
            STUDY,
            remove,
            Audited::Delete,
            del(delete::delete_study),
        ),
        route(
            M::DELETE,
            SERIES,
            remove,
            Audited::Delete,
            del(delete::delete_series),
        ),
        route(
            M::DELETE,
            INSTANCE,
            remove,
            Audited::Delete,
            del(delete::delete_instance),
        ),
        // The change feed
        route(
            M::GET,
            format!("{DW}/changefeed"),
            READ,
            Query,
            get(changefeed::changefeed),
        ),
        route(
            M::GET,
            format!("{DW}/changefeed/latest"),
            READ,
            Query,
            get(changefeed::latest),
        ),
        // FHIR
        route(
            M::GET,
            "/fhir/metadata",
            Open,
            Audited::No,
            get(fhir::metadata),
        ),
        route(M::GET, "/fhir/ImagingStudy", READ, Query, get(fhir::search)),
        route(
            M::GET,
            "/fhir/ImagingStudy/{study}",
            READ,
            Read,
            get(fhir::read_imaging_study),
        ),
        route(
            M::GET,
            "/fhir/Endpoint/{id}",
            READ,
            Audited::No,
            get(fhir::read_endpoint),
        ),
        route(
            M::GET,
            "/fhir/AuditEvent",
            Needs(Role::Admin),
            Audited::AuditRead,
            get(fhir::search_audit_events),
        ),
        route(
            M::GET,
            "/fhir/AuditEvent/{id}",
            Needs(Role::Admin),
            Audited::AuditRead,
            get(fhir::read_audit_event),
        ),
        route(
            M::POST,
            "/jobs/export",
            Needs(Role::Admin),
            Audited::Export,
            post(jobs::create_export),
        ),
        route(
            M::POST,
            "/jobs/deidentify",
            Needs(Role::Admin),
            Audited::Export,
            post(deid_jobs::create_deidentify),
        ),
        route(
            M::GET,
            "/jobs/{job}",
            Needs(Role::Admin),
            Query,
            get(jobs::get_job),
        ),
        route(
            M::DELETE,
            "/jobs/{job}",
            Needs(Role::Admin),
            Audited::JobChange,
            del(jobs::cancel_job),
        ),
        route(
            M::GET,
            "/jobs/{job}/errors",
            Needs(Role::Admin),
            Query,
            get(jobs::get_errors),
        ),
        route(
            M::GET,
            "/jobs/{job}/mapping",
            Needs(Role::Admin),
            Audited::MappingRead,
            get(deid_jobs::get_mapping),
        ),
    ]
}

/// The table without handlers.
pub fn table() -> Vec<RouteInfo> {
    routes().into_iter().map(|r| r.info).collect()
}
