//! The JSON API under `/api/v1`. Every route is registered through
//! `utoipa_axum::routes!`, so the OpenAPI document at
//! `/api/v1/openapi.json` lists exactly the routes that exist.

use std::sync::Arc;

use axum::http::{HeaderValue, header};
use muster_domain::IncidentRef;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use muster_app::App;

mod alerts;
mod incidents;
pub mod ingest;
mod jobs;
pub mod pages;
mod roles;
mod schedules;
mod users;

#[derive(OpenApi)]
#[openapi(
    info(title = "Muster API", description = "Incidents, roles, the room topic and the timeline."),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API routes and the OpenAPI document describing them.
pub fn routes() -> (axum::Router<Arc<App>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(users::create_user, users::list_users))
        .routes(routes!(users::get_user))
        .routes(routes!(users::create_token, users::list_tokens))
        .routes(routes!(users::revoke_token))
        .routes(routes!(users::create_calendar_token))
        .routes(routes!(users::disable_user))
        .routes(routes!(users::set_password))
        .routes(routes!(users::whoami))
        .routes(routes!(users::add_contact_method, users::list_contact_methods))
        .routes(routes!(users::test_contact_method))
        .routes(routes!(roles::create_role, roles::list_roles))
        .routes(routes!(roles::get_required_roles, roles::set_required_roles))
        .routes(routes!(incidents::declare, incidents::list))
        .routes(routes!(incidents::get, incidents::update))
        .routes(routes!(incidents::assign_role, incidents::list_roles))
        .routes(routes!(incidents::relieve_role))
        .routes(routes!(incidents::timeline, incidents::add_entry))
        .routes(routes!(alerts::create_service, alerts::list_services))
        .routes(routes!(alerts::get_service, alerts::update_service))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::get_alert))
        .routes(routes!(alerts::acknowledge_alert))
        .routes(routes!(alerts::resolve_alert))
        .routes(routes!(alerts::assess_alert))
        .routes(routes!(alerts::declare_from_alert))
        .routes(routes!(alerts::link_alert))
        .routes(routes!(alerts::get_impact_matrix, alerts::set_impact_matrix))
        .routes(routes!(ingest::pagerduty_enqueue))
        .routes(routes!(ingest::pagerduty_change))
        .routes(routes!(ingest::alertmanager))
        .routes(routes!(ingest::generic))
        .routes(routes!(schedules::create_schedule, schedules::list_schedules))
        .routes(routes!(schedules::get_schedule))
        .routes(routes!(schedules::add_override))
        .routes(routes!(schedules::on_call))
        .routes(routes!(schedules::shifts))
        .routes(routes!(schedules::calendar))
        .routes(routes!(schedules::user_calendar))
        .routes(routes!(schedules::create_policy, schedules::list_policies))
        .routes(routes!(schedules::get_policy))
        .routes(routes!(pages::create_page, pages::incident_pages))
        .routes(routes!(pages::list_pages))
        .routes(routes!(pages::get_page))
        .routes(routes!(pages::acknowledge_page))
        .routes(routes!(pages::decline_page))
        .routes(routes!(pages::add_notification_rule, pages::list_notification_rules))
        .routes(routes!(jobs::list_jobs))
        .split_for_parts()
}

/// An incident reference from a path; an unparsable one is simply not found.
fn incident_ref(s: &str) -> Result<IncidentRef, ApiError> {
    s.parse()
        .map_err(|_| ApiError::not_found("ref", format!("there is no incident {s:?}; references look like INC-7 or 7")))
}

/// A `Link: <…>; rel="next"` header for the next page.
fn next_link(url: String) -> [(header::HeaderName, HeaderValue); 1] {
    let value = HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")).unwrap_or(HeaderValue::from_static(""));
    [(header::LINK, value)]
}
