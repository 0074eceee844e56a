//! CloudWatch Embedded Metric Format (EMF): a JSON log line that CloudWatch
//! Logs turns into metrics as it ingests the line, so publishing a metric
//! costs no API call (no `PutMetricData`) and no permission beyond writing
//! the function's own log group. Pure: builds the JSON, nothing more.
//!
//! The shape follows AWS's specification, "Specification: Embedded metric
//! format" (Amazon CloudWatch User Guide,
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
//!
//! ```json
//! {"_aws": {"Timestamp": 1767225600000,
//!           "CloudWatchMetrics": [{"Namespace": "trailshare/prod", "Dimensions": [["Share", "Mode"]],
//!                                  "Metrics": [{"Name": "FilesDelivered", "Unit": "Count"}]}]},
//!  "event": "metrics", "Share": "bu-b", "Mode": "copy", "FilesDelivered": 12}
//! ```
//!
//! - `Timestamp`: milliseconds since 1970-01-01T00:00:00Z.
//! - each name in a DimensionSet is a *target member*: a top-level string
//!   member of the same object (not nested), at most 1,024 characters; a
//!   DimensionSet holds at most 30 names, and may be empty;
//! - each MetricDefinition's `Name` is a top-level member whose value is a
//!   number (or an array of at most 100 numbers); at most 100 definitions
//!   per directive; `Unit` one of CloudWatch's units;
//! - every other top-level member is kept in the log line and ignored by
//!   the extraction (so a line keeps its own fields).
//!
//! [`check`] (tests and `testkit`) verifies a document against those rules;
//! its tests (`emf/tests.rs`) hold documents in the spec's shape, one valid
//! and others each breaking one rule, so the checker is shown to reject.

use serde_json::{json, Map, Value};

/// At most this many dimension names in one DimensionSet.
pub const MAX_DIMENSIONS: usize = 30;
/// At most this many MetricDefinitions in one MetricDirective.
pub const MAX_METRICS: usize = 100;
/// A dimension's value (a target member) is at most this many characters.
pub const MAX_DIMENSION_VALUE: usize = 1024;

/// The CloudWatch units this crate emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
        }
    }
}

/// One metric value: its name (also the member that carries it), unit, value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub value: u64,
}

/// Why a document could not be built: a rule of the specification that the
/// caller's names or values would break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmfError {
    #[error("{0} dimensions: a DimensionSet holds at most {MAX_DIMENSIONS}")]
    TooManyDimensions(usize),
    #[error("{0} metrics: a MetricDirective holds at most {MAX_METRICS}")]
    TooManyMetrics(usize),
    #[error("no metric: a document without one is an ordinary log line")]
    NoMetric,
    #[error("the value of dimension {0} is empty or longer than {MAX_DIMENSION_VALUE} characters")]
    DimensionValue(String),
    #[error("member {0} would be written twice")]
    Collision(String),
    #[error("the namespace {0:?} is not a CloudWatch namespace")]
    Namespace(String),
}

/// Whether `namespace` is one CloudWatch accepts for custom metrics: 1–255
/// characters of letters, digits and `. - _ / # : ` and space, not starting
/// with `AWS/` (reserved for AWS's own).
pub fn is_namespace(namespace: &str) -> bool {
    !namespace.is_empty()
        && namespace.len() <= 255
        && !namespace.starts_with("AWS/")
        && !namespace.starts_with(' ')
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c))
}

/// The line `fields` with the metrics in `metrics` embedded: the dimension
/// values and metric values become top-level members (one DimensionSet,
/// `dimensions` in order), and `_aws` says which of them are metrics.
/// `fields` keeps every member it has; none may be a dimension or metric
/// name.
pub fn document(
    namespace: &str,
    timestamp_ms: i64,
    fields: Map<String, Value>,
    dimensions: &[(&str, &str)],
    metrics: &[Metric],
) -> Result<Value, EmfError> {
    if !is_namespace(namespace) {
        return Err(EmfError::Namespace(namespace.to_string()));
    }
    if dimensions.len() > MAX_DIMENSIONS {
        return Err(EmfError::TooManyDimensions(dimensions.len()));
    }
    if metrics.is_empty() {
        return Err(EmfError::NoMetric);
    }
    if metrics.len() > MAX_METRICS {
        return Err(EmfError::TooManyMetrics(metrics.len()));
    }
    let mut line = fields;
    for (name, value) in dimensions {
        if value.is_empty() || value.chars().count() > MAX_DIMENSION_VALUE {
            return Err(EmfError::DimensionValue(name.to_string()));
        }
        if line.insert(name.to_string(), json!(value)).is_some() {
            return Err(EmfError::Collision(name.to_string()));
        }
    }
    for metric in metrics {
        if line
            .insert(metric.name.to_string(), json!(metric.value))
            .is_some()
        {
            return Err(EmfError::Collision(metric.name.to_string()));
        }
    }
    let directive = json!({
        "Namespace": namespace,
        "Dimensions": [dimensions.iter().map(|(name, _)| *name).collect::<Vec<_>>()],
        "Metrics": metrics.iter()
            .map(|m| json!({"Name": m.name, "Unit": m.unit.as_str()}))
            .collect::<Vec<_>>(),
    });
    let aws = json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]});
    if line.insert("_aws".to_string(), aws).is_some() {
        return Err(EmfError::Collision("_aws".to_string()));
    }
    Ok(Value::Object(line))
}

/// The units the specification's JSON schema allows.
#[cfg(any(test, feature = "testkit"))]
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks `line` against the specification (see the module's notes) and
/// returns what breaks it: an independent reading of the rules, for tests,
/// so that [`document`] is not its own judge.
#[cfg(any(test, feature = "testkit"))]
pub fn check(line: &Value) -> Result<(), String> {
    let root = line.as_object().ok_or("the root is not an object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws object")?;
    only_members(aws, &["Timestamp", "CloudWatchMetrics"], "_aws")?;
    let timestamp = aws
        .get("Timestamp")
        .and_then(Value::as_i64)
        .ok_or("_aws.Timestamp is not an integer")?;
    // Milliseconds, not seconds: any time after 2001-09-09 has 13 digits.
    if timestamp < 1_000_000_000_000 {
        return Err(format!("_aws.Timestamp {timestamp} is not in milliseconds"));
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("_aws.CloudWatchMetrics is not an array")?;
    if directives.is_empty() {
        return Err("_aws.CloudWatchMetrics is empty".into());
    }
    for directive in directives {
        let directive = directive
            .as_object()
            .ok_or("a MetricDirective is not an object")?;
        only_members(
            directive,
            &["Namespace", "Dimensions", "Metrics"],
            "MetricDirective",
        )?;
        let namespace = directive
            .get("Namespace")
            .and_then(Value::as_str)
            .ok_or("Namespace is not a string")?;
        if namespace.is_empty() || namespace.len() > 1024 {
            return Err(format!("Namespace {namespace:?}: 1 to 1024 characters"));
        }
        let sets = directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .ok_or("Dimensions is not an array")?;
        if sets.is_empty() {
            return Err("Dimensions holds no DimensionSet".into());
        }
        let mut dimension_names = Vec::new();
        for set in sets {
            let set = set.as_array().ok_or("a DimensionSet is not an array")?;
            if set.len() > MAX_DIMENSIONS {
                return Err(format!("a DimensionSet of {} names", set.len()));
            }
            for name in set {
                let name = name.as_str().ok_or("a dimension name is not a string")?;
                if name.is_empty() || name.len() > 250 {
                    return Err(format!("dimension name {name:?}: 1 to 250 characters"));
                }
                match root.get(name) {
                    Some(Value::String(value)) if value.chars().count() <= 1024 => {}
                    Some(Value::String(_)) => {
                        return Err(format!("dimension {name}: value over 1024 characters"))
                    }
                    _ => return Err(format!("dimension {name} is not a top-level string")),
                }
                dimension_names.push(name);
            }
        }
        let metrics = directive
            .get("Metrics")
            .and_then(Value::as_array)
            .ok_or("Metrics is not an array")?;
        if metrics.len() > MAX_METRICS {
            return Err(format!("{} MetricDefinitions", metrics.len()));
        }
        for metric in metrics {
            let metric = metric
                .as_object()
                .ok_or("a MetricDefinition is not an object")?;
            only_members(
                metric,
                &["Name", "Unit", "StorageResolution"],
                "MetricDefinition",
            )?;
            let name = metric
                .get("Name")
                .and_then(Value::as_str)
                .ok_or("a MetricDefinition has no Name")?;
            if name.is_empty() || name.len() > 1024 {
                return Err(format!("metric name {name:?}: 1 to 1024 characters"));
            }
            if dimension_names.contains(&name) {
                return Err(format!("{name} is both a dimension and a metric"));
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                _ => return Err(format!("metric {name} is not a top-level number")),
            }
            if let Some(unit) = metric.get("Unit") {
                let unit = unit.as_str().ok_or("a Unit is not a string")?;
                if !UNITS.contains(&unit) {
                    return Err(format!("{unit} is not a CloudWatch unit"));
                }
            }
            if let Some(resolution) = metric.get("StorageResolution") {
                if resolution != 1 && resolution != 60 {
                    return Err(format!("StorageResolution {resolution}: 1 or 60"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(any(test, feature = "testkit"))]
fn only_members(object: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(extra) => Err(format!(
            "{what} has a member the specification does not define: {extra}"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
