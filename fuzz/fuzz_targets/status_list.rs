//! Token Status List: the JWT, the CWT, the JSON and CBOR `{bits, lst}` forms
//! and a bare `lst`. Nothing may panic; a decoded list answers every index.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tillit_credential::status_list::{StatusList, StatusListToken};
use tillit_credential::{cose, cwt};

fn exercise(list: &StatusList) {
    let len = list.len();
    for i in [
        0,
        1,
        len / 2,
        len.saturating_sub(1),
        len,
        len.saturating_add(1),
        u64::MAX,
    ] {
        let _ = list.get(i);
    }
    let _ = list.to_json();
}

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok((token, _)) = StatusListToken::decode_jwt(text) {
            exercise(&token.list);
        }
        let bits = [1u8, 2, 4, 8][usize::from(bytes.first().copied().unwrap_or(0) % 4)];
        if let Ok(list) = StatusList::decode_lst(bits, text.get(1..).unwrap_or_default()) {
            exercise(&list);
        }
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        if let Ok(list) = StatusList::from_json(&value) {
            exercise(&list);
        }
    }
    if let Ok(list) = StatusList::from_cbor(bytes) {
        exercise(&list);
    }
    if let Ok(msg) = cose::decode_sign1(bytes) {
        if let Ok(payload) = msg.payload() {
            if let Ok(claims) = cwt::decode_cbor(payload, "claims") {
                if let Ok(token) = StatusListToken::from_cwt_claims(&claims) {
                    exercise(&token.list);
                }
            }
        }
    }
    if let Ok(claims) = cwt::decode_cbor(bytes, "claims") {
        let _ = StatusListToken::from_cwt_claims(&claims);
    }
});
