//! The wire format: what the API reads and writes. Requests take plain
//! strings and are parsed into domain types in the handlers, so that every
//! error names its field; responses are built from domain values here.

use muster_domain::{Assignment, Event, RoleCatalog, RoleDef, RoleKind, Timestamp};
use muster_store::User;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use muster_app::IncidentView;

fn ts(t: Timestamp) -> String {
    t.to_string()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub handle: String,
    pub name: String,
    pub email: String,
    /// `admin`, `responder` (the default) or `viewer`.
    pub permission: Option<String>,
    /// For signing in to the web UI (10-1024 characters).
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub handle: String,
    pub name: String,
    pub email: String,
    pub permission: String,
    pub created_at: String,
    /// When an admin disabled the account (RFC 3339); null while it works.
    pub disabled_at: Option<String>,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        UserResponse {
            handle: u.handle.to_string(),
            name: u.name,
            email: u.email,
            permission: u.permission.as_str().into(),
            created_at: ts(u.created_at),
            disabled_at: u.disabled_at.map(ts),
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// Shown once; only its hash is stored.
    pub token: String,
    #[serde(flatten)]
    pub about: TokenInfo,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// 1-100 characters to tell tokens apart; default `api`.
    #[serde(default)]
    pub name: Option<String>,
    /// RFC 3339, in the future; null or absent: it never expires.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// A token, without its secret (which is shown only once, at creation).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    /// For `DELETE /api/v1/users/{handle}/tokens/{id}`.
    pub id: u64,
    pub name: String,
    /// `api`, or `feed` for a calendar feed token.
    pub kind: String,
    pub created_at: String,
    /// Null: it never expires.
    pub expires_at: Option<String>,
    /// To the nearest five minutes; null: never used.
    pub last_used_at: Option<String>,
}

impl From<muster_store::TokenRecord> for TokenInfo {
    fn from(t: muster_store::TokenRecord) -> Self {
        TokenInfo {
            id: t.id,
            name: t.name,
            kind: t.kind.as_str().into(),
            created_at: ts(t.created_at),
            expires_at: t.expires_at.map(ts),
            last_used_at: t.last_used_at.map(ts),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoleRequest {
    pub key: String,
    pub name: String,
    /// Several holders at once, like tech leads. Default false.
    #[serde(default)]
    pub many: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RoleResponse {
    pub key: String,
    pub name: String,
    pub many: bool,
    pub builtin: bool,
}

impl RoleResponse {
    pub fn all(catalog: &RoleCatalog) -> Vec<RoleResponse> {
        let builtin = RoleKind::BUILTIN.iter().map(|k| RoleResponse {
            key: k.key().into(),
            name: k.name(),
            many: catalog.many(k),
            builtin: true,
        });
        let custom = catalog.custom.iter().map(RoleResponse::from);
        builtin.chain(custom).collect()
    }
}

impl From<&RoleDef> for RoleResponse {
    fn from(d: &RoleDef) -> Self {
        RoleResponse { key: d.key.as_str().into(), name: d.name.clone(), many: d.many, builtin: false }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareRequest {
    pub title: String,
    /// `P1`, `P2`, `P3` or `P4`.
    pub priority: String,
    pub summary: Option<String>,
    /// A handle; defaults to the caller.
    pub incident_manager: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub priority: Option<String>,
    /// `investigating`, `identified`, `monitoring`, `resolved` or `closed`.
    pub status: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// A built-in role key (`incident_manager`, `tech_lead`, …) or a custom one.
    pub role: String,
    /// The handle of the person taking the role.
    pub user: String,
    /// `internal`/`external` for communications managers, a workstream for tech leads.
    pub scope: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AssignmentResponse {
    pub id: u64,
    pub role: String,
    pub user: String,
    pub scope: Option<String>,
    pub assigned_at: String,
    pub assigned_by: String,
}

impl From<&Assignment> for AssignmentResponse {
    fn from(a: &Assignment) -> Self {
        AssignmentResponse {
            id: a.id,
            role: a.role.key().into(),
            user: a.user.to_string(),
            scope: a.scope.as_ref().map(|s| s.to_string()),
            assigned_at: ts(a.assigned_at),
            assigned_by: a.assigned_by.to_string(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IncidentResponse {
    /// `INC-<number>`.
    #[serde(rename = "ref")]
    pub reference: String,
    pub number: u64,
    pub title: String,
    pub summary: String,
    pub priority: String,
    pub status: String,
    pub declared_at: String,
    pub updated_at: String,
    pub identified_at: Option<String>,
    pub monitoring_at: Option<String>,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    /// The handle of the incident manager.
    pub incident_manager: String,
    pub roles: Vec<AssignmentResponse>,
    pub topic: String,
    /// Roles this priority requires that nobody holds.
    pub missing_roles: Vec<String>,
    /// The number of timeline entries.
    pub version: u64,
    /// Alerts linked to the incident, with their last known status.
    pub alerts: Vec<LinkedAlertResponse>,
    /// Every linked alert has resolved: a hint that the incident may be
    /// resolved too. It never resolves by itself.
    pub all_alerts_resolved: bool,
}

#[derive(Serialize, ToSchema)]
pub struct LinkedAlertResponse {
    pub id: u64,
    pub service: String,
    pub summary: String,
    pub severity: String,
    pub status: String,
}

impl From<&IncidentView> for IncidentResponse {
    fn from(v: &IncidentView) -> Self {
        let i = &v.incident;
        IncidentResponse {
            reference: i.reference().to_string(),
            number: i.number,
            title: i.title.clone(),
            summary: i.summary.clone(),
            priority: i.priority.as_str().into(),
            status: i.status.as_str().into(),
            declared_at: ts(i.declared_at),
            updated_at: ts(i.updated_at),
            identified_at: i.identified_at.map(ts),
            monitoring_at: i.monitoring_at.map(ts),
            resolved_at: i.resolved_at.map(ts),
            closed_at: i.closed_at.map(ts),
            incident_manager: i.incident_manager().map(|a| a.user.to_string()).unwrap_or_default(),
            roles: i.roles.iter().map(AssignmentResponse::from).collect(),
            topic: i.topic.clone(),
            missing_roles: v.missing_roles.iter().map(|r| r.key().to_owned()).collect(),
            version: i.version,
            alerts: i
                .alerts
                .iter()
                .map(|a| LinkedAlertResponse {
                    id: a.id,
                    service: a.service.clone(),
                    summary: a.summary.clone(),
                    severity: a.severity.as_str().into(),
                    status: a.status.as_str().into(),
                })
                .collect(),
            all_alerts_resolved: i.all_alerts_resolved(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEntryRequest {
    /// `note`, `theory`, `decision`, `action` or `milestone`.
    pub kind: String,
    pub text: String,
    /// For milestones: `impact_detected`, `customers_notified`, `cause_identified`,
    /// `fix_deployed`, `mitigated` or `resolved`.
    pub tag: Option<String>,
    /// The id of an entry this one corrects.
    pub corrects: Option<u64>,
    /// RFC 3339; backdates the entry. `recorded_at` stays the true time.
    pub occurred_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EntryResponse {
    /// Counts from 1 within the incident.
    pub id: u64,
    /// When it happened (backdated entries differ from `recorded_at`).
    pub at: String,
    pub recorded_at: String,
    pub actor: String,
    /// The roles the actor held at that moment.
    pub actor_roles: Vec<String>,
    pub kind: String,
    pub text: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// SHA-256 over the previous entry's hash and this entry.
    pub hash: String,
}

impl From<&Event> for EntryResponse {
    fn from(e: &Event) -> Self {
        EntryResponse {
            id: e.seq,
            at: ts(e.at),
            recorded_at: ts(e.recorded_at),
            actor: e.actor.to_string(),
            actor_roles: e.actor_roles.iter().map(|r| r.key().to_owned()).collect(),
            kind: e.change.kind().into(),
            text: e.text(),
            data: e.change.data(),
            hash: e.hash.clone(),
        }
    }
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IncidentListQuery {
    /// Comma-separated statuses, e.g. `investigating,identified`.
    pub status: Option<String>,
    /// Comma-separated priorities, e.g. `P1,P2`.
    pub priority: Option<String>,
    /// Only incidents numbered below this (the next page).
    pub before: Option<u64>,
    /// 1 to 1000, default 50.
    pub limit: Option<u32>,
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TimelineListQuery {
    /// The cursor from the previous page's `Link: rel="next"`.
    pub after: Option<String>,
    /// 1 to 1000, default 1000.
    pub limit: Option<u32>,
}
