//! A whole engine on `127.0.0.1:0` for end-to-end tests and benches: its own managed PostgreSQL
//! in a temp dir, the given realtime peer as its AI and the given Twilio auth token, serving until
//! [`LocalEngine::shutdown`].

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use url::Url;

use crate::app::Engine;
use crate::config::Config;
use crate::store::Store;

/// A running engine and what reaches it.
pub struct LocalEngine {
    /// `http://127.0.0.1:PORT/`.
    pub url: Url,
    store: Store,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Engine>,
    // Dropped last: the engine's database lives in it.
    _dir: tempfile::TempDir,
}

impl LocalEngine {
    /// Starts an engine whose AI is at `realtime_url` and whose Twilio token is `twilio_token`;
    /// `extra` are further `SWITCHBOARD_*` settings.
    pub async fn start(
        realtime_url: &str,
        twilio_token: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<LocalEngine> {
        let dir = tempfile::tempdir()?;
        let mut env: HashMap<String, String> = HashMap::from([
            (
                "SWITCHBOARD_HTTP_LISTEN".to_owned(),
                "127.0.0.1:0".to_owned(),
            ),
            (
                "SWITCHBOARD_STORAGE_DATA_DIR".to_owned(),
                dir.path().display().to_string(),
            ),
        ]);
        let listener = Engine::bind(&Config::from_sources(None, &env)?).await?;
        let url = Url::parse(&format!("http://{}", listener.local_addr()?))?;
        env.insert("SWITCHBOARD_HTTP_PUBLIC_URL".into(), url.to_string());
        env.insert(
            "SWITCHBOARD_AI_REALTIME_URL".into(),
            realtime_url.to_owned(),
        );
        env.insert("SWITCHBOARD_AI_API_KEY".into(), "sk-test".into());
        env.insert(
            "SWITCHBOARD_TWILIO_AUTH_TOKEN".into(),
            twilio_token.to_owned(),
        );
        for (key, value) in extra {
            env.insert((*key).to_owned(), (*value).to_owned());
        }
        let engine = Engine::start(Config::from_sources(None, &env)?).await?;
        let store = engine.store().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            engine
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await;
            engine
        });
        Ok(LocalEngine {
            url,
            store,
            stop,
            server,
            _dir: dir,
        })
    }

    /// The engine's store (to make organizations and keys).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `path` on the engine, e.g. `/api/v1/calls/live`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.url.as_str().trim_end_matches('/'), path)
    }

    /// Stops serving (bounded: open sockets must not hold it up), then the engine.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        let engine = tokio::time::timeout(Duration::from_secs(60), self.server)
            .await
            .context("the engine did not stop serving within 60 s")??;
        engine.stop().await?;
        Ok(())
    }
}
