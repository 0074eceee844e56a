//! `trailshare shares activity NAME [--from D] [--until D]`: who used a
//! share over some days, per grantee account and principal, as the API
//! summarizes it (`GET /shares/{name}/activity`): a table, or the API's
//! JSON with `--json`.

use std::process::ExitCode;

use comfy_table::Table;
use serde_json::Value;

use crate::api::{encode, Api};
use crate::global::Global;
use crate::shares::{api_error, new_table};

/// The `--from`/`--until` value parser: a day as the API takes it, so a
/// typo is a usage error before any request.
pub fn day(text: &str) -> Result<String, String> {
    trailshare::layout::parse_day(text)
        .map(|_| text.to_string())
        .ok_or_else(|| format!("{text} is not a date YYYY-MM-DD"))
}

/// The route's path and query for `name` and the window given.
pub fn path(name: &str, from: Option<&str>, until: Option<&str>) -> String {
    let query: Vec<String> = [("from", from), ("until", until)]
        .into_iter()
        .filter_map(|(key, day)| day.map(|day| format!("{key}={}", encode(day))))
        .collect();
    let mut path = format!("/shares/{}/activity", encode(name));
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    path
}

/// Asks for the summary and prints it.
pub async fn show(
    api: &Api,
    name: &str,
    from: Option<&str>,
    until: Option<&str>,
    global: &Global,
) -> anyhow::Result<ExitCode> {
    let response = api.call("GET", &path(name, from, until), None).await?;
    if !response.ok() {
        return Ok(api_error(&response, global));
    }
    if global.json {
        println!("{}", serde_json::to_string_pretty(&response.body)?);
    } else {
        print!("{}", activity_text(&response.body));
    }
    Ok(ExitCode::SUCCESS)
}

/// A cell: what the API sent, with control characters shown as `?` (the
/// lines behind the summary are anyone's who could write the bucket; a
/// terminal must not obey them).
fn cell(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    };
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// One row per principal.
pub fn principals_table(principals: &[Value]) -> Table {
    let mut table = new_table();
    table.set_header([
        "ACCOUNT",
        "PRINCIPAL",
        "ASSUMED",
        "DENIED",
        "FIRST",
        "LAST",
        "SOURCE IPS",
        "FILES READ",
        "BYTES READ",
    ]);
    for p in principals {
        let principal = match p["arn"].as_str() {
            Some(arn) => format!("{}\n{}", cell(&p["principal"]), cell(&Value::from(arn))),
            None => cell(&p["principal"]),
        };
        table.add_row([
            cell(&p["account"]),
            principal,
            cell(&p["assumed"]),
            cell(&p["denied"]),
            cell(&p["first"]),
            cell(&p["last"]),
            cell(&p["source_ips"]),
            cell(&p["files_read"]),
            cell(&p["bytes_read"]),
        ]);
    }
    table
}

/// The summary as text: the window, the principals, when each account
/// last used the share, and what the answer leaves out.
pub fn activity_text(answer: &Value) -> String {
    let mut out = format!(
        "share {} from {} until {}\n",
        cell(&answer["share"]),
        cell(&answer["from"]),
        cell(&answer["until"])
    );
    let principals = answer["principals"].as_array().cloned().unwrap_or_default();
    if principals.is_empty() {
        out.push_str("no activity in these days\n");
    } else {
        out.push_str(&format!("{}\n", principals_table(&principals)));
    }
    let accounts = answer["accounts"].as_array().cloned().unwrap_or_default();
    if !accounts.is_empty() {
        let mut table = new_table();
        table.set_header(["ACCOUNT", "LAST USED"]);
        for account in &accounts {
            table.add_row([cell(&account["account"]), cell(&account["last_used"])]);
        }
        out.push_str(&format!("last used, per account:\n{table}\n"));
    }
    for note in notes(answer) {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

/// What the answer says it left out.
fn notes(answer: &Value) -> Vec<String> {
    let mut notes = Vec::new();
    if answer["complete"] == false {
        notes.push(match answer["read_from"].as_str() {
            Some(day) => format!(
                "only {day} to {} was read whole (the request's limits); ask for fewer days for the rest",
                cell(&answer["until"])
            ),
            None => "not even the last day fit the request's limits".into(),
        });
        let skipped = answer["objects"]["skipped"].as_u64().unwrap_or(0);
        if skipped > 0 {
            notes.push(format!(
                "{skipped} activity objects were too large or gone, not read"
            ));
        }
        let dropped = answer["lines"]["dropped"].as_u64().unwrap_or(0);
        if dropped > 0 {
            notes.push(format!(
                "{dropped} lines past the request's limit were not counted"
            ));
        }
    }
    if answer["truncated"] == true {
        notes.push("some principals (counted under *) or source IPs are not itemized".into());
    }
    let skipped = answer["lines"]["skipped"].as_u64().unwrap_or(0);
    if skipped > 0 {
        notes.push(format!(
            "{skipped} lines were not activity lines, not counted"
        ));
    }
    if principals_unknown(answer) {
        notes.push("\"unknown\": reads whose session no assume of these days explains (assumed before the window, or not logged)".into());
    }
    notes
}

fn principals_unknown(answer: &Value) -> bool {
    answer["principals"]
        .as_array()
        .is_some_and(|all| all.iter().any(|p| p["principal"] == "unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_path_carries_only_the_days_given() {
        assert_eq!(path("bu b", None, None), "/shares/bu%20b/activity");
        assert_eq!(
            path("b", Some("2026-12-01"), Some("2026-12-06")),
            "/shares/b/activity?from=2026-12-01&until=2026-12-06"
        );
        assert_eq!(
            path("b", None, Some("2026-12-06")),
            "/shares/b/activity?until=2026-12-06"
        );
        assert!(day("2026-12-06").is_ok() && day("2026-12-6").is_err() && day("today").is_err());
    }

    #[test]
    fn the_text_shows_each_principal_and_what_was_left_out() {
        let answer = json!({"share": "members", "from": "2026-12-01", "until": "2026-12-07",
            "principals": [
                {"account": "222222222222", "principal": "AROAB:alice", "arn": "arn:aws:sts::222222222222:assumed-role/R/alice",
                 "assumed": 2, "denied": 1, "first": "2026-12-06T10:00:00Z", "last": "2026-12-06T11:00:00Z",
                 "source_ips": ["198.51.100.7"], "reads": 3, "files_read": 3, "bytes_read": 4096},
                {"account": "333333333333", "principal": "unknown\u{1b}[31m", "assumed": 0, "denied": 0,
                 "first": "2026-12-06T12:00:00Z", "last": "2026-12-06T12:00:00Z", "source_ips": [],
                 "reads": 1, "files_read": 1, "bytes_read": 10}],
            "accounts": [{"account": "222222222222", "last_used": "2026-12-06T11:00:00Z"}],
            "lines": {"counted": 7, "skipped": 2, "dropped": 0}, "truncated": true,
            "complete": false, "read_from": "2026-12-05", "objects": {"read": 9, "skipped": 0}});
        let text = activity_text(&answer);
        for part in [
            "share members from 2026-12-01 until 2026-12-07",
            "AROAB:alice",
            "assumed-role/R/alice",
            "198.51.100.7",
            "4096",
            "last used, per account:",
            "only 2026-12-05 to 2026-12-07 was read whole",
            "not itemized",
            "2 lines were not activity lines",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        assert!(!text.contains('\u{1b}'), "{text}");
        let empty = activity_text(
            &json!({"share": "b", "from": "x", "until": "y", "principals": [],
            "accounts": [], "complete": true, "truncated": false, "lines": {"skipped": 0}}),
        );
        assert!(
            empty.contains("no activity in these days") && !empty.contains("note:"),
            "{empty}"
        );
    }
}
