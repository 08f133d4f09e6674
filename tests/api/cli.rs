//! The command line, driven in-process through `consilium::cli::run`.

use clap::Parser;
use consilium::cli::{Cli, run};
use consilium::config::Config;
use consilium_tests::spawn_app;

async fn cli(args: &[&str], stdin: &str, config: Config) -> (anyhow::Result<()>, String) {
    let parsed = Cli::try_parse_from(std::iter::once("consilium").chain(args.iter().copied())).unwrap();
    let mut out = Vec::new();
    let result = run(parsed, config, &mut stdin.as_bytes(), &mut out).await;
    (result, String::from_utf8(out).unwrap())
}

fn config_of(app: &consilium_tests::TestApp) -> Config {
    (*app.state.config).clone()
}

#[tokio::test]
async fn user_add_creates_an_account_that_can_sign_in() {
    let app = spawn_app().await;
    let (r, out) = cli(
        &[
            "user",
            "add",
            "--email",
            "cli@test.example",
            "--name",
            "Dr. Cli",
            "--role",
            "doctor",
            "--timezone",
            "Europe/Berlin",
            "--specialty",
            "Cardiology",
            "--password-stdin",
        ],
        "a cli password 123\n",
        config_of(&app),
    )
    .await;
    r.unwrap();
    assert!(out.contains("created doctor cli@test.example"), "{out}");
    let (s, _) = app
        .send_json(
            reqwest::Method::POST,
            "/api/v1/auth/token",
            None,
            &serde_json::json!({"email": "cli@test.example", "password": "a cli password 123"}),
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn user_add_refuses_bad_input_with_a_reason() {
    let app = spawn_app().await;
    let base = ["user", "add", "--email", "x@test.example", "--name", "X", "--password-stdin"];
    let (r, _) =
        cli(&[&base[..], &["--role", "nurse"]].concat(), "long enough password\n", config_of(&app)).await;
    assert!(r.unwrap_err().to_string().contains("unknown role"));
    let (r, _) = cli(
        &[&base[..], &["--role", "doctor", "--timezone", "Europe/Atlantis"]].concat(),
        "long enough password\n",
        config_of(&app),
    )
    .await;
    assert!(r.unwrap_err().to_string().contains("time zone"));
    let (r, _) = cli(&[&base[..], &["--role", "doctor"]].concat(), "short\n", config_of(&app)).await;
    assert!(r.unwrap_err().to_string().contains("at least 10"));
    assert!(
        Cli::try_parse_from([
            "consilium",
            "user",
            "add",
            "--email",
            "a@b.org",
            "--name",
            "n",
            "--role",
            "doctor"
        ])
        .is_err(),
        "--password-stdin is required"
    );
}

#[tokio::test]
async fn seed_demo_creates_the_clinic_once_and_prints_sign_ins() {
    let app = spawn_app().await;
    let (r, out) = cli(&["seed-demo"], "", config_of(&app)).await;
    r.unwrap();
    assert!(out.contains("admin@consilium.demo") && out.contains("wei.zhang@consilium.demo"), "{out}");
    let (_, users) = app
        .get_json(
            "/api/v1/users?include_inactive=true",
            Some(&app.create_user(consilium::accounts::model::Role::Admin).await.token),
        )
        .await;
    let users = users.as_array().unwrap();
    let doctors: Vec<_> = users.iter().filter(|u| u["role"] == "doctor").collect();
    assert_eq!(doctors.len(), 3);
    let zones: std::collections::BTreeSet<_> =
        doctors.iter().map(|d| d["timezone"].as_str().unwrap()).collect();
    assert_eq!(zones.len(), 3, "three time zones");
    for d in &doctors {
        let (s, slots) = app
            .get_json(
                &format!("/api/v1/doctors/{}/slots", d["id"].as_str().unwrap()),
                Some(&app.create_user(consilium::accounts::model::Role::Patient).await.token),
            )
            .await;
        assert_eq!(s, 200);
        assert!(slots.as_array().unwrap().len() > 20, "{} has weekly hours", d["name"]);
    }
    assert_eq!(users.iter().filter(|u| u["role"] == "patient").count(), 2);
    // Each printed password works.
    let line = out.lines().find(|l| l.contains("nora.berg@")).unwrap();
    let password = line.split_whitespace().nth(2).unwrap();
    let (s, _) = app
        .send_json(
            reqwest::Method::POST,
            "/api/v1/auth/token",
            None,
            &serde_json::json!({"email": "nora.berg@consilium.demo", "password": password}),
        )
        .await;
    assert_eq!(s, 200);
    let (r, out) = cli(&["seed-demo"], "", config_of(&app)).await;
    r.unwrap();
    assert!(out.contains("already exist"), "{out}");
}

#[tokio::test]
async fn first_start_seeds_only_an_empty_embedded_database() {
    let app = consilium_tests::spawn_app_with(|c| c.demo_on_first_start = true).await;
    let seeded = consilium::seed::seed_on_first_start(&app.state).await.unwrap();
    let embedded = app.state.config.is_embedded();
    assert_eq!(seeded.is_some(), embedded, "seeded on SQLite, never silently on PostgreSQL");
    assert!(consilium::seed::seed_on_first_start(&app.state).await.unwrap().is_none(), "never twice");
}

#[tokio::test]
async fn migrate_reports_an_up_to_date_database() {
    let app = spawn_app().await;
    let (r, out) = cli(&["migrate"], "", config_of(&app)).await;
    r.unwrap();
    assert!(out.contains("up to date"));
}
