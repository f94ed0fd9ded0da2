//! After the incident: the roster of who took part in which role, and the
//! moments every duration is measured from.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use muster_domain::postmortem::{Moment, Participant, Source};
use serde::Serialize;
use utoipa::ToSchema;

use super::incident_ref;
use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use muster_app::App;

/// A moment of the incident and where its time comes from.
#[derive(Serialize, ToSchema)]
pub struct MomentResponse {
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub at: String,
    /// `milestone` (marked on the timeline: `seq` is the entry), `declared`,
    /// `page_acknowledged`, `monitoring` or `status_resolved`.
    pub source: String,
    pub seq: Option<u64>,
}

impl From<&Moment> for MomentResponse {
    fn from(m: &Moment) -> Self {
        let (source, seq) = match m.source {
            Source::Milestone { seq } => ("milestone", Some(seq)),
            Source::Declared => ("declared", None),
            Source::PageAcknowledged => ("page_acknowledged", None),
            Source::Monitoring => ("monitoring", None),
            Source::StatusResolved => ("status_resolved", None),
        };
        MomentResponse { at: m.at.to_string(), source: source.to_owned(), seq }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MomentsResponse {
    /// When the impact began: every duration runs from here.
    pub started: Option<MomentResponse>,
    pub detected: Option<MomentResponse>,
    pub acknowledged: Option<MomentResponse>,
    pub mitigated: Option<MomentResponse>,
    pub resolved: Option<MomentResponse>,
}

/// Seconds from the start; null where the moment is not known yet.
#[derive(Serialize, ToSchema)]
pub struct DurationsResponse {
    pub to_detect: Option<i64>,
    pub to_acknowledge: Option<i64>,
    pub to_mitigate: Option<i64>,
    pub to_resolve: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct StintResponse {
    pub role: String,
    pub scope: Option<String>,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub from: String,
    /// Null: still held.
    #[schema(schema_with = crate::dto::schema::date_time_or_null)]
    pub to: Option<String>,
    pub seconds: i64,
    /// How it ended: `relieved`, `handed over to @bob` …
    pub ended: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ParticipantResponse {
    pub user: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub first_activity: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub last_activity: String,
    /// Timeline entries they made.
    pub entries: u32,
    pub roles: Vec<StintResponse>,
    /// Seconds in each role (by key), summed over its stints.
    pub time_in_role: BTreeMap<String, i64>,
    pub pages_answered: u32,
}

impl From<&Participant> for ParticipantResponse {
    fn from(p: &Participant) -> Self {
        ParticipantResponse {
            user: p.handle.to_string(),
            first_activity: p.first_activity.to_string(),
            last_activity: p.last_activity.to_string(),
            entries: p.entries,
            roles: p
                .roles
                .iter()
                .map(|s| StintResponse {
                    role: s.role.key().to_owned(),
                    scope: s.scope.as_ref().map(|x| x.as_str().to_owned()),
                    from: s.from.to_string(),
                    to: s.to.map(|t| t.to_string()),
                    seconds: s.seconds,
                    ended: s.ended.clone(),
                })
                .collect(),
            time_in_role: p.time_in_role.clone(),
            pages_answered: p.pages_answered,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RosterResponse {
    pub moments: MomentsResponse,
    pub durations: DurationsResponse,
    /// In the order they first took part.
    pub participants: Vec<ParticipantResponse>,
    /// Where roles still held stop counting: the resolution, or now.
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub until: String,
}

/// Who took part and in which roles from when to when, with the
/// incident's moments (the scribe's milestones where marked, else what the
/// timeline shows) and the durations from its start.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/roster", tag = "timeline", params(("ref" = String, Path, description = "INC-7 or 7")),
    security(("bearer" = [])), responses((status = 200, body = RosterResponse), (status = 404, body = Problem)))]
pub async fn roster(
    State(app): State<Arc<App>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<RosterResponse>> {
    let roster = app.roster(incident_ref(&r)?).await?;
    let m = &roster.moments;
    let d = roster.durations;
    Ok(Json(RosterResponse {
        moments: MomentsResponse {
            started: m.started.as_ref().map(Into::into),
            detected: m.detected.as_ref().map(Into::into),
            acknowledged: m.acknowledged.as_ref().map(Into::into),
            mitigated: m.mitigated.as_ref().map(Into::into),
            resolved: m.resolved.as_ref().map(Into::into),
        },
        durations: DurationsResponse {
            to_detect: d.to_detect,
            to_acknowledge: d.to_acknowledge,
            to_mitigate: d.to_mitigate,
            to_resolve: d.to_resolve,
        },
        participants: roster.participants.iter().map(Into::into).collect(),
        until: roster.until.to_string(),
    }))
}
