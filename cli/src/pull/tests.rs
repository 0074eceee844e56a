use super::download::{local_path, sidecar, write_stream};
use super::*;
use clap::Parser;
use std::path::Path;

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    args: Args,
}

fn args(extra: &[&str]) -> Args {
    let mut argv = vec!["pull", "--bucket", "trail", "--to", "out"];
    argv.extend_from_slice(extra);
    Wrapper::try_parse_from(argv).unwrap().args
}

fn date(text: &str) -> Date {
    parse_day(text).unwrap()
}

#[test]
fn the_plan_lists_only_account_region_day_prefixes() {
    let plan = Plan::new(
        &args(&[
            "--since",
            "2024-02-28",
            "--until",
            "2024-03-01",
            "--prefix",
            "/o-abc/",
            "--org",
            "o-abcdefghij",
        ]),
        date("2030-01-01"),
    )
    .unwrap();
    assert_eq!(plan.layout.root(), "o-abc/AWSLogs/");
    let roots = plan.account_roots(&["222222222222".into()]);
    assert_eq!(
        roots,
        [
            "o-abc/AWSLogs/222222222222/",
            "o-abc/AWSLogs/o-abcdefghij/222222222222/"
        ]
    );
    assert_eq!(
        plan.day_prefixes("AWSLogs/2/CloudTrail/eu-west-1/"),
        [
            "AWSLogs/2/CloudTrail/eu-west-1/2024/02/28/",
            "AWSLogs/2/CloudTrail/eu-west-1/2024/02/29/",
            "AWSLogs/2/CloudTrail/eu-west-1/2024/03/01/"
        ]
    );
    assert_eq!(plan.kinds, ["CloudTrail"]);
}

#[test]
fn defaults_are_the_last_seven_days_and_digests_add_their_folder() {
    let plan = Plan::new(&args(&["--digests"]), date("2024-05-07")).unwrap();
    assert_eq!(plan.days.first(), Some(&date("2024-05-01")));
    assert_eq!(plan.days.len(), 7);
    assert_eq!(plan.kinds, ["CloudTrail", "CloudTrail-Digest"]);
    assert_eq!(plan.layout.root(), "AWSLogs/");
}

#[test]
fn bad_windows_accounts_and_orgs_are_refused() {
    let today = date("2024-05-07");
    for bad in [
        &["--since", "2024-05-08", "--until", "2024-05-07"][..],
        &["--since", "2014-01-01"],
        &["--accounts", "12345"],
        &["--org", "abc"],
        &["--prefix", "a//b"],
    ] {
        assert!(Plan::new(&args(bad), today).is_err(), "{bad:?}");
    }
    assert!(
        Wrapper::try_parse_from(["pull", "--bucket", "b", "--to", "d", "--since", "May 1"])
            .is_err()
    );
    assert!(
        Wrapper::try_parse_from(["pull", "--bucket", "b", "--to", "d", "--concurrency", "0"])
            .is_err()
    );
    assert!(
        Wrapper::try_parse_from(["pull", "--bucket", "b", "--to", "d", "--external-id", "x"])
            .is_err()
    );
}

#[test]
fn dates_out_of_range_are_refused_by_name_not_a_panic() {
    for bad in ["9999-12-31", "2013-10-31", "0000-01-01"] {
        let error = Wrapper::try_parse_from(["pull", "--bucket", "b", "--to", "d", "--until", bad])
            .err()
            .unwrap_or_else(|| panic!("{bad} accepted"));
        // clap's usage error: exit status 2, naming the option.
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("--until"), "{error}");
        assert!(error.to_string().contains("out of range"), "{error}");
    }
    // The first day CloudTrail has, to today, plan without a panic.
    let plan = Plan::new(
        &args(&["--since", "2013-11-01", "--until", "2013-11-02"]),
        date("2030-01-01"),
    )
    .unwrap();
    assert_eq!(plan.days.len(), 2);
    let window = plan.window();
    assert_eq!(
        window.start.unwrap().to_string(),
        "2013-11-01 0:00:00.0 +00:00:00"
    );
    assert_eq!(
        window.end.unwrap().to_string(),
        "2013-11-03 0:00:00.0 +00:00:00"
    );
}

#[test]
fn only_keys_of_cloudtrails_grammar_are_taken() {
    let plan = Plan::new(&args(&["--digests"]), date("2024-05-07")).unwrap();
    let log = "AWSLogs/222222222222/CloudTrail/us-east-1/2024/05/01/222222222222_CloudTrail_us-east-1_20240501T1205Z_AbCd.json.gz";
    let digest = "AWSLogs/222222222222/CloudTrail-Digest/us-east-1/2024/05/01/222222222222_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T120500Z.json.gz";
    assert!(plan.takes(log) && plan.takes(digest));
    for other in [
        format!("{digest}.sig"),
        format!("{log}.part"),
        format!("{digest}.sig.part"),
        "AWSLogs/222222222222/CloudTrail/us-east-1/2024/05/01/notes.txt".to_string(),
        "AWSLogs/222222222222/CloudTrail/us-east-1/2024/05/01/333333333333_CloudTrail_us-east-1_20240501T1205Z_AbCd.json.gz".to_string(),
    ] {
        assert!(!plan.takes(&other), "{other}");
    }
    // Digests only with --digests.
    let plan = Plan::new(&args(&[]), date("2024-05-07")).unwrap();
    assert!(plan.takes(log) && !plan.takes(digest));
}

#[test]
fn keys_cannot_escape_the_directory() {
    let dir = Path::new("/tmp/out");
    assert_eq!(
        local_path(dir, "AWSLogs/2/CloudTrail/x.json.gz").unwrap(),
        Path::new("/tmp/out/AWSLogs/2/CloudTrail/x.json.gz")
    );
    for bad in [
        "",
        "/etc/passwd",
        "AWSLogs/../../x",
        "AWSLogs//x",
        "./x",
        "a\\..\\b",
        "a/.",
    ] {
        assert!(local_path(dir, bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn a_stream_lands_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.part");
    let n = write_stream(
        &path,
        aws_sdk_s3::primitives::ByteStream::from(vec![7u8; 70_000]),
    )
    .await
    .unwrap();
    assert_eq!(n, 70_000);
    assert_eq!(std::fs::read(&path).unwrap(), vec![7u8; 70_000]);
    assert_eq!(sidecar(&path, ".sig"), dir.path().join("f.part.sig"));
}
