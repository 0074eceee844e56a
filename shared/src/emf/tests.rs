//! The documents `document` builds are parsed back and judged by `check`,
//! an independent reading of AWS's specification ("Specification: Embedded
//! metric format", CloudWatch User Guide); `check` itself is shown to accept
//! a document written by hand in the spec's shape and to reject each rule
//! broken on its own.

use super::*;
use serde_json::json;

const NS: &str = "trailshare/test";
/// 2026-01-01T00:00:00Z in milliseconds.
const T: i64 = 1_767_225_600_000;

fn delivered(value: u64) -> Metric {
    Metric {
        name: "FilesDelivered",
        unit: Unit::Count,
        value,
    }
}

/// Written by hand in the shape of the specification's example: a
/// directive with one DimensionSet, a metric with a unit and a storage
/// resolution, and a member that is neither.
fn hand_written() -> Value {
    json!({
        "_aws": {
            "Timestamp": T,
            "CloudWatchMetrics": [{
                "Namespace": "trailshare/test",
                "Dimensions": [["Share"]],
                "Metrics": [{"Name": "CopyBytes", "Unit": "Bytes", "StorageResolution": 60}]
            }]
        },
        "Share": "bu-b",
        "CopyBytes": 2048,
        "event": "metrics"
    })
}

#[test]
fn the_checker_accepts_the_specs_shape() {
    check(&hand_written()).unwrap();
    // A DimensionSet MAY be empty; a metric MAY be an array of numbers.
    let mut line = hand_written();
    line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([[]]);
    line["CopyBytes"] = json!([1, 2, 3]);
    check(&line).unwrap();
}

/// Breaks one rule of a valid document.
type Break = Box<dyn Fn(&mut Value)>;

#[test]
fn the_checker_rejects_each_broken_rule() {
    let broken: Vec<(&str, Break)> = vec![
        (
            "no _aws",
            Box::new(|l| drop(l.as_object_mut().unwrap().remove("_aws"))),
        ),
        (
            "timestamp in seconds",
            Box::new(|l| l["_aws"]["Timestamp"] = json!(T / 1000)),
        ),
        (
            "timestamp a string",
            Box::new(|l| l["_aws"]["Timestamp"] = json!("2026-01-01")),
        ),
        (
            "extra member in _aws",
            Box::new(|l| l["_aws"]["LogGroupName"] = json!("x")),
        ),
        (
            "no directive",
            Box::new(|l| l["_aws"]["CloudWatchMetrics"] = json!([])),
        ),
        (
            "no namespace",
            Box::new(|l| {
                drop(
                    l["_aws"]["CloudWatchMetrics"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("Namespace"),
                )
            }),
        ),
        (
            "no DimensionSet",
            Box::new(|l| l["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([])),
        ),
        (
            "dimension not top-level",
            Box::new(|l| {
                let share = l.as_object_mut().unwrap().remove("Share").unwrap();
                l["event"] = json!({"Share": share});
            }),
        ),
        ("dimension a number", Box::new(|l| l["Share"] = json!(7))),
        (
            "dimension value too long",
            Box::new(|l| l["Share"] = json!("x".repeat(1025))),
        ),
        (
            "31 dimensions",
            Box::new(|l| {
                let names: Vec<String> = (0..31).map(|i| format!("D{i}")).collect();
                for name in &names {
                    l[name.as_str()] = json!("v");
                }
                l["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([names]);
            }),
        ),
        (
            "metric missing",
            Box::new(|l| drop(l.as_object_mut().unwrap().remove("CopyBytes"))),
        ),
        (
            "metric a string",
            Box::new(|l| l["CopyBytes"] = json!("2048")),
        ),
        (
            "metric nested",
            Box::new(|l| {
                l.as_object_mut().unwrap().remove("CopyBytes");
                l["event"] = json!({"CopyBytes": 2048});
            }),
        ),
        (
            "101 metrics",
            Box::new(|l| {
                let metrics: Vec<Value> =
                    (0..101).map(|i| json!({"Name": format!("M{i}")})).collect();
                for i in 0..101 {
                    l[format!("M{i}")] = json!(1);
                }
                l["_aws"]["CloudWatchMetrics"][0]["Metrics"] = json!(metrics);
            }),
        ),
        (
            "unknown unit",
            Box::new(|l| l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Files")),
        ),
        (
            "storage resolution 5",
            Box::new(|l| {
                l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["StorageResolution"] = json!(5)
            }),
        ),
        (
            "metric also a dimension",
            Box::new(|l| {
                l["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([["Share", "CopyBytes"]]);
            }),
        ),
    ];
    for (what, breaks) in broken {
        let mut line = hand_written();
        breaks(&mut line);
        assert!(check(&line).is_err(), "{what}: accepted {line}");
    }
}

#[test]
fn a_document_keeps_the_lines_own_fields_and_passes_the_check() {
    let mut fields = Map::new();
    fields.insert("event".into(), json!("metrics"));
    fields.insert("nested".into(), json!({"kept": [1, 2]}));
    let line = document(
        NS,
        T,
        fields,
        &[("Share", "bu-b"), ("Mode", "copy")],
        &[
            delivered(3),
            Metric {
                name: "CopyBytes",
                unit: Unit::Bytes,
                value: 4096,
            },
        ],
    )
    .unwrap();
    // Parsed back from its text, as CloudWatch Logs reads it.
    let line: Value = serde_json::from_str(&line.to_string()).unwrap();
    check(&line).unwrap();
    assert_eq!(line["event"], "metrics");
    assert_eq!(line["nested"], json!({"kept": [1, 2]}));
    assert_eq!(line["Share"], "bu-b");
    assert_eq!(line["Mode"], "copy");
    assert_eq!(line["FilesDelivered"], 3);
    assert_eq!(line["CopyBytes"], 4096);
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(line["_aws"]["Timestamp"], T);
    assert_eq!(directive["Namespace"], NS);
    assert_eq!(directive["Dimensions"], json!([["Share", "Mode"]]));
    assert_eq!(
        directive["Metrics"],
        json!([{"Name": "FilesDelivered", "Unit": "Count"}, {"Name": "CopyBytes", "Unit": "Bytes"}])
    );
}

#[test]
fn no_dimension_is_one_empty_dimension_set() {
    let line = document(NS, T, Map::new(), &[], &[delivered(1)]).unwrap();
    check(&line).unwrap();
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([[]])
    );
}

#[test]
fn documents_that_would_break_the_spec_are_refused() {
    let names: Vec<String> = (0..=MAX_DIMENSIONS).map(|i| format!("D{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    assert_eq!(
        document(NS, T, Map::new(), &many, &[delivered(1)]),
        Err(EmfError::TooManyDimensions(31))
    );
    assert!(document(NS, T, Map::new(), &many[..MAX_DIMENSIONS], &[delivered(1)]).is_ok());
    assert_eq!(
        document(NS, T, Map::new(), &[], &vec![delivered(1); MAX_METRICS + 1]),
        Err(EmfError::TooManyMetrics(101))
    );
    assert_eq!(
        document(NS, T, Map::new(), &[], &[]),
        Err(EmfError::NoMetric)
    );
    let long = "x".repeat(MAX_DIMENSION_VALUE + 1);
    assert!(matches!(
        document(NS, T, Map::new(), &[("Share", &long)], &[delivered(1)]),
        Err(EmfError::DimensionValue(_))
    ));
    assert!(matches!(
        document(NS, T, Map::new(), &[("Share", "")], &[delivered(1)]),
        Err(EmfError::DimensionValue(_))
    ));
    // A metric or dimension may not overwrite the line's own fields.
    let mut fields = Map::new();
    fields.insert("Share".into(), json!("other"));
    assert_eq!(
        document(NS, T, fields, &[("Share", "bu-b")], &[delivered(1)]),
        Err(EmfError::Collision("Share".into()))
    );
    assert_eq!(
        document(
            NS,
            T,
            Map::new(),
            &[("FilesDelivered", "x")],
            &[delivered(1)]
        ),
        Err(EmfError::Collision("FilesDelivered".into()))
    );
    for bad in ["", "AWS/Lambda", "a|b", &"n".repeat(256)] {
        assert!(
            matches!(
                document(bad, T, Map::new(), &[], &[delivered(1)]),
                Err(EmfError::Namespace(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn namespaces() {
    assert!(is_namespace("trailshare/prod-stack"));
    assert!(is_namespace("trailshare"));
    assert!(!is_namespace("AWS/SQS"));
    assert!(!is_namespace("trail*share"));
}
