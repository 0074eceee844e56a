//! How the CLI signs and where it sends: a named profile from the standard
//! chain, and never plain HTTP but to loopback.

use serde_json::{json, Value};
use stand_in::api_gateway::{handler, ApiGateway, TestKey};
use stand_in::binary::run;

use super::{ADMIN_ARN, ADMIN_ID, ADMIN_SECRET};

#[tokio::test]
async fn a_named_profile_from_the_standard_chain_signs_the_request() {
    let gateway = ApiGateway::start(
        vec![TestKey::new(ADMIN_ID, ADMIN_SECRET, ADMIN_ARN)],
        handler(|_event: Value| async {
            json!({"statusCode": 200, "body": json!({"shares": []}).to_string()})
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let (config, credentials) = (dir.path().join("config"), dir.path().join("credentials"));
    std::fs::write(&config, "[profile platform]\nregion = eu-west-1\n").unwrap();
    std::fs::write(
        &credentials,
        format!(
            "[platform]\naws_access_key_id = {ADMIN_ID}\naws_secret_access_key = {ADMIN_SECRET}\n"
        ),
    )
    .unwrap();
    let files = [
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
        ("TRAILSHARE_API", gateway.url.as_str()),
    ];
    let out = run(&["shares", "list", "--profile", "platform"], &files);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("NAME"), "{out:?}");
    // Another profile's name: no credentials, no request.
    let out = run(&["shares", "list", "--profile", "nobody"], &files);
    assert_ne!(out.code, 0, "{out:?}");
    let seen = gateway.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].caller.as_deref(), Some(ADMIN_ARN));
}

/// Signed calls never go over plain HTTP to a non-loopback host: anyone on
/// the path would read the signed request and could forge the answer. A
/// usage error (exit 2) naming https://, before any request or credential
/// lookup; loopback stays allowed for the local stand-in. Failed before
/// the fix: `http://` was accepted (exit 1 on the connection error).
#[test]
fn the_cli_refuses_plain_http_api_urls_except_loopback() {
    let creds = [
        ("AWS_ACCESS_KEY_ID", ADMIN_ID),
        ("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET),
    ];
    let plain = "http://abc123.execute-api.us-east-1.amazonaws.com/prod";
    for args in [
        vec!["shares", "list", "--api", plain],
        vec!["shares", "delete", "bu-b", "--api", plain],
        vec![
            "shares",
            "revoke-sessions",
            "bu-b",
            "--api",
            "http://10.1.2.3",
        ],
    ] {
        let out = run(&args, &creds);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains("https://"), "{out:?}");
        assert!(out.stderr.contains("--api"), "{out:?}");
    }
    let mut env = creds.to_vec();
    env.push(("TRAILSHARE_API", plain));
    let out = run(&["shares", "list"], &env);
    assert_eq!(out.code, 2, "TRAILSHARE_API: {out:?}");
    // Loopback over http passes the check (and then finds no server there).
    let out = run(&["shares", "list", "--api", "http://127.0.0.1:9"], &creds);
    assert_ne!(out.code, 2, "{out:?}");
    assert!(!out.stderr.contains("https://"), "{out:?}");
}
