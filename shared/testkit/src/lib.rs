//! The one test harness of the workspace. Every crate's tests through the real parts start
//! here: a fresh migrated database on the test server ([`database`]), the HubSpot sandbox on a
//! loopback port and clients pointed at it ([`hubspot`]), a person acting in HubSpot's UI
//! ([`ui`]), the functions' real bootstraps under the Lambda runtime protocol ([`lambda`]), WARP's OAuth app for the sandbox ([`oauth`]), the customers and users sync tests start from ([`records`]), and a router served
//! on a loopback port ([`serve`]). A crate's own harness only wires its own parts on top.
//!
//! A dev-dependency only: integration tests link the same library of the crate under test as
//! this crate does, so its types are theirs.

pub mod api;
pub mod database;
pub mod heap;
pub mod hubspot;
pub mod lambda;
pub mod oauth;
pub mod records;
pub mod ui;

pub use database::{Sql, empty_database, fresh_database, outside_writer, server_url};
pub use hubspot::{APP_TOKEN, PORTAL, USER_TOKEN};
pub use ui::{Consent, HubSpotUi};

/// Serves `router` on a free loopback port until the test's runtime ends; answers its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    address
}
