//! The seed's Hugging Face dataset route, against a local server that answers like the
//! datasets-server rows API (with a bearer token check).

use audiosubnet_validator::prompts::{HubDataset, PromptSource};
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use std::collections::HashMap;

async fn rows(
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, String) {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer hf_test_key") {
        return (
            StatusCode::UNAUTHORIZED,
            "{\"error\":\"unauthorized\"}".into(),
        );
    }
    assert_eq!(
        q.get("dataset").map(String::as_str),
        Some("etechgrid/Prompts_for_Voice_cloning_and_TTS")
    );
    let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let length: usize = q.get("length").and_then(|o| o.parse().ok()).unwrap_or(0);
    let all: Vec<String> = (0..50)
        .map(|i| format!("Sentence number {i} from the dataset."))
        .collect();
    let rows: Vec<serde_json::Value> = all
        .iter()
        .enumerate()
        .skip(offset)
        .take(length)
        .map(|(i, t)| serde_json::json!({"row_idx": i, "row": {"text": t}, "truncated_cells": []}))
        .collect();
    (
        StatusCode::OK,
        serde_json::json!({"rows": rows, "num_rows_total": all.len()}).to_string(),
    )
}

#[tokio::test]
async fn fetches_a_page_of_prompts_with_the_hub_key() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().route("/rows", get(rows)))
            .await
            .expect("serve")
    });
    let ds = HubDataset {
        dataset: "etechgrid/Prompts_for_Voice_cloning_and_TTS".into(),
        config: "default".into(),
        split: "train".into(),
        column: "text".into(),
        rows: 20,
        server: format!("http://{addr}"),
    };
    let mut list = ds.fetch(Some("hf_test_key")).await.expect("page fetched");
    assert_eq!(list.len(), 20);
    let p = list.next_prompt();
    assert!(
        p.starts_with("Sentence number") && p.ends_with("from the dataset."),
        "{p}"
    );

    let denied = ds.fetch(Some("wrong")).await.expect_err("unauthorized");
    assert!(denied.to_string().contains("401"), "{denied}");
    assert!(
        !denied.to_string().contains("wrong"),
        "the key never appears in errors"
    );
}
