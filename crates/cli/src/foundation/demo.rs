//! `tillit demo`: fills the configured data folder with the demo municipality of seed 000 —
//! Ankeborg, its parking-permit type, three permits (one revoked) and a printable card — through
//! the server's own handlers (in process, no port), and says how to verify them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use axum::body::Body;
use axum::http::{header, Method, Request};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tillit_card::{CardSpec, Lang, Validity};
use tower::ServiceExt as _;

use tillit_server::Config;

/// The demo organisation (a valid Swedish organisation number).
const ORG_NAME: &str = "Ankeborgs kommun";
const ORG_NUMBER: &str = "212000-0142";

/// One in-process call of the API with the demo token: status and JSON body.
async fn call(
    app: &axum::Router,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    let body = match body {
        Some(v) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let response = app.clone().oneshot(request.body(body)?).await?;
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024).await?;
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, value))
}

fn expect(what: &str, (status, body): (u16, Value), want: u16) -> anyhow::Result<Value> {
    if status != want {
        bail!("{what}: HTTP {status}: {body}");
    }
    Ok(body)
}

fn parking_type() -> Value {
    json!({
        "slug": "parking-permit",
        "definition": {
            "display": {"sv": "Parkeringstillstånd", "da": "Parkeringstilladelse",
                        "nb": "Parkeringstillatelse", "en": "Parking permit"},
            "claims_schema": {
                "type": "object",
                "required": ["plate", "zone", "holder"],
                "properties": {
                    "plate": {"type": "string", "pattern": "^[A-Z]{3}[0-9]{2}[0-9A-Z]$"},
                    "zone": {"type": "string", "enum": ["A", "B", "C"]},
                    "holder": {"type": "string", "maxLength": 100}
                },
                "additionalProperties": false
            },
            "disclosable": ["holder"],
            "default_validity_days": 365,
            "formats": ["sd-jwt-vc", "qr"],
            "card_fields": ["plate", "zone", "holder"],
            "classification": {"confidentiality": 2, "integrity": 3, "availability": 2, "traceability": 3}
        }
    })
}

fn write(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}

pub fn run(config: Config, out: PathBuf) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
        let state = tillit_server::runtime::prepare(config).await?;
        let token = tillit_server::auth::create_super_admin_token(&state.store, "demo", "system:demo").await?;
        let app = tillit_server::app::build_router(state.clone());

        // Ankeborg: created, or found again on a second run.
        let created = call(&app, &token, Method::POST, "/v1/orgs",
            Some(json!({"name": ORG_NAME, "country": "SE", "organisation_number": ORG_NUMBER}))).await?;
        let org = match created.0 {
            201 => created.1["id"].as_str().unwrap_or_default().to_owned(),
            409 => {
                let list = expect("list organisations", call(&app, &token, Method::GET, "/v1/orgs?limit=500", None).await?, 200)?;
                list["items"].as_array().and_then(|items| items.iter().find(|o| o["organisation_number"] == ORG_NUMBER))
                    .and_then(|o| o["id"].as_str()).map(str::to_owned)
                    .context("Ankeborg exists but is not on the first page of organisations")?
            }
            _ => bail!("create Ankeborg: HTTP {}: {}", created.0, created.1),
        };
        let ty = expect("define the parking-permit type",
            call(&app, &token, Method::POST, &format!("/v1/orgs/{org}/types"), Some(parking_type())).await?, 201)?;
        println!("{ORG_NAME} ({org}): type parking-permit version {} — {}", ty["version"], ty["vct"].as_str().unwrap_or(""));

        let holders = [("ABC12D", "A", "Kalle Anka"), ("KVA33E", "B", "Kajsa Anka"), ("GUS77F", "C", "Alexander Lukas")];
        let mut issued = Vec::new();
        for (i, (plate, zone, holder)) in holders.iter().enumerate() {
            let permit = expect("issue a permit", call(&app, &token, Method::POST, &format!("/v1/orgs/{org}/attestations"),
                Some(json!({"type": "parking-permit", "claims": {"plate": plate, "zone": zone, "holder": holder}}))).await?, 201)?;
            let n = i + 1;
            write(&out.join(format!("permit-{n}.qr.txt")), permit["qr"].as_str().unwrap_or("").as_bytes())?;
            write(&out.join(format!("permit-{n}.sd-jwt")), permit["sd_jwt_vc"].as_str().unwrap_or("").as_bytes())?;
            issued.push(permit);
        }
        let revoked = issued.last().and_then(|p| p["id"].as_str()).unwrap_or_default().to_owned();
        expect("revoke permit 3", call(&app, &token, Method::POST, &format!("/v1/orgs/{org}/attestations/{revoked}/status"),
            Some(json!({"change": "revoke", "reason": "demo: the car was sold"}))).await?, 200)?;

        // The issuer's public keys, for offline verification with --cert.
        let meta = expect("issuer metadata", call(&app, &token, Method::GET, &format!("/.well-known/jwt-vc-issuer/orgs/{org}"), None).await?, 200)?;
        write(&out.join("ankeborg-issuer.jwks"), serde_json::to_string_pretty(&meta["jwks"])?.as_bytes())?;

        // A printable card of permit 1.
        let first = &issued[0];
        let date = |field: &str| -> anyhow::Result<chrono::NaiveDate> {
            let t: DateTime<Utc> = serde_json::from_value(first[field].clone())?;
            Ok(t.date_naive())
        };
        let card = CardSpec {
            title: "Parkeringstillstånd".into(),
            issuer: ORG_NAME.into(),
            fields: vec![
                ("Registreringsnummer".into(), holders[0].0.into()),
                ("Zon".into(), holders[0].1.into()),
                ("Innehavare".into(), holders[0].2.into()),
            ],
            validity: Validity::new(date("valid_from")?, date("valid_to")?)?,
            lang: Lang::Sv,
            qr_text: first["qr"].as_str().unwrap_or("").to_owned(),
        };
        write(&out.join("permit-1.card.pdf"), &tillit_card::render_pdf(&[card])?)?;
        state.store.close().await;

        let d = out.display();
        println!("issued 3 parking permits (permit 3 revoked) into {d}/:");
        println!("  permit-N.qr.txt   the TL1: QR text      permit-N.sd-jwt   the SD-JWT VC for a wallet");
        println!("  permit-1.card.pdf the printable card    ankeborg-issuer.jwks  the issuer's public keys");
        println!();
        println!("verify offline, no server (signature, issuer, validity; a pinned key knows no revocations):");
        println!("  tillit verify --cert {d}/ankeborg-issuer.jwks @{d}/permit-1.qr.txt");
        println!("verify online, with the status list (permit 3 says revoked): run `tillit serve`, then");
        println!("  curl -s -H 'content-type: application/json' \\");
        println!("       -d \"{{\\\"credential\\\": \\\"$(cat {d}/permit-3.qr.txt)\\\"}}\" http://127.0.0.1:8080/v1/verify");
        println!("the admin token of this demo was printed nowhere; create one with `tillit admin bootstrap`");
        Ok(())
    })
}
