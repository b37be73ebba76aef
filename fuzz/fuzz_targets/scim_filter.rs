//! SCIM filters and PATCH paths (the `filter` query parameter and a PatchOp's `path` on
//! `/scim/v2`): parsing any text never panics, stays within its depth bound, and a parsed
//! filter evaluates on a resource without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tillit_access::scim::{parse_filter, parse_path};

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let resource = serde_json::json!({
        "id": "2819c223", "userName": "bjensen", "active": true, "n": 5,
        "name": {"familyName": "Jensen"},
        "emails": [{"value": "bj@example.com", "type": "work"}],
        "members": [{"value": "a", "$ref": "https://x/Users/a"}],
        "meta": {"lastModified": "2024-05-13T04:42:34Z"},
    });
    if let Ok(filter) = parse_filter(text) {
        let _ = filter.matches(&resource, &|a| a.name == "id");
    }
    if let Ok(path) = parse_path(text) {
        if let Some(filter) = path.filter {
            let _ = filter.matches(&resource, &|_| true);
        }
    }
});
