//! CertLogic: arbitrary bytes → JSON → validate + evaluate (against a fixed DCC-like document
//! and against the input itself) + the DCC rule envelope. Nothing may panic or overflow the
//! stack; a malformed expression must be reported by `validate` and refused by `evaluate`.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use tillit_certlogic::{evaluate, rule, validate, CertLogicError};

fn data() -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    DATA.get_or_init(|| {
        json!({
            "payload": {
                "ver": "1.3.0",
                "nam": {"fn": "Dahl", "gn": "Karin", "fnt": "DAHL", "gnt": "KARIN"},
                "dob": "1964-08",
                "v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
                       "dn": 2, "sd": 2, "dt": "2021-06-11", "co": "SE", "is": "E-hälsomyndigheten",
                       "ci": "URN:UVCI:01:SE:EHM/V12907267LAJW#E"}],
                "t": [], "r": null
            },
            "external": {
                "validationClock": "2021-08-01T12:00:00+02:00",
                "countryCode": "SE",
                "valueSets": {"covid-19-lab-test-type": ["LP6464-4", "LP217198-3"], "disease-agent-targeted": ["840539006"]},
                "exp": "2022-06-11T00:00:00Z", "iat": "2021-06-11T00:00:00Z"
            },
            "x": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            "accumulator": 0, "current": "2021", "": {"": 1}
        })
    })
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(expr) = serde_json::from_slice::<Value>(bytes) else {
        return;
    };
    let errors = validate(&expr);
    let result = evaluate(&expr, data());
    if !errors.is_empty() {
        assert!(
            matches!(result, Err(CertLogicError::InvalidExpression(_))),
            "invalid but evaluated"
        );
    }
    let _ = evaluate(&expr, &expr);
    if let Ok(rule) = serde_json::from_value::<rule::Rule>(expr.clone()) {
        let _ = rule::run(&rule, &data()["payload"], &data()["external"]);
    }
    let wrapped = json!({
        "Identifier": "GR-SE-0001", "Type": "Acceptance", "Country": "SE", "Version": "1.0.0",
        "SchemaVersion": "1.0.0", "Engine": "CERTLOGIC", "EngineVersion": "0.7.5",
        "CertificateType": "General", "Description": [], "ValidFrom": "2021-01-01T00:00:00Z",
        "ValidTo": "2030-01-01T00:00:00Z", "AffectedFields": [], "Logic": expr
    });
    if let Ok(rule) = serde_json::from_value::<rule::Rule>(wrapped) {
        let _ = rule::run(&rule, &data()["payload"], &data()["external"]);
    }
});
