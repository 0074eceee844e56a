//! `trailshare shares …`: the admin side, one signed API call per command
//! (`list` follows the API's pages).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use comfy_table::{presets, ContentArrangement, Table};
use serde_json::{json, Map, Value};

use crate::api::{encode, Api, Response};
use crate::global::Global;

/// The API to call.
#[derive(clap::Args, Clone, Debug)]
pub struct ApiArg {
    /// The provisioner API's invoke URL (the stack's `ApiUrl` output)
    #[arg(long, env = "TRAILSHARE_API", value_name = "URL", value_parser = crate::api::check_api_url)]
    pub api: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List every share, sorted by name
    List {
        /// Shares per API request; every page is fetched
        #[arg(long, value_name = "N", default_value_t = 100,
              value_parser = clap::value_parser!(u8).range(1..=100))]
        page_size: u8,
        #[command(flatten)]
        api: ApiArg,
    },
    /// Show one share, with what its grantee must set up
    Get {
        /// The share's name
        name: String,
        #[command(flatten)]
        api: ApiArg,
    },
    /// Create a share (an IAM role in this account); fails if the name is taken
    #[command(after_help = CREATE_EXAMPLES)]
    Create {
        /// The share's name [default: account-<grantee>]
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        share: ShareArgs,
        #[command(flatten)]
        api: ApiArg,
    },
    /// Create or replace a share: the body replaces the whole share, so
    /// anything not given returns to its default
    Put {
        /// The share's name
        name: String,
        #[command(flatten)]
        share: ShareArgs,
        #[command(flatten)]
        api: ApiArg,
    },
    /// Delete a share: its role and policies are gone, sessions stop working
    Delete {
        /// The share's name
        name: String,
        #[command(flatten)]
        api: ApiArg,
    },
    /// Deny every session of a share issued before now
    RevokeSessions {
        /// The share's name
        name: String,
        #[command(flatten)]
        api: ApiArg,
    },
    /// Deliver (tag, copy, notify) a share's existing files of a window;
    /// prints the run's id (`--wait`: follows it until it is done)
    Backfill {
        /// The share's name
        name: String,
        /// First day, YYYY-MM-DD
        #[arg(long, value_name = "DATE")]
        from: String,
        /// Last day, inclusive, YYYY-MM-DD [default: today, UTC]
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        #[command(flatten)]
        wait: crate::backfill::WaitArgs,
        #[command(flatten)]
        api: ApiArg,
    },
    /// Show a backfill run: its work items and files queued, done, failed
    BackfillStatus {
        /// The share's name
        name: String,
        /// The run's id (`backfill` printed it)
        id: String,
        #[command(flatten)]
        wait: crate::backfill::WaitArgs,
        #[command(flatten)]
        api: ApiArg,
    },
    /// Cancel a backfill run: its remaining work items do nothing
    BackfillCancel {
        /// The share's name
        name: String,
        /// The run's id
        id: String,
        #[command(flatten)]
        api: ApiArg,
    },
    /// Who used a share: per grantee account and principal, its assumes
    /// (allowed, denied), first and last use, source IPs, files and bytes read
    Activity {
        /// The share's name
        name: String,
        /// First day, YYYY-MM-DD [default: 6 days before --until]
        #[arg(long, value_name = "DATE", value_parser = crate::activity::day)]
        from: Option<String>,
        /// Last day, inclusive, YYYY-MM-DD [default: today, UTC]
        #[arg(long, value_name = "DATE", value_parser = crate::activity::day)]
        until: Option<String>,
        #[command(flatten)]
        api: ApiArg,
    },
}

const CREATE_EXAMPLES: &str = "\
Examples:
  # Scenario 1: account 222222222222 reads its own log files
  trailshare shares create --grantee 222222222222
  # Scenario 2: an auditor reads every account's files, with an external id
  trailshare shares create --name auditor --grantee 444444444444 \\
      --log-accounts '*' --external-id issued-by-auditor
  # From a file holding the API's JSON body
  trailshare shares create --file share.json";

/// A share as flags, or as the API's JSON body in a file. Only what is
/// given is sent: the API applies its own defaults and names bad fields.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ShareArgs {
    /// The share's JSON body, as the API takes it (instead of flags)
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "grantee", "log_accounts", "external_id", "principal", "max_session", "expires_at",
        "delivery", "bucket", "prefix", "writer_role", "notify_queue", "notify_topic"])]
    pub file: Option<PathBuf>,
    /// The grantee account id, whose principals may assume the role
    #[arg(long, value_name = "ACCOUNT")]
    pub grantee: Option<String>,
    /// Whose log files the role reads: comma-separated account ids, or '*'
    /// for every account [default: the grantee's]
    #[arg(long, value_name = "a,b|*", value_delimiter = ',')]
    pub log_accounts: Vec<String>,
    /// External id the grantee must pass (required for other accounts' logs)
    #[arg(long, value_name = "ID")]
    pub external_id: Option<String>,
    /// A principal ARN in the grantee account allowed to assume the role
    /// (repeatable) [default: the whole grantee account]
    #[arg(long, value_name = "ARN")]
    pub principal: Vec<String>,
    /// Longest session in seconds, 3600-43200 [default: 3600]
    #[arg(long, value_name = "SECONDS")]
    pub max_session: Option<u32>,
    /// When the share ends, RFC 3339 UTC (e.g. 2027-03-31T00:00:00Z)
    #[arg(long, value_name = "TIME")]
    pub expires_at: Option<String>,
    /// Deliver each new file: tag it in place, or copy it to --bucket
    #[arg(long, value_enum)]
    pub delivery: Option<DeliveryMode>,
    /// Copy delivery: the grantee-owned destination bucket
    #[arg(long, requires = "delivery")]
    pub bucket: Option<String>,
    /// Copy delivery: key prefix in the destination, ending in '/'
    #[arg(long, requires = "bucket")]
    pub prefix: Option<String>,
    /// Copy delivery: a role in the grantee account the forwarder assumes
    /// to write the copy
    #[arg(long, value_name = "ARN", requires = "bucket")]
    pub writer_role: Option<String>,
    /// SQS queue ARN (grantee's) told of every delivered file
    #[arg(long, value_name = "ARN", conflicts_with = "notify_topic")]
    pub notify_queue: Option<String>,
    /// SNS topic ARN (grantee's) told of every delivered file
    #[arg(long, value_name = "ARN")]
    pub notify_topic: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryMode {
    /// No delivery
    None,
    /// Tag each file with trailshare:account=<owner>
    Tag,
    /// Copy each file into the grantee's bucket
    Copy,
}

impl ShareArgs {
    /// The request body: the file as it is, or exactly the flags given.
    pub fn body(&self, name: Option<&str>) -> anyhow::Result<Value> {
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let mut body: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            if let (Some(name), Some(object)) = (name, body.as_object_mut()) {
                object
                    .entry("name")
                    .or_insert_with(|| Value::String(name.to_string()));
            }
            return Ok(body);
        }
        let mut body = Map::new();
        let mut put = |key: &str, value: Value| {
            body.insert(key.to_string(), value);
        };
        if let Some(name) = name {
            put("name", json!(name));
        }
        if let Some(grantee) = &self.grantee {
            put("grantee_account", json!(grantee));
        }
        if !self.principal.is_empty() {
            put("grantee_principals", json!(self.principal));
        }
        if !self.log_accounts.is_empty() {
            let accounts: Vec<&str> = self.log_accounts.iter().map(|a| a.trim()).collect();
            put("log_accounts", json!(accounts));
        }
        if let Some(id) = &self.external_id {
            put("external_id", json!(id));
        }
        if let Some(seconds) = self.max_session {
            put("max_session_seconds", json!(seconds));
        }
        if let Some(at) = &self.expires_at {
            put("expires_at", json!(at));
        }
        if let Some(mode) = self.delivery {
            let mut delivery = json!({"mode": match mode {
                DeliveryMode::None => "none",
                DeliveryMode::Tag => "tag",
                DeliveryMode::Copy => "copy",
            }});
            for (key, value) in [
                ("bucket", &self.bucket),
                ("prefix", &self.prefix),
                ("role_arn", &self.writer_role),
            ] {
                if let Some(value) = value {
                    delivery[key] = json!(value);
                }
            }
            put("delivery", delivery);
        }
        if let Some(queue) = &self.notify_queue {
            put("notify", json!({ "queue_arn": queue }));
        }
        if let Some(topic) = &self.notify_topic {
            put("notify", json!({ "topic_arn": topic }));
        }
        Ok(Value::Object(body))
    }
}

pub async fn run(command: Command, global: &Global) -> anyhow::Result<ExitCode> {
    let api_arg = match &command {
        Command::List { api, .. }
        | Command::Get { api, .. }
        | Command::Create { api, .. }
        | Command::Put { api, .. }
        | Command::Delete { api, .. }
        | Command::RevokeSessions { api, .. }
        | Command::Backfill { api, .. }
        | Command::BackfillStatus { api, .. }
        | Command::BackfillCancel { api, .. }
        | Command::Activity { api, .. } => api.api.clone(),
    };
    let api = Api::new(&api_arg, global.sdk_config().await)?;
    let item = |name: &str| format!("/shares/{}", encode(name));
    let (response, shown) = match command {
        Command::List { page_size, .. } => return list(&api, page_size, global).await,
        Command::Get { name, .. } => (api.call("GET", &item(&name), None).await?, Show::Share),
        Command::Create { name, share, .. } => {
            let body = share.body(name.as_deref())?;
            (api.call("POST", "/shares", Some(&body)).await?, Show::Share)
        }
        Command::Put { name, share, .. } => {
            let body = share.body(None)?;
            (
                api.call("PUT", &item(&name), Some(&body)).await?,
                Show::Share,
            )
        }
        Command::Delete { name, .. } => (
            api.call("DELETE", &item(&name), None).await?,
            Show::Deleted(name),
        ),
        Command::RevokeSessions { name, .. } => (
            api.call(
                "POST",
                &format!("{}/revoke-sessions", item(&name)),
                Some(&json!({})),
            )
            .await?,
            Show::Share,
        ),
        Command::Backfill {
            name,
            from,
            until,
            wait,
            ..
        } => {
            return crate::backfill::start(&api, &name, &from, until.as_deref(), &wait, global)
                .await
        }
        Command::BackfillStatus { name, id, wait, .. } => {
            return crate::backfill::status(&api, &name, &id, &wait, global).await
        }
        Command::BackfillCancel { name, id, .. } => {
            return crate::backfill::cancel(&api, &name, &id, global).await
        }
        Command::Activity {
            name, from, until, ..
        } => {
            let (from, until) = (from.as_deref(), until.as_deref());
            return crate::activity::show(&api, &name, from, until, global).await;
        }
    };
    if !response.ok() {
        return Ok(api_error(&response, global));
    }
    if global.json {
        if !response.body.is_null() {
            println!("{}", serde_json::to_string_pretty(&response.body)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    match shown {
        Show::Share => print!("{}", share_text(&response.body)),
        Show::Deleted(name) => println!("deleted share {name}: its role and policies are gone"),
    }
    Ok(ExitCode::SUCCESS)
}

enum Show {
    Share,
    Deleted(String),
}

/// Every page of `GET /shares`: an API that returns no `next` has one.
async fn list(api: &Api, page_size: u8, global: &Global) -> anyhow::Result<ExitCode> {
    let mut shares = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            None => format!("/shares?limit={page_size}"),
            Some(token) => format!("/shares?limit={page_size}&next={}", encode(token)),
        };
        let response = api.call("GET", &path, None).await?;
        if !response.ok() {
            return Ok(api_error(&response, global));
        }
        let page = response.body["shares"]
            .as_array()
            .with_context(|| format!("GET {path}: the answer has no \"shares\" list"))?;
        shares.extend(page.iter().cloned());
        match response.body["next"].as_str() {
            Some(token) if !token.is_empty() && Some(token) != next.as_deref() => {
                next = Some(token.to_string())
            }
            _ => break,
        }
    }
    if global.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "shares": shares }))?
        );
    } else {
        println!("{}", list_table(&shares));
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the API's error (code, message, field) and fails.
pub(crate) fn api_error(response: &Response, global: &Global) -> ExitCode {
    if global.json && !response.body.is_null() {
        println!(
            "{}",
            serde_json::to_string_pretty(&response.body).unwrap_or_default()
        );
    }
    eprintln!("{}", error_line(response));
    ExitCode::FAILURE
}

/// `error: 400 invalid_value (field external_id): message`; API Gateway's
/// own refusals carry no code: `error: 403: Forbidden`.
pub fn error_line(response: &Response) -> String {
    let error = &response.body["error"];
    let message = error["message"]
        .as_str()
        .or_else(|| response.body["message"].as_str())
        .or_else(|| response.body.as_str())
        .unwrap_or("no message");
    let mut line = format!("error: {}", response.status);
    if let Some(code) = error["code"].as_str() {
        line.push_str(&format!(" {code}"));
    }
    match error["field"].as_str() {
        Some(field) if !field.is_empty() => line.push_str(&format!(" (field {field})")),
        _ => {}
    }
    format!("{line}: {message}")
}

/// One row per share.
pub fn list_table(shares: &[Value]) -> Table {
    let mut table = new_table();
    table.set_header([
        "NAME",
        "STATUS",
        "GRANTEE",
        "LOG ACCOUNTS",
        "DELIVERY",
        "EXPIRES",
        "ROLE",
    ]);
    for share in shares {
        let (grantee, log_accounts) = who_and_whose(share);
        table.add_row([
            text(&share["name"]),
            share["status"].as_str().unwrap_or("active").to_string(),
            grantee,
            log_accounts,
            share["delivery"]["mode"]
                .as_str()
                .unwrap_or("none")
                .to_string(),
            text(&share["expires_at"]),
            text(&share["role_arn"]),
        ]);
    }
    table
}

/// The GRANTEE and LOG ACCOUNTS columns: an organization share has no one
/// grantee; each member account reads its own logs.
fn who_and_whose(share: &Value) -> (String, String) {
    match share["organization"].as_object() {
        Some(organization) => (
            format!("organization {}", text(&organization["id"])),
            "each member its own".to_string(),
        ),
        None => (
            text(&share["grantee_account"]),
            text(&share["log_accounts"]),
        ),
    }
}

/// A share as a two-column table, then what its grantee sets up.
pub fn share_text(share: &Value) -> String {
    let mut out = format!("{}\n", fields_table(share, &["grantee_setup"]));
    let setup = &share["grantee_setup"];
    if let Some(command) = setup["assume_role_command"].as_str() {
        out.push_str(&format!(
            "\nThe grantee assumes the role with:\n  {command}\n"
        ));
    }
    if let Some(profile) = setup["cli_profile"].as_str() {
        out.push_str("\nor with this profile in ~/.aws/config:\n");
        for line in profile.lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    if setup.is_object() {
        out.push_str(
            "\nThe full grantee setup (policies to add): trailshare shares get NAME --json\n",
        );
    }
    out
}

/// Every field of `object` but `skip`, one per row.
pub(crate) fn fields_table(object: &Value, skip: &[&str]) -> Table {
    let mut table = new_table();
    if let Some(map) = object.as_object() {
        for (key, value) in map {
            if !skip.contains(&key.as_str()) && !value.is_null() {
                table.add_row([key.clone(), text(value)]);
            }
        }
    }
    table
}

pub(crate) fn new_table() -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    table
}

/// A JSON value as a cell: strings bare, lists comma-separated, objects as
/// `key=value` pairs.
fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", text(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
