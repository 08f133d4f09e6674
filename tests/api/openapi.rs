//! The OpenAPI document lists every /api route, and a table walks every route with every role.

use std::collections::BTreeSet;

use consilium::accounts::model::Role;
use consilium_tests::spawn_app;
use reqwest::Method;
use serde_json::{Value, json};

/// Who may call a route.
#[derive(Clone, Copy, Debug)]
enum Access {
    Public,
    AnySignedIn,
    Only(&'static [Role]),
}

/// Every /api route: method, path (with `{id}` filled in by the test), body, access.
fn routes(email: &str) -> Vec<(Method, &'static str, Option<Value>, Access)> {
    use Access::*;
    vec![
        (Method::GET, "/api/openapi.json", None, Public),
        (
            Method::POST,
            "/api/v1/auth/token",
            Some(json!({"email": email, "password": "correct horse battery staple"})),
            Public,
        ),
        (Method::POST, "/api/v1/auth/logout", None, AnySignedIn),
        (Method::GET, "/api/v1/me", None, AnySignedIn),
        (Method::PATCH, "/api/v1/me", Some(json!({})), AnySignedIn),
        (Method::GET, "/api/v1/users", None, Only(&[Role::Admin])),
        (Method::POST, "/api/v1/users", Some(json!({})), Only(&[Role::Admin])),
        (Method::GET, "/api/v1/users/{id}", None, Only(&[Role::Admin])),
        (Method::PATCH, "/api/v1/users/{id}", Some(json!({})), Only(&[Role::Admin])),
        (Method::GET, "/api/v1/audit", None, Only(&[Role::Admin])),
    ]
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_of_the_table() {
    let app = spawn_app().await;
    let (s, doc) = app.get_json("/api/openapi.json", None).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if let Some(op) = item.get(method) {
                documented.insert(format!("{} {path}", method.to_uppercase()));
                assert!(op.get("responses").is_some(), "{method} {path} has no responses");
            }
        }
    }
    let tabled: BTreeSet<String> = routes("x@y.org").iter().map(|(m, p, _, _)| format!("{m} {p}")).collect();
    assert_eq!(documented, tabled, "a route is missing from the OpenAPI document or from this table");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in ["User", "NewUser", "UserPatch", "TokenRequest", "TokenResponse", "ErrorBody", "AuditEntry"] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_table_says() {
    let app = spawn_app().await;
    let target = app.create_user(Role::Patient).await;
    let mut failures = Vec::new();
    for role in [None, Some(Role::Patient), Some(Role::Doctor), Some(Role::Admin)] {
        let caller = match role {
            Some(r) => Some(app.create_user(r).await),
            None => None,
        };
        for (method, path, body, access) in routes(&target.email) {
            let concrete = path.replace("{id}", &target.user.id);
            let token = caller.as_ref().map(|c| app.token_for(&c.user));
            let mut rb = app.request(method.clone(), &concrete, token.as_deref());
            if let Some(b) = &body {
                rb = rb.json(b);
            }
            let status = rb.send().await.unwrap().status().as_u16();
            let allowed = match (access, role) {
                (Access::Public, _) => true,
                (_, None) => false,
                (Access::AnySignedIn, Some(_)) => true,
                (Access::Only(roles), Some(r)) => roles.contains(&r),
            };
            let expected_ok = if allowed {
                !matches!(status, 401 | 403 | 404 | 405)
            } else {
                status == if role.is_none() { 401 } else { 403 }
            };
            if !expected_ok || status >= 500 {
                failures.push(format!("{role:?} {method} {path} -> {status}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn unknown_api_paths_are_json_404() {
    let app = spawn_app().await;
    let (s, body) = app.get_json("/api/v1/nothing-here", None).await;
    assert_eq!(s, 404);
    assert_eq!(body["error"]["code"], "not_found");
}
