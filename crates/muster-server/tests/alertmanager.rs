//! Muster behind a real Prometheus Alertmanager (Debian's
//! `prometheus-alertmanager` and `amtool`): a webhook receiver and a
//! `pagerduty_configs` receiver both point at Muster. Alerts go in through
//! Alertmanager's API and amtool; they must arrive, deduplicate and resolve.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::external::{TempDir, eventually, free_port, program};
use common::{ADMIN_TOKEN, TestServer};
use serde_json::{Value, json};

on_both_backends!(alerts_from_a_real_alertmanager_arrive_deduplicate_and_resolve);

struct Alertmanager {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(muster: &str, key: &str) -> String {
    format!(
        r#"route:
  receiver: muster
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['via="pagerduty"']
      receiver: pd
receivers:
  - name: muster
    webhook_configs:
      - url: {muster}/api/v1/integrations/alertmanager/{key}
        send_resolved: true
  - name: pd
    pagerduty_configs:
      - routing_key: {key}
        url: {muster}/v2/enqueue
        send_resolved: true
"#
    )
}

async fn start_alertmanager(muster: &str, key: &str) -> Option<Alertmanager> {
    let bin = program(
        &["prometheus-alertmanager", "alertmanager"],
        "Prometheus Alertmanager (Debian: prometheus-alertmanager)",
    )?;
    let dir = TempDir::new("muster-am");
    let config_file = dir.0.join("alertmanager.yml");
    std::fs::write(&config_file, config(muster, key)).unwrap();
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!("--storage.path={}", dir.0.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("alertmanager starts");
    let am = Alertmanager { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), "Alertmanager to be ready", || {
        let (http, url) = (http.clone(), format!("{}/-/ready", am.url));
        async move { http.get(url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
    })
    .await;
    Some(am)
}

async fn post_alerts(am: &Alertmanager, alerts: Value) {
    let resp = reqwest::Client::new().post(format!("{}/api/v2/alerts", am.url)).json(&alerts).send().await.unwrap();
    assert!(resp.status().is_success(), "Alertmanager took the alerts: {}", resp.status());
}

fn amtool(am: &Alertmanager, args: &[&str]) {
    let bin = program(&["amtool"], "amtool (Debian: prometheus-alertmanager)").expect("amtool comes with Alertmanager");
    let out = Command::new(bin).arg(format!("--alertmanager.url={}", am.url)).args(args).output().unwrap();
    assert!(out.status.success(), "amtool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Waits until Muster's alert list satisfies `check`.
async fn muster_alerts<T>(server: &TestServer, what: &str, check: impl Fn(&[Value]) -> Option<T>) -> T {
    eventually(Duration::from_secs(40), what, || async {
        let alerts = server.get(ADMIN_TOKEN, "/api/v1/alerts?limit=1000").await.body;
        check(alerts.as_array().map(Vec::as_slice).unwrap_or(&[]))
    })
    .await
}

fn find<'a>(alerts: &'a [Value], summary: &str) -> Option<&'a Value> {
    alerts.iter().find(|a| a["summary"] == summary)
}

async fn alerts_from_a_real_alertmanager_arrive_deduplicate_and_resolve(server: TestServer) {
    let key = server.service("web", json!({})).await["integration_key"].as_str().unwrap().to_owned();
    let Some(am) = start_alertmanager(&server.url, &key).await else { return };

    // One alert through the API, one through amtool, one routed to PagerDuty.
    post_alerts(
        &am,
        json!([{"labels": {"alertname": "HighLatency", "instance": "web-1", "severity": "critical"},
                "annotations": {"summary": "latency on web-1"}, "generatorURL": "http://prometheus.test/graph"}]),
    )
    .await;
    amtool(
        &am,
        &[
            "alert",
            "add",
            "alertname=DiskFull",
            "instance=db-1",
            "severity=warning",
            "--annotation=summary=disk 98% full",
        ],
    );
    post_alerts(
        &am,
        json!([{"labels": {"alertname": "PdTest", "instance": "lb-2", "severity": "critical", "via": "pagerduty"},
                "annotations": {"summary": "lb-2 down"}}]),
    )
    .await;
    let alerts = muster_alerts(&server, "three alerts in Muster", |a| {
        let pd = a.iter().find(|x| x["summary"].as_str().is_some_and(|s| s.contains("PdTest")));
        (find(a, "latency on web-1").is_some() && find(a, "disk 98% full").is_some() && pd.is_some())
            .then(|| a.to_vec())
    })
    .await;
    let latency = find(&alerts, "latency on web-1").unwrap().clone();
    assert_eq!((latency["severity"].as_str(), latency["status"].as_str()), (Some("critical"), Some("triggered")));
    assert_eq!(latency["links"][0]["href"], "http://prometheus.test/graph");
    assert_eq!(find(&alerts, "disk 98% full").unwrap()["severity"], "warning");

    // A second HighLatency joins the group: Alertmanager sends both again,
    // and Muster counts the first rather than making it twice.
    post_alerts(
        &am,
        json!([{"labels": {"alertname": "HighLatency", "instance": "web-2", "severity": "critical"},
                "annotations": {"summary": "latency on web-2"}}]),
    )
    .await;
    // (The events of one webhook call may commit in two batches, so wait
    // for both rather than for the first sign of the second alert.)
    muster_alerts(&server, "the second HighLatency and the first counted again", |a| {
        let web1: Vec<&Value> = a.iter().filter(|x| x["summary"] == "latency on web-1").collect();
        assert!(web1.len() <= 1, "one alert per fingerprint: {web1:?}");
        let counted = web1.first().is_some_and(|x| x["count"].as_u64() >= Some(2));
        (find(a, "latency on web-2").is_some() && counted).then_some(())
    })
    .await;

    // Resolve through the API (endsAt in the past) and through amtool.
    let past = jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_secs(5)).unwrap().to_string();
    post_alerts(
        &am,
        json!([{"labels": {"alertname": "HighLatency", "instance": "web-1", "severity": "critical"},
                "annotations": {"summary": "latency on web-1"}, "endsAt": past},
               {"labels": {"alertname": "PdTest", "instance": "lb-2", "severity": "critical", "via": "pagerduty"},
                "annotations": {"summary": "lb-2 down"}, "endsAt": past}]),
    )
    .await;
    amtool(
        &am,
        &[
            "alert",
            "add",
            "alertname=DiskFull",
            "instance=db-1",
            "severity=warning",
            "--annotation=summary=disk 98% full",
            &format!("--end={past}"),
        ],
    );
    muster_alerts(&server, "the resolved alerts", |a| {
        let resolved = |s: &str| find(a, s).is_some_and(|x| x["status"] == "resolved");
        let pd = a.iter().find(|x| x["summary"].as_str().is_some_and(|s| s.contains("PdTest")));
        (resolved("latency on web-1") && resolved("disk 98% full") && pd.is_some_and(|x| x["status"] == "resolved"))
            .then_some(())
    })
    .await;
    let still = muster_alerts(&server, "web-2 still firing", |a| find(a, "latency on web-2").cloned()).await;
    assert_eq!(still["status"], "triggered");
}
