//! Security end to end on a real engine (managed PostgreSQL, real socket): the route × role
//! matrix walked from the table the server enforces, organization isolation for every kind of id,
//! access and refresh tokens (expired, tampered, wrong key, revoked, rotated, reused), login
//! throttling and rate limits, per-organization Twilio signatures, and secrets kept out of logs,
//! configuration output and answers.

use switchboard_sim::harness::api;

use std::time::Duration;

use api::{Api, CallSeed, organization, read, seed, t};
use serde_json::{Value, json};
use switchboard::accounts::issue_api_key;
use switchboard::auth::policy::RULES;
use switchboard::auth::tokens::{JwtKeys, access_claims};
use switchboard::auth::{Role, policy};
use switchboard::store::Store;
use switchboard_actors::persistence::DEFAULT_ORG;
use uuid::Uuid;

const JWT_SECRET: &str = "test-jwt-secret-that-is-at-least-32-bytes";

async fn start(extra: &[(&str, &str)]) -> Api {
    let mut env = vec![("SWITCHBOARD_AUTH_JWT_SECRET", JWT_SECRET)];
    env.extend_from_slice(extra);
    Api::start_with(&env).await
}

async fn request(
    api: &Api,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", api.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.unwrap()).await
}

async fn key(store: &Store, org: Uuid, role: Role) -> String {
    issue_api_key(store, org, &format!("{role} key"), role)
        .await
        .unwrap()
        .key
}

/// Fills a route template with ids that exist in the organization.
fn concrete(
    template: &str,
    call: Uuid,
    conversation: Uuid,
    customer: Uuid,
    message: Uuid,
) -> String {
    let id = if template.starts_with("/api/v1/conversations/") {
        conversation
    } else if template.starts_with("/api/v1/customers/") {
        customer
    } else {
        call
    };
    template
        .replace("{id}", &id.to_string())
        .replace("{message_id}", &message.to_string())
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_table_says() {
    let api = start(&[]).await;
    let store = api.store().clone();
    let (s, alice, message) =
        api::seed_with_message(&api.pg, DEFAULT_ORG, 1, ("Alice", "+14155550001"), "hello").await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        tokens.push((role, key(&store, DEFAULT_ORG, role).await));
    }
    for rule in RULES {
        // Writes that would end the caller's own access are checked with a throwaway key.
        let path = concrete(rule.path, s.call, s.conversation, alice, message);
        for (role, token) in &tokens {
            if rule.path == "/api/v1/events" {
                continue; // a stream: checked below by its head
            }
            let body = matches!(rule.method, "POST" | "PATCH" | "PUT").then(|| json!({}));
            let (status, answer) = request(&api, rule.method, &path, Some(token), body).await;
            if rule.allows(*role) {
                assert!(
                    status != 401 && status != 403,
                    "{role} {} {path}: {status} {answer}",
                    rule.method
                );
            } else {
                assert_eq!(status, 403, "{role} {} {path}: {answer}", rule.method);
                assert_eq!(answer["error"]["code"], "forbidden");
            }
            // Without a token: 401, whatever the role table says.
            let (status, _) = request(&api, rule.method, &path, None, None).await;
            assert_eq!(status, 401, "{} {path} without a token", rule.method);
        }
    }
    // The event stream: agents are refused, supervisors get the stream (a browser's token in the
    // query works as well as the header).
    let agent = &tokens[2].1;
    let (status, _) = request(&api, "GET", "/api/v1/events", Some(agent), None).await;
    assert_eq!(status, 403);
    let supervisor = &tokens[1].1;
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/events?access_token={supervisor}",
            api.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    // Public routes need no token.
    assert!(policy::is_public("POST", "/api/v1/auth/login"));
    let (status, _) = request(
        &api,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": "nobody@example.com", "password": "x"})),
    )
    .await;
    assert_eq!(status, 401);
    api.stop().await;
}

#[tokio::test]
async fn another_organizations_ids_answer_404_on_every_route() {
    let api = start(&[]).await;
    let store = api.store().clone();
    // Organization B's call (with a message, a recording row and a customer), user and key.
    let org_b = organization(&api.pg, "org-b").await;
    let (b, bob, b_message) =
        api::seed_with_message(&api.pg, org_b, 2, ("Bob", "+14155550002"), "private").await;
    let sid = CallSeed::new(2, t(0)).sid;
    api.pg
        .execute(
            "INSERT INTO recordings (id, org_id, call_id, path, format, sample_rate, channels)
             VALUES ($1, $2, $3, '/nonexistent.wav', 'wav', 16000, 2)",
            &[&Uuid::now_v7(), &org_b, &b.call],
        )
        .await
        .unwrap();
    let b_user = store
        .create_user(org_b, "bob@b.example", "Bob", Role::Agent, "$argon2id$x")
        .await
        .unwrap();
    let b_key = issue_api_key(&store, org_b, "b", Role::Admin)
        .await
        .unwrap();
    // Organization A's own call, to address B's message under it.
    let a = seed(&api.pg, &CallSeed::new(3, t(10))).await;

    let a_admin = key(&store, DEFAULT_ORG, Role::Admin).await;
    let note = json!({"message_type": "transcript", "sender": {"type": "customer"}, "content": "x",
                      "timestamp": "2026-11-01T00:00:05Z"});
    let cases: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/api/v1/calls/{}", b.call), None),
        ("GET", format!("/api/v1/calls/{sid}"), None),
        ("GET", format!("/api/v1/calls/{}/messages", b.call), None),
        (
            "POST",
            format!("/api/v1/calls/{}/messages", b.call),
            Some(note.clone()),
        ),
        (
            "POST",
            format!("/api/v1/calls/{}/messages/bulk", b.call),
            Some(json!({"messages": [note.clone()]})),
        ),
        (
            "GET",
            format!("/api/v1/calls/{}/messages/analytics", b.call),
            None,
        ),
        ("GET", format!("/api/v1/calls/{}/transcript", b.call), None),
        ("GET", format!("/api/v1/calls/{}/summary", b.call), None),
        ("GET", format!("/api/v1/calls/{}/recording", b.call), None),
        (
            "POST",
            format!("/api/v1/calls/{}/notes", b.call),
            Some(json!({"content": "x"})),
        ),
        (
            "PATCH",
            format!("/api/v1/calls/{}/messages/{b_message}", a.call),
            Some(json!({"content": "x"})),
        ),
        (
            "DELETE",
            format!("/api/v1/calls/{}/messages/{b_message}", a.call),
            None,
        ),
        (
            "PATCH",
            format!("/api/v1/calls/{}/messages/{b_message}", b.call),
            Some(json!({"content": "x"})),
        ),
        (
            "GET",
            format!("/api/v1/conversations/{}", b.conversation),
            None,
        ),
        ("GET", format!("/api/v1/customers/{bob}/timeline"), None),
        ("GET", format!("/api/v1/calls/{}/supervise", b.call), None),
        (
            "POST",
            format!("/api/v1/calls/{}/whisper", b.call),
            Some(json!({"text": "x"})),
        ),
        ("POST", format!("/api/v1/calls/{}/takeover", b.call), None),
        ("POST", format!("/api/v1/calls/{}/hangup", b.call), None),
        (
            "PATCH",
            format!("/api/v1/users/{}", b_user.id),
            Some(json!({"role": "admin"})),
        ),
        (
            "DELETE",
            format!("/api/v1/api-keys/{}", b_key.api_key.id),
            None,
        ),
    ];
    for (method, path, body) in cases {
        let (status, answer) = request(&api, method, &path, Some(&a_admin), body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert!(!answer.to_string().contains("private"), "{answer}");
    }
    // Lists show only A's rows.
    let (_, list) = request(&api, "GET", "/api/v1/calls", Some(&a_admin), None).await;
    assert_eq!(list["total"], 1);
    let (_, users) = request(&api, "GET", "/api/v1/users", Some(&a_admin), None).await;
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["org_id"] == DEFAULT_ORG.to_string())
    );
    // B's key still works for B (it was not revoked by A's attempt), and B's user is unchanged.
    let (status, me) = request(&api, "GET", "/api/v1/auth/me", Some(&b_key.key), None).await;
    assert_eq!((status, me["org_id"].clone()), (200, json!(org_b)));
    let (_, b_users) = request(&api, "GET", "/api/v1/users", Some(&b_key.key), None).await;
    assert_eq!(b_users[0]["role"], "agent");
    api.stop().await;
}

#[tokio::test]
async fn tokens_expire_rotate_and_are_revoked() {
    let api = start(&[]).await;
    let store = api.store().clone();
    let admin = key(&store, DEFAULT_ORG, Role::Admin).await;
    let password = "a long enough password";
    let (status, created) = request(
        &api,
        "POST",
        "/api/v1/users",
        Some(&admin),
        Some(json!({"email": "Sue@Example.com", "role": "supervisor", "password": password})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["password"],
        Value::Null,
        "a given password is not echoed"
    );
    let user: Uuid = created["user"]["id"].as_str().unwrap().parse().unwrap();

    let login = |email: &'static str, password: &'static str| {
        let api = &api;
        async move {
            request(
                api,
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await
        }
    };
    let (status, pair) = login("sue@example.com", password).await;
    assert_eq!(status, 200, "{pair}");
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let (status, me) = request(&api, "GET", "/api/v1/auth/me", Some(&access), None).await;
    assert_eq!(status, 200);
    assert_eq!(me["role"], "supervisor");
    assert_eq!(me["user"]["email"], "Sue@Example.com");
    let (status, _) = login("sue@example.com", "wrong password!!").await;
    assert_eq!(status, 401);

    // Expired, tampered, signed with another key: 401.
    let keys = JwtKeys::new(JWT_SECRET.as_bytes());
    let session: Uuid = api
        .pg
        .query_one("SELECT id FROM sessions WHERE user_id = $1", &[&user])
        .await
        .unwrap()
        .get(0);
    let mut expired = access_claims(user, DEFAULT_ORG, Role::Supervisor, session, 60);
    expired.exp = chrono::Utc::now().timestamp() - 60;
    let other = JwtKeys::new(b"another secret, also 32 bytes long!!");
    let good = access_claims(user, DEFAULT_ORG, Role::Supervisor, session, 60);
    let mut tampered = access.clone();
    tampered.insert(
        tampered.len() - 3,
        if access.ends_with('A') { 'B' } else { 'A' },
    );
    for (what, token) in [
        ("expired", keys.issue(&expired).unwrap()),
        ("wrong key", other.issue(&good).unwrap()),
        ("tampered", tampered),
        ("garbage", "not-a-token".to_owned()),
        (
            "unknown API key",
            "sbk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        ),
    ] {
        let (status, answer) = request(&api, "GET", "/api/v1/calls", Some(&token), None).await;
        assert_eq!(status, 401, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "unauthorized", "{what}");
    }
    // A token minted with the right key for a live session works (the check above is the key).
    let (status, _) = request(
        &api,
        "GET",
        "/api/v1/calls",
        Some(&keys.issue(&good).unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 200);

    // Refresh rotates: the new pair works, the used refresh token does not...
    let (status, second) = request(
        &api,
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    let access2 = second["access_token"].as_str().unwrap().to_owned();
    let refresh2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh);
    let (status, _) = request(&api, "GET", "/api/v1/calls", Some(&access2), None).await;
    assert_eq!(status, 200);
    // ...and presenting it again revokes the whole family: the newest refresh token and every
    // access token of the session stop working.
    let (status, answer) = request(
        &api,
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(status, 401, "{answer}");
    for token in [&access, &access2] {
        let (status, _) = request(&api, "GET", "/api/v1/calls", Some(token), None).await;
        assert_eq!(status, 401);
    }
    let (status, _) = request(
        &api,
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh2})),
    )
    .await;
    assert_eq!(status, 401);

    // Logout ends a session at once.
    let (_, pair) = login("sue@example.com", password).await;
    let access3 = pair["access_token"].as_str().unwrap().to_owned();
    let (status, _) = request(&api, "POST", "/api/v1/auth/logout", Some(&access3), None).await;
    assert_eq!(status, 204);
    let (status, _) = request(&api, "GET", "/api/v1/calls", Some(&access3), None).await;
    assert_eq!(status, 401);
    let (status, _) = request(
        &api,
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": pair["refresh_token"]})),
    )
    .await;
    assert_eq!(status, 401);

    // A role change applies to live tokens; disabling ends the sessions.
    let (_, pair) = login("sue@example.com", password).await;
    let access4 = pair["access_token"].as_str().unwrap().to_owned();
    let (status, _) = request(
        &api,
        "PATCH",
        &format!("/api/v1/users/{user}"),
        Some(&admin),
        Some(json!({"role": "agent"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = request(&api, "GET", "/api/v1/analytics", Some(&access4), None).await;
    assert_eq!(status, 403, "agents do not see organization analytics");
    request(
        &api,
        "PATCH",
        &format!("/api/v1/users/{user}"),
        Some(&admin),
        Some(json!({"disabled": true})),
    )
    .await;
    let (status, _) = request(&api, "GET", "/api/v1/calls", Some(&access4), None).await;
    assert_eq!(status, 401);
    let (status, _) = login("sue@example.com", password).await;
    assert_eq!(status, 401);

    // A revoked API key stops at once.
    let (_, created) = request(
        &api,
        "POST",
        "/api/v1/api-keys",
        Some(&admin),
        Some(json!({"name": "ci", "role": "agent"})),
    )
    .await;
    let ci_key = created["key"].as_str().unwrap().to_owned();
    let ci_id = created["api_key"]["id"].as_str().unwrap().to_owned();
    assert!(ci_key.starts_with(created["api_key"]["prefix"].as_str().unwrap()));
    let (status, _) = request(&api, "GET", "/api/v1/calls", Some(&ci_key), None).await;
    assert_eq!(status, 200);
    let (status, _) = request(
        &api,
        "DELETE",
        &format!("/api/v1/api-keys/{ci_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = request(&api, "GET", "/api/v1/calls", Some(&ci_key), None).await;
    assert_eq!(status, 401);

    // Every one of those actions is a security event.
    let (_, events) = request(
        &api,
        "GET",
        "/api/v1/security-events?limit=1000",
        Some(&admin),
        None,
    )
    .await;
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["details"]["action"].as_str().unwrap())
        .collect();
    for action in [
        "user_created",
        "login_succeeded",
        "login_failed",
        "refresh_token_reused",
        "logout",
        "role_changed",
        "user_disabled",
        "api_key_created",
        "api_key_revoked",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    api.stop().await;
}

#[tokio::test]
async fn failed_logins_lock_out_and_rate_limits_answer_429_then_recover() {
    let api = start(&[
        ("SWITCHBOARD_AUTH_LOGIN_MAX_FAILURES", "3"),
        ("SWITCHBOARD_AUTH_LOGIN_LOCKOUT_S", "1"),
        // One token a second: the burst of 5 is spent by the 8 requests below even when each
        // takes a few hundred milliseconds on a loaded machine (at 5 a second it refilled as fast
        // as they came and no 429 showed up).
        ("SWITCHBOARD_AUTH_RATE_LIMIT_PER_S", "1"),
        ("SWITCHBOARD_AUTH_RATE_LIMIT_BURST", "5"),
    ])
    .await;
    let store = api.store().clone();
    let phc = switchboard::auth::password::hash("the right password").unwrap();
    store
        .create_user(DEFAULT_ORG, "max@example.com", "Max", Role::Agent, &phc)
        .await
        .unwrap();
    let login = |password: &'static str| {
        let api = &api;
        async move {
            let response = reqwest::Client::new()
                .post(format!("{}/api/v1/auth/login", api.base))
                .json(&json!({"email": "max@example.com", "password": password}))
                .send()
                .await
                .unwrap();
            let retry = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), retry)
        }
    };
    for _ in 0..3 {
        assert_eq!(login("a wrong password").await.0, 401);
    }
    // Locked: even the right password waits.
    let (status, retry) = login("the right password").await;
    assert_eq!((status, retry.as_deref()), (429, Some("1")));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(login("the right password").await.0, 200);

    // The key's bucket: 5 at once, then 429 with Retry-After, then room again.
    let token = key(&store, DEFAULT_ORG, Role::Agent).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..8 {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1/calls", api.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = response.headers().get("retry-after").cloned();
        }
    }
    assert_eq!(&statuses[..5], &[200; 5]);
    assert!(statuses[5..].contains(&429), "{statuses:?}");
    assert_eq!(retry_after.unwrap().to_str().unwrap(), "1");
    // Another key is not limited by this one.
    let other = key(&store, DEFAULT_ORG, Role::Agent).await;
    let (status, _) = request(&api, "GET", "/api/v1/calls", Some(&other), None).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = request(&api, "GET", "/api/v1/calls", Some(&token), None).await;
    assert_eq!(status, 200, "the bucket refills");

    // A request counts once, even when its handler refuses it on a path that another route
    // shares a prefix with (`…/messages/analytics` and `…/messages/bulk` vs `…/messages/{id}`).
    let fresh = key(&store, DEFAULT_ORG, Role::Admin).await;
    let unknown = Uuid::new_v4();
    let mut statuses = Vec::new();
    for i in 0..5 {
        let (status, _) = if i % 2 == 0 {
            let path = format!("/api/v1/calls/{unknown}/messages/analytics");
            request(&api, "GET", &path, Some(&fresh), None).await
        } else {
            let path = format!("/api/v1/calls/{unknown}/messages/bulk");
            request(&api, "POST", &path, Some(&fresh), Some(json!({}))).await
        };
        statuses.push(status);
    }
    assert!(!statuses.contains(&429), "{statuses:?}");
    assert_eq!(statuses[0], 404);
    // … and when the gate itself refuses it (an agent on the live calls; `…/calls/{id}` shares
    // the path).
    let agent = key(&store, DEFAULT_ORG, Role::Agent).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, _) = request(&api, "GET", "/api/v1/calls/live", Some(&agent), None).await;
        statuses.push(status);
    }
    assert_eq!(statuses, [403; 5]);
    api.stop().await;
}

#[tokio::test]
async fn webhooks_are_checked_with_the_token_of_the_account_they_name() {
    let api = start(&[("SWITCHBOARD_TWILIO_AUTH_TOKEN", "global-token")]).await;
    let store = api.store().clone();
    let org_b = organization(&api.pg, "org-b").await;
    let (sid_a, token_a) = ("AC".to_owned() + &"a".repeat(32), "token-of-a");
    let (sid_b, token_b) = ("AC".to_owned() + &"b".repeat(32), "token-of-b");
    let admin_a = key(&store, DEFAULT_ORG, Role::Admin).await;
    let admin_b = key(&store, org_b, Role::Admin).await;
    for (admin, sid, token) in [(&admin_a, &sid_a, token_a), (&admin_b, &sid_b, token_b)] {
        let (status, view) = request(
            &api,
            "PUT",
            "/api/v1/organization/credentials",
            Some(admin),
            Some(json!({"twilio_account_sid": sid, "twilio_auth_token": token, "openai_api_key": "sk-org-key"})),
        )
        .await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(
            view,
            json!({"twilio_account_sid": sid, "twilio_auth_token_set": true, "openai_api_key_set": true})
        );
    }
    // Another organization cannot claim B's account.
    let (status, _) = request(
        &api,
        "PUT",
        "/api/v1/organization/credentials",
        Some(&admin_a),
        Some(json!({"twilio_account_sid": sid_b})),
    )
    .await;
    assert_eq!(status, 409);
    // Sealed at rest.
    let stored: Vec<u8> = api
        .pg
        .query_one(
            "SELECT twilio_auth_token FROM org_credentials WHERE org_id = $1",
            &[&org_b],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        !stored
            .windows(token_b.len())
            .any(|w| w == token_b.as_bytes())
    );

    let url = &format!("{}/twilio/voice", api.base); // the engine's public URL signs
    let webhook = |sid: String, account: String, token: &'static str| {
        let api = &api;
        async move {
            let params = [
                ("CallSid", sid.as_str()),
                ("AccountSid", account.as_str()),
                ("From", "+14155550100"),
                ("To", "+18005550100"),
                ("CallStatus", "ringing"),
            ];
            let signature = switchboard::twilio::signature::compute(token, url, &params);
            let response = reqwest::Client::new()
                .post(format!("{}/twilio/voice", api.base))
                .header("x-twilio-signature", signature)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(params).unwrap())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    // Signed with A's token but naming B's account: refused, nothing written.
    let (status, _) = webhook("CA".to_owned() + &"1".repeat(32), sid_b.clone(), token_a).await;
    assert_eq!(status, 403);
    let (status, _) = webhook(
        "CA".to_owned() + &"2".repeat(32),
        sid_b.clone(),
        "global-token",
    )
    .await;
    assert_eq!(
        status, 403,
        "an organization's own token replaces the global one"
    );
    let (status, twiml) = webhook("CA".to_owned() + &"3".repeat(32), sid_b.clone(), token_b).await;
    assert_eq!(status, 200);
    // The organization rides in the stream URL's path (Twilio drops a query string).
    assert!(
        twiml.contains(&format!("/twilio/media/{org_b}\"")),
        "{twiml}"
    );
    assert!(!twiml.contains("?org"), "{twiml}");
    // The call is B's: B sees it, A does not.
    let (_, b_calls) = request(&api, "GET", "/api/v1/calls", Some(&admin_b), None).await;
    assert_eq!(b_calls["total"], 1);
    let (_, a_calls) = request(&api, "GET", "/api/v1/calls", Some(&admin_a), None).await;
    assert_eq!(a_calls["total"], 0);
    let refused: i64 = api
        .pg
        .query_one(
            "SELECT count(*) FROM calls WHERE call_sid LIKE 'CA1%' OR call_sid LIKE 'CA2%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(refused, 0);
    // An account no organization claims belongs to the default one, under the global token.
    let (status, _) = webhook(
        "CA".to_owned() + &"4".repeat(32),
        "AC".to_owned() + &"c".repeat(32),
        "global-token",
    )
    .await;
    assert_eq!(status, 200);
    api.stop().await;
}

/// Values a fuzzer sends: NUL bytes, out-of-range numbers and times, oversized text, a path for a
/// CallSid. Each is a 400 naming what is wrong — never a 500, never a row.
#[tokio::test]
async fn hostile_values_are_refused_with_400_at_the_edge() {
    let api = start(&[("SWITCHBOARD_TWILIO_AUTH_TOKEN", "global-token")]).await;
    let admin = key(api.store(), DEFAULT_ORG, Role::Admin).await;
    let form = |path: &'static str, params: Vec<(&'static str, String)>, signed: bool| {
        let api = &api;
        async move {
            let url = format!("{}{path}", api.base);
            let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut request = reqwest::Client::new()
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(&pairs).unwrap());
            if signed {
                let signature =
                    switchboard::twilio::signature::compute("global-token", &url, &pairs);
                request = request.header("x-twilio-signature", signature);
            }
            read(request.send().await.unwrap()).await
        }
    };
    let call_sid = || "CA".to_owned() + &"e".repeat(32);
    let account = || "AC".to_owned() + &"e".repeat(32);
    // Unsigned, with a NUL in the AccountSid (looked up to find the token): 400, not 500.
    let (status, body) = form(
        "/twilio/voice",
        vec![("CallSid", call_sid()), ("AccountSid", "AC\0".into())],
        false,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // Signed, with a 65-character or path-like CallSid.
    for sid in ["CA".to_owned() + &"1".repeat(63), "../../x".to_owned()] {
        let (status, body) = form(
            "/twilio/voice",
            vec![("CallSid", sid), ("AccountSid", account())],
            true,
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("CallSid")
        );
    }
    // Signed, with a NUL in another parameter.
    let (status, body) = form(
        "/twilio/voice",
        vec![
            ("CallSid", call_sid()),
            ("AccountSid", account()),
            ("From", "+1\0".into()),
        ],
        true,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // Signed status callback with a negative duration.
    let (status, body) = form(
        "/twilio/status",
        vec![
            ("CallSid", call_sid()),
            ("AccountSid", account()),
            ("CallStatus", "completed".into()),
            ("CallDuration", "-1".into()),
        ],
        true,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CallDuration")
    );
    let calls: i64 = api
        .pg
        .query_one("SELECT count(*) FROM calls", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(calls, 0, "no row from any of them");

    // List filters with NUL, and a cursor forged at year −144,000.
    for filter in ["from", "to", "agent", "q"] {
        let path = format!("/api/v1/calls?{filter}=a%00b");
        let (status, body) = request(&api, "GET", &path, Some(&admin), None).await;
        assert_eq!(status, 400, "{filter}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(filter));
    }
    let forged = {
        use base64::Engine as _;
        let mut bytes = (-4_606_000_000_000_000_000i64).to_be_bytes().to_vec();
        bytes.extend_from_slice(Uuid::nil().as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let (status, body) = request(
        &api,
        "GET",
        &format!("/api/v1/calls?cursor={forged}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // Accounts: NUL or overlong email, display name and key name.
    let long = "x".repeat(300);
    let (status, body) = request(
        &api,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": "a\u{0}@example.com", "password": "whatever-password"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = request(
        &api,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": format!("{long}@example.com"), "password": "whatever-password"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    for name in ["Ada\u{0}".to_owned(), long.clone()] {
        let (status, body) = request(
            &api,
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"email": "ada@example.com", "display_name": name, "role": "agent"})),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = request(
            &api,
            "POST",
            "/api/v1/api-keys",
            Some(&admin),
            Some(json!({"name": name, "role": "agent"})),
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }
    let (status, body) = request(
        &api,
        "POST",
        "/api/v1/users",
        Some(&admin),
        Some(
            json!({"email": format!("{long}@example.com"), "display_name": "Ada", "role": "agent"}),
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let users: i64 = api
        .pg
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 0, "no user from any of them");
    api.stop().await;
}

/// The real binary, with secrets in its environment and in the requests it serves: none of them
/// appears in its log (at debug level), in `switchboard config`, or in any answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_logs_config_output_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let secrets = [
        (
            "SWITCHBOARD_TWILIO_AUTH_TOKEN",
            "global-twilio-token-s3cr3t",
        ),
        ("OPENAI_API_KEY", "sk-global-openai-s3cr3t"),
        (
            "SWITCHBOARD_AUTH_JWT_SECRET",
            "jwt-secret-s3cr3t-jwt-secret-s3cr3t-0123",
        ),
        (
            "SWITCHBOARD_AUTH_ENCRYPTION_KEY",
            "c2VhbGluZy1rZXktczNjcjN0LXNlYWxpbmcta2V5ISE=",
        ),
        ("SWITCHBOARD_AUTH_METRICS_TOKEN", "metrics-token-s3cr3t"),
    ];
    let binary = env!("CARGO_BIN_EXE_switchboard");
    let command = |args: &[&str]| {
        let mut c = std::process::Command::new(binary);
        c.args(args)
            .env("SWITCHBOARD_STORAGE_DATA_DIR", dir.path())
            .env("SWITCHBOARD_HTTP_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "SWITCHBOARD_HTTP_PUBLIC_URL",
                format!("http://127.0.0.1:{port}"),
            )
            .env("SWITCHBOARD_LOG_LEVEL", "debug")
            .env("SWITCHBOARD_LOG_FORMAT", "json");
        for (k, v) in secrets {
            c.env(k, v);
        }
        c
    };
    let mut logs = String::new();
    let config = command(&["config"]).output().unwrap();
    logs.push_str(&String::from_utf8_lossy(&config.stdout));
    logs.push_str(&String::from_utf8_lossy(&config.stderr));
    let bootstrap = command(&[
        "apikey", "create", "--org", "default", "--role", "admin", "--name", "scan",
    ])
    .stdin(std::process::Stdio::null())
    .output()
    .unwrap();
    assert!(
        bootstrap.status.success(),
        "{}",
        String::from_utf8_lossy(&bootstrap.stderr)
    );
    let printed = String::from_utf8_lossy(&bootstrap.stdout).to_string();
    let admin_key = printed
        .lines()
        .find_map(|l| l.strip_prefix("key "))
        .unwrap()
        .to_owned();
    logs.push_str(&String::from_utf8_lossy(&bootstrap.stderr));

    let out_path = dir.path().join("serve.log");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut serve = command(&["serve"])
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while http
        .get(format!("{base}/ready"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not get ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut answers = String::new();
    let call = |method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>| {
        let mut r = http.request(method, format!("{base}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r
    };
    let user_password = "user-password-s3cr3t";
    let org_twilio = "org-twilio-token-s3cr3t";
    let org_openai = "sk-org-openai-s3cr3t";
    let mut responses = Vec::new();
    for request in [
        call(
            reqwest::Method::POST,
            "/api/v1/users",
            Some(&admin_key),
            Some(json!({"email": "scan@example.com", "role": "admin", "password": user_password})),
        ),
        call(
            reqwest::Method::PUT,
            "/api/v1/organization/credentials",
            Some(&admin_key),
            Some(
                json!({"twilio_account_sid": format!("AC{}", "d".repeat(32)), "twilio_auth_token": org_twilio, "openai_api_key": org_openai}),
            ),
        ),
        call(
            reqwest::Method::GET,
            "/api/v1/organization/credentials",
            Some(&admin_key),
            None,
        ),
        call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "scan@example.com", "password": "wrong-password-s3cr3t"})),
        ),
        call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "scan@example.com", "password": user_password})),
        ),
        call(
            reqwest::Method::GET,
            "/api/v1/users",
            Some(&admin_key),
            None,
        ),
        call(
            reqwest::Method::GET,
            "/api/v1/api-keys",
            Some(&admin_key),
            None,
        ),
        call(
            reqwest::Method::GET,
            "/api/v1/auth/me",
            Some(&admin_key),
            None,
        ),
        call(
            reqwest::Method::GET,
            "/api/v1/security-events",
            Some(&admin_key),
            None,
        ),
        call(
            reqwest::Method::GET,
            "/metrics",
            Some("metrics-token-s3cr3t"),
            None,
        ),
        call(
            reqwest::Method::GET,
            "/api/v1/openapi.json",
            Some(&admin_key),
            None,
        ),
    ] {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        responses.push((status, text.clone()));
        answers.push_str(&text);
    }
    assert!(responses.iter().all(|(s, _)| *s < 500), "{responses:?}");
    assert_eq!(responses[4].0, 200, "the login works: {}", responses[4].1);
    let (status, _) = {
        let r = http.get(format!("{base}/metrics")).send().await.unwrap();
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 401, "/metrics needs its token when one is set");
    // Stop it and read everything it wrote.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(serve.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let _ = tokio::task::spawn_blocking(move || serve.wait()).await;
    logs.push_str(&std::fs::read_to_string(&out_path).unwrap());
    assert!(
        logs.contains("security event"),
        "the log has the security events"
    );
    let mut never: Vec<&str> = secrets.iter().map(|(_, v)| *v).collect();
    never.extend([
        user_password,
        "wrong-password-s3cr3t",
        org_twilio,
        org_openai,
    ]);
    for secret in &never {
        assert!(
            !logs.contains(secret),
            "`{secret}` is in the log or config output"
        );
        assert!(!answers.contains(secret), "`{secret}` is in an answer");
    }
    // Keys and refresh tokens the engine issued are shown once, never logged.
    let refresh = serde_json::from_str::<Value>(&responses[4].1).unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for issued in [&admin_key, &refresh] {
        assert!(
            !logs.contains(issued.as_str()),
            "an issued token is in the log"
        );
    }
}

#[tokio::test]
async fn browsers_on_listed_origins_only_may_call_the_api() {
    let api = start(&[("SWITCHBOARD_HTTP_CORS_ORIGINS", "https://dash.example.com")]).await;
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/calls", api.base),
        )
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
    };
    let allowed = preflight("https://dash.example.com").await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://dash.example.com"
    );
    let refused = preflight("https://evil.example.com").await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
    // The answer to an allowed origin carries the header, errors included (401 here).
    let response = http
        .get(format!("{}/api/v1/calls", api.base))
        .header("origin", "https://dash.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://dash.example.com"
    );
    api.stop().await;
}
