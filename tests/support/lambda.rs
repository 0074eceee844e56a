//! A function binary as Lambda runs it: the Lambda runtime API the binary
//! polls (`GET …/runtime/invocation/next`, `POST …/{id}/response` and
//! `…/error`, as <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>
//! describes them), each invocation with its deadline in
//! `Lambda-Runtime-Deadline-Ms`; an invocation that outlives its deadline
//! is a timeout: its answer, if one comes later, is dropped (Lambda would
//! also end the process; here it goes on to its next invocation).
//! [`QueueTrigger`] feeds it like Lambda's SQS event source mapping:
//! batches of up to 10 messages, the messages a response does not name in
//! `batchItemFailures` deleted, all of them kept after an error or a
//! timeout (they come back after the queue's visibility timeout and, after
//! its `maxReceiveCount`, go to its dead-letter queue).
//!
//! ```ignore
//! let function = Function::start("forwarder", &env);
//! let trigger = QueueTrigger::new(&sdk, &queue_url);
//! let drained = trigger.drain(&function, Duration::from_secs(2)).await;
//! ```

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// What an invocation came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Response(Value),
    Error(Value),
    /// No answer by the deadline.
    TimedOut,
}

#[derive(Default)]
struct Shared {
    /// The next invocation: (request id, deadline in ms, event).
    next: Mutex<Option<(String, u64, Value)>>,
    next_ready: Condvar,
    answers: Mutex<HashMap<String, Answer>>,
    answered: Condvar,
}

/// One function process behind a fake runtime API. Stopped on drop.
pub struct Function {
    child: Mutex<Child>,
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    count: Mutex<u64>,
}

/// A workspace binary (`cargo build --workspace --bins`, once per process).
pub fn workspace_binary(name: &str) -> PathBuf {
    let trailshare = crate::binary::trailshare();
    trailshare.with_file_name(name)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

impl Function {
    /// Starts workspace binary `name` with only `env` (plus PATH), its
    /// output in `target/<name>-<pid>-<port>.log`.
    pub fn start(name: &str, env: &[(&str, String)]) -> Function {
        Function::start_binary(&workspace_binary(name), env)
    }

    /// The same for the binary at `binary` (a release build, say).
    pub fn start_binary(binary: &std::path::Path, env: &[(&str, String)]) -> Function {
        let binary = binary.to_path_buf();
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("runtime API"));
        let api = server.server_addr().to_string();
        let shared = Arc::new(Shared::default());
        for _ in 0..4 {
            let (server, shared) = (server.clone(), shared.clone());
            std::thread::spawn(move || serve(&server, &shared));
        }
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let child = spawn(&binary, &env, &api);
        Function {
            child: Mutex::new(child),
            shared,
            server,
            count: Mutex::new(0),
        }
    }

    /// The process's peak resident set so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.lock().unwrap().id();
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// CPU time the process has used so far (user + system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let pid = self.child.lock().unwrap().id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime and
        // stime are the 14th and 15th of the whole line.
        let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
            .sum();
        // SAFETY: sysconf takes no pointers.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        ticks as f64 / per_second
    }

    /// [`Function::invoke`] of an owned event.
    pub async fn invoke_owned(&self, event: Value, timeout: Duration) -> Answer {
        self.invoke(&event, timeout).await
    }

    /// Invokes the function with `event` and a deadline `timeout` from now.
    pub async fn invoke(&self, event: &Value, timeout: Duration) -> Answer {
        let id = {
            let mut count = self.count.lock().unwrap();
            *count += 1;
            format!("invocation-{count}")
        };
        let deadline = now_ms() + timeout.as_millis() as u64;
        *self.shared.next.lock().unwrap() = Some((id.clone(), deadline, event.clone()));
        self.shared.next_ready.notify_all();
        let shared = self.shared.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let mut answers = shared.answers.lock().unwrap();
            loop {
                if let Some(answer) = answers.remove(&id) {
                    return answer;
                }
                let left = deadline.saturating_sub(now_ms());
                if left == 0 {
                    return Answer::TimedOut;
                }
                answers = shared
                    .answered
                    .wait_timeout(answers, Duration::from_millis(left))
                    .unwrap()
                    .0;
            }
        })
        .await
        .expect("waiting for the answer");
        if answer == Answer::TimedOut {
            // Not picked up at all: it is not handed out later.
            self.shared.next.lock().unwrap().take();
        }
        answer
    }
}

fn spawn(binary: &PathBuf, env: &[(String, String)], api: &str) -> Child {
    let name = binary.file_name().unwrap().to_string_lossy().to_string();
    let log = crate::repo_root().join(format!(
        "target/{name}-{}-{}.log",
        std::process::id(),
        api.rsplit(':').next().unwrap_or("0")
    ));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .expect("function log");
    Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", &name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "stand-in")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "stand-in")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()))
}

impl Drop for Function {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        self.server.unblock();
    }
}

/// Answers the runtime API, one request at a time per thread.
fn serve(server: &tiny_http::Server, shared: &Shared) {
    while let Ok(mut request) = server.recv() {
        let url = request.url().to_string();
        let mut body = String::new();
        let _ = request.as_reader().read_to_string(&mut body);
        let reply = |request: tiny_http::Request,
                     status: u16,
                     body: String,
                     headers: Vec<(String, String)>| {
            let mut response = tiny_http::Response::from_string(body).with_status_code(status);
            for (name, value) in headers {
                response.add_header(tiny_http::Header::from_bytes(name, value).unwrap());
            }
            let _ = request.respond(response);
        };
        if url.ends_with("/runtime/invocation/next") {
            let mut next = shared.next.lock().unwrap();
            let (id, deadline, event) = loop {
                if let Some(invocation) = next.take() {
                    break invocation;
                }
                next = shared.next_ready.wait(next).unwrap();
            };
            drop(next);
            let headers = vec![
                ("Lambda-Runtime-Aws-Request-Id".into(), id),
                ("Lambda-Runtime-Deadline-Ms".into(), deadline.to_string()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn".into(),
                    "arn:aws:lambda:us-east-1:111111111111:function:stand-in".into(),
                ),
                (
                    "Lambda-Runtime-Trace-Id".into(),
                    "Root=1-00000000-000000000000000000000000".into(),
                ),
                ("Content-Type".into(), "application/json".into()),
            ];
            reply(request, 200, event.to_string(), headers);
            continue;
        }
        let parts: Vec<&str> = url.split('/').collect();
        let answer = match parts.iter().position(|p| *p == "invocation") {
            Some(i) if url.ends_with("/response") => Some((parts[i + 1].to_string(), true)),
            Some(i) if url.ends_with("/error") => Some((parts[i + 1].to_string(), false)),
            _ => None,
        };
        if let Some((id, ok)) = answer {
            let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
            let answer = if ok {
                Answer::Response(value)
            } else {
                Answer::Error(value)
            };
            shared.answers.lock().unwrap().insert(id, answer);
            shared.answered.notify_all();
        }
        reply(request, 202, "{}".into(), Vec::new());
    }
}

/// Lambda's SQS event source mapping over one queue.
pub struct QueueTrigger {
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
}

/// What draining a queue took.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drained {
    pub invocations: usize,
    pub timeouts: usize,
    pub errors: usize,
    /// Messages handed to the function, redeliveries included.
    pub received: usize,
    /// Message ids the function named in `batchItemFailures`, summed.
    pub reported_failures: usize,
}

impl QueueTrigger {
    pub fn new(sdk: &aws_config::SdkConfig, url: &str) -> QueueTrigger {
        let name = url.rsplit('/').next().unwrap_or_default();
        let account = url.rsplit('/').nth(1).unwrap_or_default();
        QueueTrigger {
            sqs: aws_sdk_sqs::Client::new(sdk),
            url: url.to_string(),
            arn: format!("arn:aws:sqs:{}:{account}:{name}", crate::REGION),
        }
    }

    /// Feeds the queue to `function`, each invocation with `timeout`, until
    /// no message is left, visible or in flight. Panics after 400
    /// invocations.
    pub async fn drain(&self, function: &Function, timeout: Duration) -> Drained {
        self.drain_with(|event| function.invoke_owned(event, timeout))
            .await
    }

    /// The same with any invoker (an in-process handler, say).
    pub async fn drain_with<F, Fut>(&self, mut invoke: F) -> Drained
    where
        F: FnMut(Value) -> Fut,
        Fut: std::future::Future<Output = Answer>,
    {
        let mut drained = Drained::default();
        for _ in 0..400 {
            let messages = self.receive().await;
            if messages.is_empty() {
                if self.is_empty().await {
                    return drained;
                }
                continue;
            }
            drained.invocations += 1;
            drained.received += messages.len();
            let records: Vec<Value> = messages.iter().map(|m| self.record(m)).collect();
            let all = || {
                messages
                    .iter()
                    .filter_map(|m| m.message_id.clone())
                    .collect()
            };
            let keep: BTreeSet<String> = match invoke(json!({ "Records": records })).await {
                Answer::Response(reply) => reply["batchItemFailures"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_string))
                    .collect(),
                Answer::Error(_) => {
                    drained.errors += 1;
                    all()
                }
                Answer::TimedOut => {
                    drained.timeouts += 1;
                    all()
                }
            };
            drained.reported_failures += keep.len();
            let acknowledged = messages
                .iter()
                .filter(|m| !keep.contains(m.message_id.as_deref().unwrap_or_default()));
            for message in acknowledged {
                self.sqs
                    .delete_message()
                    .queue_url(&self.url)
                    .receipt_handle(message.receipt_handle.clone().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete an acknowledged message");
            }
        }
        panic!("the queue did not drain in 400 invocations: {drained:?}");
    }

    async fn receive(&self) -> Vec<aws_sdk_sqs::types::Message> {
        self.sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    }

    /// Messages waiting to be received (SQS's approximate count).
    pub async fn visible(&self) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName as Name;
        self.sqs
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(Name::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default()
            .get(&Name::ApproximateNumberOfMessages)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    async fn is_empty(&self) -> bool {
        use aws_sdk_sqs::types::QueueAttributeName as Name;
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(Name::ApproximateNumberOfMessages)
            .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default();
        [
            Name::ApproximateNumberOfMessages,
            Name::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .all(|name| attributes.get(name).map(String::as_str) == Some("0"))
    }

    /// One record as Lambda hands an SQS message to the function.
    fn record(&self, m: &aws_sdk_sqs::types::Message) -> Value {
        let attributes: serde_json::Map<String, Value> = m
            .attributes
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str().to_string(), json!(v)))
            .collect();
        json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
               "attributes": attributes, "messageAttributes": {}, "md5OfBody": m.md5_of_body,
               "eventSource": "aws:sqs", "eventSourceARN": self.arn, "awsRegion": crate::REGION})
    }
}
