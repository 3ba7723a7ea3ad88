//! Load for the webhook receiver, from a second process over loopback: signed deliveries of
//! 100 events (HubSpot's shape) with up to 10 in flight (HubSpot's default per app), then one
//! JSON line of ack latency and throughput. Bounded by `--deliveries`; stops by itself. The
//! events change the names of the companies `make bench` links to its seeded customers.
//!
//! `--rate N` paces the deliveries at N per second (a steady stream rather than a burst).
//!
//! cargo run --release -p warp-webhook --example webhook_load -- \
//!     --url http://127.0.0.1:3100/webhooks/hubspot --secret sandbox-webhook-secret

use std::sync::Arc;
use std::time::{Duration, Instant};

struct Options {
    url: String,
    secret: String,
    deliveries: usize,
    events_per_delivery: usize,
    in_flight: usize,
    portal_id: i64,
    customers: i64,
    /// Deliveries per second; unset: as fast as `in_flight` allows.
    rate: Option<f64>,
}

fn options() -> Options {
    let mut options = Options {
        url: "http://127.0.0.1:3000/webhooks/hubspot".into(),
        secret: "sandbox-webhook-secret".into(),
        deliveries: 500,
        events_per_delivery: 100,
        in_flight: 10,
        portal_id: 62515,
        customers: 100_000,
        rate: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--url" => options.url = value,
            "--secret" => options.secret = value,
            "--deliveries" => options.deliveries = value.parse().unwrap_or(options.deliveries),
            "--events" => {
                options.events_per_delivery = value.parse().unwrap_or(options.events_per_delivery)
            }
            "--in-flight" => options.in_flight = value.parse().unwrap_or(options.in_flight),
            "--portal-id" => options.portal_id = value.parse().unwrap_or(options.portal_id),
            "--customers" => options.customers = value.parse().unwrap_or(options.customers).max(1),
            "--rate" => options.rate = value.parse().ok().filter(|rate: &f64| *rate > 0.0),
            other => eprintln!("ignoring unknown option {other}"),
        }
    }
    options
}

/// One delivery's body: name changes (LATEST_WINS) of the companies linked to the bench's
/// customers (company id 9000000000 + n for customer n of 1..=customers), so every event is
/// received, stored and then applied to a customer.
fn delivery(
    portal_id: i64,
    customers: i64,
    first_event_id: i64,
    events: usize,
    now_ms: i64,
) -> Vec<u8> {
    let events: Vec<serde_json::Value> = (0..events as i64)
        .map(|i| {
            let event_id = first_event_id + i;
            serde_json::json!({
                "eventId": event_id, "subscriptionId": 1, "portalId": portal_id, "appId": 54321,
                "occurredAt": now_ms, "subscriptionType": "company.propertyChange", "attemptNumber": 0,
                "objectId": 9_000_000_001_i64 + event_id.rem_euclid(customers), "propertyName": "name",
                "propertyValue": format!("Load {event_id}"), "changeSource": "CRM_UI", "sourceId": "userId:1"
            })
        })
        .collect();
    serde_json::to_vec(&events).unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let options = Arc::new(options());
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let run_id = chrono::Utc::now().timestamp_millis() * 1000;
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..options.in_flight {
        let (client, options, next) = (client.clone(), options.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= options.deliveries {
                    break;
                }
                if let Some(rate) = options.rate {
                    // Paced: delivery n leaves at n / rate seconds, like a steady stream.
                    let due = started + Duration::from_secs_f64(n as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let now_ms = chrono::Utc::now().timestamp_millis();
                let first = run_id + (n * options.events_per_delivery) as i64;
                let body = delivery(
                    options.portal_id,
                    options.customers,
                    first,
                    options.events_per_delivery,
                    now_ms,
                );
                let mut request = client
                    .post(&options.url)
                    .header("content-type", "application/json")
                    .timeout(Duration::from_secs(10));
                for (name, value) in
                    warp_webhook::sign_v3(&options.secret, "POST", &options.url, &body, now_ms)
                {
                    request = request.header(name, value);
                }
                let sent = Instant::now();
                match request.body(body).send().await {
                    Ok(answer) if answer.status().is_success() => latencies.push(sent.elapsed()),
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    for worker in workers {
        if let Ok((mut l, f)) = worker.await {
            latencies.append(&mut l);
            failures += f;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let events = latencies.len() * options.events_per_delivery;
    println!(
        "{}",
        serde_json::json!({
            "webhook_deliveries": latencies.len(),
            "webhook_failures": failures,
            "webhook_ack_p50_ms": percentile(&latencies, 0.50),
            "webhook_ack_p99_ms": percentile(&latencies, 0.99),
            "webhook_events_per_s": events as f64 / elapsed,
        })
    );
}
