//! The access-management document (JSON or YAML, from `POST /v1/access/import` and
//! `tillit access import`): parsing and compiling any text never panics, and a document that
//! loads can be decided on and exported.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tillit_access::{CheckRequest, Document, Model};

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(doc) = Document::parse(text) else {
        return;
    };
    let Ok(model) = Model::load(&doc) else {
        return;
    };
    let now = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
    for user in doc.users.iter().take(4) {
        for right in doc.rights.iter().take(4) {
            let request: Result<CheckRequest, _> = serde_json::from_value(
                serde_json::json!({"user": user.id, "right": right.id, "amount": 1.0}),
            );
            if let Ok(request) = request {
                let _ = model.decide(&request, now, &[]);
            }
        }
        let _ = model.effective_rights(&user.id, now);
    }
    let _ = model.to_document().to_json();
});
