//! The admin commands' request bodies, error lines and tables.
use super::*;

#[test]
fn flags_send_only_what_was_given() {
    let args = ShareArgs {
        grantee: Some("222222222222".into()),
        ..ShareArgs::default()
    };
    assert_eq!(
        args.body(None).unwrap(),
        json!({"grantee_account": "222222222222"})
    );
    let args = ShareArgs {
        grantee: Some("444444444444".into()),
        log_accounts: vec!["*".into()],
        external_id: Some("x-1".into()),
        principal: vec!["arn:aws:iam::444444444444:role/R".into()],
        max_session: Some(7200),
        expires_at: Some("2030-01-01T00:00:00Z".into()),
        delivery: Some(DeliveryMode::Copy),
        bucket: Some("dest".into()),
        prefix: Some("p/".into()),
        writer_role: Some("arn:aws:iam::444444444444:role/W".into()),
        notify_topic: Some("arn:aws:sns:us-east-1:444444444444:t".into()),
        ..ShareArgs::default()
    };
    assert_eq!(
        args.body(Some("auditor")).unwrap(),
        json!({"name": "auditor", "grantee_account": "444444444444", "log_accounts": ["*"],
               "external_id": "x-1", "grantee_principals": ["arn:aws:iam::444444444444:role/R"],
               "max_session_seconds": 7200, "expires_at": "2030-01-01T00:00:00Z",
               "delivery": {"mode": "copy", "bucket": "dest", "prefix": "p/",
                            "role_arn": "arn:aws:iam::444444444444:role/W"},
               "notify": {"topic_arn": "arn:aws:sns:us-east-1:444444444444:t"}})
    );
}

#[test]
fn a_file_is_sent_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("share.json");
    std::fs::write(&path, r#"{"grantee_account": "222222222222", "typo": 1}"#).unwrap();
    let args = ShareArgs {
        file: Some(path),
        ..ShareArgs::default()
    };
    assert_eq!(
        args.body(None).unwrap(),
        json!({"grantee_account": "222222222222", "typo": 1})
    );
    std::fs::write(args.file.as_ref().unwrap(), "{not json").unwrap();
    assert!(args.body(None).is_err());
}

#[test]
fn errors_name_code_field_and_message() {
    let response = Response {
        status: 400,
        body: json!({"error": {"code": "invalid", "message": "bad id", "field": "log_accounts[1]"}}),
    };
    assert_eq!(
        error_line(&response),
        "error: 400 invalid (field log_accounts[1]): bad id"
    );
    let gateway = Response {
        status: 403,
        body: json!({"message": "Forbidden"}),
    };
    assert_eq!(error_line(&gateway), "error: 403: Forbidden");
}

#[test]
fn tables_show_every_share_and_field() {
    let share = json!({"name": "bu-b", "grantee_account": "222222222222", "log_accounts": ["222222222222"],
                       "role_arn": "arn:aws:iam::111111111111:role/trailshare/trailshare-bu-b",
                       "delivery": {"mode": "tag"},
                       "grantee_setup": {"assume_role_command": "aws sts assume-role --role-arn X"}});
    let list = list_table(std::slice::from_ref(&share)).to_string();
    assert!(list.contains("bu-b") && list.contains("tag") && list.contains("trailshare-bu-b"));
    let one = share_text(&share);
    assert!(one.contains("grantee_account") && one.contains("mode=tag"));
    assert!(one.contains("aws sts assume-role --role-arn X"));
}

#[test]
fn an_organization_share_lists_its_organization_as_grantee() {
    let share = json!({"name": "members", "organization": {"id": "o-a1b2c3d4e5"},
                       "delivery": {"mode": "tag"}});
    let list = list_table(std::slice::from_ref(&share)).to_string();
    assert!(list.contains("organization o-a1b2c3d4e5"), "{list}");
    assert!(list.contains("each member its own"), "{list}");
}
