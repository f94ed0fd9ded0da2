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

mod actions;
mod alerts;
mod incidents;
pub mod ingest;
mod insights;
mod jobs;
pub mod pages;
mod postmortem;
mod roles;
mod schedules;
mod stakeholders;
mod statuspage;
mod support;
mod updates;
mod users;
mod workstreams;

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
        .routes(routes!(users::get_user, users::patch_user))
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
        .routes(routes!(incidents::verify_timeline))
        .routes(routes!(postmortem::roster))
        .routes(routes!(postmortem::theories))
        .routes(routes!(workstreams::workstreams))
        .routes(routes!(workstreams::report))
        .routes(routes!(postmortem::decide))
        .routes(routes!(actions::add_action, actions::list_actions))
        .routes(routes!(actions::patch_action))
        .routes(routes!(actions::follow_ups))
        .routes(routes!(insights::insights))
        .routes(routes!(insights::insights_csv))
        .routes(routes!(actions::get_tracker_webhook, actions::set_tracker_webhook, actions::remove_tracker_webhook))
        .routes(routes!(postmortem::highlight, postmortem::unhighlight))
        .routes(routes!(postmortem::annotate))
        .routes(routes!(postmortem::judge_theory))
        .routes(routes!(postmortem::draft_postmortem, postmortem::get_postmortem, postmortem::patch_postmortem))
        .routes(routes!(postmortem::postmortem_markdown))
        .routes(routes!(postmortem::postmortem_html))
        .routes(routes!(postmortem::get_postmortem_templates, postmortem::set_postmortem_templates))
        .routes(routes!(updates::write_update, updates::list_updates))
        .routes(routes!(updates::edit_update))
        .routes(routes!(updates::publish_update))
        .routes(routes!(updates::snooze_update))
        .routes(routes!(updates::suggest_update))
        .routes(routes!(updates::get_update_cadence, updates::set_update_cadence))
        .routes(routes!(stakeholders::record_response))
        .routes(routes!(stakeholders::follow, stakeholders::list_followers))
        .routes(routes!(stakeholders::unfollow))
        .routes(routes!(stakeholders::create_group, stakeholders::list_groups))
        .routes(routes!(stakeholders::get_group, stakeholders::change_group, stakeholders::delete_group))
        .routes(routes!(statuspage::create_component, statuspage::list_components))
        .routes(routes!(statuspage::get_component, statuspage::change_component, statuspage::delete_component))
        .routes(routes!(statuspage::set_component_status))
        .routes(routes!(statuspage::get_status_settings, statuspage::set_status_settings))
        .routes(routes!(statuspage::create_maintenance, statuspage::list_maintenances))
        .routes(routes!(statuspage::get_maintenance))
        .routes(routes!(statuspage::update_maintenance))
        .routes(routes!(statuspage::edit_public_incident))
        .routes(routes!(statuspage::list_subscribers))
        .routes(routes!(statuspage::remove_subscriber))
        .routes(routes!(support::log_report, support::list_reports))
        .routes(routes!(support::link_reports))
        .routes(routes!(support::get_report, support::patch_report))
        .routes(routes!(support::link_report))
        .routes(routes!(support::unlink_report))
        .routes(routes!(support::respond))
        .routes(routes!(support::pass))
        .routes(routes!(support::incident_reports))
        .routes(routes!(support::queue))
        .routes(routes!(support::get_targets, support::set_targets))
        .routes(routes!(support::create_integration, support::list_integrations))
        .routes(routes!(support::zendesk))
        .routes(routes!(support::freshdesk))
        .routes(routes!(support::intercom))
        .routes(routes!(support::generic))
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
        .routes(routes!(users::remove_contact_method))
        .routes(routes!(pages::remove_notification_rule))
        .split_for_parts()
}

/// The answers every operation can give besides its own, added to the
/// document so that each annotation lists only what is particular to it:
/// a token missing (401) or not allowed (403), a path naming nothing (404),
/// a body that is not JSON (400, 415), too large (413) or wrong (422), a
/// query that is wrong (400), and the database unusable for now (503, with
/// `Retry-After`). Every error is a problem document; the
/// PagerDuty-compatible routes (`/v2/…`) keep PagerDuty's own error body.
pub(crate) fn describe_errors(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let problem = json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (_, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else { continue };
            let params = op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
            let has_in = |place: &str| params.iter().any(|p| p["in"] == place);
            let secured = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
            let json_body = op
                .get("requestBody")
                .and_then(|b| b.get("content"))
                .and_then(Value::as_object)
                .is_some_and(|c| c.contains_key("application/json"));
            let own_errors = path.starts_with("/v2/");
            let mut standard: Vec<(&str, &str)> = Vec::new();
            if json_body || has_in("query") {
                standard.push(("400", "The body is not JSON, or a query parameter is not valid"));
            }
            if secured || path.ends_with(".ics") {
                standard.push(("401", "No token, or one that is not valid"));
            }
            if secured {
                standard.push(("403", "The caller may not do this"));
            }
            if has_in("path") {
                standard.push(("404", "The path names nothing that exists"));
            }
            if json_body {
                standard.push(("413", "The body is too large"));
                standard.push(("415", "The body is not sent as JSON"));
                standard.push(("422", "A field's value is not valid; `field` names it"));
            }
            standard.push(("503", "The database cannot be used now; retry after `Retry-After` seconds"));
            let responses = op.entry("responses").or_insert_with(|| json!({}));
            let Some(responses) = responses.as_object_mut() else { continue };
            if !own_errors {
                for (status, description) in standard {
                    responses.entry(status).or_insert_with(|| json!({"description": description}));
                }
            }
            for (status, response) in responses.iter_mut() {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if is_error && !own_errors {
                    response["content"] = problem.clone();
                    if response.get("description").and_then(Value::as_str).is_none_or(str::is_empty) {
                        response["description"] = json!("A problem document");
                    }
                }
                if status == "503" {
                    response["headers"] = json!({"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying"}});
                }
                if status == "401" && !own_errors {
                    response["headers"] =
                        json!({"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}});
                }
            }
        }
    }
}

/// An incident reference from a path; an unparsable one is simply not found.
fn incident_ref(s: &str) -> Result<IncidentRef, ApiError> {
    s.parse()
        .map_err(|_| ApiError::not_found("ref", format!("there is no incident {s:?}; references look like INC-7 or 7")))
}

/// A list's page size from its `limit` query parameter; out of range is a 400.
fn page_size(limit: Option<u32>, default: u32) -> Result<u32, ApiError> {
    muster_domain::page_size(limit, default).map_err(|_| {
        let detail = format!("`limit` must be a whole number from 1 to {}", muster_domain::MAX_PAGE_SIZE);
        ApiError::field(axum::http::StatusCode::BAD_REQUEST, "invalid-query", "limit", detail)
    })
}

/// A `Link: <…>; rel="next"` header for the next page.
fn next_link(url: String) -> [(header::HeaderName, HeaderValue); 1] {
    let value = HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")).unwrap_or(HeaderValue::from_static(""));
    [(header::LINK, value)]
}
