//! The start-up baseline of `make bench` (issue 23 item 8): a hello-world `lambda_runtime`
//! bootstrap that opens one Postgres connection over verified TLS (the same connector as the
//! functions: `warp_store::Database`, `sslmode=verify-full`) before its first Runtime API poll.
//! `infra/bench/parts/init.sh` times it beside the four functions; the goal is each function's
//! start-up ≤ 1.5 × this.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("DATABASE_URL")?;
    let database = warp_store::Database::connect(&url, 1)?;
    let connection = database.client().await?;
    drop(connection);
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({ "hello": "world" }))
    }))
    .await
}
