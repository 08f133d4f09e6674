//! Diagnosis: the model registry, parity with onnxruntime, the command line, and the room's
//! flow: a clinician analyses a shared image, sees the finding and its heatmap, signs it off;
//! the patient sees it only then; the audit log has every step.

use std::time::Duration;

use consilium::diagnosis::Registry;
use consilium::diagnosis::engine::Tract;
use consilium::diagnosis::manifest::Facts;
use consilium_tests::{models_dir, test_data};
use reqwest::Method;
use serde_json::{Value, json};

use crate::imaging::{in_call, share};
use crate::rooms::{Socket, consult, consult_with, until};

/// The finding `id` once it has left `running`, as the clinician's socket hears it (within a
/// minute: a model on a loaded two-core machine may say nothing for many seconds).
pub(crate) async fn finished(s: &mut Socket, id: &str) -> Value {
    for _ in 0..200 {
        let m = crate::rooms::next_within(s, Duration::from_secs(60)).await;
        assert_ne!(m["type"], "closed", "closed while waiting for finding {id}");
        if m["type"] == "finding" && m["finding"]["id"] == id && m["finding"]["status"] != "running" {
            return m["finding"].clone();
        }
    }
    panic!("finding {id} never finished");
}

#[tokio::test]
async fn the_models_are_listed_with_their_cards() {
    let c = consult().await;
    let r = c.app.request(Method::GET, "/api/v1/models", None).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (status, list) = c.app.get_json("/api/v1/models", Some(&c.patient.token)).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"diagnosisnet") && names.contains(&"sklesion"), "{names:?}");
    let skin = list.as_array().unwrap().iter().find(|m| m["name"] == "sklesion").unwrap();
    assert_eq!(skin["not_a_medical_device"], true);
    assert_eq!(skin["labels"].as_array().unwrap().len(), 7);
    assert_eq!(skin["accepts"], json!({"photos": true, "dicom_modalities": ["XC", "DMS", "OT"]}));
    let fields: Vec<&str> = skin["tabular"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["sex", "site", "age"]);
    assert!(skin.get("input").is_none() && skin["image"].get("input").is_none(), "tensor names stay inside");
}

/// Every model's outputs match onnxruntime's on the committed samples (expected vectors made
/// by `models/parity.py`) within 1e-4.
#[test]
fn tract_matches_onnxruntime_on_every_shipped_model() {
    check_parity(&Registry::open(&models_dir(), std::sync::Arc::new(Tract)));
}

/// The same through the `ort` engine, when built with it and given the library
/// (`CONSILIUM_ORT_LIB`; .ci/run installs the pinned onnxruntime wheel for it).
#[cfg(feature = "ort")]
#[test]
fn the_ort_engine_matches_onnxruntime_on_every_shipped_model() {
    let Ok(lib) = std::env::var("CONSILIUM_ORT_LIB") else {
        assert!(std::env::var("CI").is_err(), "CI runs this test with CONSILIUM_ORT_LIB set");
        eprintln!("SKIPPED: set CONSILIUM_ORT_LIB to the path of libonnxruntime.so");
        return;
    };
    let backend = consilium::diagnosis::engine::backend("ort", Some(std::path::Path::new(&lib))).unwrap();
    check_parity(&Registry::open(&models_dir(), backend));
}

fn check_parity(registry: &Registry) {
    let (mut checked, mut cams) = (0, 0);
    for model in registry.models() {
        let dir = models_dir().join(&model.manifest.name);
        let parity: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("parity.json")).unwrap()).unwrap();
        for case in parity["cases"].as_array().unwrap() {
            let bytes = std::fs::read(dir.join(case["image"].as_str().unwrap())).unwrap();
            let img = consilium::imaging::decode::decode(&bytes, Default::default()).unwrap().image;
            let facts: Facts = serde_json::from_value(case["tabular"].clone()).unwrap();
            let (tabular, _) = model.manifest.encode_facts(&facts).unwrap();
            let out = registry.infer_prepared(model, &img, &tabular).unwrap();
            let expected: Vec<f32> = case["output"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| serde_json::from_value::<f32>(v.clone()).unwrap())
                .collect();
            let got: Vec<f32> = out.predictions.iter().map(|p| p.probability).collect();
            let diff = expected.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert_eq!(expected.len(), got.len());
            assert!(
                diff <= 1e-4,
                "{} {}: max |tract - onnxruntime| = {diff}",
                model.manifest.name,
                case["image"]
            );
            if let (Some(sum), Some(features)) = (case["cam_sum"].as_f64(), &out.features) {
                let top = out.top();
                let (_, _, cam) =
                    consilium::diagnosis::heatmap::ablation_cam_raw(registry, model, features, &tabular, top)
                        .unwrap();
                let ours: f64 = cam.iter().map(|v| f64::from(*v)).sum();
                assert!(
                    (ours - sum).abs() <= 1e-3 * sum.abs().max(1.0),
                    "{}: Ablation-CAM sum {ours} vs onnxruntime's {sum}",
                    model.manifest.name
                );
                cams += 1;
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "parity cases checked: {checked}");
    assert!(cams >= 1, "at least one Ablation-CAM checked against the reference");
}

#[tokio::test]
async fn the_command_line_prints_one_json_line_per_image() {
    use clap::Parser;
    let dir = models_dir().join("sklesion/samples");
    let sample = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let cli = consilium::cli::Cli::parse_from([
        "consilium".as_ref(),
        "diagnose".as_ref(),
        "--model".as_ref(),
        "sklesion".as_ref(),
        "--fact".as_ref(),
        "age=60".as_ref(),
        sample.as_os_str(),
        sample.as_os_str(),
    ]);
    let config = consilium::config::Config { models_dir: models_dir(), ..Default::default() };
    let mut out = Vec::new();
    consilium::cli::run(cli, config, &mut std::io::empty(), &mut out).await.unwrap();
    let lines: Vec<Value> =
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let first = &lines[0];
    assert_eq!((first["model"].as_str(), first["version"].is_string()), (Some("sklesion"), true));
    assert_eq!(first["sha256"].as_str().unwrap().len(), 64);
    let labels: Vec<&str> =
        first["predictions"].as_array().unwrap().iter().map(|p| p["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"], "the manifest's label order");
    let sum: f64 =
        first["predictions"].as_array().unwrap().iter().map(|p| p["probability"].as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-3);
    assert_eq!(first["defaulted"], json!(["sex", "site"]));
    // An unknown model is an error naming the ones there are.
    let cli = consilium::cli::Cli::parse_from(["consilium", "diagnose", "--model", "nope", "x.png"]);
    let config = consilium::config::Config { models_dir: models_dir(), ..Default::default() };
    let e = consilium::cli::run(cli, config, &mut std::io::empty(), &mut Vec::new()).await.unwrap_err();
    assert!(e.to_string().contains("sklesion"), "{e}");
    // The skin model is not run on a CT slice: that image's line says why, the run fails.
    let ct = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/ct_native.dcm");
    let cli = consilium::cli::Cli::parse_from([
        "consilium".as_ref(),
        "diagnose".as_ref(),
        "--model".as_ref(),
        "sklesion".as_ref(),
        ct.as_os_str(),
    ]);
    let config = consilium::config::Config { models_dir: models_dir(), ..Default::default() };
    let mut out = Vec::new();
    assert!(consilium::cli::run(cli, config, &mut std::io::empty(), &mut out).await.is_err());
    let line: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(line["error"], "sklesion is made for photographs and DICOM XC/DMS/OT, not a DICOM CT image");
}

#[tokio::test]
async fn a_finding_reaches_the_patient_only_after_a_clinician_signs_it_off() {
    let c = consult().await;
    let (mut doctor, mut patient) = in_call(&c).await;
    let (status, image) = share(&c, &c.patient.token, "lesion.jpg", test_data("lesion.jpg")).await;
    assert_eq!(status, 201);
    let path = format!("/api/v1/images/{}/findings", image["id"].as_str().unwrap());
    // A patient cannot analyse; bad requests are refused and write nothing.
    let (status, _) =
        c.app.send_json(Method::POST, &path, Some(&c.patient.token), &json!({"model": "sklesion"})).await;
    assert_eq!(status, 403);
    let (status, body) =
        c.app.send_json(Method::POST, &path, Some(&c.doctor.token), &json!({"model": "nope"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("model")));
    let (status, _) = c
        .app
        .send_json(
            Method::POST,
            &path,
            Some(&c.doctor.token),
            &json!({"model": "sklesion", "facts": {"age": 300}}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = c
        .app
        .send_json(
            Method::POST,
            &path,
            Some(&c.doctor.token),
            &json!({"model": "sklesion", "facts": {"site": "moon"}}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = c
        .app
        .send_json(
            Method::POST,
            "/api/v1/images/nope/findings",
            Some(&c.doctor.token),
            &json!({"model": "sklesion"}),
        )
        .await;
    assert_eq!(status, 404);
    // The doctor analyses with age and sex but no body site.
    let (status, started) = c
        .app
        .send_json(
            Method::POST,
            &path,
            Some(&c.doctor.token),
            &json!({"model": "sklesion", "facts": {"age": 63, "sex": "male"}}),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["status"], "running");
    let id = started["id"].as_str().unwrap().to_string();
    let done = finished(&mut doctor, &id).await;
    assert_eq!(done["status"], "ready", "{done}");
    assert_eq!(done["predictions"].as_array().unwrap().len(), 7);
    assert_eq!(done["defaulted"], json!(["site"]), "the finding says what was unknown");
    assert_eq!(done["model_version"], "0.2.2");
    assert_eq!(done["input_sha256"], image["sha256"]);
    assert_eq!(done["model_sha256"].as_str().unwrap().len(), 64);
    let heat = c
        .app
        .request(Method::GET, done["heatmap_url"].as_str().unwrap(), Some(&c.doctor.token))
        .send()
        .await
        .unwrap();
    assert_eq!(heat.status().as_u16(), 200);
    assert!(heat.bytes().await.unwrap().starts_with(b"\x89PNG"));
    // The patient sees nothing of it yet.
    let (_, list) =
        c.app.get_json(&format!("/api/v1/rooms/{}/findings", c.room), Some(&c.patient.token)).await;
    assert_eq!(list, json!([]));
    let (status, _) = c.app.get_json(&format!("/api/v1/findings/{id}"), Some(&c.patient.token)).await;
    assert_eq!(status, 404);
    let r = c
        .app
        .request(Method::GET, done["heatmap_url"].as_str().unwrap(), Some(&c.patient.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // Sign-off: only clinicians; reasons are required to amend or reject.
    let decide = format!("/api/v1/findings/{id}/decision");
    let (status, _) =
        c.app.send_json(Method::POST, &decide, Some(&c.patient.token), &json!({"decision": "accept"})).await;
    assert_eq!(status, 403);
    let (status, _) =
        c.app.send_json(Method::POST, &decide, Some(&c.doctor.token), &json!({"decision": "reject"})).await;
    assert_eq!(status, 422);
    let (status, _) = c
        .app
        .send_json(
            Method::POST,
            &decide,
            Some(&c.doctor.token),
            &json!({"decision": "amend", "note": "dermoscopy"}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) =
        c.app.send_json(Method::POST, &decide, Some(&c.doctor.token), &json!({"decision": "maybe"})).await;
    assert_eq!(status, 422);
    let (status, signed) = c
        .app
        .send_json(
            Method::POST,
            &decide,
            Some(&c.doctor.token),
            &json!({"decision": "amend", "label": "mel", "note": "irregular border on dermoscopy; biopsy"}),
        )
        .await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["status"], "amended");
    assert_eq!(signed["decision"]["label"], "mel");
    let (status, _) =
        c.app.send_json(Method::POST, &decide, Some(&c.doctor.token), &json!({"decision": "accept"})).await;
    assert_eq!(status, 409, "signed once");
    assert_eq!(
        signed["predictions"].as_array().map(Vec::len),
        Some(7),
        "the clinician keeps the model's view"
    );
    // Now the patient hears of it and can read it: the clinician's decision and the heatmap,
    // none of the model's internals (probabilities, the facts it assumed).
    let heard = until(&mut patient, "finding").await;
    assert_eq!(heard["finding"]["id"], id.as_str());
    assert_eq!(heard["finding"]["decision"]["outcome"], "amended");
    let (_, list) =
        c.app.get_json(&format!("/api/v1/rooms/{}/findings", c.room), Some(&c.patient.token)).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, one) = c.app.get_json(&format!("/api/v1/findings/{id}"), Some(&c.patient.token)).await;
    for seen in [&heard["finding"], &list[0], &one] {
        assert!(seen["predictions"].is_null(), "{seen}");
        assert_eq!(seen["defaulted"], json!([]), "{seen}");
        assert!(seen["model_sha256"].is_null(), "{seen}");
        assert!(seen["heatmap_url"].is_string(), "an amended finding keeps its explanation: {seen}");
    }
    // A Chinese-speaking patient's appointment page names the label in Chinese, not "mel", and
    // her room page carries the names for the room's scripts.
    c.app.send_json(Method::PATCH, "/api/v1/me", Some(&c.patient.token), &json!({"locale": "zh"})).await;
    let patient_jar = c.app.browser_login(&c.patient.email, &c.patient.password).await;
    let row = amended_row(&c, &patient_jar).await;
    assert!(row.contains("黑色素瘤") && !row.contains(": mel"), "{row}");
    let room_page = c.app.page_as(&format!("/rooms/{}", c.room), &patient_jar).await;
    assert!(room_page.contains("\"mel\":\"黑色素瘤\""), "the room page names labels for scripts");
    let actions: Vec<String> =
        c.app.audit_actions().await.iter().map(|a| a["action"].as_str().unwrap().to_string()).collect();
    for a in ["image.share", "finding.request", "finding.ready", "finding.amend", "finding.list"] {
        assert!(actions.iter().any(|x| x == a), "audit lacks {a}: {actions:?}");
    }
    let metrics = c.app.request(Method::GET, "/metrics", None).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("diagnosis_analyses_total{model=\"sklesion\",outcome=\"ready\"}"), "{metrics}");

    // On the appointment page the sign-off's time is in the reader's zone, like every other
    // time there (it was UTC).
    c.app
        .send_json(Method::PATCH, "/api/v1/me", Some(&c.doctor.token), &json!({"timezone": "Asia/Shanghai"}))
        .await;
    let jar = c.app.browser_login(&c.doctor.email, &c.doctor.password).await;
    let row = amended_row(&c, &jar).await;
    assert!(row.contains("CST") && !row.contains("UTC"), "{row}");
}

/// The amended finding's row in the record on the consultation's appointment page, as the
/// holder of `session` reads it.
async fn amended_row(c: &crate::rooms::Consult, session: &str) -> String {
    let appointment: String = sqlx::query_scalar("SELECT id FROM appointments WHERE room_id = $1")
        .bind(&c.room)
        .fetch_one(c.app.state.db.read())
        .await
        .unwrap();
    let html = c.app.page_as(&format!("/appointments/{appointment}"), session).await;
    let row = html.split("data-outcome=\"amended\"").nth(1).expect("the finding's row");
    row.split("</tr>").next().unwrap().to_string()
}

#[tokio::test]
async fn occlusion_explains_a_model_without_activation_maps_and_dicom_can_be_analysed() {
    let c = consult().await;
    let (mut doctor, mut patient) = in_call(&c).await;
    let (_, image) = share(&c, &c.doctor.token, "ct.dcm", test_data("ct_native.dcm")).await;
    let path = format!("/api/v1/images/{}/findings", image["id"].as_str().unwrap());
    // The skin-lesion model is not made for CT: refused, nothing written.
    let (status, body) =
        c.app.send_json(Method::POST, &path, Some(&c.doctor.token), &json!({"model": "sklesion"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("model")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("not a DICOM CT image"), "{body}");
    let room_findings = format!("/api/v1/rooms/{}/findings", image["room_id"].as_str().unwrap());
    let (_, list) = c.app.get_json(&room_findings, Some(&c.doctor.token)).await;
    assert_eq!(list, json!([]));
    let (status, started) =
        c.app.send_json(Method::POST, &path, Some(&c.doctor.token), &json!({"model": "diagnosisnet"})).await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_str().unwrap();
    let mut progressed = false;
    let done = loop {
        let m = tokio::time::timeout(Duration::from_secs(60), crate::rooms::next(&mut doctor)).await.unwrap();
        match m["type"].as_str() {
            Some("finding_progress") if m["id"] == id => progressed = true,
            Some("finding") if m["finding"]["id"] == id && m["finding"]["status"] != "running" => {
                break m["finding"].clone();
            }
            _ => {}
        }
    };
    assert_eq!(done["status"], "ready", "{done}");
    assert!(progressed, "occlusion reports progress");
    let heatmap_url = done["heatmap_url"].as_str().unwrap();

    // Rejected: the patient learns that a clinician rejected an analysis, and nothing of what
    // the model said, its explanation included; the clinician still has it all.
    let decide = format!("/api/v1/findings/{id}/decision");
    let body = json!({"decision": "reject", "note": "not a digit: a CT slice"});
    let (status, _) = c.app.send_json(Method::POST, &decide, Some(&c.doctor.token), &body).await;
    assert_eq!(status, 200);
    let heard = until(&mut patient, "finding").await;
    assert_eq!(heard["finding"]["decision"]["outcome"], "rejected");
    assert!(
        heard["finding"]["heatmap_url"].is_null() && heard["finding"]["predictions"].is_null(),
        "{heard}"
    );
    let (status, _, _) = c.app.get_bytes(heatmap_url, Some(&c.patient.token)).await;
    assert_eq!(status, 404, "a rejected finding's heatmap is the clinicians'");
    let (status, _, _) = c.app.get_bytes(heatmap_url, Some(&c.doctor.token)).await;
    assert_eq!(status, 200);
    let (_, list) = c.app.get_json(&room_findings, Some(&c.doctor.token)).await;
    assert_eq!(list[0]["predictions"].as_array().map(Vec::len), Some(10));
}

#[tokio::test]
async fn a_full_inference_queue_answers_503_with_retry_after_and_writes_nothing() {
    let c = consult_with(|cfg| {
        cfg.inference_workers = 1;
        cfg.inference_queue = 1;
    })
    .await;
    let (_doctor, _patient) = in_call(&c).await;
    let (_, image) = share(&c, &c.doctor.token, "lesion.jpg", test_data("lesion.jpg")).await;
    let path = format!("/api/v1/images/{}/findings", image["id"].as_str().unwrap());
    let mut statuses = Vec::new();
    let mut retry_after = None;
    let requests: Vec<_> = (0..6)
        .map(|_| {
            c.app
                .request(Method::POST, &path, Some(&c.doctor.token))
                .json(&json!({"model": "sklesion"}))
                .send()
        })
        .collect();
    for r in futures_util::future::join_all(requests).await {
        let r = r.unwrap();
        statuses.push(r.status().as_u16());
        if r.status().as_u16() == 503 {
            retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        }
    }
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    assert!(accepted >= 1 && statuses.contains(&503), "{statuses:?}");
    assert_eq!(retry_after.as_deref(), Some("5"));
    use sqlx::Row;
    let rows: i64 = sqlx::query("SELECT COUNT(*) AS n FROM findings")
        .fetch_one(c.app.state.db.read())
        .await
        .unwrap()
        .get("n");
    assert_eq!(usize::try_from(rows).unwrap(), accepted, "refused requests leave no finding behind");
}

#[tokio::test]
async fn a_cine_loop_is_viewed_and_analysed_frame_by_frame() {
    let c = consult().await;
    let (mut doctor, mut patient) = in_call(&c).await;
    let (status, cine) = share(&c, &c.doctor.token, "cine.dcm", test_data("us_cine_rle.dcm")).await;
    assert_eq!(status, 201, "{cine}");
    assert_eq!((cine["dicom"]["frames"].as_u64(), cine["dicom"]["modality"].as_str()), (Some(8), Some("US")));
    // Any frame can be fetched; one past the end, or a frame of a photo, is a 422.
    let url = cine["url"].as_str().unwrap();
    let (app, patient_token) = (&c.app, Some(c.patient.token.as_str()));
    let fetch = |path: String| async move { app.get_bytes(&path, patient_token).await };
    let (s0, _, first) = fetch(url.to_string()).await;
    let (s3, _, fourth) = fetch(format!("{url}?frame=3")).await;
    assert_eq!((s0, s3), (200, 200));
    assert_ne!(first, fourth, "another frame shows other pixels");
    assert_eq!(fetch(format!("{url}?frame=3&center=100&width=200")).await.0, 200, "a frame at a window");
    assert_eq!(fetch(format!("{url}?frame=8")).await.0, 422);
    let (_, photo) = share(&c, &c.doctor.token, "photo.png", test_data("photo.png")).await;
    assert_eq!(fetch(format!("{}?frame=1", photo["url"].as_str().unwrap())).await.0, 422);
    // The presenter's frame reaches the others.
    crate::rooms::send(
        &mut doctor,
        json!({"type": "viewer", "image": cine["id"], "zoom": 1, "x": 0.5, "y": 0.5, "frame": 5}),
    )
    .await;
    assert_eq!(until(&mut patient, "viewer").await["view"]["frame"], 5);
    // Analysing a frame that is not there writes nothing; frame 5 is analysed and recorded.
    let path = format!("/api/v1/images/{}/findings", cine["id"].as_str().unwrap());
    let (status, body) = c
        .app
        .send_json(Method::POST, &path, Some(&c.doctor.token), &json!({"model": "diagnosisnet", "frame": 8}))
        .await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("frame")), "{body}");
    let (status, started) = c
        .app
        .send_json(Method::POST, &path, Some(&c.doctor.token), &json!({"model": "diagnosisnet", "frame": 5}))
        .await;
    assert_eq!(status, 202, "{started}");
    let done = finished(&mut doctor, started["id"].as_str().unwrap()).await;
    assert_eq!((done["status"].as_str(), done["frame"].as_u64()), (Some("ready"), Some(5)), "{done}");
    let (_, list) =
        c.app.get_json(&format!("/api/v1/rooms/{}/findings", c.room), Some(&c.doctor.token)).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "the refused request left no finding");
    // Signed off, it enters the consultation record with its frame, counted from 1 for people.
    let decision = format!("/api/v1/findings/{}/decision", done["id"].as_str().unwrap());
    let (status, _) =
        c.app.send_json(Method::POST, &decision, Some(&c.doctor.token), &json!({"decision": "accept"})).await;
    assert_eq!(status, 200);
    let appointment: String = {
        use sqlx::Row;
        sqlx::query("SELECT id FROM appointments WHERE room_id = $1")
            .bind(&c.room)
            .fetch_one(c.app.state.db.read())
            .await
            .unwrap()
            .get("id")
    };
    let (_, _, page) = c.app.get_bytes(&format!("/appointments/{appointment}"), Some(&c.doctor.token)).await;
    assert!(String::from_utf8(page).unwrap().contains("cine.dcm · Frame 6"), "the record names the frame");
}
