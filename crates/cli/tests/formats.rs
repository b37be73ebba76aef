//! `tillit verify | issue | keys | status | trust`, run as the real binary.
//!
//! One test binary (link time): a shared fixture issues credentials once, then
//! tables of (arguments → exit code + JSON fields) run against it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use chrono::{Duration, Utc};
use serde_json::{json, Value};

/// Run `tillit` with `args` (and `stdin`); exit code, stdout, stderr.
fn tillit(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tillit"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().expect("start tillit");
    if let Some(input) = stdin {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn last_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_string()
}

/// Keys and credentials made once with the CLI itself.
struct Fixture {
    dir: tempfile::TempDir,
    key: PathBuf,
    other_key: PathBuf,
    /// `other_key`'s public key wearing `key`'s `kid`: a key substitution.
    spoofed_key: PathBuf,
    tl1: String,
    png: PathBuf,
    sd_jwt: String,
    short_lived: String,
}

impl Fixture {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("issuer.jwk");
        let other_key = dir.path().join("other.jwk");
        for (k, alg) in [(&key, "ES256"), (&other_key, "EdDSA")] {
            let (code, out, err) = tillit(&["keys", "generate", "--alg", alg, "--out", s(k)], None);
            assert_eq!(code, 0, "{err}");
            let public: Value = serde_json::from_str(&out).unwrap();
            assert!(public.get("d").is_none(), "stdout shows only the public key");
        }
        // A second P-256 key wearing the issuer's kid (an ES256 signature needs a P-256 key).
        let issuer: Value = serde_json::from_str(&std::fs::read_to_string(&key).unwrap()).unwrap();
        let p256 = dir.path().join("p256.jwk");
        let (code, _, err) = tillit(&["keys", "generate", "--out", s(&p256)], None);
        assert_eq!(code, 0, "{err}");
        let mut spoof: Value = serde_json::from_str(&std::fs::read_to_string(&p256).unwrap()).unwrap();
        spoof["kid"] = issuer["kid"].clone();
        spoof.as_object_mut().unwrap().remove("d");
        let spoofed_key = dir.path().join("spoofed.jwk");
        std::fs::write(&spoofed_key, spoof.to_string()).unwrap();

        let claims = dir.path().join("claims.json");
        std::fs::write(
            &claims,
            json!({"sub": "198112289874", "name": "Kalle Anka", "licence": "hunting", "area": {"county": "Dalarna"}})
                .to_string(),
        )
        .unwrap();
        let png = dir.path().join("card.png");
        let svg = dir.path().join("card.svg");
        let vct = "https://ankeborg.se/vct/jaktkort";
        let (code, out, err) = tillit(
            &[
                "issue", "--key", s(&key), "--type", vct, "--claims", s(&claims), "--format", "qr", "--png", s(&png),
                "--svg", s(&svg),
            ],
            None,
        );
        assert_eq!(code, 0, "{err}");
        let tl1 = last_line(&out);
        assert!(tl1.starts_with("TL1:"), "{tl1}");
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
        assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));

        let (code, out, err) = tillit(
            &["issue", "--key", s(&key), "--type", vct, "--claims", s(&claims), "--sd", "name", "--sd", "area.county"],
            None,
        );
        assert_eq!(code, 0, "{err}");
        let sd_jwt = last_line(&out);
        assert!(sd_jwt.contains('~'), "{sd_jwt}");

        let (code, out, err) = tillit(
            &["issue", "--key", s(&key), "--type", vct, "--claims", s(&claims), "--format", "qr", "--valid-for", "1h"],
            None,
        );
        assert_eq!(code, 0, "{err}");
        let short_lived = last_line(&out);
        Fixture { dir, key, other_key, spoofed_key, tl1, png, sd_jwt, short_lived }
    })
}

/// One row: arguments, expected exit code, expected JSON members (pointer → value).
struct Case<'a> {
    name: &'a str,
    args: Vec<String>,
    stdin: Option<String>,
    code: i32,
    fields: Vec<(&'a str, Value)>,
}

fn check(cases: Vec<Case<'_>>) {
    for case in cases {
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let (code, out, err) = tillit(&args, case.stdin.as_deref());
        assert_eq!(
            code, case.code,
            "{}: exit code\nstdout: {out}\nstderr: {err}",
            case.name
        );
        if case.fields.is_empty() {
            continue;
        }
        let json: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {out}", case.name));
        for (pointer, expected) in &case.fields {
            assert_eq!(
                json.pointer(pointer),
                Some(expected),
                "{}: {pointer} in {json:#}",
                case.name
            );
        }
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| a.to_string()).collect()
}

#[test]
fn verify_table() {
    let f = fixture();
    let key = s(&f.key);
    let later = (Utc::now() + Duration::days(2)).to_rfc3339();
    let tl1_file = f.path("tl1.txt");
    std::fs::write(&tl1_file, format!("{}\n", f.tl1)).unwrap();
    let mut tampered = f.sd_jwt.clone();
    let sig_end = tampered.find('~').unwrap();
    let flip = if &tampered[sig_end - 2..sig_end - 1] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(sig_end - 2..sig_end - 1, flip);

    let no_kid = python_style_sd_jwt(&f.key);

    let at_expiry: Vec<(&str, Value)> = vec![
        ("/valid", json!(false)),
        ("/steps/signature", json!(true)),
        ("/steps/validity", json!(false)),
    ];
    check(vec![
        Case {
            name: "TL1 from the PNG, --cert private JWK",
            args: args(&["verify", "--cert", key, s(&f.png)]),
            stdin: None,
            code: 0,
            fields: vec![
                ("/valid", json!(true)),
                ("/format", json!("tillit-qr")),
                ("/steps/unprefix", json!(true)),
                ("/steps/base45", json!(true)),
                ("/steps/decompress", json!(true)),
                ("/steps/cose", json!(true)),
                ("/steps/cbor", json!(true)),
                ("/steps/signature", json!(true)),
                ("/steps/trusted_issuer", json!(true)),
                ("/steps/validity", json!(true)),
                ("/steps/holder_binding", Value::Null),
                ("/claims/name", json!("Kalle Anka")),
                ("/errors", json!([])),
            ],
        },
        Case {
            name: "TL1 text as @FILE",
            args: args(&["verify", "--cert", key, &format!("@{tl1_file}")]),
            stdin: None,
            code: 0,
            fields: vec![("/valid", json!(true))],
        },
        Case {
            name: "TL1 from standard input",
            args: args(&["verify", "--cert", key, "-"]),
            stdin: Some(f.tl1.clone()),
            code: 0,
            fields: vec![("/valid", json!(true))],
        },
        Case {
            name: "SD-JWT VC",
            args: args(&["verify", "--cert", key, &f.sd_jwt]),
            stdin: None,
            code: 0,
            fields: vec![
                ("/valid", json!(true)),
                ("/format", json!("sd-jwt-vc")),
                ("/steps/signature", json!(true)),
                ("/steps/trusted_issuer", json!(true)),
                ("/steps/validity", json!(true)),
                ("/steps/unprefix", Value::Null),
                ("/claims/name", json!("Kalle Anka")),
                ("/claims/area/county", json!("Dalarna")),
            ],
        },
        Case {
            name: "SD-JWT VC with no kid (PyPI sd-jwt's default), --cert the key that signed it",
            args: args(&["verify", "--cert", key, &no_kid]),
            stdin: None,
            code: 0,
            fields: vec![
                ("/valid", json!(true)),
                ("/steps/signature", json!(true)),
                ("/steps/trusted_issuer", json!(true)),
                ("/claims/given_name", json!("Åsa Ærø-Øberg")),
                ("/claims/iss", json!("https://example.com/issuer")),
            ],
        },
        Case {
            name: "SD-JWT VC with no kid, --cert another key",
            args: args(&["verify", "--cert", s(&f.spoofed_key), &no_kid]),
            stdin: None,
            code: 1,
            fields: vec![("/valid", json!(false)), ("/steps/signature", json!(false))],
        },
        Case {
            name: "SD-JWT VC, signature altered",
            args: args(&["verify", "--cert", key, &tampered]),
            stdin: None,
            code: 1,
            fields: vec![("/valid", json!(false)), ("/steps/signature", json!(false))],
        },
        Case {
            name: "SD-JWT VC, another key under the issuer's kid",
            args: args(&["verify", "--cert", s(&f.spoofed_key), &f.sd_jwt]),
            stdin: None,
            code: 1,
            fields: vec![("/valid", json!(false)), ("/steps/signature", json!(false))],
        },
        Case {
            name: "TL1, another issuer's key: no trusted key for the kid",
            args: args(&["verify", "--cert", s(&f.other_key), &f.tl1]),
            stdin: None,
            code: 1,
            fields: vec![
                ("/valid", json!(false)),
                ("/steps/signature", Value::Null),
                ("/steps/trusted_issuer", json!(false)),
            ],
        },
        Case {
            name: "SD-JWT VC, holder binding required but absent",
            args: args(&[
                "verify",
                "--cert",
                key,
                "--aud",
                "https://polisen.se",
                "--nonce",
                "n-1",
                &f.sd_jwt,
            ]),
            stdin: None,
            code: 1,
            fields: vec![
                ("/valid", json!(false)),
                ("/steps/holder_binding", json!(false)),
            ],
        },
        Case {
            name: "TL1 after expiry",
            args: args(&["verify", "--cert", key, "--at", &later, &f.short_lived]),
            stdin: None,
            code: 1,
            fields: at_expiry.clone(),
        },
        Case {
            name: "SD-JWT after expiry",
            args: args(&[
                "verify",
                "--cert",
                key,
                "--at",
                "2100-01-01T00:00:00Z",
                &f.sd_jwt,
            ]),
            stdin: None,
            code: 1,
            fields: at_expiry,
        },
        Case {
            name: "garbage",
            args: args(&["verify", "--cert", key, "not a credential"]),
            stdin: None,
            code: 1,
            fields: vec![
                ("/valid", json!(false)),
                ("/steps/unprefix", json!(false)),
                ("/format", Value::Null),
            ],
        },
        Case {
            name: "damaged Base45",
            args: args(&["verify", "--cert", key, "TL1:hello"]),
            stdin: None,
            code: 1,
            fields: vec![
                ("/steps/unprefix", json!(true)),
                ("/steps/base45", json!(false)),
            ],
        },
        Case {
            name: "missing @FILE",
            args: args(&["verify", "--cert", key, "@/nonexistent/code.txt"]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "missing PNG",
            args: args(&["verify", "--cert", key, "/nonexistent/card.png"]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "missing --cert",
            args: args(&["verify", "--cert", "/nonexistent/dsc.pem", &f.tl1]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "--cert that is no key",
            args: args(&["verify", "--cert", &tl1_file, &f.tl1]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "bad --at",
            args: args(&["verify", "--cert", key, "--at", "tomorrow", &f.tl1]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "--aud without --nonce",
            args: args(&["verify", "--cert", key, "--aud", "x", &f.sd_jwt]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "no input",
            args: args(&["verify", "--cert", key]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
    ]);
}

/// An SD-JWT VC as the Python reference implementation (PyPI `sd-jwt`) writes it by default: no
/// `kid` in the JWS header, an `iss` that no trust list names; signed with the private JWK `key`.
fn python_style_sd_jwt(key: &Path) -> String {
    use tillit_credential::sdjwt::Disclosure;
    let jwk: tillit_crypto::Jwk =
        serde_json::from_str(&std::fs::read_to_string(key).unwrap()).unwrap();
    let key = tillit_crypto::SigningKey::from_jwk(&jwk).unwrap();
    let given = Disclosure::new(Some("given_name"), json!("Åsa Ærø-Øberg")).unwrap();
    let now = Utc::now().timestamp();
    let payload = json!({"iss": "https://example.com/issuer", "iat": now - 60, "exp": now + 3600,
        "vct": "https://ankeborg.se/vct/jaktkort", "_sd_alg": "sha-256", "_sd": [given.digest()]});
    let Value::Object(header) = json!({"typ": "dc+sd-jwt"}) else {
        unreachable!()
    };
    let jwt =
        tillit_crypto::jws::sign_compact(header, &serde_json::to_vec(&payload).unwrap(), &key)
            .unwrap();
    format!("{jwt}~{}~", given.encoded())
}

#[test]
fn verify_text_output() {
    let f = fixture();
    let (code, out, _) = tillit(
        &["verify", "--cert", s(&f.key), "--format", "text", &f.tl1],
        None,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("VALID"), "{out}");
    // unprefix, base45, decompress, cose, cbor, signature, trusted_issuer, validity (others n/a)
    assert!(
        out.lines()
            .filter(|l| l.trim_start().starts_with('✓'))
            .count()
            >= 8,
        "{out}"
    );
    assert!(out.contains("name: Kalle Anka"), "{out}");

    let later = (Utc::now() + Duration::days(2)).to_rfc3339();
    let (code, out, _) = tillit(
        &[
            "verify",
            "--cert",
            s(&f.key),
            "--format",
            "text",
            "--at",
            &later,
            &f.short_lived,
        ],
        None,
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("NOT VALID"), "{out}");
    assert!(out.contains("✗ Validity period"), "{out}");
    assert!(out.contains("Problems:"), "{out}");
}

#[test]
fn batch_keeps_order_and_summarises() {
    let f = fixture();
    let lines = [
        f.tl1.as_str(),
        "garbage",
        f.sd_jwt.as_str(),
        "",
        f.short_lived.as_str(),
        "HC1:XYZ",
    ];
    let file = f.path("batch.txt");
    std::fs::write(&file, lines.join("\n")).unwrap();
    for threads in ["1", "3"] {
        let (code, out, err) = tillit(
            &[
                "verify",
                "--cert",
                s(&f.key),
                "--batch",
                &file,
                "--threads",
                threads,
            ],
            None,
        );
        assert_eq!(code, 1, "one invalid line makes the batch exit 1: {err}");
        let rows: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            rows.len(),
            6,
            "5 reports (blank line skipped) + summary: {out}"
        );
        let expected = [
            ("tillit-qr", true),
            ("", false),
            ("sd-jwt-vc", true),
            ("tillit-qr", true),
            ("hcert", false),
        ];
        for (row, (format, valid)) in rows.iter().zip(expected) {
            assert_eq!(row["valid"], json!(valid), "{row}");
            assert_eq!(row["format"].as_str().unwrap_or_default(), format, "{row}");
        }
        let summary = &rows[5]["summary"];
        assert_eq!(summary["total"], json!(5));
        assert_eq!(summary["valid"], json!(3));
        assert_eq!(summary["invalid"], json!(2));
        assert!(summary["seconds"].as_f64().unwrap() >= 0.0);
        assert!(summary["per_second"].as_f64().unwrap() >= 0.0);
    }
    // --format json is the batch's only output format: accepted; text is a usage error.
    for (format, code) in [("json", 1), ("text", 2)] {
        let (got, out, err) = tillit(
            &[
                "verify",
                "--cert",
                s(&f.key),
                "--batch",
                &file,
                "--format",
                format,
            ],
            None,
        );
        assert_eq!(got, code, "--format {format}: {out}{err}");
        if code == 1 {
            assert_eq!(out.lines().count(), 6, "{out}");
        } else {
            assert!(err.contains("--batch"), "{err}");
        }
    }
    let (code, _, err) = tillit(
        &[
            "verify",
            "--cert",
            s(&f.key),
            "--batch",
            "/nonexistent/batch.txt",
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
}

#[test]
fn keys_and_issue_usage() {
    let f = fixture();
    let private: Value = serde_json::from_str(&std::fs::read_to_string(&f.key).unwrap()).unwrap();
    for member in ["kty", "crv", "x", "y", "d", "kid"] {
        assert!(private.get(member).is_some(), "{member} in {private}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&f.key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let claims = f.path("claims.json");
    let key = s(&f.key);
    check(vec![
        Case {
            name: "keys generate to stdout (EdDSA)",
            args: args(&["keys", "generate", "--alg", "EdDSA"]),
            stdin: None,
            code: 0,
            fields: vec![("/kty", json!("OKP")), ("/crv", json!("Ed25519"))],
        },
        Case {
            name: "keys generate never overwrites",
            args: args(&["keys", "generate", "--out", key]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "unknown --alg",
            args: args(&["keys", "generate", "--alg", "RS256"]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "--sd with a QR",
            args: args(&[
                "issue", "--key", key, "--type", "t", "--claims", &claims, "--format", "qr",
                "--sd", "name",
            ]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "public key cannot sign",
            args: args(&[
                "issue",
                "--key",
                s(&f.spoofed_key),
                "--type",
                "t",
                "--claims",
                &claims,
            ]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "claims not an object",
            args: args(&["issue", "--key", key, "--type", "t", "--claims", "-"]),
            stdin: Some("[1,2]".into()),
            code: 2,
            fields: vec![],
        },
        Case {
            name: "bad duration",
            args: args(&[
                "issue",
                "--key",
                key,
                "--type",
                "t",
                "--claims",
                &claims,
                "--valid-for",
                "soon",
            ]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
    ]);

    // --count: N credentials, one per line, the rate on standard error; each verifies.
    let holder = f.path("holder.jwk");
    assert_eq!(tillit(&["keys", "generate", "--out", &holder], None).0, 0);
    let (code, out, err) = tillit(
        &[
            "issue",
            "--key",
            key,
            "--type",
            "t",
            "--claims",
            &claims,
            "--holder-key",
            &holder,
            "--count",
            "5",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 5);
    let rate: Value = serde_json::from_str(err.trim()).unwrap();
    assert_eq!(rate["issued"], json!(5));
    let batch = f.path("count.txt");
    std::fs::write(&batch, &out).unwrap();
    let (code, out, _) = tillit(
        &["verify", "--cert", key, "--batch", &batch, "--threads", "1"],
        None,
    );
    assert_eq!(code, 0, "{out}");
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert!(
        first.pointer("/claims/cnf/jwk").is_some(),
        "holder key bound: {first}"
    );
}

/// `tillit issue --card-pdf/--card-png`: the printable card of a QR attestation. The card's PNG
/// verifies through `tillit verify` itself; the PDF's text (with `pdftotext`, when installed)
/// shows the chosen fields in the card's language.
#[test]
fn issue_draws_a_card() {
    let f = fixture();
    let key = s(&f.key);
    let claims = f.path("claims.json");
    let (pdf, png) = (f.path("card.pdf"), f.path("card-png.png"));
    let issue = |extra: &[&str]| -> Vec<String> {
        let mut a = args(&[
            "issue",
            "--key",
            key,
            "--type",
            "https://ankeborg.se/vct/jaktkort",
            "--claims",
            &claims,
            "--format",
            "qr",
        ]);
        a.extend(extra.iter().map(|x| x.to_string()));
        a
    };
    let named = [
        "--card-pdf",
        &pdf,
        "--card-png",
        &png,
        "--card-title",
        "Jaktkort",
        "--card-issuer",
        "Ankeborgs kommun",
        "--card-lang",
        "sv",
        "--card-field",
        "name=Namn",
        "--card-field",
        "area.county=Län",
    ];
    let first = issue(&named);
    let (code, out, err) = tillit(&first.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert_eq!(code, 0, "{err}");
    let tl1 = last_line(&out);
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    let (code, report, _) = tillit(&["verify", "--cert", key, &png], None);
    assert_eq!(code, 0, "the card's PNG verifies: {report}");
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["claims"]["name"], json!("Kalle Anka"));
    assert_eq!(
        common_decode(&png),
        tl1,
        "the card carries the credential printed"
    );
    if Command::new("pdftotext").arg("-v").output().is_ok() {
        let text = Command::new("pdftotext")
            .args([&pdf, "-"])
            .output()
            .unwrap()
            .stdout;
        let text = String::from_utf8(text).unwrap();
        for want in [
            "Jaktkort",
            "Ankeborgs kommun",
            "Namn",
            "Kalle Anka",
            "Län",
            "Dalarna",
            "Giltig till",
        ] {
            assert!(text.contains(want), "{want:?} in {text:?}");
        }
    } else {
        println!(
            "skipped the card's text: `pdftotext` is not installed (apt-get install poppler-utils)"
        );
    }

    let pdf2 = f.path("card2.pdf");
    check(vec![
        Case {
            name: "fields by default: the top-level texts (name, licence, sub)",
            args: issue(&["--card-pdf", &pdf2]),
            stdin: None,
            code: 0,
            fields: vec![],
        },
        Case {
            name: "a card of an SD-JWT VC",
            args: args(&[
                "issue",
                "--key",
                key,
                "--type",
                "t",
                "--claims",
                &claims,
                "--card-pdf",
                &pdf2,
            ]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "a field the claims do not have",
            args: issue(&["--card-pdf", &pdf2, "--card-field", "plate"]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "a field that is an object",
            args: issue(&["--card-pdf", &pdf2, "--card-field", "area"]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "an unknown card language",
            args: issue(&["--card-pdf", &pdf2, "--card-lang", "fi"]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "a card with --count",
            args: issue(&["--card-pdf", &pdf2, "--count", "2"]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
    ]);
    assert!(std::fs::read(&pdf2).unwrap().starts_with(b"%PDF-"));
}

/// The text of the QR code in a PNG file, read as `tillit verify` reads it.
fn common_decode(png: &str) -> String {
    tillit_credential::render::decode_png(&std::fs::read(png).unwrap()).unwrap()
}

fn testdata() -> Option<PathBuf> {
    tillit_testkit::testdata("")
}

/// EXPECTED… flag → the report step it speaks about (dcc/README.md). The other flags
/// (B45DECODE, COMPRESSION, DECODE, VALIDJSON, …) compare the case's intermediate fields
/// (BASE45, COMPRESSED, COSE, CBOR, JSON) with each other; tests/dcc.rs in the credential
/// crate checks those.
const DCC_FLAGS: [(&str, &str); 3] = [
    ("EXPECTEDVERIFY", "signature"),
    ("EXPECTEDEXPIRATIONCHECK", "validity"),
    ("EXPECTEDKEYUSAGE", "key_usage"),
];

#[test]
fn dcc_cases_through_the_cli() {
    let Some(data) = testdata() else {
        return;
    };
    let known_issues = tillit_testkit::dcc_known_issues(&data.join("dcc"));
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = tillit_testkit::json_files(&data.join("dcc"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("2DCode"))
        .collect();
    let mut checked = 0;
    for file in &files {
        let case = tillit_testkit::read_json(file);
        // Files without these are decoding-only cases (tests/dcc.rs in the credential crate).
        let (Some(prefix), Some(cert), Some(clock)) = (
            case["PREFIX"].as_str(),
            case.pointer("/TESTCTX/CERTIFICATE").and_then(Value::as_str),
            case.pointer("/TESTCTX/VALIDATIONCLOCK")
                .and_then(Value::as_str),
        ) else {
            continue;
        };
        let rel = file
            .strip_prefix(data.join("dcc"))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let country = rel.split('/').next().unwrap_or_default();
        let number = file.file_stem().unwrap().to_string_lossy().into_owned();
        let cert_file = dir.path().join(format!("{}.b64", rel.replace('/', "_")));
        std::fs::write(&cert_file, cert).unwrap();
        let (code, out, err) = tillit(
            &["verify", "--cert", s(&cert_file), "--at", clock, prefix],
            None,
        );
        assert!(code == 0 || code == 1, "{rel}: exit {code}: {err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            code == 0,
            report["valid"] == json!(true),
            "{rel}: exit code follows valid"
        );
        for (flag, step) in DCC_FLAGS {
            let Some(expected) = case
                .pointer(&format!("/EXPECTEDRESULTS/{flag}"))
                .and_then(Value::as_bool)
            else {
                continue;
            };
            let got = &report["steps"][step];
            let agrees = if expected {
                got == &json!(true)
            } else {
                got != &json!(true) && report["valid"] == json!(false)
            };
            // As in tests/dcc.rs: a known issue excuses a disagreement, it does not skip the case.
            if !agrees {
                if let Some(issue) =
                    tillit_testkit::dcc_known_issue(&known_issues, flag, country, &number)
                {
                    println!("known issue {rel} {flag}: {}", issue.reason);
                    continue;
                }
            }
            assert!(
                agrees,
                "{rel}: {flag} {expected} but step {step} is {got} (valid {}): {report:#}",
                report["valid"]
            );
        }
        checked += 1;
    }
    println!("checked {checked} DCC cases through `tillit verify`");
    // The folder has 68 files with PREFIX, CERTIFICATE and VALIDATIONCLOCK.
    assert!(
        checked >= 60,
        "only {checked} DCC cases with PREFIX, CERTIFICATE and VALIDATIONCLOCK found"
    );
}

#[test]
fn status_decode_vectors() {
    let Some(data) = testdata() else {
        return;
    };
    // draft-ietf-oauth-status-list §4.1: byte_array = [0xb9, 0xa3], one bit per entry, LSB first.
    let expected: Vec<u8> = [0xb9u8, 0xa3]
        .iter()
        .flat_map(|b| (0..8).map(move |i| (b >> i) & 1))
        .collect();
    let statuses = json!(expected);
    for (file, form) in [
        ("status_list_jwt_raw.md", "statuslist+jwt"),
        ("status_list_cwt.md", "statuslist+cwt"),
        ("status_list_encoding_json.md", "json"),
    ] {
        let path = data.join("status-list").join(file);
        let mut text = std::fs::read_to_string(&path).unwrap();
        if let Some(i) = text.find('{').filter(|_| form == "json") {
            text = text[i..].to_string();
        }
        let (code, out, err) = tillit(&["status", "decode", "-"], Some(&text));
        assert_eq!(code, 0, "{file}: {err}");
        let json: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["form"], json!(form), "{file}");
        assert_eq!(json["bits"], json!(1), "{file}");
        assert_eq!(json["statuses"], statuses, "{file}");
    }
    // A bare lst with --bits.
    let (code, out, _) = tillit(&["status", "decode", "--bits", "1", "eNrbuRgAAhcBXQ"], None);
    assert_eq!(code, 0);
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["statuses"], statuses);
    assert_eq!(
        json["counts"]["INVALID"],
        json!(expected.iter().filter(|s| **s == 1).count())
    );
    let (code, _, _) = tillit(&["status", "decode", "@/nonexistent/list.jwt"], None);
    assert_eq!(code, 2);
}

#[test]
fn bundle_verify_and_inspect() {
    use tillit_credential::bundle::{build_bundle, BundleContent, BundleIssuer};
    let f = fixture();
    let publisher = f.path("publisher.jwk");
    assert_eq!(
        tillit(&["keys", "generate", "--out", &publisher], None).0,
        0
    );
    let publisher_key = tillit_crypto::SigningKey::from_jwk(
        &serde_json::from_str(&std::fs::read_to_string(&publisher).unwrap()).unwrap(),
    )
    .unwrap();
    let issuer_jwk: tillit_crypto::Jwk =
        serde_json::from_str(&std::fs::read_to_string(&f.key).unwrap()).unwrap();
    let iss = format!(
        "urn:ietf:params:oauth:jwk-thumbprint:sha-256:{}",
        issuer_jwk.kid.clone().unwrap()
    );
    let now = Utc::now().timestamp();
    let at = chrono::DateTime::from_timestamp(now, 0)
        .unwrap()
        .to_rfc3339();
    let content = BundleContent {
        iss: "https://trust.example.se".into(),
        iat: now - 3600,
        exp: now + 86_400,
        issuers: vec![BundleIssuer {
            id: iss,
            name: "Ankeborgs kommun".into(),
            organisation: Some("Ankeborgs kommun".into()),
            country: Some("SE".into()),
            keys: vec![issuer_jwk.to_public()],
            allowed_types: vec!["https://ankeborg.se/vct/jaktkort".into()],
            status_lists: vec![],
            valid_from: None,
            valid_until: None,
        }],
        ..BundleContent::default()
    };
    let bundle = f.path("bundle.jws");
    std::fs::write(&bundle, build_bundle(&content, &publisher_key).unwrap()).unwrap();
    let wrong = s(&f.other_key);
    check(vec![
        Case {
            name: "TL1 with the bundle",
            args: args(&[
                "verify",
                "--bundle",
                &bundle,
                "--bundle-key",
                &publisher,
                &f.tl1,
            ]),
            stdin: None,
            code: 0,
            fields: vec![
                ("/valid", json!(true)),
                ("/steps/trusted_issuer", json!(true)),
            ],
        },
        Case {
            name: "SD-JWT with the bundle",
            args: args(&[
                "verify",
                "--bundle",
                &bundle,
                "--bundle-key",
                &publisher,
                &f.sd_jwt,
            ]),
            stdin: None,
            code: 0,
            fields: vec![("/valid", json!(true))],
        },
        Case {
            name: "bundle not pinned",
            args: args(&["verify", "--bundle", &bundle, &f.tl1]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "bundle pinned to another key",
            args: args(&["verify", "--bundle", &bundle, "--bundle-key", wrong, &f.tl1]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "bundle expired at --at",
            args: args(&[
                "verify",
                "--bundle",
                &bundle,
                "--bundle-key",
                &publisher,
                "--at",
                "2100-01-01T00:00:00Z",
                &f.tl1,
            ]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
        Case {
            name: "inspect with the publisher key",
            args: args(&[
                "trust", "inspect", &bundle, "--key", &publisher, "--at", &at,
            ]),
            stdin: None,
            code: 0,
            fields: vec![
                ("/iss", json!("https://trust.example.se")),
                ("/signature", json!(true)),
                ("/usable", json!(true)),
                ("/expired", json!(false)),
                ("/age_seconds", json!(3600)),
                ("/issuers/0/name", json!("Ankeborgs kommun")),
                (
                    "/issuers/0/keys/0/kid",
                    issuer_jwk.kid.clone().map_or(Value::Null, Value::String),
                ),
            ],
        },
        Case {
            name: "inspect without a key",
            args: args(&["trust", "inspect", &bundle]),
            stdin: None,
            code: 0,
            fields: vec![("/signature", Value::Null)],
        },
        Case {
            name: "inspect with another key",
            args: args(&["trust", "inspect", &bundle, "--key", wrong]),
            stdin: None,
            code: 1,
            fields: vec![("/signature", json!(false)), ("/usable", json!(false))],
        },
        Case {
            name: "inspect something else",
            args: args(&["trust", "inspect", &f.path("claims.json")]),
            stdin: None,
            code: 2,
            fields: vec![],
        },
    ]);
    let (code, out, _) = tillit(
        &[
            "verify",
            "--bundle",
            &bundle,
            "--bundle-key",
            &publisher,
            "--format",
            "text",
            "--at",
            &at,
            &f.tl1,
        ],
        None,
    );
    assert_eq!(code, 0);
    assert!(out.contains("Trust bundle: 1 h 0 min old"), "{out}");
}

/// `tillit rules eval` and `tillit rules run`: the printed result and the exit code (0 passed or
/// not applicable, 1 failed or open, 2 for input that is not a rule).
#[test]
fn rules_eval_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, value: Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path.to_string_lossy().into_owned()
    };
    let rule = |logic: Value| {
        json!({"Identifier": "VR-SE-0001", "Type": "Acceptance", "Country": "SE", "Version": "1.0.0",
               "SchemaVersion": "1.0.0", "Engine": "CERTLOGIC", "EngineVersion": "0.7.5",
               "CertificateType": "Vaccination", "Description": [], "ValidFrom": "2021-01-01T00:00:00Z",
               "ValidTo": "2099-01-01T00:00:00Z", "AffectedFields": ["v.0.dn"], "Logic": logic})
    };
    let two_doses =
        json!({"if": [{"var": "payload.v.0"}, {">=": [{"var": "payload.v.0.dn"}, 2]}, true]});
    let payload = file("payload.json", json!({"v": [{"dn": 2, "sd": 2}]}));
    let one_dose = file("one.json", json!({"v": [{"dn": 1, "sd": 2}]}));
    let logic = file("logic.json", json!({"+": [{"var": "a"}, 2]}));
    let data = file("data.json", json!({"a": 40}));
    let passing = file("pass.json", rule(two_doses.clone()));
    let not_a_rule = file("bad.json", json!({"Logic": true}));
    // Vaccinated at most 270 days before the validation clock.
    let recent = file(
        "recent.json",
        rule(
            json!({"not-after": [{"plusTime": [{"var": "external.validationClock"}, 0, "day"]},
                                  {"plusTime": [{"var": "payload.v.0.dt"}, 270, "day"]}]}),
        ),
    );
    let in_se = file(
        "in-se.json",
        rule(json!({"===": [{"var": "external.countryCode"}, "SE"]})),
    );
    let today = Utc::now().format("%Y-%m-%d").to_string();
    let fresh = file("fresh.json", json!({"v": [{"dn": 2, "dt": today}]}));
    let old_dose = file(
        "old-dose.json",
        json!({"v": [{"dn": 2, "dt": "2021-06-01"}]}),
    );
    // As 892 of the 1,364 published EU business-rule tests: no validationClock.
    let no_clock = file(
        "no-clock.json",
        json!({"countryCode": "SE", "valueSets": {}, "exp": "2030-01-01T00:00:00Z"}),
    );
    let empty = file("empty.json", json!({}));
    let clock_2023 = file(
        "clock-2023.json",
        json!({"validationClock": "2023-01-01T00:00:00Z", "countryCode": "SE"}),
    );
    let not_an_object = file("array.json", json!([1]));
    let cases: Vec<(Vec<&str>, i32, Option<Value>)> = vec![
        (
            vec!["rules", "eval", "--logic", &logic, "--data", &data],
            0,
            Some(json!({"result": 42})),
        ),
        (
            vec!["rules", "run", "--rule", &passing, "--payload", &payload],
            0,
            Some(json!({"result": "passed"})),
        ),
        (
            vec!["rules", "run", "--rule", &passing, "--payload", &one_dose],
            1,
            Some(json!({"result": "failed"})),
        ),
        (
            vec!["rules", "run", "--rule", &not_a_rule, "--payload", &payload],
            2,
            None,
        ),
        // The validation clock: --at, else the file's, else now; with or without --external.
        (
            vec![
                "rules",
                "run",
                "--rule",
                &recent,
                "--payload",
                &fresh,
                "--external",
                &no_clock,
            ],
            0,
            Some(json!({"result": "passed"})),
        ),
        (
            vec![
                "rules",
                "run",
                "--rule",
                &recent,
                "--payload",
                &old_dose,
                "--external",
                &no_clock,
            ],
            1,
            Some(json!({"result": "failed"})),
        ),
        (
            vec![
                "rules",
                "run",
                "--rule",
                &recent,
                "--payload",
                &old_dose,
                "--external",
                &no_clock,
                "--at",
                "2021-06-05T00:00:00Z",
            ],
            0,
            Some(json!({"result": "passed"})),
        ),
        (
            vec![
                "rules",
                "run",
                "--rule",
                &recent,
                "--payload",
                &old_dose,
                "--external",
                &clock_2023,
            ],
            1,
            Some(json!({"result": "failed"})),
        ),
        (
            vec![
                "rules",
                "run",
                "--rule",
                &recent,
                "--payload",
                &old_dose,
                "--external",
                &clock_2023,
                "--at",
                "2021-06-05T00:00:00Z",
            ],
            0,
            Some(json!({"result": "passed"})),
        ),
        (
            vec![
                "rules",
                "run",
                "--rule",
                &recent,
                "--payload",
                &old_dose,
                "--at",
                "2021-06-05",
            ],
            2,
            None,
        ),
        (
            vec![
                "rules",
                "run",
                "--rule",
                &recent,
                "--payload",
                &old_dose,
                "--at",
                "2021-06-05T00:00:00Z",
            ],
            0,
            Some(json!({"result": "passed"})),
        ),
        (
            vec!["rules", "run", "--rule", &recent, "--payload", &fresh],
            0,
            Some(json!({"result": "passed"})),
        ),
        // The country code defaults to the rule's, with or without the file.
        (
            vec![
                "rules",
                "run",
                "--rule",
                &in_se,
                "--payload",
                &fresh,
                "--external",
                &empty,
            ],
            0,
            Some(json!({"result": "passed"})),
        ),
        (
            vec![
                "rules",
                "run",
                "--rule",
                &recent,
                "--payload",
                &fresh,
                "--external",
                &not_an_object,
            ],
            2,
            None,
        ),
        (
            vec![
                "rules",
                "eval",
                "--logic",
                "/no/such/file.json",
                "--data",
                &data,
            ],
            2,
            None,
        ),
    ];
    for (args, code, output) in cases {
        let (got, out, err) = tillit(&args, None);
        assert_eq!(got, code, "{args:?}: {out}{err}");
        if let Some(want) = output {
            let printed: Value = serde_json::from_str(out.trim()).unwrap();
            assert_eq!(printed, want, "{args:?}");
        } else {
            assert!(!err.trim().is_empty(), "{args:?}: a usage error says why");
        }
    }
}
