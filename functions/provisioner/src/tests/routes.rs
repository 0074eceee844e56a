//! The deployed API serves what the function serves: `ROUTES` is what the
//! router answers, and `template.yaml` routes exactly `ROUTES` (plus one
//! `ANY` fallback per path). In a real HTTP API a missing route is API
//! Gateway's 404 before the function runs; the local stand-in forwards
//! every path, so only these tests see it.

use std::collections::BTreeSet;

use trailshare::config::Config;
use trailshare::testkit::MemRoles;

use super::support::{key, request};
use crate::{Provisioner, ROUTES};

/// The provisioner's `HttpApi` events in `template.yaml`: (method, path).
/// A line scan is enough for the template's own layout (each event's
/// `Method:` then `Path:` under `ProvisionerFunction`'s `Events:`); the
/// test fails if it finds no event at all.
fn template_routes(template: &str) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    let mut in_function = false;
    let mut in_http_api = false;
    let mut method = None;
    for line in template.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if indent == 2 && !text.is_empty() && !text.starts_with('#') {
            in_function = text == "ProvisionerFunction:";
        }
        if !in_function {
            continue;
        }
        if let Some(kind) = text.strip_prefix("Type: ") {
            in_http_api = kind == "HttpApi";
            method = None;
        } else if let Some(m) = text.strip_prefix("Method: ").filter(|_| in_http_api) {
            method = Some(m.to_string());
        } else if let Some(path) = text.strip_prefix("Path: ").filter(|_| in_http_api) {
            let method = method.take().expect("Method: comes before Path:");
            routes.push((method, path.to_string()));
        }
    }
    routes
}

fn template() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    std::fs::read_to_string(path).expect("read template.yaml")
}

#[test]
fn the_template_routes_exactly_what_the_function_serves() {
    let routes = template_routes(&template());
    assert!(routes.len() >= ROUTES.len(), "no routes read: {routes:?}");
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let routed: BTreeSet<(String, String)> =
        routes.iter().filter(|(m, _)| m != "ANY").cloned().collect();
    let missing: Vec<_> = served.difference(&routed).collect();
    let extra: Vec<_> = routed.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "served by the function, not routed by template.yaml: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "routed by template.yaml, not served by the function: {extra:?}"
    );
    // One ANY fallback per served path (a 405 naming the methods, not API
    // Gateway's bare 404), and none on a path the function does not serve.
    let paths: BTreeSet<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
    let fallbacks: Vec<&str> = routes
        .iter()
        .filter(|(m, _)| m == "ANY")
        .map(|(_, p)| p.as_str())
        .collect();
    assert_eq!(
        fallbacks.iter().copied().collect::<BTreeSet<_>>(),
        paths,
        "ANY fallbacks"
    );
    assert_eq!(fallbacks.len(), paths.len(), "one ANY per path");
    let unique: BTreeSet<_> = routes.iter().collect();
    assert_eq!(unique.len(), routes.len(), "a route given twice");
}

#[test]
fn the_scan_sees_a_missing_route() {
    // The test above must be able to fail: drop the backfill route.
    let template = template().replace("/shares/{name}/backfill", "/shares/{name}/elsewhere");
    let routes = template_routes(&template);
    assert!(!routes.contains(&("POST".into(), "/shares/{name}/backfill".into())));
    assert!(routes.contains(&("POST".into(), "/shares/{name}/elsewhere".into())));
}

/// `ROUTES` is what the router answers: each listed (method, path) reaches
/// a handler (here a 403 for a non-administrator's change, a 502 for a read
/// that cannot reach IAM), every other method on those paths is a 405, and
/// a path beside them is a 404.
#[tokio::test]
async fn the_router_serves_exactly_the_route_table() {
    let config = Config::from_lookup(|n| (n == "TRAIL_BUCKET").then(|| "trail-bucket".into()))
        .expect("config");
    let provisioner = Provisioner::new(MemRoles::unreachable(), config, key());
    let status = |method: &str, path: &str| {
        let path = path.replace("{name}", "bu-b");
        let request = request(
            "arn:aws:iam::111111111111:user/reader",
            method,
            &path,
            Some("{}"),
        );
        let provisioner = &provisioner;
        async move { provisioner.handle(&request).await.status }
    };
    let paths: BTreeSet<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
    for path in &paths {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
            let got = status(method, path).await;
            if ROUTES.contains(&(method, path)) {
                assert!(got != 404 && got != 405, "{method} {path}: {got}");
            } else {
                assert_eq!(got, 405, "{method} {path}");
            }
        }
    }
    for path in [
        "/shares/bu-b/activity/2026-12-06",
        "/shares/bu-b/backfill/run-1/items",
        "/",
    ] {
        assert_eq!(status("GET", path).await, 404, "{path}");
    }
}
