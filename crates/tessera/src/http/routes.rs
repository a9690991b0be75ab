//! The whole route table: every route with the role it needs and what its audit record
//! says. The router is built from this table alone, so a route cannot exist without an
//! access decision; the access test walks [`table`] with every role.

use axum::http::Method;
use axum::routing::{delete as del, get, post, MethodRouter};

pub use super::access::{Access, Audited};
use super::{
    bulkdata, changefeed, delete, fhir, frames, health, home, jobs, metrics, qido, rendered, stow,
    viewer, wado, AppState,
};
use crate::auth::Role;

/// One row of the table, without its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: Method,
    /// The full path pattern, `{name}` for parameters.
    pub path: String,
    pub access: Access,
    pub audited: Audited,
}

pub(super) struct Route {
    pub info: RouteInfo,
    pub handler: MethodRouter<AppState>,
}

fn route(
    method: Method,
    path: impl Into<String>,
    access: Access,
    audited: Audited,
    handler: MethodRouter<AppState>,
) -> Route {
    Route {
        info: RouteInfo {
            method,
            path: path.into(),
            access,
            audited,
        },
        handler,
    }
}

/// Every route with its handler.
pub(super) fn routes() -> Vec<Route> {
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
    ]
}

/// The table without handlers.
pub fn table() -> Vec<RouteInfo> {
    routes().into_iter().map(|r| r.info).collect()
}
