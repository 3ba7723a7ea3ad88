//! The Postgres rate budget against a real database: atomic under concurrency, shared by
//! separate pools (separate processes), blocked by 429s, lowered by HubSpot's headers.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::types::Type;
use warp_hubspot::{
    Admission, Bucket, PostgresRateBudget, RateBudget, RateLimitObservation, RateLimitSettings,
};

/// 500 per four hours: a burst of 10 (a fiftieth) and a refill too slow to matter in a test.
fn slow_settings() -> RateLimitSettings {
    RateLimitSettings {
        max_per_interval: 500,
        interval: Duration::from_secs(4 * 3600),
        search_per_second: 5,
    }
}

async fn grants(
    budgets: &[Arc<PostgresRateBudget>],
    attempts_each: usize,
    bucket: Bucket,
) -> usize {
    let mut tasks = Vec::new();
    for budget in budgets {
        for _ in 0..attempts_each {
            let budget = Arc::clone(budget);
            tasks.push(tokio::spawn(async move {
                budget.try_acquire(bucket).await.unwrap()
            }));
        }
    }
    let mut granted = 0;
    for task in tasks {
        if task.await.unwrap() == Admission::Granted {
            granted += 1;
        }
    }
    granted
}

#[tokio::test]
async fn concurrent_callers_in_two_pools_share_one_burst_exactly() {
    let db = common::fresh_database().await;
    // Two pools on the same database stand in for two Lambda instances.
    let other = warp_store::Database::connect(db.url(), 8).unwrap();
    let first = Arc::new(PostgresRateBudget::new(
        db.pool().clone(),
        62515,
        &slow_settings(),
    ));
    let second = Arc::new(PostgresRateBudget::new(
        other.pool().clone(),
        62515,
        &slow_settings(),
    ));
    let granted = grants(&[first.clone(), second.clone()], 20, Bucket::Default).await;
    assert_eq!(
        granted, 10,
        "the burst of 10 is shared, never handed out twice"
    );
    match first.try_acquire(Bucket::Default).await.unwrap() {
        Admission::Wait(wait) => {
            assert!(wait > Duration::from_secs(15), "refill is slow: {wait:?}")
        }
        Admission::Granted => panic!("the bucket is empty"),
    }
    // Another portal and the search bucket are separate allowances.
    let other_portal = PostgresRateBudget::new(db.pool().clone(), 1, &slow_settings());
    assert_eq!(
        other_portal.try_acquire(Bucket::Default).await.unwrap(),
        Admission::Granted
    );
    assert_eq!(
        first.try_acquire(Bucket::Search).await.unwrap(),
        Admission::Granted
    );
}

#[tokio::test]
async fn acquire_paces_callers_to_the_limit_in_every_rolling_window() {
    let db = common::fresh_database().await;
    let settings = RateLimitSettings {
        max_per_interval: 10,
        interval: Duration::from_millis(500),
        search_per_second: 5,
    };
    let budget = Arc::new(PostgresRateBudget::new(db.pool().clone(), 7, &settings));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let budget = Arc::clone(&budget);
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            while started.elapsed() < Duration::from_millis(1500) {
                budget.acquire(Bucket::Default).await.unwrap();
                times.push(started.elapsed());
            }
            times
        }));
    }
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.unwrap());
    }
    times.sort();
    for (i, first) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|t| **t < *first + Duration::from_millis(500))
            .count();
        assert!(
            in_window <= 10,
            "{in_window} grants within 500 ms from {first:?}"
        );
    }
    assert!(
        times.len() >= 20,
        "throughput too low: {} grants in 1.5 s",
        times.len()
    );
}

#[tokio::test]
async fn a_429_blocks_every_sharer_and_is_recorded() {
    let db = common::fresh_database().await;
    let budget = PostgresRateBudget::new(db.pool().clone(), 62515, &slow_settings());
    let sharer = PostgresRateBudget::new(db.pool().clone(), 62515, &slow_settings());
    assert_eq!(
        budget.try_acquire(Bucket::Default).await.unwrap(),
        Admission::Granted
    );
    let observation = RateLimitObservation {
        status: 429,
        retry_after: Some(Duration::from_secs(2)),
        policy_name: Some("TEN_SECONDLY_ROLLING".into()),
        ..Default::default()
    };
    budget
        .on_response(Bucket::Default, &observation)
        .await
        .unwrap();
    match sharer.try_acquire(Bucket::Default).await.unwrap() {
        Admission::Wait(wait) => {
            assert!(
                wait > Duration::from_millis(1500) && wait <= Duration::from_secs(2),
                "{wait:?}"
            )
        }
        Admission::Granted => panic!("a blocked bucket must not grant"),
    }
    let client = db.client().await.unwrap();
    let rows = client
        .query_typed(
            "SELECT bucket, policy_name FROM hubspot_rate_limit_events WHERE portal_id = $1",
            &[(&62515i64, Type::INT8)],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "default");
    assert_eq!(
        rows[0].get::<_, Option<String>>(1).as_deref(),
        Some("TEN_SECONDLY_ROLLING")
    );

    // Without Retry-After the block lasts the interval HubSpot reported.
    let search_429 = RateLimitObservation {
        status: 429,
        interval: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    budget
        .on_response(Bucket::Search, &search_429)
        .await
        .unwrap();
    assert!(
        matches!(budget.try_acquire(Bucket::Search).await.unwrap(), Admission::Wait(w) if w <= Duration::from_secs(1))
    );
}

#[tokio::test]
async fn fewer_remaining_at_hubspot_lowers_the_shared_tokens() {
    let db = common::fresh_database().await;
    let budget = Arc::new(PostgresRateBudget::new(
        db.pool().clone(),
        62515,
        &slow_settings(),
    ));
    assert_eq!(
        budget.try_acquire(Bucket::Default).await.unwrap(),
        Admission::Granted
    );
    let observation = RateLimitObservation {
        status: 200,
        remaining: Some(3),
        max: Some(100),
        ..Default::default()
    };
    budget
        .on_response(Bucket::Default, &observation)
        .await
        .unwrap();
    assert_eq!(
        grants(std::slice::from_ref(&budget), 8, Bucket::Default).await,
        3
    );
    // More remaining than we hold changes nothing.
    let plenty = RateLimitObservation {
        status: 200,
        remaining: Some(90),
        ..Default::default()
    };
    budget.on_response(Bucket::Default, &plenty).await.unwrap();
    assert_eq!(grants(&[budget], 4, Bucket::Default).await, 0);
}

#[tokio::test]
async fn no_remaining_at_hubspot_fills_the_shared_window_until_hubspots_count_leaves_it() {
    let db = common::fresh_database().await;
    let settings = RateLimitSettings {
        max_per_interval: 10,
        interval: Duration::from_secs(2),
        search_per_second: 5,
    };
    let budget = PostgresRateBudget::new(db.pool().clone(), 62515, &settings);
    let sharer = PostgresRateBudget::new(db.pool().clone(), 62515, &settings);
    assert_eq!(
        budget.try_acquire(Bucket::Default).await.unwrap(),
        Admission::Granted
    );
    // Another client of the app used the rest of HubSpot's window.
    let exhausted = RateLimitObservation {
        status: 200,
        remaining: Some(0),
        ..Default::default()
    };
    budget
        .on_response(Bucket::Default, &exhausted)
        .await
        .unwrap();
    match sharer.try_acquire(Bucket::Default).await.unwrap() {
        // The window (2 s + 2% + 20 ms) must pass, not just a token's refill (0.2 s).
        Admission::Wait(wait) => assert!(
            wait > Duration::from_millis(1800) && wait <= Duration::from_millis(2060),
            "{wait:?}"
        ),
        Admission::Granted => panic!("HubSpot has none left"),
    }
}
