//! How both functions log: every line goes through `tracing`, and leaves as
//! one JSON object per line on standard output, which Lambda sends to the
//! function's CloudWatch log group.
//!
//! A line is built as a `serde_json::Value` (nested arrays and objects
//! included: a target's `actions`, a damaged share's `claims`, an audit
//! line's `before` and `after`) and handed to [`info`], [`warn`], [`error`]
//! or [`metrics`]. The formatter ([`JsonLines`]) writes the line's own
//! members **at the top level**, exactly as given, and adds:
//!
//! - `level`: `INFO`, `WARN` or `ERROR` (`DEBUG`, `TRACE` for other crates);
//! - `requestId` (and `xrayTraceId` when Lambda gives one): the fields of
//!   the runtime's span around each invocation, so every line of one
//!   invocation carries its request id.
//!
//! Top level matters: CloudWatch Logs' JSON filter patterns
//! (`{ $.event = "share_damaged" }`) and Logs Insights address a member by
//! its path from the root, and an Embedded Metric Format document (see
//! [`crate::emf`]) must have `_aws` and its metric values at the root.
//! `tracing-subscriber`'s own JSON format would nest them under `fields`.
//!
//! Events of other crates (the Lambda runtime, the AWS SDK) come out the
//! same way, their message as `message`. Which lines are written: see
//! [`directives`]. Metric lines are never filtered out.

use std::fmt;

use serde_json::{Map, Value};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The `tracing` target of every line this crate writes.
pub const TARGET: &str = "trailshare";
/// The target of metric lines: always written, whatever the level.
pub const METRICS_TARGET: &str = "trailshare::metrics";
/// Where the Lambda runtime opens its span around each invocation (an
/// `INFO` span with the `requestId`): always enabled, so that every line of
/// an invocation carries its request id whatever the level.
pub const RUNTIME_SPAN_TARGET: &str = "lambda_runtime::layers::trace";
/// The one field that carries a line: its JSON text.
const LINE: &str = "line";

/// A line of the function's normal work (a request, a delivered file).
pub fn info(line: &Value) {
    tracing::info!(target: TARGET, line = %line);
}

/// Something the operator may look at: a file skipped because its source
/// is gone, a failure that a retry may cure.
pub fn warn(line: &Value) {
    tracing::warn!(target: TARGET, line = %line);
}

/// Something that needs the operator: a failure no retry will cure, a
/// damaged share, an AWS call that failed a request.
pub fn error(line: &Value) {
    tracing::error!(target: TARGET, line = %line);
}

/// Refuses to start a function, saying why in its log (a malformed
/// configuration, an unreadable secret): the process exits, so Lambda
/// reports the failed init rather than running without it.
pub fn refuse_to_start<T>(why: impl std::fmt::Display) -> T {
    error(&serde_json::json!({"event": "start", "outcome": "failed", "error": why.to_string()}));
    std::process::exit(1);
}

/// A line that carries Embedded Metric Format metrics: written at any
/// log level, or the metrics would be lost with it.
pub fn metrics(line: &Value) {
    tracing::info!(target: METRICS_TARGET, line = %line);
}

/// The filter directives: the level of `AWS_LAMBDA_LOG_LEVEL` (Lambda's
/// advanced logging controls: `TRACE` … `FATAL`), else `RUST_LOG` (any
/// `EnvFilter` directives), else `INFO` for this crate's lines and `WARN`
/// for other crates'; then, whatever came before, metric lines at `INFO`,
/// and the runtime's invocation span (it writes no line of its own).
pub fn directives(lambda_level: Option<&str>, rust_log: Option<&str>) -> String {
    let base = match (lambda_level, rust_log) {
        (Some(level), _) if !level.trim().is_empty() => {
            match level.trim().to_ascii_lowercase().as_str() {
                "fatal" => "error".to_string(),
                level => level.to_string(),
            }
        }
        (_, Some(directives)) if !directives.trim().is_empty() => directives.trim().to_string(),
        _ => format!("warn,{TARGET}=info"),
    };
    format!("{base},{METRICS_TARGET}=info,{RUNTIME_SPAN_TARGET}=info")
}

/// The subscriber both functions use, writing to `writer` (standard output
/// in Lambda, a buffer in tests).
pub fn subscriber<W>(writer: W, directives: &str) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::builder().parse_lossy(directives);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(JsonFields::new())
        .event_format(JsonLines)
        .with_writer(writer)
        .finish()
}

/// Installs [`subscriber`] on standard output for the whole process, with
/// the directives of the environment ([`directives`]). Call once, first.
pub fn init() {
    let lambda_level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let rust_log = std::env::var("RUST_LOG").ok();
    let directives = directives(lambda_level.as_deref(), rust_log.as_deref());
    // Fails only if a subscriber is set already: then that one is kept.
    let _ = tracing::subscriber::set_global_default(subscriber(std::io::stdout, &directives));
}

/// One JSON object per event: the event's line (or its fields) at the top
/// level, with `level` and the enclosing spans' fields.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut out = Map::new();
        out.insert(
            "level".into(),
            Value::from(level_name(event.metadata().level())),
        );
        // The spans' fields (JsonFields wrote them as a JSON object each),
        // outermost first, so an inner span's field wins.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str(&fields.fields) {
                    out.extend(fields);
                }
            }
        }
        let mut visitor = Fields::default();
        event.record(&mut visitor);
        // The line's own members last: they are never overwritten.
        out.extend(visitor.members);
        if let Some(line) = visitor.line {
            match serde_json::from_str(&line) {
                Ok(Value::Object(members)) => out.extend(members),
                _ => {
                    out.insert(LINE.into(), Value::String(line));
                }
            }
        }
        writeln!(writer, "{}", Value::Object(out))
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// An event's fields: `line` (the JSON text of one of this crate's lines)
/// apart, every other field as a member of its own JSON type.
#[derive(Default)]
struct Fields {
    line: Option<String>,
    members: Map<String, Value>,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.record(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.record(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.record(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.record(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.record(field, Value::from(value));
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.record(field, Value::from(format!("{value:?}")));
    }
}

impl Fields {
    fn record(&mut self, field: &tracing::field::Field, value: Value) {
        match (field.name(), value) {
            (LINE, Value::String(line)) => self.line = Some(line),
            (name, value) => {
                self.members.insert(name.to_string(), value);
            }
        }
    }
}

/// A writer into memory, for tests: what the functions would have written
/// to standard output, one parsed JSON value per line.
#[cfg(any(test, feature = "testkit"))]
#[derive(Clone, Default)]
pub struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(any(test, feature = "testkit"))]
impl Capture {
    /// Every line written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("capture").clone()).expect("UTF-8 lines")
    }

    /// Every line written so far, each parsed (a line that is not JSON panics).
    pub fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect()
    }

    /// The subscriber the functions use, writing here with `directives`.
    pub fn subscriber(&self, directives: &str) -> impl Subscriber + Send + Sync {
        subscriber(self.clone(), directives)
    }

    /// Runs `future` with the functions' subscriber (default directives)
    /// writing here, on whatever thread polls it.
    pub async fn around<F: std::future::Future>(&self, future: F) -> F::Output {
        use tracing::instrument::WithSubscriber;
        let directives = directives(None, None);
        future.with_subscriber(self.subscriber(&directives)).await
    }
}

#[cfg(any(test, feature = "testkit"))]
impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(any(test, feature = "testkit"))]
impl<'w> MakeWriter<'w> for Capture {
    type Writer = Capture;
    fn make_writer(&'w self) -> Capture {
        self.clone()
    }
}

#[cfg(test)]
mod tests;
