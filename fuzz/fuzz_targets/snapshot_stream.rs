//! Fuzzes the controller's streamed snapshot reader (`StreamedSnapshot`) against the server's
//! path (`PolicyData` parsed whole, then `PolicySnapshot::build`) on arbitrary JSON-ish input.
//! Neither may panic, and they must agree: both accept or both refuse, and what they accept
//! has the same version, credential key and number of credentials. (The signature check in
//! front of the stream is not fuzzed here: random bytes never verify.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use monban_core::{PolicyData, PolicySnapshot, StreamedSnapshot};

fuzz_target!(|data: &[u8]| {
    let streamed = serde_json::from_slice::<StreamedSnapshot>(data).map(|s| s.0);
    let built = serde_json::from_slice::<PolicyData>(data)
        .map_err(|e| e.to_string())
        .and_then(|d| PolicySnapshot::build(d).map_err(|e| e.to_string()));
    match (&streamed, &built) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.version(), b.version());
            assert_eq!(a.credential_key(), b.credential_key());
            assert_eq!(a.credential_count(), b.credential_count());
        }
        (Err(_), Err(_)) => {}
        _ => panic!(
            "paths disagree: streamed {:?}, built {:?}",
            streamed.as_ref().map(|s| s.version()).map_err(|e| e.to_string()),
            built.as_ref().map(|s| s.version())
        ),
    }
});
