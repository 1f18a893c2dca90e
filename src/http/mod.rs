//! The HTTP layer (warp): routes in [`filters`], logic in [`handlers`], JSON shapes in [`models`],
//! and every error turned into the one JSON error body in [`error`].

pub mod error;
pub mod filters;
pub mod handlers;
pub mod models;

use std::future::Future;
use std::time::Instant;

use tokio::net::TcpListener;

use crate::store::Store;

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    pub started: Instant,
}

impl AppState {
    pub fn new(store: Store) -> Self {
        AppState {
            store,
            started: Instant::now(),
        }
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then stops accepting and waits for the
/// requests in flight to finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    warp::serve(filters::routes(state))
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
}
