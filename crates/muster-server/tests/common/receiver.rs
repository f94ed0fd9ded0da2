//! A webhook receiver on 127.0.0.1 that records what it gets and answers
//! with the statuses it is given, in order (then 200).

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

/// A request as the receiver saw it: headers and body.
pub type Received = (HeaderMap, Vec<u8>);

#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<Vec<StatusCode>>>,
}

impl Receiver {
    /// Starts one; returns it and the URL to POST to.
    pub async fn start(answers: Vec<StatusCode>) -> (Receiver, String) {
        let r = Receiver { answers: Arc::new(Mutex::new(answers)), ..Default::default() };
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    state.got.lock().unwrap().push((headers, body.to_vec()));
                    let mut answers = state.answers.lock().unwrap();
                    let status = if answers.is_empty() { StatusCode::OK } else { answers.remove(0) };
                    (status, [("retry-after", "30")], "")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    pub fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// The JSON bodies received, in order.
    pub fn bodies(&self) -> Vec<Value> {
        self.got.lock().unwrap().iter().map(|(_, b)| serde_json::from_slice(b).unwrap_or(Value::Null)).collect()
    }
}
