//! The HTTP API through `router().oneshot(...)`: no socket needed.

#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use rapport_relay::teams::Registry;
use rapport_relay::{AppState, Config, router};
use tower::ServiceExt as _;

async fn call(
    app: axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_refuses_what_it_should_and_leaks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, (sam, eve, ro)) = Registry::update(dir.path(), |r| {
        r.add_team("acme")?;
        r.add_team("beta")?;
        Ok((
            r.add_member("acme", "sam", false)?,
            r.add_member("beta", "eve", false)?,
            r.add_member("acme", "ro", true)?,
        ))
    })
    .unwrap();
    let state = AppState::start(Config::for_dir(dir.path())).await.unwrap();
    let app = router(state.clone());
    let id = |b: u8| {
        format!(
            "automerge:{}",
            bs58::encode([b; 16]).with_check().into_string()
        )
    };
    let doc = id(1);
    let doc = doc.as_str();

    assert_eq!(
        call(app.clone(), "GET", "/healthz", None).await,
        (StatusCode::OK, "ok".into())
    );
    assert_eq!(
        call(app.clone(), "GET", "/v1/teams/acme/docs", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(
            app.clone(),
            "GET",
            "/v1/teams/acme/docs",
            Some("rpt_forged")
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(
            app.clone(),
            "GET",
            "/v1/teams/acme/docs?token=rpt_forged",
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(
            app.clone(),
            "PUT",
            &format!("/v1/teams/acme/docs/{doc}"),
            Some(&eve)
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(
            app.clone(),
            "PUT",
            &format!("/v1/teams/acme/docs/{doc}"),
            Some(&ro)
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(
            app.clone(),
            "PUT",
            "/v1/teams/acme/docs/not-a-doc",
            Some(&sam)
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(
            app.clone(),
            "PUT",
            &format!("/v1/teams/acme/docs/{doc}"),
            Some(&sam)
        )
        .await
        .0,
        StatusCode::CREATED
    );
    // Another team claiming an existing document and a missing one get the
    // same answer.
    let taken = call(
        app.clone(),
        "PUT",
        &format!("/v1/teams/beta/docs/{doc}"),
        Some(&eve),
    )
    .await;
    let fresh = call(
        app.clone(),
        "PUT",
        &format!("/v1/teams/acme/docs/{}", id(2)),
        Some(&eve),
    )
    .await;
    assert_eq!(taken.0, StatusCode::FORBIDDEN);
    assert_eq!(fresh.0, StatusCode::FORBIDDEN);
    assert_eq!(taken.1, fresh.1, "no difference in the body either");
    let (status, body) = call(
        app.clone(),
        "GET",
        &format!("/v1/teams/acme/docs?token={ro}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "read-only members may list");
    assert!(body.contains(doc), "{body}");
    let (status, metrics) = call(app.clone(), "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics.contains("# TYPE rapport_relay_auth_failures_total counter"));
    assert!(
        metrics.contains("rapport_relay_auth_failures_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rapport_relay_forbidden_total 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rapport_relay_documents_registered 1"),
        "{metrics}"
    );
    state.repos.stop_all().await;
}

/// Every token kind against every endpoint, as one table. (The sync paths
/// of the same matrix are in `relay.rs`: another team, read-only, revoked,
/// no and bad tokens on real sockets.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let (_, (rw, ro, other, gone)) = Registry::update(dir.path(), |r| {
        r.add_team("acme")?;
        r.add_team("beta")?;
        Ok((
            r.add_member("acme", "sam", false)?,
            r.add_member("acme", "ro", true)?,
            r.add_member("beta", "eve", false)?,
            r.add_member("acme", "gone", false)?,
        ))
    })
    .unwrap();
    Registry::update(dir.path(), |r| r.remove_member("acme", "gone")).unwrap();
    let state = AppState::start(Config::for_dir(dir.path())).await.unwrap();
    let app = router(state.clone());
    let doc = format!(
        "automerge:{}",
        bs58::encode([9u8; 16]).with_check().into_string()
    );
    let put = format!("/v1/teams/acme/docs/{doc}");

    // (header value or none, expected for: PUT, GET list, sync upgrade)
    use StatusCode as S;
    let malformed = format!("{rw}x");
    let cases: Vec<(&str, Option<String>, [StatusCode; 2])> = vec![
        ("no token", None, [S::UNAUTHORIZED, S::UNAUTHORIZED]),
        (
            "empty bearer",
            Some("Bearer ".into()),
            [S::UNAUTHORIZED, S::UNAUTHORIZED],
        ),
        (
            "wrong scheme",
            Some(format!("Basic {rw}")),
            [S::UNAUTHORIZED, S::UNAUTHORIZED],
        ),
        (
            "a valid token plus one char",
            Some(format!("Bearer {malformed}")),
            [S::UNAUTHORIZED, S::UNAUTHORIZED],
        ),
        (
            "revoked",
            Some(format!("Bearer {gone}")),
            [S::UNAUTHORIZED, S::UNAUTHORIZED],
        ),
        (
            "another team",
            Some(format!("Bearer {other}")),
            [S::FORBIDDEN, S::FORBIDDEN],
        ),
        (
            "read-only",
            Some(format!("Bearer {ro}")),
            [S::FORBIDDEN, S::OK],
        ),
        (
            "read-write",
            Some(format!("Bearer {rw}")),
            [S::CREATED, S::OK],
        ),
        // The scheme is case-insensitive (RFC 7235); already registered now.
        (
            "lowercase scheme",
            Some(format!("bearer {rw}")),
            [S::OK, S::OK],
        ),
    ];
    for (what, header, [want_put, want_list]) in cases {
        for (method, uri, want) in [
            ("PUT", put.as_str(), want_put),
            ("GET", "/v1/teams/acme/docs", want_list),
        ] {
            let mut req = Request::builder().method(method).uri(uri);
            if let Some(h) = &header {
                req = req.header("authorization", h);
            }
            let resp = app
                .clone()
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(resp.status(), want, "{what}: {method} {uri}");
        }
    }
    // Only the read-write member's registration happened.
    let registry = Registry::load(dir.path()).unwrap();
    assert_eq!(registry.teams["acme"].docs.len(), 1);
    assert!(registry.teams["beta"].docs.is_empty());
    state.repos.stop_all().await;
}
