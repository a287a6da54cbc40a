//! An RA node's gate decides with the roster the CA's link handed over: nothing before
//! it comes, what the CA says of roles and revocations once it has, and nothing once no
//! take confirmed it for a minute. Its requests go into the node's books, not the CA's.

use super::*;
use shuin_books::organisation::{HandedRoster, RosterUnavailable, ROSTER_FRESH_FOR};
use shuin_books::BookError;

fn unavailable(result: Result<shuin_books::Admitted, GateError>) -> RosterUnavailable {
    match result {
        Err(GateError::Books(BookError::Handed(why))) => why,
        other => panic!("expected no roster, got {other:?}"),
    }
}

struct Node {
    store: SqliteStore,
    operator_ca_der: Vec<u8>,
    gate: Gate,
    handed: Arc<HandedRoster>,
}

impl Node {
    async fn new(operator_ca_der: Vec<u8>) -> Node {
        let handed = Arc::new(HandedRoster::new(ROSTER_FRESH_FOR));
        Node {
            store: SqliteStore::in_memory().await.expect("store"),
            operator_ca_der: operator_ca_der.clone(),
            gate: Gate::handed(operator_ca_der, RefusalBudget::default(), handed.clone()),
            handed,
        }
    }

    /// What the CA's link hands over: the CA's roster now.
    async fn take_from(&self, ca: &Setup, at: SystemTime) {
        let snapshot = ca.gate.roster(&ca.store).await.expect("roster").snapshot();
        let digest = snapshot.digest();
        let given = (self.handed.digest() != Some(digest.clone())).then_some(&snapshot);
        self.receive(&digest, given, at).await.expect("kept");
    }

    async fn receive(
        &self,
        digest: &str,
        snapshot: Option<&shuin_books::organisation::RosterSnapshot>,
        at: SystemTime,
    ) -> Result<(), BookError> {
        let ca = &self.operator_ca_der;
        let given = (digest, snapshot);
        self.handed.receive(&self.store, ca, given, at).await
    }

    async fn admit_at(
        &self,
        signed: &SignedRequest,
        at: SystemTime,
    ) -> Result<shuin_books::Admitted, GateError> {
        self.gate.admit(&self.store, signed, Zone::Secure, at).await
    }

    async fn nonce(&self) -> String {
        self.gate
            .nonce(&self.store, &OsRandom, now())
            .await
            .expect("nonce")
    }
}

#[tokio::test]
async fn an_ra_nodes_gate_decides_with_the_roster_its_ca_handed_over() {
    let ca = setup().await;
    let admin_key = ca.enrol("管理 太郎", Role::CaAdmin).await;
    let lra = ca.enrol("LRA 一郎", Role::Lra).await;
    let node = Node::new(ca.ca.certificate_der().to_vec()).await;
    let review = |nonce: &str| {
        sign(
            lra.as_ref(),
            Action::ReviewList,
            serde_json::json!({}),
            nonce,
        )
    };

    // Before the link handed anything over: nothing is decided.
    let signed = review(&node.nonce().await);
    assert_eq!(
        unavailable(node.admit_at(&signed, now()).await),
        RosterUnavailable::NotYet
    );

    // Handed over: the LRA is admitted, into the node's books only.
    node.take_from(&ca, now()).await;
    let admitted = node.admit_at(&signed, now()).await.expect("admitted");
    assert_eq!(
        (admitted.operator.as_str(), admitted.role),
        ("LRA 一郎", Role::Lra)
    );
    let node_kinds: Vec<String> = node
        .store
        .ledger_rows()
        .await
        .expect("rows")
        .iter()
        .map(|r| {
            shuin_ledger::Entry::from_canonical(&r.canonical)
                .expect("entry")
                .kind
        })
        .collect();
    assert_eq!(node_kinds, ["operator.roster_received", "operator.request"]);
    assert_ne!(
        ca.kinds().await.last().map(String::as_str),
        Some("operator.request")
    );
    // The zone table holds at the node as at the CA: no issuer-key action from the secure
    // zone, whatever the role.
    let unseal = sign(
        admin_key.as_ref(),
        Action::Unseal,
        serde_json::json!({}),
        &node.nonce().await,
    );
    assert_eq!(
        refusal(node.admit_at(&unseal, now()).await).code(),
        "zone_refused"
    );

    // A roster that is not what its digest names is refused.
    let mut snapshot = ca.gate.roster(&ca.store).await.expect("roster").snapshot();
    let held = snapshot.digest();
    let lra_entry = snapshot.operators.iter_mut().find(|o| o.name == "LRA 一郎");
    lra_entry.expect("the LRA").roles = vec![Role::CaAdmin, Role::Lra];
    let not_its_digest = "00".repeat(32);
    assert!(node
        .receive(&not_its_digest, Some(&snapshot), now())
        .await
        .is_err());
    // Under the digest held, a changed roster only confirms the one held.
    node.receive(&held, Some(&snapshot), now())
        .await
        .expect("confirmed");
    let kept = node.handed.latest().expect("held");
    assert!(!kept.operator("LRA 一郎").expect("LRA").holds(Role::CaAdmin));
    // The roster held, handed over again (the link redialled), is not recorded again.
    let rows = node.store.ledger_rows().await.expect("rows").len();
    node.handed.digest().expect("held");
    let again = ca.gate.roster(&ca.store).await.expect("roster").snapshot();
    node.receive(&again.digest(), Some(&again), now())
        .await
        .expect("confirmed");
    assert_eq!(node.store.ledger_rows().await.expect("rows").len(), rows);
    // A clock stepped back by more than a few seconds fails closed.
    let signed = review(&node.nonce().await);
    let earlier = now() - Duration::from_secs(30);
    assert!(matches!(
        unavailable(node.admit_at(&signed, earlier).await),
        RosterUnavailable::Stale(_)
    ));

    // Not confirmed by a take for a minute: stale, until the next take.
    let later = now() + ROSTER_FRESH_FOR + Duration::from_secs(1);
    let signed = review(&node.nonce().await);
    assert!(matches!(
        unavailable(node.admit_at(&signed, later).await),
        RosterUnavailable::Stale(_)
    ));
    node.take_from(&ca, later).await;
    node.admit_at(&signed, later).await.expect("admitted again");

    // Revoked at the CA: refused at the node once the link hands the change over.
    let signed = sign(
        admin_key.as_ref(),
        Action::OperatorRevoke,
        serde_json::json!({"name": "LRA 一郎"}),
        &ca.nonce().await,
    );
    let by = ca.admit(&signed).await.expect("admitted").actor();
    let roster = ca.gate.roster(&ca.store).await.expect("roster");
    let day = Duration::from_secs(86_400);
    ca.ca
        .revoke(
            &ca.store,
            &roster,
            "LRA 一郎",
            None,
            "keyCompromise",
            &by,
            day,
            now(),
        )
        .await
        .expect("revoke");
    // Another node on the same store takes the change in first; this one, not yet
    // handed it, still admits the LRA meanwhile (its roster is fresh): the books hold
    // that request after the record of the revocation, within the audit's grace.
    let other = HandedRoster::new(ROSTER_FRESH_FOR);
    let snapshot = ca.gate.roster(&ca.store).await.expect("roster").snapshot();
    let given = (snapshot.digest(), Some(&snapshot));
    other
        .receive(
            &node.store,
            &node.operator_ca_der,
            (&given.0, given.1),
            later,
        )
        .await
        .expect("kept");
    let signed = review(&node.nonce().await);
    node.admit_at(&signed, later)
        .await
        .expect("admitted meanwhile");
    node.take_from(&ca, later).await;
    let signed = review(&node.nonce().await);
    assert_eq!(
        refusal(node.admit_at(&signed, later).await).code(),
        "operator_certificate_unusable"
    );

    // Offline, every request in the node's books checks against the certificates the
    // rosters it recorded carry.
    let rows = node.store.ledger_rows().await.expect("rows");
    let canonical = rows.iter().map(|r| r.canonical.as_slice());
    let checked = shuin_ledger::operator_audit::audit_canonical(canonical).expect("audited");
    assert_eq!(checked, 3, "the three admitted requests");

    // A roster with a certificate the operator CA did not issue is not taken in.
    let other = setup().await;
    other.enrol("LRA 一郎", Role::Lra).await;
    let foreign = other
        .gate
        .roster(&other.store)
        .await
        .expect("roster")
        .snapshot();
    let digest = foreign.digest();
    let refused = node.receive(&digest, Some(&foreign), later).await;
    assert!(refused.is_err(), "{refused:?}");

    // Replayed, the node's organisation book is the last roster it took in (what the
    // node's RA names as approver, and the periodic review judges by).
    let replayed = organisation::replay(&node.store).await.expect("replayed");
    let record = replayed.operator("LRA 一郎").expect("the LRA");
    assert!(record.holds(Role::Lra));
    assert!(record.certificates.iter().all(|c| c.revoked.is_some()));
    assert!(replayed
        .operator("管理 太郎")
        .is_some_and(|op| op.holds(Role::CaAdmin)));
}
