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
    state.repo.stop().await;
}
