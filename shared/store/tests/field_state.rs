//! `field_state::record_many`: one statement books many records' values with the same rules
//! as one record at a time.

use chrono::{Duration, Utc};
use uuid::Uuid;
use warp_domain::sync::{FieldValues, ObjectType, WarpField};
use warp_store::field_state::{self, Side};

const PORTAL: i64 = 42;

#[tokio::test]
async fn many_records_are_booked_at_once_keeping_unchanged_values_times() {
    let db = warp_testkit::fresh_database().await;
    let client = db.client().await.unwrap();
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    let earlier = Utc::now() - Duration::hours(1);
    let later = Utc::now();

    let named = |name: &str| {
        FieldValues::new()
            .with(WarpField::CompanyName, Some(name))
            .with(WarpField::Domain, None)
    };
    let (acme, globex) = (named("Acme"), named("Globex"));
    field_state::record_many(
        &**client,
        PORTAL,
        ObjectType::Companies,
        Side::HubSpot,
        &[(first, &acme, earlier), (second, &globex, earlier)],
    )
    .await
    .unwrap();

    // The second booking: `first` unchanged, `second` renamed, and `second` listed twice (the
    // last of its values wins; one statement cannot touch a row twice).
    let (renamed, final_name) = (named("Globex Renamed"), named("Globex Final"));
    field_state::record_many(
        &**client,
        PORTAL,
        ObjectType::Companies,
        Side::HubSpot,
        &[
            (first, &acme, later),
            (second, &renamed, later),
            (second, &final_name, later),
        ],
    )
    .await
    .unwrap();

    let states = field_state::load(&**client, PORTAL, ObjectType::Companies, &[first, second])
        .await
        .unwrap();
    let name_of = |record: &Uuid| &states[record][&WarpField::CompanyName];
    assert_eq!(name_of(&first).hubspot_value.as_deref(), Some("Acme"));
    let kept = name_of(&first).hubspot_changed_at.unwrap();
    assert!(
        (kept - earlier).num_milliseconds().abs() < 1,
        "an unchanged value keeps its change time: {kept} vs {earlier}"
    );
    assert_eq!(
        name_of(&second).hubspot_value.as_deref(),
        Some("Globex Final")
    );
    let moved = name_of(&second).hubspot_changed_at.unwrap();
    assert!((moved - later).num_milliseconds().abs() < 1, "{moved}");
    // HubSpot's side known empty: no value, but a time.
    let domain = &states[&first][&WarpField::Domain];
    assert_eq!(domain.hubspot_value, None);
    assert!(domain.hubspot_changed_at.is_some());

    // Another portal's state is apart.
    let elsewhere = field_state::load(&**client, PORTAL + 1, ObjectType::Companies, &[first])
        .await
        .unwrap();
    assert!(elsewhere.is_empty());
}
