use std::sync::Arc;

use ratelimit::auth::{AuthError, SessionAuth};
use serde_json::{Value, json};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{MemoryStore, Session};

use crate::{Outcome, head, ok, outcome, run};

/// A head whose session holds `data`.
fn with_session(data: &Value) -> http::request::Parts {
    let session = Session::new(None, Arc::new(MemoryStore::default()), None);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for (key, value) in data.as_object().unwrap() {
        runtime
            .block_on(session.insert_value(key, value.clone()))
            .unwrap();
    }
    let mut head = head(None, &[]);
    head.extensions.insert(session);
    head
}

#[test]
fn user_and_group_of_the_session() {
    let auth = SessionAuth::new();
    let cases: &[(Value, Outcome)] = &[
        // The original's cases.
        (json!({"user": "user-id"}), ok("user-id", "default")),
        (
            json!({"user": "other-user-id", "group": "group-name"}),
            ok("other-user-id", "group-name"),
        ),
        (json!({}), Outcome::Missing),
        // And the rest.
        (json!({"user": 42}), ok("42", "default")),
        (json!({"user": "u", "group": null}), ok("u", "default")),
        (json!({"user": "u", "group": ""}), ok("u", "default")),
        (json!({"user": null, "group": "admin"}), Outcome::Missing),
        (json!({"user": ""}), Outcome::Missing),
        (json!({"group": "admin"}), Outcome::Missing),
        (json!({"user": 4.2}), Outcome::Invalid),
        (json!({"user": {"id": 1}}), Outcome::Invalid),
        (json!({"user": "u", "group": 1}), Outcome::Invalid),
    ];
    for (data, want) in cases {
        assert_eq!(&outcome(&auth, &with_session(data)), want, "{data}");
    }
    let renamed = SessionAuth::new().user_key("user_id").group_key("plan");
    let head = with_session(&json!({"user_id": "alice", "plan": "gold", "user": "x"}));
    assert_eq!(outcome(&renamed, &head), ok("alice", "gold"));
}

#[test]
fn without_the_session_layer_is_misconfigured() {
    let error = run(&SessionAuth::new(), &head(None, &[])).unwrap_err();
    let AuthError::Misconfigured(message) = error else {
        panic!("{error:?}")
    };
    assert!(message.contains("SessionManagerLayer"), "{message}");
}

/// A store that is down.
#[derive(Debug)]
struct DownStore;

#[async_trait::async_trait]
impl SessionStore for DownStore {
    async fn save(&self, _: &Record) -> session_store::Result<()> {
        Err(session_store::Error::Backend("connection refused".into()))
    }

    async fn load(&self, _: &Id) -> session_store::Result<Option<Record>> {
        Err(session_store::Error::Backend("connection refused".into()))
    }

    async fn delete(&self, _: &Id) -> session_store::Result<()> {
        Err(session_store::Error::Backend("connection refused".into()))
    }
}

#[test]
fn a_store_failure_is_misconfigured_with_the_stores_message() {
    let mut head = head(None, &[]);
    head.extensions
        .insert(Session::new(Some(Id::default()), Arc::new(DownStore), None));
    let error = run(&SessionAuth::new(), &head).unwrap_err();
    let AuthError::Misconfigured(message) = error else {
        panic!("{error:?}")
    };
    assert!(message.starts_with("the session store failed"), "{message}");
    assert!(message.contains("connection refused"), "{message}");
}
