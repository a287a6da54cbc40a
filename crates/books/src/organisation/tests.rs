//! Replaying the organisation book.

use super::*;
use shuin_store::sqlite::SqliteStore;
use std::time::Duration;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// `init`'s own actor: its entries count before any signed request.
fn admin() -> Actor {
    actor(INIT_ACTOR, Role::CaAdmin, Zone::HighSecurity)
}

#[tokio::test]
async fn roles_come_from_replaying_grants_and_removals() {
    let store = SqliteStore::in_memory().await.expect("store");
    grant(&store, "A", Role::Lra, &admin(), now())
        .await
        .expect("grant");
    grant(&store, "B", Role::ResponsiblePerson, &admin(), now())
        .await
        .expect("grant");
    let organisation = Organisation::new();
    let roster = organisation.roster(&store).await.expect("roster");
    assert!(roster.operator("A").is_some_and(|op| op.holds(Role::Lra)));
    assert_eq!(
        roster.responsible_person().map(|op| op.name.as_str()),
        Some("B")
    );
    remove_role(&store, "A", Role::Lra, &admin(), now())
        .await
        .expect("remove");
    remove_role(&store, "B", Role::ResponsiblePerson, &admin(), now())
        .await
        .expect("remove");
    // The kept roster catches up with what the book gained.
    let roster = organisation.roster(&store).await.expect("roster");
    assert!(roster.operator("A").is_some_and(|op| !op.holds(Role::Lra)));
    assert!(roster.responsible_person().is_none());
    assert_eq!(roster.next_seq(), 5);
}

#[tokio::test]
async fn a_settings_row_grants_nothing() {
    use shuin_store::SettingsStore;
    let store = SqliteStore::in_memory().await.expect("store");
    store
        .set_setting(
            "operator:Mallory",
            r#"{"name":"Mallory","roles":["lra"],"added_at":"2026-01-01T00:00:00Z"}"#,
        )
        .await
        .expect("setting");
    let roster = replay(&store).await.expect("roster");
    assert!(roster.operator("Mallory").is_none());
}

#[tokio::test]
async fn an_edited_row_stops_the_replay() {
    let store = SqliteStore::in_memory().await.expect("store");
    grant(&store, "A", Role::Lra, &admin(), now())
        .await
        .expect("grant");
    let mut rows = store.ledger_rows().await.expect("rows");
    rows[0].canonical = String::from_utf8_lossy(&rows[0].canonical)
        .replace("\"lra\"", "\"ca_admin\"")
        .into_bytes();
    let mut roster = Roster::new();
    assert!(matches!(
        roster.catch_up(&rows),
        Err(BookError::Malformed { seq: 0, .. })
    ));
}

#[tokio::test]
async fn a_change_nothing_warrants_has_no_effect() {
    let store = SqliteStore::in_memory().await.expect("store");
    grant(&store, "A", Role::Monitor, &admin(), now())
        .await
        .expect("grant");
    // Once signed requests have started, neither init's actor nor anyone else can grant
    // without a ca_admin's signed request just before.
    store
        .append(
            EntryDraft {
                book: Book::Facility,
                kind: kinds::REQUEST.into(),
                actor: actor("B", Role::Lra, Zone::Secure),
                subjects: vec![],
                payload: serde_json::json!({"action": "crl_now", "request": "{}", "signature": "", "certificate_sha256": "00"}),
                evidence: vec![],
            },
            now(),
        )
        .await
        .expect("request");
    grant(&store, "A", Role::Lra, &admin(), now())
        .await
        .expect("grant");
    grant(
        &store,
        "A",
        Role::CaAdmin,
        &actor("A", Role::Monitor, Zone::Secure),
        now(),
    )
    .await
    .expect("grant");
    let roster = replay(&store).await.expect("roster");
    let held = &roster.operator("A").expect("A").roles;
    assert_eq!(
        held.iter().copied().collect::<Vec<_>>(),
        vec![Role::Monitor]
    );
    // The forged request and both grants are listed as unwarranted.
    assert_eq!(roster.unwarranted().len(), 3, "{:?}", roster.unwarranted());
}

#[tokio::test]
async fn the_replay_reads_in_pages_and_reaches_the_end() {
    let store = SqliteStore::in_memory().await.expect("store");
    // More entries of other books than a page holds, then a grant.
    for n in 0..(REPLAY_PAGE * 2 + 10) {
        let draft = shuin_ledger::EntryDraft {
            book: shuin_ledger::Book::Facility,
            kind: "test.filler".into(),
            actor: admin(),
            subjects: vec![],
            payload: serde_json::json!({ "n": n }),
            evidence: vec![],
        };
        store.append(draft, now()).await.expect("append");
    }
    grant(&store, "A", Role::Lra, &admin(), now())
        .await
        .expect("grant");
    let roster = Organisation::new().roster(&store).await.expect("roster");
    assert!(roster.operator("A").is_some_and(|op| op.holds(Role::Lra)));
    assert_eq!(roster.next_seq(), REPLAY_PAGE * 2 + 11);
}

#[tokio::test]
async fn a_handed_roster_in_books_with_their_own_organisation_has_no_effect() {
    let store = SqliteStore::in_memory().await.expect("store");
    grant(&store, "A", Role::Lra, &admin(), now())
        .await
        .expect("grant");
    // A row claiming to be a roster the CA handed over, in the CA's own books.
    let roster = serde_json::json!({"as_of": 1, "operators": [
        {"name": "Mallory", "roles": ["ca_admin"], "since": "2026-01-01T00:00:00Z", "certificates": []}
    ]});
    store
        .append(
            EntryDraft {
                book: Book::Organization,
                kind: shuin_ledger::operator_audit::ROSTER_RECEIVED.into(),
                actor: admin(),
                subjects: vec![],
                payload: serde_json::json!({"digest": "00", "as_of": 1, "operator_ca": "", "roster": roster}),
                evidence: vec![],
            },
            now(),
        )
        .await
        .expect("append");
    let roster = replay(&store).await.expect("roster");
    assert!(roster.operator("Mallory").is_none());
    assert!(roster.operator("A").is_some_and(|op| op.holds(Role::Lra)));
    assert_eq!(roster.unwarranted().len(), 1);
    // In an RA node's books (no organisation of their own), the roster it took in is the
    // roster; one that cannot be read is skipped, not fatal.
    let node = SqliteStore::in_memory().await.expect("store");
    for payload in [
        serde_json::json!({"roster": "garbage"}),
        serde_json::json!({"roster": roster_json()}),
    ] {
        node.append(
            EntryDraft {
                book: Book::Organization,
                kind: shuin_ledger::operator_audit::ROSTER_RECEIVED.into(),
                actor: admin(),
                subjects: vec![],
                payload,
                evidence: vec![],
            },
            now(),
        )
        .await
        .expect("append");
    }
    let replayed = replay(&node).await.expect("replayed");
    assert!(replayed
        .operator("Mallory")
        .is_some_and(|op| op.holds(Role::CaAdmin)));
    assert_eq!(replayed.unwarranted().len(), 1);
}

fn roster_json() -> serde_json::Value {
    serde_json::json!({"as_of": 1, "operators": [
        {"name": "Mallory", "roles": ["ca_admin"], "since": "2026-01-01T00:00:00Z", "certificates": []}
    ]})
}
