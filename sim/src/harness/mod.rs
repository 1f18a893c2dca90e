//! Starting what the tests and benches run against: a whole engine on loopback ([`engine`]), a
//! database of its own in the run's shared managed PostgreSQL ([`shared_db`], [`test_db`]), the
//! history API's client and seeder ([`api`]), a raw Server-Sent Events reader ([`sse`]), and a
//! real `nats-server` for cluster tests ([`nats`]).

pub mod api;
pub mod engine;
pub mod nats;
pub mod shared_db;
pub mod sse;
pub mod test_db;

pub use api::Api;
pub use engine::LocalEngine;
pub use nats::NatsServer;
pub use shared_db::TestDatabase;
pub use test_db::TestDb;
