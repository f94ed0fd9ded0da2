//! The outbox for admins: `GET /api/v1/jobs?state=dead` shows what Muster
//! gave up delivering, and why.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use muster_store::{JobFilter, JobRecord, JobState};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::next_link;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiQuery;
use muster_app::App;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobListQuery {
    /// `pending`, `done` or `dead`; all when absent.
    #[param(schema_with = crate::dto::schema::job_state_param)]
    pub state: Option<String>,
    /// Only jobs with a smaller id (the next page).
    #[param(schema_with = crate::dto::schema::u64_param)]
    pub before: Option<u64>,
    #[param(schema_with = crate::dto::schema::limit)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobResponse {
    pub id: u64,
    /// `page.step`, `webhook`, `email`.
    pub kind: String,
    /// `paging` (page steps and page notifications, delivered first) or `other`.
    pub lane: String,
    /// `pending`, `done` or `dead`.
    #[schema(schema_with = crate::dto::schema::job_state)]
    pub state: String,
    /// Where it goes: an address or URL.
    pub to: Option<String>,
    pub page: Option<u64>,
    pub attempts: u32,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub due_at: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub created_at: String,
    #[schema(schema_with = crate::dto::schema::date_time_or_null)]
    pub done_at: Option<String>,
    /// When it was given up on.
    #[schema(schema_with = crate::dto::schema::date_time_or_null)]
    pub dead_at: Option<String>,
    pub last_error: Option<String>,
}

impl From<JobRecord> for JobResponse {
    fn from(j: JobRecord) -> Self {
        JobResponse {
            id: j.id,
            kind: j.kind,
            lane: j.lane.as_str().into(),
            state: j.state.as_str().into(),
            to: j.to,
            page: j.page,
            attempts: j.attempts,
            due_at: j.due_at.to_string(),
            created_at: j.created_at.to_string(),
            done_at: j.done_at.map(|t| t.to_string()),
            dead_at: j.dead_at.map(|t| t.to_string()),
            last_error: j.last_error,
        }
    }
}

/// Outbox jobs, newest first (admins only), paged with `Link: rel="next"`.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "outbox", security(("bearer" = [])), params(JobListQuery),
    responses((status = 200, body = [JobResponse]), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_jobs(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<JobListQuery>,
) -> ApiResult<Response> {
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => {
            Some(JobState::parse(s).ok_or_else(|| ApiError::invalid("state", "state is one of pending, done, dead"))?)
        }
    };
    let limit = super::page_size(q.limit, 100)?;
    let found = app.jobs(&actor, &JobFilter { state, before: q.before, limit: Some(limit) }).await?;
    let next = (found.len() == limit as usize).then(|| found.last().map(|j| j.id)).flatten();
    let body: Vec<JobResponse> = found.into_iter().map(JobResponse::from).collect();
    let mut response = Json(body).into_response();
    if let Some(last) = next {
        let mut url = format!("/api/v1/jobs?limit={limit}&before={last}");
        if let Some(s) = &q.state {
            url.push_str(&format!("&state={s}"));
        }
        response.headers_mut().extend(next_link(url));
    }
    Ok(response)
}
