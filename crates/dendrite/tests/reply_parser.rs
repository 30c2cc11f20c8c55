//! The reply parser against arbitrary input: JSON of any shape and size, and bytes that are not
//! JSON, never panic it, bodies over the cap are refused before any parsing, and what it
//! allocates stays within a small multiple of the bytes it was given.

// A counting global allocator measures what parsing costs; it only forwards to `System`.
#![allow(unsafe_code)]

use audiosubnet_dendrite::reply::{MAX_MINER_TEXT_BYTES, parse_body};
use audiosubnet_dendrite::{Reply, TtsReply};
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// One measurement at a time (the harness may run tests on several threads).
static MEASURE: Mutex<()> = Mutex::new(());

// SAFETY: forwards every call to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Parses `body` with `cap`; returns the result and the peak heap it took beyond the start.
fn measured(body: &[u8], cap: usize) -> (Result<TtsReply, String>, usize) {
    let _one = MEASURE.lock().unwrap_or_else(|p| p.into_inner());
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let parsed = parse_body::<TtsReply>(body, cap);
    let peak = PEAK.load(Ordering::SeqCst).saturating_sub(base);
    (parsed, peak)
}

const KEYS: [&str; 8] = [
    "speech_output",
    "model_name",
    "sample_rate",
    "axon",
    "clone_input",
    "status_code",
    "status_message",
    "text_input",
];

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::String),
        (0usize..5000, any::<char>()).prop_map(|(n, c)| Value::String(c.to_string().repeat(n))),
    ];
    leaf.prop_recursive(6, 256, 12, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..12).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
                        "[a-z]{1,6}"
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn check_bounds(body: &[u8], parsed: &Result<TtsReply, String>, peak: usize) {
    // Samples take 4 bytes each and at least 2 bytes of JSON; twice that while the list grows,
    // once more while it is trimmed.
    let bound = 8 * body.len() + (64 << 10);
    assert!(
        peak <= bound,
        "{} bytes of input took {peak} bytes of heap",
        body.len()
    );
    match parsed {
        Ok(r) => {
            let name = r.model_name.as_deref().unwrap_or("");
            assert!(name.len() <= MAX_MINER_TEXT_BYTES);
            assert!(!name.chars().any(char::is_control));
        }
        Err(e) => assert!(e.len() <= MAX_MINER_TEXT_BYTES),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_json_parses_or_fails_within_bounds(
        v in json(),
        top in prop::collection::vec(("[a-z_]{1,14}", json()), 0..6),
    ) {
        let mut obj = match v {
            Value::Object(m) => m,
            other => {
                let mut m = Map::new();
                m.insert("speech_output".into(), other);
                m
            }
        };
        for (k, v) in top {
            obj.insert(k, v);
        }
        let body = serde_json::to_vec(&Value::Object(obj)).expect("serializes");
        let (parsed, peak) = measured(&body, 1 << 24);
        check_bounds(&body, &parsed, peak);
    }

    #[test]
    fn any_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..4096)) {
        let (parsed, peak) = measured(&body, 1 << 20);
        check_bounds(&body, &parsed, peak);
    }

    #[test]
    fn bodies_over_the_cap_are_refused_before_parsing(extra in 1usize..4096, cap in 32usize..65536) {
        // Valid JSON that is cheap to parse: only the cap can refuse it.
        let mut body = b"{\"model_name\":\"".to_vec();
        body.resize(cap + extra - 2, b'a');
        body.extend_from_slice(b"\"}");
        prop_assert!(body.len() > cap);
        let (parsed, peak) = measured(&body, cap);
        prop_assert!(parsed.is_err());
        prop_assert!(peak < 1024, "refusing took {} bytes", peak);
    }
}

#[test]
fn samples_and_terminal_survive() {
    let body = br#"{"speech_output":[0.25,-0.5],"sample_rate":16000,"axon":{"status_code":200},"clone_input":[[],[],[]]}"#;
    let (parsed, _) = measured(body, 1 << 10);
    let mut r = parsed.expect("parses");
    assert_eq!(r.speech_output, Some(vec![0.25, -0.5]));
    assert_eq!(r.take_axon().and_then(|a| a.status_code), Some(200));
}

/// Megabytes of `clone_input` padding cost next to nothing to skip.
#[test]
fn padding_is_skipped_without_allocating() {
    let n = 4 << 20;
    let mut body = b"{\"clone_input\":[".to_vec();
    for _ in 0..n {
        body.extend_from_slice(b"[],");
    }
    body.extend_from_slice(b"[]],\"speech_output\":[0.1,0.2],\"axon\":{\"status_code\":200}}");
    let (parsed, peak) = measured(&body, body.len());
    assert_eq!(
        parsed.expect("parses").speech_output.map(|s| s.len()),
        Some(2)
    );
    assert!(peak < 64 << 10, "skipping {} bytes took {peak}", body.len());
}
