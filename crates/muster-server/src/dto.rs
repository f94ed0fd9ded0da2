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
    #[schema(schema_with = schema::handle)]
    pub handle: String,
    #[schema(schema_with = schema::name_100)]
    pub name: String,
    #[schema(schema_with = schema::email)]
    pub email: String,
    /// `admin`, `responder` (the default) or `viewer`.
    #[schema(schema_with = schema::permission_or_null)]
    pub permission: Option<String>,
    /// For signing in to the web UI (10-1024 characters).
    #[schema(min_length = 10, max_length = 1024)]
    pub password: Option<String>,
    /// Give the user an email contact method to `email` and the rule that
    /// notifies them there at once (the default, `true`); `false` for none.
    pub email_contact_method: Option<bool>,
    /// Their IANA time zone, e.g. `Europe/Berlin` (none: UTC).
    #[schema(schema_with = schema::time_zone_or_null)]
    pub time_zone: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    #[schema(schema_with = schema::handle_in_path)]
    pub handle: String,
    pub name: String,
    pub email: String,
    #[schema(schema_with = schema::permission)]
    pub permission: String,
    #[schema(schema_with = schema::date_time)]
    pub created_at: String,
    /// When an admin disabled the account (RFC 3339); null while it works.
    pub disabled_at: Option<String>,
    /// Their IANA time zone; null: UTC.
    pub time_zone: Option<String>,
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
            time_zone: u.time_zone,
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
    #[schema(schema_with = schema::token_name_or_null)]
    pub name: Option<String>,
    /// RFC 3339, in the future; null or absent: it never expires.
    #[serde(default)]
    #[schema(schema_with = schema::date_time_or_null)]
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
    #[schema(schema_with = schema::role_key)]
    pub key: String,
    #[schema(schema_with = schema::name_64)]
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
    #[schema(schema_with = schema::title)]
    pub title: String,
    /// `P1`, `P2`, `P3` or `P4`.
    #[schema(schema_with = schema::priority)]
    pub priority: String,
    #[schema(schema_with = schema::summary_or_null)]
    pub summary: Option<String>,
    /// A handle; defaults to the caller.
    #[schema(schema_with = schema::handle_or_null)]
    pub incident_manager: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    #[schema(schema_with = schema::title_or_null)]
    pub title: Option<String>,
    #[schema(schema_with = schema::summary_or_null)]
    pub summary: Option<String>,
    #[schema(schema_with = schema::priority_or_null)]
    pub priority: Option<String>,
    /// `investigating`, `identified`, `monitoring`, `resolved` or `closed`.
    #[schema(schema_with = schema::status_or_null)]
    pub status: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// A built-in role key (`incident_manager`, `tech_lead`, …) or a custom one.
    pub role: String,
    /// The handle of the person taking the role.
    pub user: String,
    /// `internal`/`external` for communications managers, a workstream for tech leads.
    pub scope: Option<String>,
}

impl utoipa::PartialSchema for AssignRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::assign_request()
    }
}

impl ToSchema for AssignRequest {}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AssignmentResponse {
    pub id: u64,
    pub role: String,
    pub user: String,
    pub scope: Option<String>,
    #[schema(schema_with = schema::date_time)]
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
    #[schema(schema_with = schema::priority)]
    pub priority: String,
    #[schema(schema_with = schema::status)]
    pub status: String,
    #[schema(schema_with = schema::date_time)]
    pub declared_at: String,
    #[schema(schema_with = schema::date_time)]
    pub updated_at: String,
    #[schema(schema_with = schema::date_time_or_null)]
    pub identified_at: Option<String>,
    #[schema(schema_with = schema::date_time_or_null)]
    pub monitoring_at: Option<String>,
    #[schema(schema_with = schema::date_time_or_null)]
    pub resolved_at: Option<String>,
    #[schema(schema_with = schema::date_time_or_null)]
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
    /// When each audience's next update is due; `null` where it has no
    /// cadence (P3 and P4 by default, and once resolved).
    pub next_update_due: NextUpdatesResponse,
}

#[derive(Serialize, ToSchema)]
pub struct NextUpdatesResponse {
    pub internal: Option<DueResponse>,
    pub external: Option<DueResponse>,
    pub executive: Option<DueResponse>,
}

#[derive(Serialize, ToSchema)]
pub struct DueResponse {
    #[schema(schema_with = schema::date_time)]
    pub at: String,
    /// Minutes past due so far (0 before).
    pub overdue_minutes: i64,
}

#[derive(Serialize, ToSchema)]
pub struct LinkedAlertResponse {
    pub id: u64,
    pub service: String,
    pub summary: String,
    #[schema(schema_with = schema::severity)]
    pub severity: String,
    #[schema(schema_with = schema::alert_status)]
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
            next_update_due: {
                let due = |a: muster_domain::update::UpdateAudience| {
                    v.next_updates
                        .iter()
                        .find(|(x, _)| *x == a)
                        .map(|(_, d)| DueResponse { at: ts(d.at), overdue_minutes: d.overdue_minutes })
                };
                use muster_domain::update::UpdateAudience::{Executive, External, Internal};
                NextUpdatesResponse { internal: due(Internal), external: due(External), executive: due(Executive) }
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEntryRequest {
    /// `note`, `theory`, `decision`, `action`, `milestone` or `message` (a line said in the room).
    pub kind: String,
    pub text: String,
    /// For milestones: `impact_detected`, `customers_notified`, `cause_identified`,
    /// `fix_deployed`, `mitigated` or `resolved`.
    pub tag: Option<String>,
    /// The id of an entry this one corrects.
    pub corrects: Option<u64>,
    /// RFC 3339; backdates the entry. `recorded_at` stays the true time.
    pub occurred_at: Option<String>,
    /// A theory's or action's workstream: a current tech lead's scope.
    pub workstream: Option<String>,
}

impl utoipa::PartialSchema for NewEntryRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::new_entry_request()
    }
}

impl ToSchema for NewEntryRequest {}

#[derive(Serialize, ToSchema)]
pub struct EntryResponse {
    /// Counts from 1 within the incident.
    pub id: u64,
    /// When it happened (backdated entries differ from `recorded_at`).
    #[schema(schema_with = schema::date_time)]
    pub at: String,
    #[schema(schema_with = schema::date_time)]
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
    /// On an entry that changed the topic: the topic it set (its
    /// `topic_changed` entry is folded into it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// On a folded entry (a `topic_changed`, the relief half of a
    /// handover), listed only with `all=true` or `kind=`: the id of the
    /// entry it is shown with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folded_into: Option<u64>,
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
            topic: None,
            folded_into: None,
        }
    }
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IncidentListQuery {
    /// Comma-separated statuses, e.g. `investigating,identified`.
    #[param(schema_with = schema::statuses_param)]
    pub status: Option<String>,
    /// Comma-separated priorities, e.g. `P1,P2`.
    #[param(schema_with = schema::priorities_param)]
    pub priority: Option<String>,
    /// Only incidents numbered below this (the next page).
    #[param(schema_with = schema::u64_param)]
    pub before: Option<u64>,
    /// 1 to 1000, default 50.
    #[param(schema_with = schema::limit)]
    pub limit: Option<u32>,
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineListQuery {
    /// The cursor from the previous page's `Link: rel="next"`.
    #[param(schema_with = schema::cursor_param)]
    pub after: Option<String>,
    /// 1 to 1000, default 1000.
    #[param(schema_with = schema::limit)]
    pub limit: Option<u32>,
    /// Comma-separated kinds, e.g. `topic_changed`: only entries of those
    /// kinds, folded ones included.
    #[param(schema_with = schema::timeline_kinds_param)]
    pub kind: Option<String>,
    /// `true`: every entry as stored, folded ones included (to check the
    /// hash chain). By default a topic change is folded into the entry
    /// that caused it (which carries `topic`) and the relief half of a
    /// handover into its assignment.
    pub all: Option<bool>,
}

/// The impact matrix on the wire (`muster_domain::alert::ImpactMatrix`).
pub struct ImpactMatrixBody;

impl utoipa::PartialSchema for ImpactMatrixBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::impact_matrix()
    }
}

impl ToSchema for ImpactMatrixBody {
    fn name() -> std::borrow::Cow<'static, str> {
        "ImpactMatrix".into()
    }
}

/// The required roles per priority on the wire.
pub struct RequiredRolesBody;

impl utoipa::PartialSchema for RequiredRolesBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::required_roles()
    }
}

impl ToSchema for RequiredRolesBody {
    fn name() -> std::borrow::Cow<'static, str> {
        "RequiredRoles".into()
    }
}

/// Schemas for fields that travel as plain strings (or numbers) but are
/// parsed into domain types: each says exactly what the parser accepts, with
/// the values taken from the domain's own lists, so the document cannot
/// drift from the rules. Used with `#[schema(schema_with = …)]`.
pub mod schema {
    use muster_domain::alert::{AlertStatus, CustomerImpact, Severity};
    use muster_domain::page::PageState;
    use muster_domain::paging::ContactKind;
    use muster_domain::timeline::{EntryKind, MilestoneTag};
    use muster_domain::{Permission, Priority, Status};
    use muster_store::JobState;
    use serde_json::{Value, json};
    use utoipa::openapi::{RefOr, Schema};

    /// What `str::trim` removes (Unicode White_Space), spelled out so that
    /// every regex dialect (ECMA 262 in the document, Python's in clients
    /// and fuzzers) reads the same set.
    const WS: &str = r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

    /// The schema `v` as utoipa's model; a keyword the model would drop is
    /// a mistake here, found when the document is first built.
    fn build(v: Value) -> RefOr<Schema> {
        let schema: RefOr<Schema> =
            serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("not a schema ({e}): {v}"));
        let back = serde_json::to_value(&schema).unwrap_or_default();
        assert_eq!(back, v, "utoipa's schema model changes this schema");
        schema
    }

    fn nullable(mut v: Value, null: bool) -> Value {
        if null {
            v["type"] = json!([v["type"].clone(), "null"]);
            if let Some(values) = v.get_mut("enum").and_then(Value::as_array_mut) {
                values.push(Value::Null);
            }
        }
        v
    }

    fn one_of<'a>(values: impl IntoIterator<Item = &'a str>, null: bool) -> RefOr<Schema> {
        let values: Vec<&str> = values.into_iter().collect();
        build(nullable(json!({"type": "string", "enum": values}), null))
    }

    /// Text of `min`-`max` characters (counted before trimming); with
    /// `min` > 0, not only white space.
    fn text_schema(min: u32, max: u32, null: bool) -> Value {
        let mut v = json!({"type": "string", "maxLength": max});
        if min > 0 {
            v["minLength"] = json!(min);
            v["pattern"] = json!(format!("[^{WS}]"));
        }
        nullable(v, null)
    }

    pub fn title() -> RefOr<Schema> {
        build(text_schema(1, 200, false))
    }
    pub fn title_or_null() -> RefOr<Schema> {
        build(text_schema(1, 200, true))
    }
    pub fn summary_or_null() -> RefOr<Schema> {
        build(text_schema(0, 10_000, true))
    }
    pub fn name_100() -> RefOr<Schema> {
        build(text_schema(1, 100, false))
    }
    pub fn name_100_or_null() -> RefOr<Schema> {
        build(text_schema(1, 100, true))
    }
    /// A token's name: like a name, and no control characters (it is shown
    /// in tables and logs).
    pub fn token_name_or_null() -> RefOr<Schema> {
        const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
        let pattern = format!("^[^{CONTROL}]*[^{WS}{CONTROL}][^{CONTROL}]*$");
        build(nullable(json!({"type": "string", "minLength": 1, "maxLength": 100, "pattern": pattern}), true))
    }
    pub fn name_64() -> RefOr<Schema> {
        build(text_schema(1, 64, false))
    }
    pub fn message() -> RefOr<Schema> {
        build(text_schema(1, 1000, false))
    }
    /// An entry's words, an annotation's: 1-10,000 characters.
    pub fn entry_text() -> RefOr<Schema> {
        build(text_schema(1, 10_000, false))
    }
    /// Evidence, or nothing: at most 10,000 characters.
    pub fn evidence_or_null() -> RefOr<Schema> {
        build(text_schema(0, 10_000, true))
    }
    /// A postmortem's section: at most 20,000 characters; empty clears it.
    pub fn section_or_null() -> RefOr<Schema> {
        build(text_schema(0, muster_domain::limits::POSTMORTEM_SECTION as u32, true))
    }
    /// A ticket's key or URL: at most 500 characters; empty or null: none.
    /// A workstream's name (`Scope::workstream`): 1-64 characters, not
    /// all blank, no `|` and no line feed once trimmed.
    fn workstream_schema(null: bool) -> Value {
        let v = json!({"type": "string", "minLength": 1, "maxLength": 64,
            "pattern": format!("^[{WS}]*[^|{WS}]([^|\\n]*[^|{WS}])?[{WS}]*$"),
            "description": "A workstream: the scope of one of the incident's tech leads."});
        nullable(v, null)
    }
    pub fn workstream_or_null() -> RefOr<Schema> {
        build(workstream_schema(true))
    }
    pub fn ticket_or_null() -> RefOr<Schema> {
        build(text_schema(0, muster_domain::action::MAX_TICKET as u32, true))
    }
    /// Entry kinds, comma-separated: lower-case letters and underscores.
    pub fn timeline_kinds_param() -> RefOr<Schema> {
        build(json!({"type": "string", "maxLength": 1000, "pattern": "^[a-z_, ]*$"}))
    }
    pub fn action_status_param() -> RefOr<Schema> {
        one_of(muster_domain::action::ActionStatus::ALL.map(|s| s.as_str()), false)
    }

    fn handle_schema(null: bool) -> Value {
        nullable(json!({"type": "string", "pattern": format!("^[{WS}]*@?[a-z0-9][a-z0-9._-]{{0,31}}[{WS}]*$")}), null)
    }
    /// A user's handle (`@` and surrounding white space are dropped).
    pub fn handle() -> RefOr<Schema> {
        build(handle_schema(false))
    }
    pub fn handle_or_null() -> RefOr<Schema> {
        build(handle_schema(true))
    }
    /// A handle in a path: exactly as stored.
    pub fn handle_in_path() -> RefOr<Schema> {
        build(json!({"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,31}$"}))
    }

    pub fn handle_in_path_or_null() -> RefOr<Schema> {
        build(json!({"type": ["string", "null"], "pattern": "^[a-z0-9][a-z0-9._-]{0,31}$"}))
    }

    pub fn role_key() -> RefOr<Schema> {
        build(json!({"type": "string", "pattern": format!("^[{WS}]*[a-z][a-z0-9_]{{1,31}}[{WS}]*$")}))
    }

    pub fn date_time() -> RefOr<Schema> {
        build(json!({"type": "string", "format": "date-time"}))
    }
    pub fn date_time_or_null() -> RefOr<Schema> {
        build(json!({"type": ["string", "null"], "format": "date-time"}))
    }

    pub fn priority() -> RefOr<Schema> {
        one_of(Priority::ALL.map(Priority::as_str), false)
    }
    pub fn priority_or_null() -> RefOr<Schema> {
        one_of(Priority::ALL.map(Priority::as_str), true)
    }
    pub fn status() -> RefOr<Schema> {
        one_of(Status::ALL.map(Status::as_str), false)
    }
    pub fn status_or_null() -> RefOr<Schema> {
        one_of(Status::ALL.map(Status::as_str), true)
    }
    pub fn permission() -> RefOr<Schema> {
        one_of(Permission::ALL.map(Permission::as_str), false)
    }
    pub fn permission_or_null() -> RefOr<Schema> {
        one_of(Permission::ALL.map(Permission::as_str), true)
    }
    pub fn severity() -> RefOr<Schema> {
        one_of(Severity::ALL.map(Severity::as_str), false)
    }
    pub fn alert_status() -> RefOr<Schema> {
        one_of(AlertStatus::ALL.map(AlertStatus::as_str), false)
    }
    pub fn page_state() -> RefOr<Schema> {
        one_of(PageState::ALL.map(PageState::as_str), false)
    }

    pub fn customer_impact() -> RefOr<Schema> {
        one_of(CustomerImpact::ALL.map(CustomerImpact::as_str), false)
    }
    pub fn contact_kind() -> RefOr<Schema> {
        one_of(ContactKind::ALL.map(ContactKind::as_str), false)
    }
    pub fn job_state() -> RefOr<Schema> {
        one_of(JobState::ALL.map(JobState::as_str), false)
    }

    /// A page size for list queries (a query parameter: absent, never null).
    pub fn limit() -> RefOr<Schema> {
        build(json!({"type": "integer", "minimum": 1, "maximum": muster_domain::MAX_PAGE_SIZE}))
    }
    /// A count or id a body carries: what the server reads it into.
    pub fn u32_value() -> RefOr<Schema> {
        build(json!({"type": ["integer", "null"], "minimum": 0, "maximum": u32::MAX}))
    }
    pub fn u64_value() -> RefOr<Schema> {
        build(json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}))
    }
    /// A service's bundling window, in seconds.
    pub fn bundle_window_or_null() -> RefOr<Schema> {
        build(json!({"type": ["integer", "null"], "minimum": 0, "maximum": muster_domain::bundle::MAX_WINDOW_SECONDS}))
    }
    pub fn u64_value_or_null() -> RefOr<Schema> {
        build(json!({"type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX}))
    }

    /// A number a query parameter takes (`before`, `service`, `alert`).
    pub fn u64_param() -> RefOr<Schema> {
        build(json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}))
    }

    /// A comma-separated list of `values` (each may have white space around it).
    fn list_param(values: &str) -> RefOr<Schema> {
        let one = format!("[{WS}]*({values})?[{WS}]*");
        build(json!({"type": "string", "pattern": format!("^{one}(,{one})*$")}))
    }
    pub fn statuses_param() -> RefOr<Schema> {
        list_param(&Status::ALL.map(Status::as_str).join("|"))
    }
    /// Priorities are read in any case.
    pub fn priorities_param() -> RefOr<Schema> {
        list_param("[Pp][1-4]")
    }
    pub fn alert_statuses_param() -> RefOr<Schema> {
        list_param(&AlertStatus::ALL.map(AlertStatus::as_str).join("|"))
    }
    pub fn page_states_param() -> RefOr<Schema> {
        list_param(&PageState::ALL.map(PageState::as_str).join("|"))
    }
    /// A timeline cursor: `<microseconds>.<entry>`, as in the `Link` header.
    pub fn cursor_param() -> RefOr<Schema> {
        build(json!({"type": "string", "pattern": "^-?[0-9]{1,17}\\.[0-9]{1,19}$"}))
    }

    /// An instant in a query parameter.
    pub fn audience_param() -> RefOr<Schema> {
        use muster_domain::update::UpdateAudience;
        one_of(UpdateAudience::ALL.map(UpdateAudience::as_str), false)
    }
    pub fn date_time_param() -> RefOr<Schema> {
        build(json!({"type": "string", "format": "date-time"}))
    }
    pub fn job_state_param() -> RefOr<Schema> {
        one_of(JobState::ALL.map(JobState::as_str), false)
    }

    fn email_schema() -> Value {
        json!({"type": "string", "maxLength": 254, "pattern": format!("^[{WS}]*[^{WS}@]+@([^{WS}]*\\.[^{WS}]*|localhost)[{WS}]*$")})
    }
    pub fn email() -> RefOr<Schema> {
        build(email_schema())
    }

    /// A contact method: an email address, or an http(s) URL for a webhook.
    pub fn contact_method_request() -> RefOr<Schema> {
        let webhook =
            json!({"type": "string", "maxLength": 2048, "pattern": format!("^[{WS}]*https?://[^{WS}]+[{WS}]*$")});
        build(json!({
            "oneOf": [
                {"type": "object", "additionalProperties": false, "required": ["kind", "address"],
                 "properties": {"kind": {"type": "string", "enum": ["email"]}, "address": email_schema()}},
                {"type": "object", "additionalProperties": false, "required": ["kind", "address"],
                 "properties": {"kind": {"type": "string", "enum": ["webhook"]}, "address": webhook}},
            ],
            "description": "`email` with an email address, or `webhook` with an http(s) URL (at most 2048 characters).",
        }))
    }

    /// Exactly one of `user`, `schedule` or `policy`.
    pub fn page_target() -> RefOr<Schema> {
        let one = |key: &str, schema: Value| json!({"type": "object", "additionalProperties": false, "required": [key], "properties": {key: schema}});
        build(json!({"oneOf": [
            one("user", handle_schema(false)),
            one("schedule", id()),
            one("policy", id()),
        ]}))
    }

    /// An id: what the store can hold.
    fn id() -> Value {
        json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": i64::MAX})
    }

    /// Severity → priority for alerts that declare at once.
    pub fn auto_declare_or_null() -> RefOr<Schema> {
        build(json!({"type": ["object", "null"],
            "propertyNames": {"type": "string", "enum": Severity::ALL.map(Severity::as_str)},
            "additionalProperties": {"type": "string", "enum": Priority::ALL.map(Priority::as_str)},
            "description": "Severity → priority, e.g. `{\"critical\": \"P1\", \"error\": \"P2\"}`."}))
    }

    fn steps_schema() -> Value {
        use muster_domain::paging::MAX_DELAY_SECONDS;
        let target = json!({"oneOf": [
            {"type": "object", "additionalProperties": false, "required": ["user"], "properties": {"user": handle_schema(false)}},
            {"type": "object", "additionalProperties": false, "required": ["schedule"], "properties": {"schedule": id()}},
        ]});
        json!({"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": false, "required": ["delay_seconds", "targets"],
            "properties": {
                "delay_seconds": {"type": "integer", "minimum": 0, "maximum": MAX_DELAY_SECONDS},
                "targets": {"type": "array", "minItems": 1, "items": target},
            },
        }})
    }
    /// An escalation policy's steps: each waits up to a day, for people or schedules.
    pub fn steps() -> RefOr<Schema> {
        build(steps_schema())
    }

    /// A timeline entry: milestones, and only they, take a tag.
    pub fn new_entry_request() -> RefOr<Schema> {
        let kinds: Vec<&str> = EntryKind::ALL
            .into_iter()
            .filter(|k| !matches!(k, EntryKind::Milestone | EntryKind::Theory | EntryKind::Action))
            .map(EntryKind::as_str)
            .collect();
        let tags: Vec<&str> = MilestoneTag::ALL.map(MilestoneTag::as_str).to_vec();
        let common = json!({
            "text": text_schema(1, 10_000, false),
            "corrects": {"type": ["integer", "null"], "minimum": 0, "maximum": i64::MAX,
                "description": "The id of an entry this one corrects."},
            "occurred_at": {"type": ["string", "null"], "format": "date-time",
                "description": "RFC 3339; backdates the entry (not into the future). `recorded_at` stays the true time."},
        });
        let with = |kind: Value, tag: Value| {
            let mut properties = common.clone();
            properties["kind"] = kind;
            properties["tag"] = tag;
            json!({"type": "object", "additionalProperties": false, "required": ["kind", "text"], "properties": properties})
        };
        // Theories and actions may name a workstream; other kinds do not.
        let mut placed = with(json!({"type": "string", "enum": ["theory", "action"]}), json!({"type": "null"}));
        placed["properties"]["workstream"] = workstream_schema(true);
        let milestone = with(json!({"type": "string", "enum": ["milestone"]}), json!({"type": "string", "enum": tags}));
        let mut milestone = milestone;
        milestone["required"] = json!(["kind", "text", "tag"]);
        build(json!({
            "description": "A note, theory, decision, action or message; or a milestone, which takes a tag.",
            "oneOf": [with(json!({"type": "string", "enum": kinds}), json!({"type": "null"})), placed, milestone],
        }))
    }

    /// An update: per audience, its form's fields (internal and executive)
    /// or the public status (external). A body or a form field is needed;
    /// which, the document cannot say.
    pub fn new_update_request() -> RefOr<Schema> {
        use muster_domain::update::{MAX_NEXT_UPDATE_MINUTES, MAX_UPDATE_CHARS, PublicStatus, UpdateAudience};
        let max = MAX_UPDATE_CHARS as u32;
        let component = component_state_schema();
        let variant = |audience: UpdateAudience| {
            let fields: serde_json::Map<String, Value> =
                audience.form_fields().iter().map(|f| ((*f).to_owned(), text_schema(0, max, false))).collect();
            let form = if fields.is_empty() {
                json!({"type": "null"})
            } else {
                json!({"type": ["object", "null"], "additionalProperties": false, "properties": fields})
            };
            let status = if audience == UpdateAudience::External {
                nullable(json!({"type": "string", "enum": PublicStatus::ALL.map(PublicStatus::as_str)}), true)
            } else {
                json!({"type": "null"})
            };
            json!({"type": "object", "additionalProperties": false, "required": ["audience"], "properties": {
                "audience": {"type": "string", "enum": [audience.as_str()]},
                "body": text_schema(0, max, true),
                "form": form,
                "status": status,
                "components": if audience == UpdateAudience::External {
                    json!({"type": ["array", "null"], "items": component, "maxItems": muster_domain::statuspage::MAX_COMPONENTS,
                        "description": "The status page's components (by id or name) this update puts in a state."})
                } else {
                    json!({"type": ["array", "null"], "items": component, "maxItems": 0})
                },
                "next_update_in_minutes": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_NEXT_UPDATE_MINUTES},
                "draft": {"type": ["boolean", "null"], "description": "Keep it as a draft for someone who may publish it."},
            }})
        };
        build(json!({
            "description": "An update for an audience: `internal` (form: conditions, actions, needs), `executive` \
                (form: current_status, overview, next_steps) or `external` (a public status). A body, a form field or both.",
            "oneOf": UpdateAudience::ALL.map(variant),
        }))
    }

    /// A draft's changes. Which form fields and whether a status are
    /// allowed depends on the draft's audience.
    pub fn edit_update_request() -> RefOr<Schema> {
        use muster_domain::update::{MAX_NEXT_UPDATE_MINUTES, MAX_UPDATE_CHARS, PublicStatus, UpdateAudience};
        let max = MAX_UPDATE_CHARS as u32;
        let fields: serde_json::Map<String, Value> = UpdateAudience::ALL
            .iter()
            .flat_map(|a| a.form_fields().iter())
            .map(|f| ((*f).to_owned(), text_schema(0, max, false)))
            .collect();
        build(json!({"type": "object", "additionalProperties": false, "properties": {
            "body": text_schema(0, max, true),
            "form": {"type": ["object", "null"], "additionalProperties": false, "properties": fields},
            "status": nullable(json!({"type": "string", "enum": PublicStatus::ALL.map(PublicStatus::as_str)}), true),
            "next_update_in_minutes": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_NEXT_UPDATE_MINUTES},
            "components": {"type": ["array", "null"], "items": component_state_schema(),
                "maxItems": muster_domain::statuspage::MAX_COMPONENTS,
                "description": "External drafts: the components it will put in a state; left out, kept."},
        }}))
    }

    /// A component an external update names, and the state it puts it in.
    fn component_state_schema() -> Value {
        use muster_domain::statuspage::ComponentStatus;
        json!({"type": "object", "additionalProperties": false, "required": ["component", "status"], "properties": {
            "component": {"type": "string", "minLength": 1, "description": "The component's id or name."},
            "status": {"type": "string", "enum": ComponentStatus::ALL.map(ComponentStatus::as_str)},
        }})
    }

    /// A stakeholder group, on creation (`required`) or as a change (every
    /// field may be left out or null: kept).
    pub fn stakeholder_group_request(create: bool) -> RefOr<Schema> {
        use muster_domain::stakeholder::{MAX_GROUP_ENTRIES, MAX_GROUP_NAME_CHARS};
        use muster_domain::update::UpdateAudience;
        // Optional lists may be null (none, or on a change: kept); the
        // name, priorities and audiences only on a change.
        let null = !create;
        let list = |items: Value, min: u32, max: usize, null: bool| {
            nullable(json!({"type": "array", "items": items, "minItems": min, "maxItems": max}), null)
        };
        let webhook =
            json!({"type": "string", "maxLength": 2048, "pattern": format!("^[{WS}]*https?://[^{WS}]+[{WS}]*$")});
        let priority = json!({"type": "string", "enum": Priority::ALL.map(Priority::as_str)});
        let audience = json!({"type": "string", "enum": UpdateAudience::ALL.map(UpdateAudience::as_str)});
        let mut v = json!({"type": "object", "additionalProperties": false, "properties": {
            "name": text_schema(1, MAX_GROUP_NAME_CHARS as u32, null),
            "members": list(handle_schema(false), 0, MAX_GROUP_ENTRIES, true),
            "emails": list(email_schema(), 0, MAX_GROUP_ENTRIES, true),
            "webhooks": list(webhook, 0, muster_app::stakeholders::MAX_GROUP_WEBHOOKS, true),
            "priorities": list(priority, 1, MAX_GROUP_ENTRIES, null),
            "services": list(text_schema(1, MAX_GROUP_NAME_CHARS as u32, false), 0, MAX_GROUP_ENTRIES, true),
            "audiences": list(audience, 1, MAX_GROUP_ENTRIES, null),
        }});
        if create {
            v["required"] = json!(["name", "priorities", "audiences"]);
        }
        build(v)
    }

    /// An incident named in a body: `INC-7`, `inc-7` or `7`.
    fn incident_ref_schema() -> Value {
        json!({"type": "string", "pattern": format!("^[{WS}]*(INC-|inc-)?0*[1-9][0-9]{{0,17}}[{WS}]*$")})
    }
    pub fn incident_ref_value() -> RefOr<Schema> {
        build(incident_ref_schema())
    }
    pub fn incident_or_none_param() -> RefOr<Schema> {
        build(json!({"type": "string", "pattern": format!("^(none|[{WS}]*(INC-|inc-)?0*[1-9][0-9]{{0,17}}[{WS}]*)$")}))
    }
    pub fn report_ids() -> RefOr<Schema> {
        build(json!({"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": i64::MAX},
                     "minItems": 1, "maxItems": muster_domain::support::MAX_BULK}))
    }
    pub fn report_body() -> RefOr<Schema> {
        build(text_schema(1, muster_domain::support::MAX_BODY as u32, false))
    }
    pub fn excerpt_or_null() -> RefOr<Schema> {
        build(text_schema(0, muster_domain::support::MAX_EXCERPT as u32, true))
    }
    pub fn report_state_param() -> RefOr<Schema> {
        one_of(muster_domain::support::ReportState::ALL.map(|s| s.as_str()), false)
    }
    pub fn report_channel_param() -> RefOr<Schema> {
        one_of(muster_domain::support::ReportChannel::ALL.map(|c| c.as_str()), false)
    }
    pub fn support_kind() -> RefOr<Schema> {
        one_of(muster_app::support::INTEGRATION_KINDS, false)
    }
    /// 16-200 characters once trimmed; white space only (or null): one is made.
    pub fn support_secret_or_null() -> RefOr<Schema> {
        build(json!({"type": ["string", "null"], "maxLength": 200,
                     "pattern": format!("^[{WS}]*([^{WS}][\\s\\S]{{14,}}[^{WS}])?[{WS}]*$")}))
    }
    pub fn webhook_url() -> RefOr<Schema> {
        build(json!({"type": "string", "maxLength": 2048, "pattern": format!("^[{WS}]*https?://[^{WS}]+[{WS}]*$")}))
    }
    pub fn webhook_url_or_null() -> RefOr<Schema> {
        build(json!({"type": ["string", "null"], "maxLength": 2048,
                     "pattern": format!("^[{WS}]*https?://[^{WS}]+[{WS}]*$")}))
    }
    /// A customer report to log: channel, customer and body required.
    pub fn customer_report_request() -> RefOr<Schema> {
        use muster_domain::support::{MAX_BODY, MAX_NAME, ReportChannel};
        let name = MAX_NAME as u32;
        let channel = json!({"type": "string", "enum": ReportChannel::ALL.map(|c| c.as_str())});
        build(
            json!({"type": "object", "additionalProperties": false, "required": ["channel", "customer", "body"], "properties": {
                "channel": channel,
                "customer": text_schema(1, name, false),
                "contact": text_schema(0, name, true),
                "organization": text_schema(0, name, true),
                "body": text_schema(1, MAX_BODY as u32, false),
                "external_ref": text_schema(0, name, true),
                "external_url": {"type": ["string", "null"], "maxLength": 2000,
                                 "pattern": format!("^[{WS}]*(https?://[\\s\\S]*)?$")},
                "received_at": {"type": ["string", "null"], "format": "date-time"},
                "service": text_schema(1, 100, true),
            }}),
        )
    }
    /// A customer report's changes.
    pub fn customer_report_patch() -> RefOr<Schema> {
        use muster_domain::support::{MAX_NAME, ReportState};
        let name = MAX_NAME as u32;
        let state = json!({"type": ["string", "null"], "enum": ReportState::ALL.map(|s| Some(s.as_str())).into_iter().chain([None]).collect::<Vec<_>>()});
        build(json!({"type": "object", "additionalProperties": false, "properties": {
            "state": state,
            "customer": text_schema(1, name, true),
            "contact": text_schema(0, name, true),
            "organization": text_schema(0, name, true),
        }}))
    }
    /// The first-response targets, every one required.
    pub fn response_targets() -> RefOr<Schema> {
        let minutes = json!({"type": "integer", "minimum": 1, "maximum": 43200});
        build(json!({"type": "object", "additionalProperties": false,
        "required": ["p1_minutes", "p2_minutes", "p3_minutes", "p4_business_days", "unlinked_minutes"],
        "properties": {
            "p1_minutes": minutes, "p2_minutes": minutes, "p3_minutes": minutes,
            "p4_business_days": {"type": "integer", "minimum": 1, "maximum": 20},
            "unlinked_minutes": minutes,
        }}))
    }

    /// A status page component, on creation (`name` required) or as a
    /// change (every field may be left out; `group` null: none).
    pub fn component_request(create: bool) -> RefOr<Schema> {
        use muster_domain::statuspage::{MAX_COMPONENT_DESCRIPTION_CHARS, MAX_COMPONENT_NAME_CHARS, MAX_COMPONENTS};
        let name = MAX_COMPONENT_NAME_CHARS as u32;
        let mut v = json!({"type": "object", "additionalProperties": false, "properties": {
            "name": text_schema(1, name, !create),
            "description": text_schema(0, MAX_COMPONENT_DESCRIPTION_CHARS as u32, true),
            "group": text_schema(1, name, true),
            "position": {"type": ["integer", "null"], "minimum": 0, "maximum": muster_domain::statuspage::MAX_POSITION},
            "only_show_if_degraded": {"type": ["boolean", "null"]},
            "services": {"type": ["array", "null"], "items": text_schema(1, name, false), "maxItems": MAX_COMPONENTS},
        }});
        if create {
            v["required"] = json!(["name"]);
        }
        build(v)
    }

    /// An incident's public title and impact.
    pub fn public_incident_request() -> RefOr<Schema> {
        use muster_domain::statuspage::Impact;
        build(json!({"type": "object", "additionalProperties": false, "properties": {
            "title": text_schema(1, 200, true),
            "impact": nullable(json!({"type": "string", "enum": Impact::ALL.map(Impact::as_str)}), true),
        }}))
    }

    /// The public page's settings.
    pub fn status_settings_request() -> RefOr<Schema> {
        use muster_domain::statuspage::{LANGUAGES, MAX_COMPONENT_NAME_CHARS, MAX_LINKS};
        let mut zones: Vec<Value> = jiff::tz::db().available().map(|n| json!(n.as_str())).collect();
        zones.push(Value::Null);
        // As `PageSettings::checked` reads a URL: http(s), a host, no white
        // space, control characters, quotes or angle brackets; white space
        // around is trimmed; the page's own address and logo may be blank.
        const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
        let body = format!("https?://[^/{WS}{CONTROL}\"<>][^{WS}{CONTROL}\"<>]*");
        let link = json!({"type": "string", "maxLength": 2000, "pattern": format!("^[{WS}]*{body}[{WS}]*$")});
        let url = json!({"type": "string", "maxLength": 2000, "pattern": format!("^[{WS}]*({body})?[{WS}]*$")});
        build(json!({"type": "object", "additionalProperties": false, "required": ["name"], "properties": {
            "name": text_schema(1, MAX_COMPONENT_NAME_CHARS as u32, false),
            "url": nullable(url.clone(), true),
            "time_zone": {"type": ["string", "null"], "enum": zones},
            "language": {"type": ["string", "null"], "enum": LANGUAGES.iter().map(|l| json!(l)).chain([Value::Null]).collect::<Vec<_>>()},
            "logo_url": nullable(url, true),
            "links": {"type": ["array", "null"], "maxItems": MAX_LINKS, "items": {"type": "object", "additionalProperties": false,
                "required": ["label", "url"], "properties": {"label": text_schema(1, 50, false), "url": link}}},
            "enabled": {"type": ["boolean", "null"]},
        }}))
    }

    /// A maintenance window announced.
    pub fn maintenance_request() -> RefOr<Schema> {
        use muster_domain::maintenance::{MAX_BODY_CHARS, MAX_REMIND_MINUTES, MAX_TITLE_CHARS};
        build(json!({"type": "object", "additionalProperties": false,
            "required": ["title", "components", "starts_at", "ends_at"], "properties": {
            "title": text_schema(1, MAX_TITLE_CHARS as u32, false),
            "components": {"type": "array", "minItems": 1, "maxItems": 500, "items": text_schema(1, 100, false)},
            "starts_at": {"type": "string", "format": "date-time"},
            "ends_at": {"type": "string", "format": "date-time"},
            "body": text_schema(0, MAX_BODY_CHARS as u32, true),
            "auto_start": {"type": ["boolean", "null"]},
            "auto_complete": {"type": ["boolean", "null"]},
            "remind_minutes_before": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_REMIND_MINUTES},
        }}))
    }

    /// A maintenance moved forward or updated in its state.
    pub fn maintenance_update_request() -> RefOr<Schema> {
        use muster_domain::maintenance::{MAX_BODY_CHARS, MaintenanceState};
        build(json!({"type": "object", "additionalProperties": false, "properties": {
            "status": nullable(json!({"type": "string", "enum": MaintenanceState::ALL.map(MaintenanceState::as_str)}), true),
            "body": text_schema(0, MAX_BODY_CHARS as u32, true),
        }}))
    }

    /// A component's state set directly, for an incident or by an admin.
    pub fn component_status_request() -> RefOr<Schema> {
        use muster_domain::statuspage::ComponentStatus;
        build(json!({"type": "object", "additionalProperties": false, "required": ["status"], "properties": {
            "status": {"type": "string", "enum": ComponentStatus::ALL.map(ComponentStatus::as_str)},
            "incident": {"type": ["string", "null"], "pattern": "^(INC-)?[1-9][0-9]{0,15}$"},
        }}))
    }

    /// Following an incident: yourself, or (admins) someone else.
    pub fn follow_request() -> RefOr<Schema> {
        build(json!({"type": "object", "additionalProperties": false, "properties": {"user": handle_schema(true)}}))
    }

    /// A customer's reply to an external update.
    pub fn response_request() -> RefOr<Schema> {
        let channels = muster_app::stakeholders::RESPONSE_CHANNELS;
        let max = muster_domain::update::MAX_UPDATE_CHARS as u32;
        build(
            json!({"type": "object", "additionalProperties": false, "required": ["from", "channel", "body"], "properties": {
                "from": text_schema(1, 200, false),
                "channel": {"type": "string", "enum": channels},
                "body": text_schema(1, max, false),
            }}),
        )
    }

    /// Snoozing an audience's reminder.
    pub fn snooze_request() -> RefOr<Schema> {
        use muster_domain::update::UpdateAudience;
        build(
            json!({"type": "object", "additionalProperties": false, "required": ["audience", "minutes"], "properties": {
                "audience": {"type": "string", "enum": UpdateAudience::ALL.map(UpdateAudience::as_str)},
                "minutes": {"type": "integer", "enum": muster_domain::cadence::SNOOZES},
            }}),
        )
    }

    /// The cadence table: per audience, per priority, minutes while active
    /// and while monitoring.
    pub fn update_cadence() -> RefOr<Schema> {
        use muster_domain::cadence::MAX_INTERVAL_MINUTES;
        let minutes = json!({"type": "integer", "minimum": 1, "maximum": MAX_INTERVAL_MINUTES});
        let interval = json!({"type": "object", "additionalProperties": false, "required": ["active", "monitoring"],
            "properties": {"active": minutes, "monitoring": minutes}});
        let priorities: serde_json::Map<String, Value> =
            Priority::ALL.iter().map(|p| (p.as_str().to_owned(), interval.clone())).collect();
        let per_priority = json!({"type": "object", "additionalProperties": false, "properties": priorities});
        build(json!({"type": "object", "additionalProperties": false, "properties": {
            "internal": per_priority, "external": per_priority, "executive": per_priority,
            "escalate_after_minutes": minutes,
        }}))
    }

    /// A role assignment. Which scope a role takes depends on the role (and
    /// custom roles are data), so the document gives the bounds all share.
    pub fn assign_request() -> RefOr<Schema> {
        let role = json!({"type": "string", "pattern": format!("^[{WS}]*[a-z][a-z0-9_]{{1,31}}[{WS}]*$"),
            "description": "A built-in role key (`incident_manager`, `tech_lead`, …) or a custom one."});
        let scope = json!({"type": ["string", "null"], "maxLength": 64,
            "pattern": format!("^[{WS}]*([^|{WS}]([^|\\n]*[^|{WS}])?)?[{WS}]*$"),
            "description": "`internal` or `external` for communications managers (none: both), a workstream for \
                tech leads and custom roles, none for the other roles."});
        build(json!({"type": "object", "additionalProperties": false, "required": ["role", "user"],
            "properties": {"role": role, "user": handle_schema(false), "scope": scope}}))
    }

    /// Which priority each customer impact suggests, and the rest of the matrix.
    pub fn impact_matrix() -> RefOr<Schema> {
        let priority = json!({"type": "string", "enum": Priority::ALL.map(Priority::as_str)});
        let impacts = CustomerImpact::ALL.map(CustomerImpact::as_str);
        build(json!({
            "type": "object", "required": ["customer_impact", "data_loss", "security", "escalate_at_services"],
            "properties": {
                "customer_impact": {"type": "object", "propertyNames": {"type": "string", "enum": impacts}, "additionalProperties": priority},
                "data_loss": priority,
                "security": priority,
                "escalate_at_services": {"type": "integer", "minimum": 0, "maximum": u32::MAX},
            },
        }))
    }

    /// Priority → the role keys it requires.
    pub fn required_roles() -> RefOr<Schema> {
        build(json!({
            "type": "object",
            "propertyNames": {"type": "string", "pattern": padded_priority()},
            "additionalProperties": {"type": "array", "items": {"type": "string",
                "pattern": format!("^[{WS}]*[a-z][a-z0-9_]{{1,31}}[{WS}]*$")}},
            "example": {"P1": ["incident_manager", "tech_lead", "communications_manager", "scribe"], "P2": ["incident_manager", "tech_lead"], "P3": ["incident_manager"], "P4": ["incident_manager"]},
        }))
    }

    /// A priority as its parser reads it: any case, white space around.
    fn padded_priority() -> String {
        format!("^[{WS}]*[Pp][1-4][{WS}]*$")
    }

    /// Every IANA time zone the server knows.
    pub fn time_zone() -> RefOr<Schema> {
        let mut names: Vec<String> = jiff::tz::db().available().map(|n| n.as_str().to_owned()).collect();
        names.sort();
        build(json!({"type": "string", "enum": names}))
    }
    /// A time zone, or null.
    pub fn time_zone_or_null() -> RefOr<Schema> {
        let mut names: Vec<Value> = jiff::tz::db().available().map(|n| json!(n.as_str())).collect();
        names.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        names.push(Value::Null);
        build(json!({"type": ["string", "null"], "enum": names}))
    }

    /// A schedule's layers: a rotation each, with optional weekly windows.
    pub fn layers() -> RefOr<Schema> {
        let time = json!({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"});
        let hours = "[1-9]|[1-9][0-9]|1[0-5][0-9]|16[0-8]";
        let days = "[1-9]|[1-9][0-9]|[12][0-9][0-9]|3[0-5][0-9]|36[0-6]";
        let weeks = "[1-9]|[1-4][0-9]|5[0-2]";
        let shift = format!("^[{WS}]*\\+?0*(({hours})h|({days})d|({weeks})w)[{WS}]*$");
        // Read as the first three letters of a day's name, in any case.
        let day = json!({"type": "string", "pattern": format!("^[{WS}]*([Mm][Oo][Nn]|[Tt][Uu][Ee]|[Ww][Ee][Dd]|[Tt][Hh][Uu]|[Ff][Rr][Ii]|[Ss][Aa][Tt]|[Ss][Uu][Nn])")});
        use muster_domain::limits::{MAX_LAYERS, MAX_ROTATION_USERS, MAX_WINDOWS};
        build(json!({"type": "array", "minItems": 1, "maxItems": MAX_LAYERS, "items": {
            "type": "object", "required": ["rotation"],
            "properties": {
                "rotation": {"type": "object", "required": ["users", "shift", "handoff", "start"], "properties": {
                    "users": {"type": "array", "minItems": 1, "maxItems": MAX_ROTATION_USERS, "uniqueItems": true,
                        "items": handle_schema(false)},
                    "shift": {"type": "string", "pattern": shift, "description": "hours (1h-168h), days (1d-366d) or weeks (1w-52w)"},
                    "handoff": time,
                    "start": {"type": "string", "format": "date"},
                }},
                "restrict": {"type": "array", "maxItems": MAX_WINDOWS,
                    "description": format!("at most {MAX_WINDOWS} windows in all the layers together"),
                    "items": {"type": "object", "required": ["start", "end"], "properties": {
                    "days": {"type": "array", "items": day},
                    "start": time,
                    "end": time,
                }}},
            },
        }}))
    }
}
