//! After the incident: the roster of who took part in which role, the
//! moments every duration is measured from, and the postmortem.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_app::postmortem::Postmortem;
use muster_domain::postmortem::document::{Line, PostmortemState, Section, Template};
use muster_domain::postmortem::{Moment, Moments, Participant, Source};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::incident_ref;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, OptionalJson};
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
    Ok(Json(RosterResponse {
        moments: (&roster.moments).into(),
        durations: (&roster.moments).into(),
        participants: roster.participants.iter().map(Into::into).collect(),
        until: roster.until.to_string(),
    }))
}

impl From<&Moments> for MomentsResponse {
    fn from(m: &Moments) -> Self {
        MomentsResponse {
            started: m.started.as_ref().map(Into::into),
            detected: m.detected.as_ref().map(Into::into),
            acknowledged: m.acknowledged.as_ref().map(Into::into),
            mitigated: m.mitigated.as_ref().map(Into::into),
            resolved: m.resolved.as_ref().map(Into::into),
        }
    }
}

impl From<&Moments> for DurationsResponse {
    fn from(m: &Moments) -> Self {
        let d = m.durations();
        DurationsResponse {
            to_detect: d.to_detect,
            to_acknowledge: d.to_acknowledge,
            to_mitigate: d.to_mitigate,
            to_resolve: d.to_resolve,
        }
    }
}

/// One judgement of a theory.
#[derive(Serialize, ToSchema)]
pub struct JudgementResponse {
    /// Its timeline entry.
    pub id: u64,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub at: String,
    pub actor: String,
    /// `open` (reopened), `confirmed` or `ruled_out`.
    pub status: String,
    pub evidence: Option<String>,
}

/// A theory on the timeline and where it stands.
#[derive(Serialize, ToSchema)]
pub struct TheoryResponse {
    /// The entry that put it forward.
    pub id: u64,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub at: String,
    pub actor: String,
    pub actor_roles: Vec<String>,
    /// Its words: the latest correction's.
    pub text: String,
    /// `open`, `confirmed` or `ruled_out`: the last judgement's.
    pub status: String,
    pub judgements: Vec<JudgementResponse>,
    /// The workstream (a tech lead's scope) it belongs to.
    pub workstream: Option<String>,
}

impl From<&muster_domain::postmortem::Theory> for TheoryResponse {
    fn from(t: &muster_domain::postmortem::Theory) -> Self {
        TheoryResponse {
            id: t.seq,
            at: t.at.to_string(),
            actor: t.actor.to_string(),
            actor_roles: t.roles.iter().map(|r| r.key().to_owned()).collect(),
            text: t.text.clone(),
            workstream: t.workstream.as_ref().map(|w| w.to_string()),
            status: t.status.as_str().to_owned(),
            judgements: t
                .judgements
                .iter()
                .map(|j| JudgementResponse {
                    id: j.seq,
                    at: j.at.to_string(),
                    actor: j.actor.to_string(),
                    status: j.status.as_str().to_owned(),
                    evidence: j.evidence.clone(),
                })
                .collect(),
        }
    }
}

/// The incident's theories in the order they were put forward, each with
/// its judgements.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/theories", tag = "timeline", params(("ref" = String, Path, description = "INC-7 or 7")),
    security(("bearer" = [])), responses((status = 200, body = [TheoryResponse]), (status = 404, body = Problem)))]
pub async fn theories(
    State(app): State<Arc<App>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<Vec<TheoryResponse>>> {
    let all = app.theories(incident_ref(&r)?).await?;
    Ok(Json(all.iter().map(Into::into).collect()))
}

/// Where a theory stands.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum TheoryStatusName {
    Open,
    Confirmed,
    RuledOut,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JudgeTheoryRequest {
    /// `open` reopens it.
    pub status: TheoryStatusName,
    /// What it rests on: a graph, a log line, a link.
    #[schema(schema_with = crate::dto::schema::evidence_or_null)]
    pub evidence: Option<String>,
}

/// Confirm, rule out or reopen a theory (the incident's tech leads and
/// incident managers); the judgement is a timeline entry, the theory's
/// words stay as written.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/theories/{id}/status", tag = "timeline",
    params(("ref" = String, Path, description = "INC-7 or 7"), ("id" = u64, Path, description = "the theory's timeline entry")),
    request_body = JudgeTheoryRequest, security(("bearer" = [])),
    responses((status = 201, body = crate::dto::EntryResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn judge_theory(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((r, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<JudgeTheoryRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::EntryResponse>)> {
    let r = incident_ref(&r)?;
    let id: u64 = id.parse().map_err(|_| ApiError::invalid("id", "a theory is named by its timeline entry's id"))?;
    use muster_domain::timeline::TheoryStatus;
    let status = match b.status {
        TheoryStatusName::Open => TheoryStatus::Open,
        TheoryStatusName::Confirmed => TheoryStatus::Confirmed,
        TheoryStatusName::RuledOut => TheoryStatus::RuledOut,
    };
    let event = app.judge_theory(&actor, r, id, status, b.evidence).await?;
    Ok((StatusCode::CREATED, Json((&event).into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    #[schema(schema_with = crate::dto::schema::entry_text)]
    pub text: String,
    /// Why: what was weighed.
    #[schema(schema_with = crate::dto::schema::evidence_or_null)]
    pub rationale: Option<String>,
    /// The theory it follows from (its timeline entry).
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub theory: Option<u64>,
}

/// Record a decision (a `decision` entry) with its reasons and the theory
/// it follows from; the postmortem lists it so.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/decisions", tag = "timeline", params(("ref" = String, Path, description = "INC-7 or 7")),
    request_body = DecisionRequest, security(("bearer" = [])),
    responses((status = 201, body = crate::dto::EntryResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn decide(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(r): Path<String>,
    ApiJson(b): ApiJson<DecisionRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::EntryResponse>)> {
    let event = app.decide(&actor, incident_ref(&r)?, b.text, b.rationale, b.theory).await?;
    Ok((StatusCode::CREATED, Json((&event).into())))
}

fn entry_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::invalid("id", "an entry is named by its id, a number"))
}

/// Highlight an entry for the postmortem (the scribe, the incident
/// managers): its timeline shows highlighted entries besides the
/// milestones, theories, decisions and actions it always shows.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/timeline/{id}/highlight", tag = "timeline",
    params(("ref" = String, Path, description = "INC-7 or 7"), ("id" = u64, Path, description = "the entry")),
    security(("bearer" = [])),
    responses((status = 201, body = crate::dto::EntryResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn highlight(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((r, id)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<crate::dto::EntryResponse>)> {
    let event = app.highlight(&actor, incident_ref(&r)?, entry_id(&id)?, true).await?;
    Ok((StatusCode::CREATED, Json((&event).into())))
}

/// Take the highlight off an entry; the entry that says so is returned.
#[utoipa::path(delete, path = "/api/v1/incidents/{ref}/timeline/{id}/highlight", tag = "timeline",
    params(("ref" = String, Path, description = "INC-7 or 7"), ("id" = u64, Path, description = "the entry")),
    security(("bearer" = [])),
    responses((status = 200, body = crate::dto::EntryResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn unhighlight(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((r, id)): Path<(String, String)>,
) -> ApiResult<Json<crate::dto::EntryResponse>> {
    let event = app.highlight(&actor, incident_ref(&r)?, entry_id(&id)?, false).await?;
    Ok(Json((&event).into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnnotationRequest {
    #[schema(schema_with = crate::dto::schema::entry_text)]
    pub text: String,
}

/// Annotate an entry (the scribe, the incident managers): a remark shown
/// with it in the postmortem; the entry stays as written.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/timeline/{id}/annotations", tag = "timeline",
    params(("ref" = String, Path, description = "INC-7 or 7"), ("id" = u64, Path, description = "the entry")),
    request_body = AnnotationRequest, security(("bearer" = [])),
    responses((status = 201, body = crate::dto::EntryResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn annotate(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((r, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<AnnotationRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::EntryResponse>)> {
    let event = app.annotate(&actor, incident_ref(&r)?, entry_id(&id)?, b.text).await?;
    Ok((StatusCode::CREATED, Json((&event).into())))
}

/// One line of the postmortem's timeline.
#[derive(Serialize, ToSchema)]
pub struct PostmortemLine {
    /// The timeline entry.
    pub id: u64,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub at: String,
    pub actor: String,
    /// The roles the actor held at that moment.
    pub actor_roles: Vec<String>,
    pub text: String,
    /// The entry that corrected it (`text` is then the correction's).
    pub corrected_by: Option<u64>,
    /// Highlighted by the scribe.
    pub highlighted: bool,
    /// Remarks on it, `@hank: …`.
    pub annotations: Vec<String>,
}

impl From<&Line> for PostmortemLine {
    fn from(l: &Line) -> Self {
        PostmortemLine {
            id: l.seq,
            at: l.at.to_string(),
            actor: l.actor.to_string(),
            actor_roles: l.roles.iter().map(|r| r.key().to_owned()).collect(),
            text: l.text.clone(),
            corrected_by: l.corrected_by,
            highlighted: l.highlighted,
            annotations: l.annotations.iter().map(|(by, text)| format!("@{by}: {text}")).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FirstAlertResponse {
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub at: String,
    pub service: String,
    pub summary: String,
}

#[derive(Serialize, ToSchema)]
pub struct ComponentImpactResponse {
    pub name: String,
    /// The worst state it was in for the incident.
    pub worst: String,
}

/// What the postmortem states from the timeline and the status page.
#[derive(Serialize, ToSchema)]
pub struct FactsResponse {
    pub moments: MomentsResponse,
    pub durations: DurationsResponse,
    /// From the start to the resolution (to now while unresolved).
    pub impact_seconds: Option<i64>,
    pub services: Vec<String>,
    pub components: Vec<ComponentImpactResponse>,
    pub customer_reports: u32,
    pub customers: u32,
    pub first_alert: Option<FirstAlertResponse>,
    pub pages_sent: u32,
    pub pages_answered: u32,
    pub escalations: u32,
    pub roster: Vec<ParticipantResponse>,
    pub timeline: Vec<PostmortemLine>,
    pub theories: Vec<TheoryResponse>,
    pub decisions: Vec<PostmortemLine>,
    pub actions: Vec<PostmortemLine>,
    /// The action items: the actions marked follow-ups, as they stand now.
    pub follow_ups: Vec<ActionItemResponse>,
}

/// An action item of the postmortem.
#[derive(Serialize, ToSchema)]
pub struct ActionItemResponse {
    /// The action's timeline entry.
    pub id: u64,
    pub text: String,
    pub owner: Option<String>,
    #[schema(schema_with = crate::dto::schema::date_time_or_null)]
    pub due_at: Option<String>,
    /// `open`, `done` or `cancelled`.
    pub status: String,
    pub ticket: Option<String>,
}

/// An incident's postmortem: the sections people wrote (empty ones with
/// what to write), and the facts read from the timeline now.
#[derive(Serialize, ToSchema)]
pub struct PostmortemResponse {
    pub incident: String,
    /// `standard` or `lightweight`.
    pub template: String,
    /// `draft`, `in_review` or `published`.
    pub state: String,
    /// The sections of its template, by name; empty until written.
    pub sections: BTreeMap<String, String>,
    /// What each empty section asks for.
    pub prompts: BTreeMap<String, String>,
    pub facts: FactsResponse,
    /// The timeline it was made from: its length and head hash.
    pub entries: u64,
    pub head: String,
    pub created_by: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub created_at: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub updated_at: String,
    #[schema(schema_with = crate::dto::schema::date_time_or_null)]
    pub published_at: Option<String>,
}

impl From<&Postmortem> for PostmortemResponse {
    fn from(p: &Postmortem) -> Self {
        let (r, f) = (&p.record, &p.facts);
        let mut sections = BTreeMap::new();
        let mut prompts = BTreeMap::new();
        for s in r.template.sections() {
            let text = r.narrative.get(*s);
            sections.insert(s.as_str().to_owned(), text.to_owned());
            if text.is_empty() {
                prompts.insert(s.as_str().to_owned(), s.prompt().to_owned());
            }
        }
        let lines = |l: &[Line]| l.iter().map(Into::into).collect();
        PostmortemResponse {
            incident: format!("INC-{}", r.incident),
            template: r.template.as_str().to_owned(),
            state: r.state.as_str().to_owned(),
            sections,
            prompts,
            facts: FactsResponse {
                moments: (&f.moments).into(),
                durations: (&f.moments).into(),
                impact_seconds: f.impact_seconds,
                services: f.services.clone(),
                components: f
                    .components
                    .iter()
                    .map(|c| ComponentImpactResponse { name: c.name.clone(), worst: c.worst.as_str().to_owned() })
                    .collect(),
                customer_reports: f.customer_reports,
                customers: f.customers,
                first_alert: f.first_alert.as_ref().map(|a| FirstAlertResponse {
                    at: a.at.to_string(),
                    service: a.service.clone(),
                    summary: a.summary.clone(),
                }),
                pages_sent: f.pages_sent,
                pages_answered: f.pages_answered,
                escalations: f.escalations,
                roster: f.roster.iter().map(Into::into).collect(),
                timeline: lines(&f.timeline),
                theories: f.theories.iter().map(Into::into).collect(),
                decisions: lines(&f.decisions),
                actions: lines(&f.actions),
                follow_ups: f
                    .follow_ups
                    .iter()
                    .map(|a| ActionItemResponse {
                        id: a.seq,
                        text: a.text.clone(),
                        owner: a.tracking.owner.as_ref().map(|o| o.to_string()),
                        due_at: a.tracking.due_at.map(|d| d.to_string()),
                        status: a.tracking.status.as_str().to_owned(),
                        ticket: a.tracking.ticket.clone(),
                    })
                    .collect(),
            },
            entries: f.entries,
            head: f.head.clone(),
            created_by: r.created_by.to_string(),
            created_at: r.created_at.to_string(),
            updated_at: r.updated_at.to_string(),
            published_at: r.published_at.map(|t| t.to_string()),
        }
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DraftPostmortemRequest {
    /// `standard` or `lightweight`; by default the one the incident's
    /// priority gets (`GET /api/v1/settings/postmortem-templates`).
    pub template: Option<String>,
}

/// Draft the postmortem of a resolved incident from its timeline (any
/// responder): the facts filled in, the sections to write with prompts.
/// One per incident; the draft is on the timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/postmortem", tag = "postmortem", params(("ref" = String, Path, description = "INC-7 or 7")),
    request_body(content = Option<DraftPostmortemRequest>), security(("bearer" = [])),
    responses((status = 201, body = PostmortemResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn draft_postmortem(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(r): Path<String>,
    OptionalJson(b): OptionalJson<DraftPostmortemRequest>,
) -> ApiResult<(StatusCode, Json<PostmortemResponse>)> {
    let r = incident_ref(&r)?;
    let template = b.template.as_deref().map(Template::parse).transpose()?;
    let p = app.draft_postmortem(&actor, r, template).await?;
    Ok((StatusCode::CREATED, Json((&p).into())))
}

/// The incident's postmortem, its facts read from the timeline now.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/postmortem", tag = "postmortem", params(("ref" = String, Path, description = "INC-7 or 7")),
    security(("bearer" = [])), responses((status = 200, body = PostmortemResponse), (status = 404, body = Problem)))]
pub async fn get_postmortem(
    State(app): State<Arc<App>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<PostmortemResponse>> {
    let p = app.postmortem(incident_ref(&r)?).await?;
    Ok(Json((&p).into()))
}

/// Sections to write (each replaces; an empty string clears it) and the
/// state to move to.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PostmortemPatchRequest {
    #[schema(schema_with = crate::dto::schema::section_or_null)]
    pub summary: Option<String>,
    #[schema(schema_with = crate::dto::schema::section_or_null)]
    pub trigger: Option<String>,
    #[schema(schema_with = crate::dto::schema::section_or_null)]
    pub root_cause: Option<String>,
    #[schema(schema_with = crate::dto::schema::section_or_null)]
    pub contributing_factors: Option<String>,
    #[schema(schema_with = crate::dto::schema::section_or_null)]
    pub resolution: Option<String>,
    #[schema(schema_with = crate::dto::schema::section_or_null)]
    pub went_well: Option<String>,
    #[schema(schema_with = crate::dto::schema::section_or_null)]
    pub went_wrong: Option<String>,
    #[schema(schema_with = crate::dto::schema::section_or_null)]
    pub lucky: Option<String>,
    #[schema(schema_with = crate::dto::schema::section_or_null)]
    pub public_summary: Option<String>,
    /// The incident managers publish.
    pub state: Option<StateName>,
}

/// Where a postmortem is.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum StateName {
    Draft,
    InReview,
    Published,
}

impl From<StateName> for PostmortemState {
    fn from(s: StateName) -> Self {
        match s {
            StateName::Draft => PostmortemState::Draft,
            StateName::InReview => PostmortemState::InReview,
            StateName::Published => PostmortemState::Published,
        }
    }
}

/// Edit the postmortem's sections (any responder, until it is published)
/// and move it: `in_review`, back to `draft`, `published`.
#[utoipa::path(patch, path = "/api/v1/incidents/{ref}/postmortem", tag = "postmortem", params(("ref" = String, Path, description = "INC-7 or 7")),
    request_body = PostmortemPatchRequest, security(("bearer" = [])),
    responses((status = 200, body = PostmortemResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn patch_postmortem(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(r): Path<String>,
    ApiJson(b): ApiJson<PostmortemPatchRequest>,
) -> ApiResult<Json<PostmortemResponse>> {
    let r = incident_ref(&r)?;
    let state = b.state.map(PostmortemState::from);
    let edits: Vec<(Section, String)> = [
        (Section::Summary, b.summary),
        (Section::Trigger, b.trigger),
        (Section::RootCause, b.root_cause),
        (Section::ContributingFactors, b.contributing_factors),
        (Section::Resolution, b.resolution),
        (Section::WentWell, b.went_well),
        (Section::WentWrong, b.went_wrong),
        (Section::Lucky, b.lucky),
        (Section::PublicSummary, b.public_summary),
    ]
    .into_iter()
    .filter_map(|(s, t)| t.map(|t| (s, t)))
    .collect();
    let edited = if edits.is_empty() { None } else { Some(app.edit_postmortem(&actor, r, &edits).await?) };
    let p = match (state, edited) {
        (Some(to), _) => app.move_postmortem(&actor, r, to).await?,
        (None, Some(p)) => p,
        // Nothing named: nothing changes.
        (None, None) => app.postmortem(r).await?,
    };
    Ok(Json((&p).into()))
}

/// The postmortem as Markdown, with the head hash of its timeline.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/postmortem.md", tag = "postmortem", params(("ref" = String, Path, description = "INC-7 or 7")),
    security(("bearer" = [])), responses((status = 200, content_type = "text/markdown", body = String), (status = 404, body = Problem)))]
pub async fn postmortem_markdown(
    State(app): State<Arc<App>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Response> {
    let p = app.postmortem(incident_ref(&r)?).await?;
    Ok(([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], p.markdown()).into_response())
}

/// The postmortem as a printable HTML page, with the head hash of its
/// timeline.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/postmortem.html", tag = "postmortem", params(("ref" = String, Path, description = "INC-7 or 7")),
    security(("bearer" = [])), responses((status = 200, content_type = "text/html", body = String), (status = 404, body = Problem)))]
pub async fn postmortem_html(
    State(app): State<Arc<App>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Response> {
    let p = app.postmortem(incident_ref(&r)?).await?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], crate::web::postmortem::page(&p.document))
        .into_response())
}

/// A postmortem template's name.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum TemplateName {
    Standard,
    Lightweight,
}

impl From<TemplateName> for Template {
    fn from(t: TemplateName) -> Self {
        match t {
            TemplateName::Standard => Template::Standard,
            TemplateName::Lightweight => Template::Lightweight,
        }
    }
}

impl From<Template> for TemplateName {
    fn from(t: Template) -> Self {
        match t {
            Template::Standard => TemplateName::Standard,
            Template::Lightweight => TemplateName::Lightweight,
        }
    }
}

/// The template of each priority's postmortem.
#[derive(Serialize, ToSchema)]
pub struct TemplatesResponse {
    #[serde(rename = "P1")]
    pub p1: TemplateName,
    #[serde(rename = "P2")]
    pub p2: TemplateName,
    #[serde(rename = "P3")]
    pub p3: TemplateName,
    #[serde(rename = "P4")]
    pub p4: TemplateName,
}

/// The priorities whose template changes; the others keep theirs.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplatesRequest {
    #[serde(rename = "P1")]
    pub p1: Option<TemplateName>,
    #[serde(rename = "P2")]
    pub p2: Option<TemplateName>,
    #[serde(rename = "P3")]
    pub p3: Option<TemplateName>,
    #[serde(rename = "P4")]
    pub p4: Option<TemplateName>,
}

/// The template each priority's postmortem starts from (by default the
/// standard one for P1 and P2, the lightweight one for P3 and P4).
#[utoipa::path(get, path = "/api/v1/settings/postmortem-templates", tag = "postmortem", security(("bearer" = [])),
    responses((status = 200, body = TemplatesResponse)))]
pub async fn get_postmortem_templates(
    State(app): State<Arc<App>>,
    _caller: Caller,
) -> ApiResult<Json<TemplatesResponse>> {
    Ok(Json(templates(app.postmortem_templates().await?)))
}

/// Choose the template per priority (admins): `{"P3": "standard"}`.
#[utoipa::path(put, path = "/api/v1/settings/postmortem-templates", tag = "postmortem", security(("bearer" = [])),
    request_body = TemplatesRequest,
    responses((status = 200, body = TemplatesResponse), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set_postmortem_templates(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(b): ApiJson<TemplatesRequest>,
) -> ApiResult<Json<TemplatesResponse>> {
    use muster_domain::Priority;
    let chosen: BTreeMap<Priority, Template> =
        [(Priority::P1, b.p1), (Priority::P2, b.p2), (Priority::P3, b.p3), (Priority::P4, b.p4)]
            .into_iter()
            .filter_map(|(p, t)| t.map(|t| (p, t.into())))
            .collect();
    Ok(Json(templates(app.set_postmortem_templates(&actor, chosen).await?)))
}

fn templates(t: BTreeMap<muster_domain::Priority, Template>) -> TemplatesResponse {
    use muster_domain::Priority;
    let of = |p: Priority| t.get(&p).copied().unwrap_or(Template::default_for(p)).into();
    TemplatesResponse { p1: of(Priority::P1), p2: of(Priority::P2), p3: of(Priority::P3), p4: of(Priority::P4) }
}
