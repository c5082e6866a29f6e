//! Pins the worked example in docs/audit-log.md: the example keys, leaves, export, root and
//! checkpoint note must stay exactly what the document shows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use monban_audit::checkpoint::{self, CheckpointIssuer};
use monban_audit::leaf::{AuditEntry, DeviceTime, Outcome};
use monban_audit::merkle::leaf_hash;
use monban_audit::note::{Signer, VerifierKey};
use monban_audit::{verify_export, AuditLog, MemoryLogStore, VerifyOptions};

const SKEY: &str =
    "PRIVATE+KEY+monban.example/audit+d0efabb1+AQcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH";
const VKEY: &str = "monban.example/audit+d0efabb1+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
const NOTE: &str = "monban.example/audit
2
klqDvjd/XmcaF/6puGnED0SNL7aDaCCbBiO2JcunTvk=

— monban.example/audit 0O+rsZvgLcDEYCZriyI2z/OF9GOQ4+2sPW270No1WaWB8uG47tFSFmziMt+W3ZFa+e5C4dVPOLOrzKEa7y8Csz97DAY=
";
const EXPORT: &str = r#"{"seq":0,"leaf":"AQAAAAAAAAAAABsyMDI1LTA0LTAxVDAwOjAwOjAwLjUwMDAwMFoBACAyMDI1LTA0LTAxVDA5OjAwOjAwLjI1MDAwMCswOTowMAAMY29udHJvbGxlcjo3AAtwZXJzb246YWIxMgALZG9vci5hY2Nlc3MABmRvb3I6MwAXZGVuaWVkOm91dHNpZGVfc2NoZWR1bGUAAnIxAAIACmNyZWRlbnRpYWwABGNhcmQABGRvb3IABmVhc3QtMQ=="}
{"seq":1,"leaf":"AQAAAAAAAAABABsyMDI1LTA0LTAxVDAwOjAwOjAxLjAwMDAwMFoAAANhcGkACm9wZXJhdG9yOjEADXBlcnNvbi5jcmVhdGUACXBlcnNvbjo0MgACb2sACHJlcS03ZjNhAAA="}
"#;
const LEAF1_HEX: &str = "010000000000000001001b323032352d30342d30315430303a30303a30312e3030303030305a000003617069000a6f70657261746f723a31000d706572736f6e2e6372656174650009706572736f6e3a343200026f6b00087265712d376633610000";

fn entries() -> Vec<AuditEntry> {
    let mut details = BTreeMap::new();
    details.insert("door".to_owned(), "east-1".to_owned());
    details.insert("credential".to_owned(), "card".to_owned());
    vec![
        AuditEntry {
            seq: 0,
            server_time: "2025-04-01T00:00:00.5Z".parse().unwrap(),
            device_time: Some(DeviceTime {
                at: "2025-04-01T00:00:00.25Z".parse().unwrap(),
                offset: jiff::tz::Offset::from_hours(9).unwrap(),
            }),
            source: "controller:7".into(),
            actor: "person:ab12".into(),
            action: "door.access".into(),
            target: "door:3".into(),
            outcome: Outcome::Denied("outside_schedule".into()),
            request_id: "r1".into(),
            details,
        },
        AuditEntry {
            seq: 1,
            server_time: "2025-04-01T00:00:01Z".parse().unwrap(),
            device_time: None,
            source: "api".into(),
            actor: "operator:1".into(),
            action: "person.create".into(),
            target: "person:42".into(),
            outcome: Outcome::Ok,
            request_id: "req-7f3a".into(),
            details: BTreeMap::new(),
        },
    ]
}

#[test]
fn worked_example_is_reproducible() {
    let signer = Signer::parse(SKEY).unwrap();
    assert_eq!(signer.verifier_key().to_string(), VKEY);
    let mut log = AuditLog::open(MemoryLogStore::new()).unwrap();
    log.append(&mut entries()).unwrap();
    assert_eq!(
        hex::encode(log.root()),
        "925a83be377f5e671a17fea9b869c40f448d2fb68368209b0623b625cba74ef9"
    );
    assert_eq!(hex::encode(entries()[1].encode().unwrap()), LEAF1_HEX);
    assert_eq!(
        hex::encode(leaf_hash(&hex::decode(LEAF1_HEX).unwrap())),
        "2342a1788462d68fad7f9454ba7549ddab791299a1489f664e4fa7f22c241d14"
    );
    let mut issuer = CheckpointIssuer::new(signer, "monban.example/audit", None).unwrap();
    assert_eq!(log.issue_checkpoint(&mut issuer).unwrap(), NOTE);
    let mut out = Vec::new();
    log.export(2, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), EXPORT);
}

#[test]
fn worked_example_verifies_offline() {
    let keys = [VerifierKey::parse(VKEY).unwrap()];
    let mut opts = VerifyOptions::new(&keys);
    opts.origin = Some("monban.example/audit");
    let r = verify_export(EXPORT.as_bytes(), &[NOTE], &opts).unwrap();
    assert_eq!(r.entries, 2);
    assert_eq!(r.latest.size, 2);
    let cp = checkpoint::open(NOTE.as_bytes(), Some("monban.example/audit"), &keys).unwrap();
    assert_eq!(cp.checkpoint.root, r.root);
}
