//! What a Postgres error may say once it is a `StoreError` (logged, stored as an event's or a
//! run's error, sometimes answered): the SQLSTATE and the names of the constraint, table and
//! column, never a value the server's message or detail quoted.

use warp_store::StoreError;

#[tokio::test]
async fn database_errors_name_their_sqlstate_and_objects_but_never_a_value() {
    let db = warp_testkit::fresh_database().await;
    let client = db.client().await.unwrap();
    let error_of = |result: Result<u64, tokio_postgres::Error>| -> String {
        StoreError::from(result.unwrap_err()).to_string()
    };

    // A raised exception may format anything, a value included.
    let raised = error_of(
        client
            .execute(
                "DO $$ BEGIN RAISE EXCEPTION 'refused %', 'Secret Customer Name'; END $$",
                &[],
            )
            .await,
    );
    assert!(raised.contains("SQLSTATE P0001"), "{raised}");
    assert!(!raised.contains("Secret"), "{raised}");

    // A check constraint: its detail quotes the whole failing row.
    let checked = error_of(
        client
            .execute(
                "INSERT INTO customers (id, ban, company_name, customer_type, credit_limit) \
                 VALUES (gen_random_uuid(), 'ZT-000000001', 'Secret Customer Name', 'PREPAID', -5)",
                &[],
            )
            .await,
    );
    assert!(
        checked.contains("SQLSTATE 23514")
            && checked.contains("customers_credit_limit_check")
            && checked.contains("table customers"),
        "{checked}"
    );
    assert!(!checked.contains("Secret"), "{checked}");

    // A value Postgres cannot take (class 22) says only its SQLSTATE.
    let nul = StoreError::from(
        client
            .query_one("SELECT $1::text", &[&"Secret\u{0}Name"])
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(nul, StoreError::InvalidValue(ref code) if code == "22021"),
        "{nul}"
    );

    // Errors whose messages name only objects keep them: they say what is wrong.
    let missing = error_of(client.execute("SELECT * FROM no_such_table", &[]).await);
    assert!(
        missing.contains("SQLSTATE 42P01") && missing.contains("no_such_table"),
        "{missing}"
    );
}

#[tokio::test]
async fn failures_are_classified_by_sqlstate_and_keep_their_source() {
    use warp_store::PostgresFailure;
    let db = warp_testkit::fresh_database().await;
    let client = db.client().await.unwrap();
    let raise = |code: &'static str| {
        // What the server says for these classes names objects, not values (see the test
        // above), so the raised text is plain.
        format!("DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{code}'; END $$")
    };
    let cases = [
        ("40P01", PostgresFailure::LockConflict),
        ("40001", PostgresFailure::LockConflict),
        ("57P01", PostgresFailure::NotNow),
        ("53300", PostgresFailure::NotNow),
        ("P0001", PostgresFailure::Fault),
    ];
    for (code, expected) in cases {
        let error = StoreError::from(client.execute(&raise(code), &[]).await.unwrap_err());
        let StoreError::Postgres { failure, .. } = &error else {
            panic!("{code}: {error:?}");
        };
        assert_eq!(*failure, expected, "{code}");
        assert_eq!(
            error.is_lock_conflict(),
            expected == PostgresFailure::LockConflict,
            "{code}"
        );
        assert_eq!(
            error.is_temporary(),
            expected != PostgresFailure::Fault,
            "{code}"
        );
        let source = std::error::Error::source(&error).expect("the Postgres error is kept");
        assert!(source.is::<tokio_postgres::Error>(), "{code}");
        let text = error.to_string();
        assert!(text.contains(&format!("SQLSTATE {code}")), "{text}");
    }
}
