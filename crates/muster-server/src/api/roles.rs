use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use muster_domain::{Priority, RequiredRoles, RoleDef};

use crate::auth::Caller;
use crate::dto::{NewRoleRequest, RoleResponse};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use muster_app::App;

/// Define a custom role (admins only).
#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = NewRoleRequest, security(("bearer" = [])),
    responses((status = 201, body = RoleResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_role(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<NewRoleRequest>,
) -> ApiResult<(StatusCode, Json<RoleResponse>)> {
    actor.require_admin()?;
    let role = RoleDef::new(&body.key, &body.name, body.many).map_err(|e| match e {
        muster_domain::DomainError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
        other => other.into(),
    })?;
    let role = app.create_role(&actor, role).await?;
    Ok((StatusCode::CREATED, Json(RoleResponse::from(&role))))
}

/// Every role: the built-in ones and the custom ones.
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", security(("bearer" = [])), responses((status = 200, body = [RoleResponse])))]
pub async fn list_roles(State(app): State<Arc<App>>, _caller: Caller) -> ApiResult<Json<Vec<RoleResponse>>> {
    Ok(Json(RoleResponse::all(&app.role_catalog().await?)))
}

type RequiredRolesBody = BTreeMap<String, Vec<String>>;

fn required_body(r: &RequiredRoles) -> RequiredRolesBody {
    Priority::ALL
        .into_iter()
        .map(|p| (p.as_str().to_owned(), r.for_priority(p).iter().map(|k| k.key().to_owned()).collect()))
        .collect()
}

/// Which roles each priority requires.
#[utoipa::path(get, path = "/api/v1/settings/required-roles", tag = "roles", security(("bearer" = [])),
    responses((status = 200, body = crate::dto::RequiredRolesBody)))]
pub async fn get_required_roles(State(app): State<Arc<App>>, _caller: Caller) -> ApiResult<Json<RequiredRolesBody>> {
    Ok(Json(required_body(&app.required_roles().await?)))
}

/// Set which roles each priority requires (admins only). Priorities left out require nothing.
#[utoipa::path(put, path = "/api/v1/settings/required-roles", tag = "roles", security(("bearer" = [])),
    request_body = crate::dto::RequiredRolesBody,
    responses((status = 200, body = crate::dto::RequiredRolesBody), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set_required_roles(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<RequiredRolesBody>,
) -> ApiResult<Json<RequiredRolesBody>> {
    actor.require_admin()?;
    let catalog = app.role_catalog().await?;
    let mut required = BTreeMap::new();
    for (priority, roles) in body {
        let p: Priority = priority.parse()?;
        let field = format!("{p}");
        let kinds = roles.iter().map(|r| catalog.parse(r, &field)).collect::<Result<Vec<_>, _>>()?;
        required.insert(p, kinds);
    }
    let saved = app.set_required_roles(&actor, RequiredRoles(required)).await?;
    Ok(Json(required_body(&saved)))
}
