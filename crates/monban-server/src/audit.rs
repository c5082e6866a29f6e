//! Records operator actions in the audit log, inside the same transaction as the change.

use monban_store::audit::{append, AuditRecord};
use monban_store::{StoreError, WriteTx};

/// Appends an operator action to the audit log within `w`. The source is taken from the actor
/// (`cli` and `system` act from the command line and the server itself; anyone else via the API).
pub async fn record(
    w: &mut WriteTx,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
) -> Result<(), StoreError> {
    let source = match actor {
        "cli" => "cli",
        "system" => "system",
        _ => "api",
    };
    append(
        w,
        &AuditRecord {
            source: source.into(),
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            outcome: outcome.into(),
            ..AuditRecord::default()
        },
    )
    .await?;
    Ok(())
}
