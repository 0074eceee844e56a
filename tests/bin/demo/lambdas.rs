//! Both functions as Lambda binaries behind the Lambda runtime interface
//! (`cargo lambda watch`), and the events the demo sends them.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use serde_json::{json, Value};
use stand_in::{fixture, unique, StandIn, A};

use super::ADMIN;

/// A user of A with `policy`, as whom both functions sign: its access key.
pub(crate) async fn functions_key(aws: &StandIn, policy: &Value) -> Credentials {
    aws.user(A, &unique("trailshare-functions"), policy)
        .await
        .credentials_provider()
        .expect("the stand-in's config has credentials")
        .provide_credentials()
        .await
        .expect("the functions user's access key")
}

/// What the functions get in every deployment besides its own settings:
/// no share cache, the stack's administrator, the stand-in and the
/// functions' key, quiet logs (trailshare's own lines, its metric lines at
/// any level, only warnings from the SDK and the runtime), the metrics'
/// namespace.
pub(crate) fn runtime_env(aws: &StandIn, key: &Credentials) -> [(&'static str, String); 8] {
    [
        ("SHARE_CACHE_SECONDS", "0".into()),
        ("ADMIN_PRINCIPALS", ADMIN.into()),
        ("AWS_ENDPOINT_URL", aws.url.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", key.access_key_id().to_string()),
        ("AWS_SECRET_ACCESS_KEY", key.secret_access_key().to_string()),
        ("RUST_LOG", "warn,trailshare=info".into()),
        ("METRICS_NAMESPACE", "trailshare/demo".into()),
    ]
}

/// The metrics in the functions' log `target/<log>.log` so far, as
/// CloudWatch would extract them: every line with `_aws` checked against the
/// Embedded Metric Format specification, then (Share, Mode, metric) summed.
/// Waits (up to 10 s) until `enough` says the log has caught up.
pub(crate) fn logged_metrics(
    log: &str,
    enough: impl Fn(&BTreeMap<(String, String, String), u64>) -> bool,
) -> Result<BTreeMap<(String, String, String), u64>, String> {
    let path = stand_in::repo_root().join(format!("target/{log}.log"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut metrics = BTreeMap::new();
        for line in text.lines().filter(|l| l.contains("\"_aws\"")) {
            let line: Value =
                serde_json::from_str(line).map_err(|e| format!("not JSON ({e}): {line}"))?;
            trailshare::emf::check(&line).map_err(|e| format!("not EMF ({e}): {line}"))?;
            let directive = &line["_aws"]["CloudWatchMetrics"][0];
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                let name = metric["Name"].as_str().unwrap_or_default().to_string();
                let key = (
                    line["Share"].as_str().unwrap_or_default().to_string(),
                    line["Mode"].as_str().unwrap_or("-").to_string(),
                    name.clone(),
                );
                *metrics.entry(key).or_default() += line[&name].as_u64().unwrap_or_default();
            }
        }
        if enough(&metrics) || Instant::now() > deadline {
            return Ok(metrics);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The Lambda runtime emulator with both functions, stopped on drop.
pub(crate) struct Lambdas {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for Lambdas {
    fn drop(&mut self) {
        // cargo lambda watch leads its own process group: end all of it.
        // Signalled directly: here (procps-ng 4.0.2) `kill -TERM -<pgid>`
        // also ended processes outside the group, the calling shell's too.
        let group = -(self.child.id() as libc::pid_t);
        // SAFETY: kill(2) takes no pointers; a negative pid names our group.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Lambdas {
    /// Starts `cargo lambda watch` with `env`; its output goes to
    /// `target/<log>.log`.
    pub(crate) fn start(log: &str, env: &[(&str, String)]) -> Lambdas {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let log_path = stand_in::repo_root().join(format!("target/{log}.log"));
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut command = Command::new(stand_in::repo_root().join(".venv/bin/cargo-lambda"));
        command
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .current_dir(stand_in::repo_root())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command
            .spawn()
            .expect("start cargo lambda watch (make demo installs it)");
        let lambdas = Lambdas { child, port };
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not start; see {}",
                log_path.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        lambdas
    }

    /// Invokes `function` through the runtime interface with `event`.
    pub(crate) fn invoke(&self, function: &str, event: &Value) -> Value {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{function}/invocations",
            self.port
        );
        let mut curl = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "900",
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                "@-",
                &url,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl");
        curl.stdin
            .take()
            .unwrap()
            .write_all(event.to_string().as_bytes())
            .unwrap();
        let out = curl.wait_with_output().expect("curl output");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&out.stdout)}))
    }

    /// Calls the provisioner with an HTTP API event; (status, body).
    pub(crate) fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u64, Value) {
        self.api_as(ADMIN, method, path, body)
    }

    /// The same, signed by `caller` (the request context's IAM identity).
    pub(crate) fn api_as(
        &self,
        caller: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u64, Value) {
        let mut event = fixture("apigw-v2-create.json");
        event["requestContext"]["authorizer"]["iam"]["userArn"] = json!(caller);
        event["routeKey"] = json!(format!(
            "{method} {}",
            if path.len() > 7 {
                "/shares/{name}"
            } else {
                "/shares"
            }
        ));
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["method"] = json!(method);
        event["requestContext"]["http"]["path"] = json!(path);
        event.as_object_mut().unwrap().remove("pathParameters");
        match body {
            Some(body) => event["body"] = json!(body.to_string()),
            None => {
                event.as_object_mut().unwrap().remove("body");
            }
        }
        let response = self.invoke("provisioner", &event);
        let status = response["statusCode"].as_u64().unwrap_or(0);
        let body: Value = response["body"]
            .as_str()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        if let Some(message) = body["error"]["message"].as_str() {
            println!("          {method} {path}: {status} {message}");
        }
        (status, body)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An SQS batch of EventBridge `Object Created` events, one per key.
pub(crate) fn queue_batch(bucket: &str, keys: &[String]) -> Value {
    let mut batch = fixture("sqs-s3.json");
    let template = batch["Records"][0].clone();
    let mut bridge = fixture("eventbridge-object-created.json");
    batch["Records"] = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            bridge["detail"]["bucket"]["name"] = json!(bucket);
            bridge["detail"]["object"]["key"] = json!(key);
            // The fixture's ETag and size are not these files': the
            // forwarder reads the real ones.
            let object = bridge["detail"]["object"].as_object_mut().unwrap();
            object.remove("etag");
            object.remove("size");
            let mut record = template.clone();
            record["messageId"] = json!(format!("msg-{i}"));
            record["body"] = json!(bridge.to_string());
            record
        })
        .collect();
    batch
}
