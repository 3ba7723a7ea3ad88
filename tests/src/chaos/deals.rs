//! Deals in the chaos run (issue 20): salespeople (HubSpot's UI token, never faulted) work
//! deals through the pipeline while customers change in WARP, some on companies already
//! customers, most on companies they create in HubSpot (several deals on some). Each deal moves
//! forward through open stages and ends won or lost. The checks: every won deal onboarded
//! exactly once, one customer per won company with its BAN on the company and on every won
//! deal, one "account created" note per customer made, and no onboarding for a lost deal.

use anyhow::{Context, ensure};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Customer, Run, USER_TOKEN, all_records, name};

/// The default pipeline's open stages, in order, and its two closed ones.
const OPEN_STAGES: [&str; 5] = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
];

/// One deal the run worked, and how it ended.
#[derive(Clone, Debug)]
pub struct ChaosDeal {
    pub id: String,
    pub company: String,
    /// The company was a run customer's before the deal (no customer is made for it).
    pub company_was_customer: bool,
    pub won: bool,
}

/// What the run did with deals.
#[derive(Default)]
pub struct DealCounters {
    pub stage_moves: AtomicUsize,
    pub companies_created: AtomicUsize,
}

/// What the deal checks found.
#[derive(Default)]
pub struct DealVerdict {
    pub won: usize,
    pub onboarded_once: usize,
    pub customers_made: usize,
    pub notes: usize,
    pub failures: Vec<String>,
}

async fn ui(run: &Run, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<Value> {
    let answer = run
        .http
        .request(method, format!("{}{path}", run.args.sandbox))
        .bearer_auth(USER_TOKEN)
        .json(&body)
        .send()
        .await?;
    let status = answer.status();
    let text = answer.text().await.unwrap_or_default();
    ensure!(
        status.is_success(),
        "HubSpot UI {path} answered {status}: {text}"
    );
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn create_record(run: &Run, object_type: &str, properties: Value) -> anyhow::Result<String> {
    let created = ui(
        run,
        reqwest::Method::POST,
        &format!("/crm/v3/objects/{object_type}"),
        json!({ "properties": properties }),
    )
    .await?;
    Ok(created["id"].as_str().context("created id")?.to_owned())
}

/// Works `count` deals in the background, two salespeople at a time: creates each (on a run
/// customer's company a third of the time once one is linked, else on a company created in
/// HubSpot, a second deal on the same new company every fifth time), associates it as the
/// company's deal, moves it through two to four open stages and closes it, won three times in
/// five.
pub fn spawn_deal_workers(
    run: &Arc<Run>,
    customers: &Arc<Vec<Customer>>,
    count: usize,
    counters: &Arc<DealCounters>,
) -> tokio::task::JoinHandle<anyhow::Result<Vec<ChaosDeal>>> {
    let (run, customers, counters) = (run.clone(), customers.clone(), counters.clone());
    tokio::spawn(async move {
        let bans: BTreeSet<String> = customers.iter().map(|c| c.ban.clone()).collect();
        let next = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..2 {
            let (run, bans, next, counters) =
                (run.clone(), bans.clone(), next.clone(), counters.clone());
            workers.push(tokio::spawn(async move {
                let mut done = Vec::new();
                let mut last_new_company: Option<String> = None;
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        return anyhow::Ok(done);
                    }
                    run.left("working deals in HubSpot")?;
                    let linked = linked_run_companies(&run, &bans).await?;
                    let (choice, picked, suffix) = {
                        let mut rng = rand::rng();
                        (
                            rng.random_range(0..15),
                            linked.choose(&mut rng).cloned(),
                            rng.random_range(0..u64::MAX / 2),
                        )
                    };
                    let (company, was_customer) = match (choice, picked) {
                        (0..5, Some(company)) => (company, true),
                        (5..8, _) if last_new_company.is_some() => {
                            (last_new_company.clone().unwrap_or_default(), false)
                        }
                        _ => {
                            let label = name(&mut rand::rng(), "Prospect");
                            let id = create_record(
                                &run,
                                "companies",
                                json!({"name": label, "domain": format!("p{suffix}.deals.chaos.example")}),
                            )
                            .await?;
                            counters.companies_created.fetch_add(1, Ordering::Relaxed);
                            last_new_company = Some(id.clone());
                            (id, false)
                        }
                    };
                    done.push(work_deal(&run, &company, was_customer, &counters).await?);
                }
            }));
        }
        let mut deals = Vec::new();
        for worker in workers {
            deals.extend(worker.await??);
        }
        Ok(deals)
    })
}

async fn work_deal(
    run: &Run,
    company: &str,
    company_was_customer: bool,
    counters: &DealCounters,
) -> anyhow::Result<ChaosDeal> {
    let (label, amount, moves, won) = {
        let mut rng = rand::rng();
        (
            name(&mut rng, "Deal"),
            format!(
                "{}.{:02}",
                rng.random_range(100..90_000),
                rng.random_range(0..100)
            ),
            rng.random_range(2..=4usize),
            rng.random_range(0..5) < 3,
        )
    };
    let id = create_record(
        run,
        "deals",
        json!({"dealname": label, "amount": amount, "dealstage": OPEN_STAGES[0]}),
    )
    .await?;
    ui(
        run,
        reqwest::Method::PUT,
        &format!("/crm/v4/objects/deals/{id}/associations/companies/{company}"),
        json!([{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}]),
    )
    .await?;
    for stage in &OPEN_STAGES[1..moves.min(OPEN_STAGES.len())] {
        move_deal(run, &id, json!({"dealstage": stage}), counters).await?;
    }
    let close = if won { "closedwon" } else { "closedlost" };
    move_deal(
        run,
        &id,
        json!({"dealstage": close, "closedate": "2026-12-05T00:00:00Z"}),
        counters,
    )
    .await?;
    Ok(ChaosDeal {
        id,
        company: company.to_owned(),
        company_was_customer,
        won,
    })
}

async fn move_deal(
    run: &Run,
    id: &str,
    properties: Value,
    counters: &DealCounters,
) -> anyhow::Result<()> {
    ui(
        run,
        reqwest::Method::PATCH,
        &format!("/crm/v3/objects/deals/{id}"),
        json!({ "properties": properties }),
    )
    .await?;
    counters.stage_moves.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// The HubSpot companies of the run's own customers linked so far.
async fn linked_run_companies(run: &Run, bans: &BTreeSet<String>) -> anyhow::Result<Vec<String>> {
    let client = run.database.client().await?;
    let rows = client
        .query(
            "SELECT external_ids->>'hubspot_company_id', ban FROM customers \
             WHERE external_ids ? 'hubspot_company_id' AND deleted_at IS NULL",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .filter(|row| bans.contains(&row.get::<_, String>(1)))
        .map(|row| row.get::<_, String>(0))
        .collect())
}

/// Onboardings still to run (due now or backing off): the run settles only when none is left.
pub async fn onboardings_left(run: &Run) -> anyhow::Result<i64> {
    run.scalar("SELECT count(*) FROM onboardings WHERE status = 'PENDING'")
        .await
}

/// A deal's onboarding as stored.
struct StoredOnboarding {
    status: String,
    ban: Option<String>,
    customer: Option<String>,
    created: bool,
}

pub async fn verify_deals(run: &Run, deals: &[ChaosDeal]) -> anyhow::Result<DealVerdict> {
    let mut verdict = DealVerdict::default();
    let client = run.database.client().await?;
    let rows = client
        .query(
            "SELECT hubspot_deal_id, status, ban, customer_id::text, created_customer FROM onboardings \
             WHERE hubspot_deal_id IS NOT NULL",
            &[],
        )
        .await?;
    let mut onboardings: BTreeMap<String, Vec<StoredOnboarding>> = BTreeMap::new();
    for row in &rows {
        onboardings
            .entry(row.get(0))
            .or_default()
            .push(StoredOnboarding {
                status: row.get(1),
                ban: row.get(2),
                customer: row.get(3),
                created: row.get(4),
            });
    }
    let hubspot_deals: BTreeMap<String, Option<String>> =
        all_records(run, "deals", &["warp_ban".to_owned()])
            .await?
            .into_iter()
            .map(|(id, props)| (id, props.get("warp_ban").cloned().flatten()))
            .collect();
    let companies: BTreeMap<String, Option<String>> =
        all_records(run, "companies", &["warp_ban".to_owned()])
            .await?
            .into_iter()
            .map(|(id, props)| (id, props.get("warp_ban").cloned().flatten()))
            .collect();
    let notes: Vec<String> = all_records(run, "notes", &["warp_event_id".to_owned()])
        .await?
        .into_iter()
        .filter_map(|(_, props)| props.get("warp_event_id").cloned().flatten())
        .collect();
    // Account events are noted too; the row counts onboarding's notes only.
    verdict.notes = notes
        .iter()
        .filter(|key| key.starts_with("account-created:"))
        .count();
    let mut made: BTreeMap<String, usize> = BTreeMap::new();
    for deal in deals {
        let found = onboardings.get(&deal.id).map_or(&[][..], Vec::as_slice);
        if !deal.won {
            if !found.is_empty() {
                verdict
                    .failures
                    .push(format!("lost deal {} has an onboarding", deal.id));
            }
            continue;
        }
        verdict.won += 1;
        let [
            StoredOnboarding {
                status,
                ban,
                customer,
                created,
            },
        ] = found
        else {
            verdict.failures.push(format!(
                "won deal {} has {} onboardings (expected 1)",
                deal.id,
                found.len()
            ));
            continue;
        };
        if status != "DONE" {
            verdict
                .failures
                .push(format!("won deal {}'s onboarding is {status}", deal.id));
            continue;
        }
        let Some(ban) = ban else {
            verdict
                .failures
                .push(format!("won deal {}'s onboarding has no BAN", deal.id));
            continue;
        };
        verdict.onboarded_once += 1;
        if hubspot_deals.get(&deal.id).cloned().flatten().as_ref() != Some(ban) {
            verdict.failures.push(format!(
                "won deal {} carries warp_ban {:?}, its customer's BAN is {ban}",
                deal.id,
                hubspot_deals.get(&deal.id)
            ));
        }
        if companies.get(&deal.company).cloned().flatten().as_ref() != Some(ban) {
            verdict.failures.push(format!(
                "company {} of won deal {} carries warp_ban {:?}, expected {ban}",
                deal.company,
                deal.id,
                companies.get(&deal.company)
            ));
        }
        let linked = run
            .scalar(&format!(
                "SELECT count(*) FROM customers WHERE external_ids->>'hubspot_company_id' = '{}' AND ban = '{ban}'",
                deal.company
            ))
            .await?;
        if linked != 1 || customer.is_none() {
            verdict.failures.push(format!(
                "company {} of won deal {} has {linked} customers with BAN {ban}",
                deal.company, deal.id
            ));
        }
        if *created {
            if deal.company_was_customer {
                verdict.failures.push(format!(
                    "won deal {} made a customer for company {}, which was one already",
                    deal.id, deal.company
                ));
            }
            *made.entry(ban.clone()).or_default() += 1;
        }
    }
    verdict.customers_made = made.len();
    for (ban, times) in &made {
        if *times != 1 {
            verdict
                .failures
                .push(format!("BAN {ban} was made by {times} onboardings"));
        }
        let key = format!("account-created:{ban}");
        let count = notes.iter().filter(|note| **note == key).count();
        if count != 1 {
            verdict
                .failures
                .push(format!("customer {ban} has {count} account-created notes"));
        }
    }
    Ok(verdict)
}
