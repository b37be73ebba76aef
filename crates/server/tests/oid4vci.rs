//! Issuer key rotation and OpenID4VCI 1.0 (pre-authorized code flow with a PIN) over HTTP, on
//! SQLite and PostgreSQL: a rotated-out key stays published while what it signed is valid and
//! then drops out; an offer is read, redeemed, proven and issued as an SD-JWT VC bound to the
//! wallet's key — by a Rust wallet here and, with TILLIT_INTEROP=1, by a Python wallet on PyJWT
//! and the `sd-jwt` reference implementation; and a table of refusals.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{backend_tests, Backend, TestServer};
use reqwest::header::AUTHORIZATION;
use serde_json::{json, Map, Value};
use tillit_crypto::jws::{decode_compact, sign_compact};
use tillit_crypto::{Algorithm, SigningKey};

backend_tests!(
    rotation_keeps_old_keys_while_what_they_signed_is_valid,
    a_wallet_completes_the_pre_authorized_flow,
    refusals_of_the_token_and_credential_endpoints,
);

fn permit_type() -> Value {
    json!({
        "slug": "parking-permit",
        "definition": {
            "display": {"sv": "Parkeringstillstånd", "da": "Parkeringstilladelse",
                        "nb": "Parkeringstillatelse", "en": "Parking permit"},
            "claims_schema": {
                "type": "object",
                "required": ["plate", "zone"],
                "properties": {
                    "plate": {"type": "string", "pattern": "^[A-Z]{3}[0-9]{2}[0-9A-Z]$"},
                    "zone": {"type": "string", "enum": ["A", "B", "C"]},
                    "holder": {"type": "string", "maxLength": 100}
                },
                "additionalProperties": false
            },
            "disclosable": ["holder"],
            "default_validity_days": 365,
            "formats": ["sd-jwt-vc", "qr"]
        }
    })
}

async fn setup(s: &TestServer, number: &str) -> String {
    let r = s.create_org("Ankeborgs kommun", "SE", number).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let org = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = post(s, &format!("/v1/orgs/{org}/types"), &permit_type()).await;
    assert_eq!(status, 201, "{body}");
    org
}

async fn post(s: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let r = s.post_json(path, body).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn verify(s: &TestServer, credential: &str) -> Value {
    let (status, report) = post(s, "/v1/verify", &json!({ "credential": credential })).await;
    assert_eq!(status, 200, "{report}");
    report
}

fn header_kid(jws: &str) -> String {
    let first = jws.split('~').next().unwrap();
    decode_compact(first).unwrap().header["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn jwks_kids(s: &TestServer, org: &str) -> Vec<String> {
    let (status, _, meta) = s
        .get_public(&format!("/.well-known/jwt-vc-issuer/orgs/{org}"))
        .await;
    assert_eq!(status, 200, "{meta}");
    meta["jwks"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let jwk: tillit_crypto::Jwk = serde_json::from_value(k.clone()).unwrap();
            jwk.thumbprint().unwrap()
        })
        .collect()
}

async fn published_at(s: &TestServer, org: &str, at: chrono::DateTime<Utc>) -> Vec<String> {
    tillit_server::keys::published_issuer_keys(&s.server.state, org.parse().unwrap(), at)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect()
}

async fn rotation_keeps_old_keys_while_what_they_signed_is_valid(backend: Backend) {
    let s = TestServer::start(backend).await;
    let org = setup(&s, "2120000142").await;
    let now = Utc::now();
    let valid_to = now + chrono::Duration::days(2);
    let issue = |valid_to: chrono::DateTime<Utc>| {
        json!({"type": "parking-permit", "claims": {"plate": "ABC12D", "zone": "A", "holder": "Kajsa"},
               "valid_to": valid_to})
    };
    let (status, first) = post(
        &s,
        &format!("/v1/orgs/{org}/attestations"),
        &issue(valid_to),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let first_sd = first["sd_jwt_vc"].as_str().unwrap().to_owned();
    let k1 = header_kid(&first_sd);
    assert_eq!(jwks_kids(&s, &org).await, vec![k1.clone()]);

    // Rotate: the new key signs attestations and status lists; the old one stays published.
    let (status, rotated) = post(&s, &format!("/v1/orgs/{org}/keys/rotate"), &json!({})).await;
    assert_eq!(status, 201, "{rotated}");
    let k2 = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(k1, k2);
    assert_eq!(rotated["retired"], json!([k1]));
    let (status, bad) = post(
        &s,
        &format!("/v1/orgs/{org}/keys/rotate"),
        &json!({"alg": "RS256"}),
    )
    .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(jwks_kids(&s, &org).await, vec![k1.clone(), k2.clone()]);
    let (status, second) = post(
        &s,
        &format!("/v1/orgs/{org}/attestations"),
        &issue(now + chrono::Duration::hours(6)),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let second_sd = second["sd_jwt_vc"].as_str().unwrap().to_owned();
    assert_eq!(header_kid(&second_sd), k2);
    let list_path = second["status"]["uri"]
        .as_str()
        .unwrap()
        .split_once("/statuslists/")
        .map(|(_, id)| format!("/statuslists/{id}"))
        .unwrap();
    let list = s
        .client
        .get(s.url(&list_path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        header_kid(&list),
        k2,
        "status lists are signed by the new key"
    );

    // Both verify online, in both formats.
    for credential in [
        &first_sd,
        &second_sd,
        &first["qr"].as_str().unwrap().to_owned(),
        &second["qr"].as_str().unwrap().to_owned(),
    ] {
        let report = verify(&s, credential).await;
        assert_eq!(report["valid"], true, "{}: {report}", s.backend);
    }
    // The status list still speaks for the attestation signed before the rotation.
    let id = first["id"].as_str().unwrap();
    let (status, body) = post(
        &s,
        &format!("/v1/orgs/{org}/attestations/{id}/status"),
        &json!({"change": "revoke", "reason": "test"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let report = verify(&s, &first_sd).await;
    assert_eq!(report["valid"], false, "{report}");
    assert!(report.to_string().contains("revoked"), "{report}");

    // The old key drops out once the last attestation it signed has expired (and a status
    // list it signed can no longer be cached); the new key is always there.
    let cases = [
        (
            now + chrono::Duration::hours(1),
            vec![k1.clone(), k2.clone()],
        ),
        (
            now + chrono::Duration::hours(30),
            vec![k1.clone(), k2.clone()],
        ),
        (valid_to + chrono::Duration::seconds(1), vec![k2.clone()]),
    ];
    for (at, want) in cases {
        assert_eq!(
            published_at(&s, &org, at).await,
            want,
            "{} at {at}",
            s.backend
        );
    }

    // Rotating again: k2 signed only an attestation valid for 6 hours, so it drops out once a
    // status list it signed can no longer be cached; k1 stays while its 2-day attestation is
    // valid.
    let (status, third) = post(
        &s,
        &format!("/v1/orgs/{org}/keys/rotate"),
        &json!({"alg": "EdDSA"}),
    )
    .await;
    assert_eq!(status, 201, "{third}");
    let k3 = third["kid"].as_str().unwrap().to_owned();
    assert_eq!(third["retired"], json!([k2]));
    let later = Utc::now();
    let cases = [
        (later, vec![k1.clone(), k2.clone(), k3.clone()]),
        (
            later + chrono::Duration::hours(25),
            vec![k1.clone(), k3.clone()],
        ),
        (valid_to + chrono::Duration::seconds(1), vec![k3.clone()]),
    ];
    for (at, want) in cases {
        assert_eq!(
            published_at(&s, &org, at).await,
            want,
            "{} at {at}",
            s.backend
        );
    }
    assert_eq!(
        jwks_kids(&s, &org).await,
        vec![k1.clone(), k2.clone(), k3.clone()]
    );
    let (_, _, meta) = s
        .get_public(&format!("/.well-known/openid-credential-issuer/orgs/{org}"))
        .await;
    assert_eq!(
        meta["credential_configurations_supported"]["parking-permit"]
            ["credential_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
    s.stop().await;
}

/// A Rust wallet: its key and how it signs proofs.
struct Wallet {
    key: SigningKey,
}

impl Wallet {
    fn new() -> Self {
        Self {
            key: SigningKey::generate(Algorithm::Es256).unwrap(),
        }
    }

    fn proof(&self, header: Value, claims: Value) -> String {
        let Value::Object(h) = header else { panic!() };
        sign_compact(h, claims.to_string().as_bytes(), &self.key).unwrap()
    }

    fn jwk(&self) -> Value {
        serde_json::to_value(self.key.verifying_key().to_jwk()).unwrap()
    }

    fn good_proof(&self, aud: &str, nonce: &str) -> String {
        self.proof(
            json!({"typ": "openid4vci-proof+jwt", "jwk": self.jwk()}),
            json!({"aud": aud, "iat": Utc::now().timestamp(), "nonce": nonce}),
        )
    }
}

fn local(s: &TestServer, url: &str) -> String {
    // The issuer's URLs use the configured public base; the test talks to the listener.
    let path = url.split_once("://").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    s.url(path)
}

async fn offer(s: &TestServer, org: &str, extra: Value) -> Value {
    let mut body = json!({"type": "parking-permit",
                          "claims": {"plate": "KAL11E", "zone": "C", "holder": "Kalle Anka"}});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, view) = post(s, &format!("/v1/orgs/{org}/credential-offers"), &body).await;
    assert_eq!(status, 201, "{view}");
    view
}

async fn offer_object(s: &TestServer, view: &Value) -> (u16, Value) {
    let r = s
        .client
        .get(local(s, view["credential_offer_uri"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn token_request(s: &TestServer, org: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = s
        .client
        .post(s.url(&format!("/orgs/{org}/oid4vci/token")))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(r.headers()["cache-control"], "no-store");
    (status, r.json().await.unwrap())
}

async fn nonce(s: &TestServer, org: &str) -> String {
    let r = s
        .client
        .post(s.url(&format!("/orgs/{org}/oid4vci/nonce")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json::<Value>().await.unwrap()["c_nonce"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn credential_request(
    s: &TestServer,
    org: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut r = s
        .client
        .post(s.url(&format!("/orgs/{org}/oid4vci/credential")))
        .json(body);
    if let Some(t) = token {
        r = r.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// A token request case: name, form, expected status, expected error.
type TokenCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);

const GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";

async fn redeem(s: &TestServer, org: &str, view: &Value) -> String {
    let (_, object) = offer_object(s, view).await;
    let code = object["grants"][GRANT]["pre-authorized_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let tx = view["tx_code"].as_str().unwrap();
    let (status, token) = token_request(
        s,
        org,
        &[
            ("grant_type", GRANT),
            ("pre-authorized_code", &code),
            ("tx_code", tx),
        ],
    )
    .await;
    assert_eq!(status, 200, "{token}");
    token["access_token"].as_str().unwrap().to_owned()
}

async fn a_wallet_completes_the_pre_authorized_flow(backend: Backend) {
    let s = TestServer::start(backend).await;
    let org = setup(&s, "2120000167").await;
    let issuer = s.server.state.config.base_url() + &format!("/orgs/{org}");

    // The metadata: credential issuer (§12.2) and its authorization server (RFC 8414).
    let (status, _, meta) = s
        .get_public(&format!("/.well-known/openid-credential-issuer/orgs/{org}"))
        .await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["credential_issuer"], issuer.as_str());
    assert_eq!(
        meta["credential_endpoint"],
        format!("{issuer}/oid4vci/credential")
    );
    assert_eq!(meta["nonce_endpoint"], format!("{issuer}/oid4vci/nonce"));
    assert_eq!(meta["authorization_servers"], json!([issuer]));
    assert_eq!(meta["display"][0]["name"], "Ankeborgs kommun");
    let config = &meta["credential_configurations_supported"]["parking-permit"];
    assert_eq!(config["format"], "dc+sd-jwt");
    assert!(config["vct"].as_str().unwrap().ends_with("/parking-permit"));
    assert_eq!(
        config["cryptographic_binding_methods_supported"],
        json!(["jwk"])
    );
    assert_eq!(
        config["credential_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(
        config["proof_types_supported"]["jwt"]["proof_signing_alg_values_supported"],
        json!(["ES256", "ES384", "EdDSA"])
    );
    let locales: Vec<&str> = config["credential_metadata"]["display"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["locale"].as_str().unwrap())
        .collect();
    assert_eq!(locales, ["sv", "da", "nb", "en"]);
    assert_eq!(
        config["credential_metadata"]["display"][0]["name"],
        "Parkeringstillstånd"
    );
    let claims = config["credential_metadata"]["claims"].as_array().unwrap();
    assert!(
        claims.contains(&json!({"path": ["plate"], "mandatory": true})),
        "{claims:?}"
    );
    assert!(
        claims.contains(&json!({"path": ["holder"], "mandatory": false})),
        "{claims:?}"
    );
    let (status, _, asm) = s
        .get_public(&format!(
            "/.well-known/oauth-authorization-server/orgs/{org}"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(asm["issuer"], issuer.as_str());
    assert_eq!(asm["token_endpoint"], format!("{issuer}/oid4vci/token"));
    assert_eq!(asm["pre-authorized_grant_anonymous_access_supported"], true);

    // The administrator's offer: the URI, its QR code (PNG and SVG) and the PIN.
    let view = offer(&s, &org, json!({})).await;
    let link = view["credential_offer"].as_str().unwrap();
    let offer_uri = view["credential_offer_uri"].as_str().unwrap();
    assert_eq!(
        link,
        format!(
            "openid-credential-offer://?credential_offer_uri={}",
            offer_uri.replace(':', "%3A").replace('/', "%2F")
        )
    );
    let tx = view["tx_code"].as_str().unwrap();
    assert!(
        tx.len() == 6 && tx.bytes().all(|b| b.is_ascii_digit()),
        "{tx}"
    );
    let png = s
        .client
        .get(s.url(view["qr_png"].as_str().unwrap()))
        .header(AUTHORIZATION, s.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let png = png.bytes().await.unwrap();
    assert_eq!(tillit_credential::render::decode_png(&png).unwrap(), link);
    let svg = s
        .client
        .get(s.url(view["qr_svg"].as_str().unwrap()))
        .header(AUTHORIZATION, s.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("<svg"));

    // The wallet: offer object, token, nonce, proof, credential.
    let (status, object) = offer_object(&s, &view).await;
    assert_eq!(status, 200, "{object}");
    assert_eq!(object["credential_issuer"], issuer.as_str());
    assert_eq!(
        object["credential_configuration_ids"],
        json!(["parking-permit"])
    );
    assert_eq!(object["grants"][GRANT]["tx_code"]["length"], 6);
    assert_eq!(object["grants"][GRANT]["tx_code"]["input_mode"], "numeric");
    let token = redeem(&s, &org, &view).await;
    let wallet = Wallet::new();
    let c_nonce = nonce(&s, &org).await;
    let (status, issued) = credential_request(
        &s,
        &org,
        Some(&token),
        &json!({"credential_configuration_id": "parking-permit",
                "proofs": {"jwt": [wallet.good_proof(&issuer, &c_nonce)]}}),
    )
    .await;
    assert_eq!(status, 200, "{issued}");
    let credential = issued["credentials"][0]["credential"].as_str().unwrap();
    let payload: Value = serde_json::from_slice(
        &decode_compact(credential.split('~').next().unwrap())
            .unwrap()
            .payload,
    )
    .unwrap();
    let cnf: tillit_crypto::Jwk = serde_json::from_value(payload["cnf"]["jwk"].clone()).unwrap();
    assert_eq!(
        cnf.thumbprint().unwrap(),
        wallet.key.kid(),
        "bound to the wallet's key"
    );
    let report = verify(&s, credential).await;
    assert_eq!(report["valid"], true, "{report}");

    // Issued through the register and the audit log, naming the offer's creator.
    let (status, register) = s.get_json(&format!("/v1/orgs/{org}/attestations")).await;
    assert_eq!(status, 200);
    let entry = &register["items"][0];
    let (_, offer_made) = s.get_json("/v1/audit/entries?limit=500").await;
    let entries = offer_made["items"].as_array().unwrap();
    let created = entries
        .iter()
        .find(|e| e["action"] == "credential_offer.create")
        .unwrap();
    assert_eq!(entry["issued_by"], created["actor"]);
    let issue = entries
        .iter()
        .find(|e| e["action"] == "attestation.issue" && e["details"]["via"] == "oid4vci")
        .unwrap_or_else(|| panic!("no oid4vci issuance in {entries:?}"));
    assert_eq!(issue["actor"], created["actor"]);
    assert_eq!(issue["object_id"], entry["id"]);
    // The offer is spent: its object is gone.
    assert_eq!(offer_object(&s, &view).await.0, 404);

    // Another implementation plays the wallet: PyJWT proofs, the sd-jwt reference verifier.
    if tillit_testkit::interop_enabled(
        "the Python OpenID4VCI wallet (pip PyJWT[crypto]==2.10.1, sd-jwt==0.10.4)",
    ) {
        let view = offer(&s, &org, json!({})).await;
        // The wallet reaches the issuer's URLs; the test's public base is this listener.
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../interop/oid4vci/wallet.py");
        let link = view["credential_offer"].as_str().unwrap().to_owned();
        let tx = view["tx_code"].as_str().unwrap().to_owned();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("python3")
                .arg(script)
                .args([&link, &tx])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}: Python wallet: {}",
            s.backend,
            String::from_utf8_lossy(&out.stderr)
        );
        let result: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(result["claims"]["plate"], "KAL11E");
        assert_eq!(result["claims"]["holder"], "Kalle Anka");
        assert_eq!(result["presentation_claims"]["holder"], "Kalle Anka");
        assert_eq!(result["claims"]["iss"], issuer.as_str());
        let report = verify(&s, result["credential"].as_str().unwrap()).await;
        assert_eq!(report["valid"], true, "{report}");
    }
    s.stop().await;
}

async fn refusals_of_the_token_and_credential_endpoints(backend: Backend) {
    let s = TestServer::start(backend).await;
    let org = setup(&s, "2120000175").await;
    let issuer = s.server.state.config.base_url() + &format!("/orgs/{org}");

    // Offers: the claims are checked when the offer is made.
    let (status, body) = post(
        &s,
        &format!("/v1/orgs/{org}/credential-offers"),
        &json!({"type": "parking-permit", "claims": {"plate": "nope", "zone": "C"}}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = post(
        &s,
        &format!("/v1/orgs/{org}/credential-offers"),
        &json!({"type": "parking-permit", "claims": {"plate": "KAL11E", "zone": "C"}, "expires_in": 0}),
    )
    .await;
    assert_eq!(status, 422, "{body}");

    // The token endpoint.
    let view = offer(&s, &org, json!({})).await;
    let (_, object) = offer_object(&s, &view).await;
    let code = object["grants"][GRANT]["pre-authorized_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let tx = view["tx_code"].as_str().unwrap().to_owned();
    let wrong = if tx == "000000" { "111111" } else { "000000" };
    let token_cases: Vec<TokenCase> = vec![
        (
            "wrong grant type",
            vec![
                ("grant_type", "client_credentials"),
                ("pre-authorized_code", &code),
                ("tx_code", &tx),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            "no grant type",
            vec![("pre-authorized_code", &code), ("tx_code", &tx)],
            400,
            "invalid_request",
        ),
        (
            "no code",
            vec![("grant_type", GRANT), ("tx_code", &tx)],
            400,
            "invalid_request",
        ),
        (
            "no PIN",
            vec![("grant_type", GRANT), ("pre-authorized_code", &code)],
            400,
            "invalid_request",
        ),
        (
            "unknown code",
            vec![
                ("grant_type", GRANT),
                ("pre-authorized_code", "forged"),
                ("tx_code", &tx),
            ],
            400,
            "invalid_grant",
        ),
        (
            "wrong PIN",
            vec![
                ("grant_type", GRANT),
                ("pre-authorized_code", &code),
                ("tx_code", wrong),
            ],
            400,
            "invalid_grant",
        ),
        (
            "right PIN",
            vec![
                ("grant_type", GRANT),
                ("pre-authorized_code", &code),
                ("tx_code", &tx),
            ],
            200,
            "",
        ),
        (
            "reused code",
            vec![
                ("grant_type", GRANT),
                ("pre-authorized_code", &code),
                ("tx_code", &tx),
            ],
            400,
            "invalid_grant",
        ),
    ];
    let mut token = String::new();
    for (name, form, want, error) in token_cases {
        let (status, body) = token_request(&s, &org, &form).await;
        assert_eq!(status, want, "{}: {name}: {body}", s.backend);
        if want == 200 {
            token = body["access_token"].as_str().unwrap().to_owned();
        } else {
            assert_eq!(body["error"], error, "{name}: {body}");
            assert!(!body["error_description"].as_str().unwrap().is_empty());
        }
    }
    // A code of another organisation's issuer is unknown here.
    let other = setup(&s, "2120000183").await;
    let (status, body) = token_request(
        &s,
        &other,
        &[
            ("grant_type", GRANT),
            ("pre-authorized_code", &code),
            ("tx_code", &tx),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Too many wrong PINs lock the offer: then the right one fails too.
    let locked = offer(&s, &org, json!({})).await;
    let (_, object) = offer_object(&s, &locked).await;
    let locked_code = object["grants"][GRANT]["pre-authorized_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let locked_tx = locked["tx_code"].as_str().unwrap().to_owned();
    let wrong = if locked_tx == "000000" {
        "111111"
    } else {
        "000000"
    };
    for attempt in 1..=tillit_server::oid4vci::MAX_TX_CODE_ATTEMPTS {
        let (status, body) = token_request(
            &s,
            &org,
            &[
                ("grant_type", GRANT),
                ("pre-authorized_code", &locked_code),
                ("tx_code", wrong),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{attempt}"
        );
    }
    let (status, body) = token_request(
        &s,
        &org,
        &[
            ("grant_type", GRANT),
            ("pre-authorized_code", &locked_code),
            ("tx_code", &locked_tx),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("locked"),
        "{body}"
    );
    assert_eq!(offer_object(&s, &locked).await.0, 404);

    // An expired offer.
    let expired = offer(&s, &org, json!({"expires_in": 1})).await;
    let (_, object) = offer_object(&s, &expired).await;
    let expired_code = object["grants"][GRANT]["pre-authorized_code"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = token_request(
        &s,
        &org,
        &[
            ("grant_type", GRANT),
            ("pre-authorized_code", &expired_code),
            ("tx_code", expired["tx_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );

    // The credential endpoint.
    let wallet = Wallet::new();
    let now = Utc::now().timestamp();
    let n = nonce(&s, &org).await;
    let jwk = wallet.jwk();
    let proofs = |jwt: String| json!({"credential_configuration_id": "parking-permit", "proofs": {"jwt": [jwt]}});
    let other_key = SigningKey::generate(Algorithm::Es256).unwrap();
    let mut foreign = Map::new();
    foreign.insert("typ".into(), json!("openid4vci-proof+jwt"));
    foreign.insert("jwk".into(), jwk.clone());
    let signed_by_other = sign_compact(
        foreign,
        json!({"aud": issuer, "iat": now, "nonce": n})
            .to_string()
            .as_bytes(),
        &other_key,
    )
    .unwrap();
    let cases: Vec<(&str, Option<&str>, Value, u16, &str)> = vec![
        (
            "no token",
            None,
            proofs(wallet.good_proof(&issuer, &n)),
            401,
            "invalid_token",
        ),
        (
            "unknown token",
            Some("forged"),
            proofs(wallet.good_proof(&issuer, &n)),
            401,
            "invalid_token",
        ),
        (
            "missing proof",
            Some(&token),
            json!({"credential_configuration_id": "parking-permit"}),
            400,
            "invalid_proof",
        ),
        (
            "empty proofs",
            Some(&token),
            json!({"credential_configuration_id": "parking-permit", "proofs": {"jwt": []}}),
            400,
            "invalid_credential_request",
        ),
        (
            "two proofs",
            Some(&token),
            json!({"credential_configuration_id": "parking-permit", "proofs": {"jwt": [wallet.good_proof(&issuer, &n), wallet.good_proof(&issuer, &n)]}}),
            400,
            "invalid_credential_request",
        ),
        (
            "other configuration",
            Some(&token),
            json!({"credential_configuration_id": "hunting-licence", "proofs": {"jwt": [wallet.good_proof(&issuer, &n)]}}),
            400,
            "unknown_credential_configuration",
        ),
        (
            "no configuration",
            Some(&token),
            json!({"proofs": {"jwt": [wallet.good_proof(&issuer, &n)]}}),
            400,
            "invalid_credential_request",
        ),
        (
            "wrong aud",
            Some(&token),
            proofs(wallet.good_proof("https://evil.example", &n)),
            400,
            "invalid_proof",
        ),
        (
            "wrong typ",
            Some(&token),
            proofs(wallet.proof(
                json!({"typ": "JWT", "jwk": jwk}),
                json!({"aud": issuer, "iat": now, "nonce": n}),
            )),
            400,
            "invalid_proof",
        ),
        (
            "no jwk",
            Some(&token),
            proofs(wallet.proof(
                json!({"typ": "openid4vci-proof+jwt"}),
                json!({"aud": issuer, "iat": now, "nonce": n}),
            )),
            400,
            "invalid_proof",
        ),
        (
            "signed by another key",
            Some(&token),
            proofs(signed_by_other),
            400,
            "invalid_proof",
        ),
        (
            "stale iat",
            Some(&token),
            proofs(wallet.proof(
                json!({"typ": "openid4vci-proof+jwt", "jwk": jwk}),
                json!({"aud": issuer, "iat": now - 3600, "nonce": n}),
            )),
            400,
            "invalid_proof",
        ),
        (
            "no nonce",
            Some(&token),
            proofs(wallet.proof(
                json!({"typ": "openid4vci-proof+jwt", "jwk": jwk}),
                json!({"aud": issuer, "iat": now}),
            )),
            400,
            "invalid_proof",
        ),
        (
            "unknown nonce",
            Some(&token),
            proofs(wallet.good_proof(&issuer, "made-up")),
            400,
            "invalid_nonce",
        ),
        (
            "not JSON",
            Some(&token),
            json!("a string"),
            400,
            "invalid_credential_request",
        ),
        (
            "good",
            Some(&token),
            proofs(wallet.good_proof(&issuer, &n)),
            200,
            "",
        ),
        (
            "token used",
            Some(&token),
            proofs(wallet.good_proof(&issuer, &n)),
            401,
            "invalid_token",
        ),
    ];
    for (name, token, body, want, error) in cases {
        let (status, answer) = credential_request(&s, &org, token, &body).await;
        assert_eq!(status, want, "{}: {name}: {answer}", s.backend);
        if want != 200 {
            assert_eq!(answer["error"], error, "{name}: {answer}");
        }
    }
    // A nonce is good once: a second offer's wallet cannot reuse it.
    let second = offer(&s, &org, json!({})).await;
    let token2 = redeem(&s, &org, &second).await;
    let (status, answer) = credential_request(
        &s,
        &org,
        Some(&token2),
        &proofs(wallet.good_proof(&issuer, &n)),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_nonce")),
        "{answer}"
    );
    let fresh = nonce(&s, &org).await;
    let (status, answer) = credential_request(
        &s,
        &org,
        Some(&token2),
        &proofs(wallet.good_proof(&issuer, &fresh)),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    s.stop().await;
}
