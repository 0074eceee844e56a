//! Reading shares: sorted pages that read only their own roles, and
//! damaged, unmanaged or tampered roles listed as such.

use serde_json::json;

use super::support::{api, config, describe, spec, B, C};

#[tokio::test]
async fn shares_come_in_sorted_pages_that_read_only_their_own_roles() {
    let api = api(config(&[]));
    // Created out of order: the listing sorts by name.
    for i in [4, 0, 6, 2, 5, 1, 3] {
        api.put_new(&format!("p{i}"), json!({"grantee_account": B}))
            .await;
    }
    let reads = || api.store.take_reads();
    reads();
    let mut seen = Vec::new();
    let mut path = "/shares?limit=3".to_string();
    let mut pages = 0;
    loop {
        let (status, body) = api.call("GET", &path, None).await;
        assert_eq!(status, 200, "{body}");
        let page: Vec<String> = body["shares"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        assert!(page.len() <= 3);
        assert!(reads() <= 3, "a page reads only its own roles");
        seen.extend(page);
        pages += 1;
        match body.get("next").and_then(|n| n.as_str()) {
            Some(next) => path = format!("/shares?limit=3&next={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
    let (_, all) = api.call("GET", "/shares", None).await;
    assert_eq!(all["shares"].as_array().unwrap().len(), 7);
    assert!(
        all.get("next").is_none(),
        "the default page (50) holds them all"
    );
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("next=%%%", "next"),
        ("next=Tk9UIEEgTkFNRQ", "next"),
    ] {
        let (status, body) = api.call("GET", &format!("/shares?{query}"), None).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (400, Some(field)),
            "{query}"
        );
    }
    // 120 shares: the default page is 50, `limit` reaches 100.
    for i in 0..113 {
        api.put_new(&format!("q{i:03}"), json!({"grantee_account": B}))
            .await;
    }
    for (query, size) in [("", 50), ("?limit=100", 100)] {
        reads();
        let (status, body) = api.call("GET", &format!("/shares{query}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(body["shares"].as_array().unwrap().len(), size, "{query}");
        assert!(body["next"].is_string(), "{query}: more to come");
        assert_eq!(reads(), size, "{query}: one read per share on the page");
    }
}

#[tokio::test]
async fn damaged_and_unmanaged_roles_are_listed_deletable_and_healed_by_a_put() {
    let api = api(config(&[]));
    for name in ["ok", "torn", "loose"] {
        api.put_new(name, json!({"grantee_account": B})).await;
    }
    api.store.edit("torn", |r| {
        r.stored.tags.retain(|(k, _)| !k.ends_with(":00"))
    });
    api.store
        .edit("loose", |r| r.stored.permissions_boundary = None);
    let (status, list) = api.call("GET", "/shares", None).await;
    assert_eq!(status, 200);
    let statuses: Vec<(String, String)> = list["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().into(),
                s["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("loose".into(), "damaged".into()),
            ("ok".into(), "active".into()),
            ("torn".into(), "damaged".into())
        ]
    );
    assert!(list["shares"][0]["error"]
        .as_str()
        .unwrap()
        .starts_with("not_managed"));
    assert_eq!(
        list["shares"][2]["role_arn"],
        "arn:aws:iam::111111111111:role/trailshare/trailshare-torn"
    );

    // A PUT heals a damaged share (issue 20): it is whole again.
    let (status, body) = api
        .call("PUT", "/shares/torn", Some(json!({"grantee_account": B})))
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("active")));
    assert_eq!(
        api.call("GET", "/shares/torn", None).await.1["status"],
        "active"
    );
    let (status, body) = api
        .call("PUT", "/shares/loose", Some(json!({"grantee_account": B})))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_managed"))
    );
    let (status, body) = api.call("DELETE", "/shares/loose", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_managed"))
    );
    assert_eq!(api.call("DELETE", "/shares/torn", None).await.0, 204);
    assert_eq!(api.call("GET", "/shares/torn", None).await.0, 404);
    let (status, body) = api
        .call("PUT", "/shares/ok", Some(json!({"grantee_account": C})))
        .await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_str(),
            body["error"]["field"].as_str()
        ),
        (409, Some("immutable"), Some("grantee_account"))
    );
}

/// Issue 20: a route rewritten in the description alone (`iam:UpdateRole`)
/// is `damaged`, reason `unauthenticated`, in the list and in GET; a
/// replace writes nothing from it, and an admin's PUT heals it.
#[tokio::test]
async fn a_route_rewritten_outside_the_api_is_listed_unauthenticated() {
    let api = api(config(&[]));
    let body = json!({"name": "b", "grantee_account": B, "delivery": {"mode": "tag"}});
    assert_eq!(api.call("POST", "/shares", Some(body)).await.0, 201);
    api.store.edit("b", |r| {
        r.description = r
            .description
            .replace(&format!("[\"{B}\"]"), &format!("[\"{B}\",\"{C}\"]"))
    });
    let (_, list) = api.call("GET", "/shares", None).await;
    assert_eq!(list["shares"][0]["reason"], "unauthenticated", "{list}");
    let (_, got) = api.call("GET", "/shares/b", None).await;
    assert_eq!(
        (got["status"].as_str(), got["reason"].as_str()),
        (Some("damaged"), Some("unauthenticated"))
    );
    let (status, body) = api.call("POST", "/shares/b/revoke-sessions", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("damaged"))
    );
    let (status, healed) = api
        .call(
            "PUT",
            "/shares/b",
            Some(json!({"grantee_account": B, "delivery": {"mode": "tag"}})),
        )
        .await;
    assert_eq!((status, healed["status"].as_str()), (200, Some("active")));
    let role = api.store.role("b");
    assert_eq!(
        role.description,
        describe(
            &spec(&json!({"name": "b", "grantee_account": B, "delivery": {"mode": "tag"}})),
            &role
        )
    );
}
