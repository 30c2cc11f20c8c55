//! `deploy/grafana/audiosubnet.json` against the metrics the code exports: the dashboard is an
//! importable Grafana dashboard with a Prometheus datasource variable, every metric its panels
//! query is one the code records (found by scanning the `metrics` macros in `crates/*/src`),
//! every recorded metric has a panel, and the list in `docs/operations.md` is the code's list.
//! An ignored test also scrapes a real offline miner after one request.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dashboard() -> serde_json::Value {
    let path = repo().join("deploy/grafana/audiosubnet.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard file");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric name the code records or describes, with its kind: the first argument of
/// `counter!`, `gauge!` and `histogram!` (and their `describe_` forms), a string literal or a
/// `const NAME: &str` of the same file.
fn code_metrics() -> BTreeMap<String, Kind> {
    let mut found = BTreeMap::new();
    let crates = repo().join("crates");
    for entry in std::fs::read_dir(&crates).expect("crates/") {
        let src = entry.expect("a crate").path().join("src");
        if src.is_dir() {
            scan_dir(&src, &mut found);
        }
    }
    assert!(found.len() >= 10, "the scan found too little: {found:?}");
    found
}

fn scan_dir(dir: &Path, found: &mut BTreeMap<String, Kind>) {
    for entry in std::fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            scan_dir(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file");
            scan_file(&path, &text, found);
        }
    }
}

fn scan_file(path: &Path, text: &str, found: &mut BTreeMap<String, Kind>) {
    for (macro_name, kind) in [
        ("counter!(", Kind::Counter),
        ("gauge!(", Kind::Gauge),
        ("histogram!(", Kind::Histogram),
    ] {
        for (at, _) in text.match_indices(macro_name) {
            let arg = text[at + macro_name.len()..].trim_start();
            let name = if let Some(lit) = arg.strip_prefix('"') {
                lit[..lit.find('"').expect("a closed literal")].to_string()
            } else {
                let ident: String = arg
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                resolve_const(text, &ident).unwrap_or_else(|| {
                    panic!(
                        "{}: metric name `{ident}` is not a const here",
                        path.display()
                    )
                })
            };
            if let Some(old) = found.insert(name.clone(), kind) {
                assert_eq!(old, kind, "{name} recorded as two kinds");
            }
        }
    }
}

/// The value of `const IDENT: &str = "…";` in `text`.
fn resolve_const(text: &str, ident: &str) -> Option<String> {
    let decl = format!("const {ident}: &str = \"");
    let start = text.find(&decl)? + decl.len();
    Some(text[start..start + text[start..].find('"')?].to_string())
}

/// Metric names in a PromQL expression: identifiers that are not functions, keywords, label
/// matchers, grouping labels, ranges or variables.
fn promql_metrics(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset"];
    // Aggregations may put their grouping first (`sum by (le) (…)`), so no `(` follows them.
    const AGGREGATIONS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    const GROUPING: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    // Drop what sits inside {…} (label matchers, strings) and […] (ranges).
    let mut plain = String::new();
    let mut depth = 0usize;
    for c in expr.chars() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let chars: Vec<char> = plain.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:$".contains(chars[i]))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let called = j < chars.len() && chars[j] == '(';
            if GROUPING.contains(&word.as_str()) && called {
                // Skip the label list.
                i = j + chars[j..].iter().position(|&c| c == ')').unwrap_or(0);
            } else if !called
                && !word.starts_with('$')
                && !KEYWORDS.contains(&word.as_str())
                && !AGGREGATIONS.contains(&word.as_str())
            {
                names.insert(word);
            }
        } else if c.is_ascii_digit() || c == '.' {
            // A number such as 0.95 or 1e3.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn promql_names_are_extracted() {
    let e = r#"histogram_quantile(0.95, sum by (le, path) (rate(miner_request_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))"#;
    assert_eq!(
        promql_metrics(e),
        BTreeSet::from(["miner_request_duration_seconds_bucket".to_string()])
    );
    let e = r#"sum(rate(a_total{failed="true"}[5m])) / sum(rate(b_total[1h])) > bool 0.5"#;
    assert_eq!(
        promql_metrics(e),
        BTreeSet::from(["a_total".to_string(), "b_total".to_string()])
    );
}

/// Every panel of the dashboard, rows' nested panels included.
fn panels(dash: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested);
        }
    }
    out
}

/// The code's metric a series name of the exposition format belongs to: histograms are
/// exported as `_bucket`, `_sum` and `_count` series.
fn base_metric<'a>(series: &'a str, code: &BTreeMap<String, Kind>) -> Option<&'a str> {
    if code.contains_key(series) {
        return Some(series);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = series.strip_suffix(suffix)?;
        (code.get(base) == Some(&Kind::Histogram)).then_some(base)
    })
}

#[test]
fn dashboard_is_importable_and_queries_only_exported_metrics() {
    let dash = dashboard();
    assert!(dash["title"].is_string() && dash["uid"].is_string());
    assert!(dash["schemaVersion"].as_u64().is_some_and(|v| v >= 30));
    let vars = dash["templating"]["list"].as_array().expect("templating");
    let ds = vars
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(ds["query"], "prometheus");
    let ds_ref = format!("${{{}}}", ds["name"].as_str().expect("its name"));

    let code = code_metrics();
    let mut queried = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for panel in panels(&dash) {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(
            ids.insert(panel["id"].as_u64().expect("a panel id")),
            "id twice: {title}"
        );
        assert!(panel["gridPos"]["w"].as_u64().is_some(), "{title}: gridPos");
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], ds_ref.as_str(), "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], ds_ref.as_str(), "{title}");
            let expr = t["expr"].as_str().expect("expr");
            let names = promql_metrics(expr);
            assert!(!names.is_empty(), "{title}: no metric in {expr}");
            for name in names {
                let base = base_metric(&name, &code).unwrap_or_else(|| {
                    panic!("{title}: `{name}` is not a metric the code exports ({expr})")
                });
                queried.insert(base.to_string());
            }
        }
    }
    let unshown: Vec<&String> = code.keys().filter(|m| !queried.contains(*m)).collect();
    assert!(unshown.is_empty(), "metrics without a panel: {unshown:?}");
}

#[test]
fn operations_doc_lists_the_code_metrics() {
    let doc = std::fs::read_to_string(repo().join("docs/operations.md")).expect("operations.md");
    let start = doc.find("\n## Metrics").expect("a Metrics section");
    let section = &doc[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let listed: BTreeSet<String> = section
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|code| code.split('{').next().unwrap_or(code).to_string())
        .filter(|n| {
            ["axon_", "miner_", "validator_"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect();
    let code: BTreeSet<String> = code_metrics().into_keys().collect();
    let missing: Vec<&String> = code.difference(&listed).collect();
    let stale: Vec<&String> = listed.difference(&code).collect();
    assert!(
        missing.is_empty(),
        "exported but not in operations.md: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "in operations.md but not exported: {stale:?}"
    );
}

/// A real offline miner (espeak-ng) answers one `audiosubnet query`; its `/metrics` then has
/// the request and synthesis metrics the dashboard draws, with the kinds the scan found.
#[test]
#[ignore = "needs espeak-ng; run scripts/test"]
fn a_running_miner_exports_what_the_dashboard_queries() {
    use std::process::Command;
    let home = tempfile::tempdir().expect("tempdir");
    let wallets = home.path().join("wallets");
    common::regen(&wallets, "miner", "//Bob");
    common::regen(&wallets, "client", "//Alice");
    let port = common::free_port();
    let metrics_port = common::free_port();
    let _miner = common::start_miner_with(
        &wallets,
        "miner",
        "espeak",
        port,
        &["--metrics.port", &metrics_port.to_string()],
        |command| {
            command.env("AUDIOSUBNET_HOME", home.path().join("audiosubnet"));
        },
    );
    let hotkey = common::hotkey(&wallets, "miner");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = Command::new(common::bin())
            .args([
                "query",
                "--wallet.name",
                "client",
                "--text",
                "Metrics, please.",
            ])
            .args(["--axons", &format!("{hotkey}@127.0.0.1:{port}")])
            .arg("--wallet.path")
            .arg(&wallets)
            .arg("--out")
            .arg(home.path().join("reply.wav"))
            .output()
            .expect("query runs");
        if out.status.success() && home.path().join("reply.wav").exists() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reply in a minute: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let body = scrape(metrics_port);
    let code = code_metrics();
    let mut types = BTreeMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                types.insert(name.to_string(), kind.to_string());
            }
        }
    }
    for name in [
        "axon_requests_total",
        "axon_request_duration_seconds",
        "miner_requests_total",
        "miner_request_duration_seconds",
        "miner_synthesis_seconds",
        "miner_synthesis_realtime_factor",
        "miner_queue_depth",
    ] {
        let kind = code
            .get(name)
            .unwrap_or_else(|| panic!("{name} not in the code"));
        let want = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        assert_eq!(
            types.get(name).map(String::as_str),
            Some(want),
            "{name} in the scrape:\n{body}"
        );
    }
}

/// GET /metrics over a plain TCP socket (HTTP/1.0, so the server closes when done).
fn scrape(port: u16) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics port");
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("request");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("response");
    body
}
