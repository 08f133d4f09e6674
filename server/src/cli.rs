//! The command line: `serve` (default), `migrate`, `user add`, `seed-demo`, `diagnose`.

use std::io::{BufRead, Write};

use clap::{Args, Parser, Subcommand};

use crate::accounts::model::NewUser;
use crate::accounts::service;
use crate::config::Config;
use crate::records::audit::Actor;
use crate::{App, AppState, seed};

#[derive(Debug, Parser)]
#[command(name = "consilium", version, about = "Self-hostable telemedicine consultations")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP (the default): CONSILIUM_BIND, 127.0.0.1:8080 unless set.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Create the demo clinic's accounts (those that do not exist yet) and print their sign-ins.
    SeedDemo,
    /// Run a diagnosis model on image files (PNG, JPEG, DICOM); one JSON object per image per line.
    Diagnose(Diagnose),
}

#[derive(Debug, Args)]
pub struct Diagnose {
    /// The model's folder name under CONSILIUM_MODELS_DIR (see `GET /api/v1/models`).
    #[arg(long)]
    pub model: String,
    /// A fact for the model's tabular input, e.g. `--fact age=54 --fact sex=female`.
    #[arg(long = "fact", value_name = "FIELD=VALUE")]
    pub facts: Vec<String>,
    #[arg(required = true)]
    pub images: Vec<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input.
    Add(UserAdd),
}

#[derive(Debug, Args)]
pub struct UserAdd {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
    /// patient, doctor or admin
    #[arg(long)]
    pub role: String,
    /// IANA time zone, e.g. Europe/Berlin
    #[arg(long, default_value = "UTC")]
    pub timezone: String,
    #[arg(long)]
    pub specialty: Option<String>,
    /// Read the password from the first line of standard input (required: never on the command line).
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

/// Runs a parsed command. Standard input and output are passed in so tests can drive it.
pub async fn run(
    cli: Cli,
    config: Config,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config, out).await,
        Command::Migrate => {
            let state = AppState::open(config).await?;
            writeln!(out, "database is up to date ({:?})", state.db.engine())?;
            Ok(())
        }
        Command::User { command: UserCommand::Add(a) } => {
            let mut password = String::new();
            input.read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            let state = AppState::open(config).await?;
            let new = NewUser {
                email: a.email,
                name: a.name,
                role: a.role,
                password,
                timezone: Some(a.timezone),
                specialty: a.specialty,
                locale: None,
            };
            let user =
                service::create(&state.db, &Actor::cli(), new).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(out, "created {} {} ({})", user.role.as_str(), user.email, user.id)?;
            Ok(())
        }
        Command::Diagnose(d) => diagnose(&config, d, out),
        Command::SeedDemo => {
            let bind = config.bind;
            let state = AppState::open(config).await?;
            let logins = seed::seed_demo(&state.db).await?;
            if logins.is_empty() {
                writeln!(out, "the demo accounts already exist; nothing to do")?;
            } else {
                write!(out, "{}", seed::describe(&logins, &format!("http://{bind}")))?;
            }
            Ok(())
        }
    }
}

async fn serve(config: Config, out: &mut dyn Write) -> anyhow::Result<()> {
    tracing::info!(config = ?config, "starting");
    let app = App::build(config).await?;
    let addr = app.local_addr();
    if let Some(logins) = seed::seed_on_first_start(&app.state).await? {
        write!(out, "{}", seed::describe(&logins, &format!("http://{addr}")))?;
    }
    writeln!(out, "Consilium is listening on http://{addr} (database: {:?})", app.state.db.engine())?;
    out.flush()?;
    app.run_until(crate::shutdown_signal()).await
}

/// `consilium diagnose`: the server's decode and inference path, without a server.
fn diagnose(config: &Config, d: Diagnose, out: &mut dyn Write) -> anyhow::Result<()> {
    use crate::diagnosis::manifest::{Fact, Facts};
    let backend = crate::diagnosis::engine::backend(&config.inference_engine, config.ort_library.as_deref())?;
    let registry = crate::diagnosis::Registry::open(&config.models_dir_found(), backend);
    let model = registry.get(&d.model).map_err(|e| {
        let names: Vec<&str> = registry.models().map(|m| m.manifest.name.as_str()).collect();
        anyhow::anyhow!("{e}; models in {}: {}", config.models_dir.display(), names.join(", "))
    })?;
    let mut facts = Facts::new();
    for f in &d.facts {
        let (k, v) = f.split_once('=').ok_or_else(|| anyhow::anyhow!("--fact {f:?}: write FIELD=VALUE"))?;
        let value = v.parse::<f64>().map(Fact::Number).unwrap_or_else(|_| Fact::Text(v.to_string()));
        facts.insert(k.to_string(), value);
    }
    let mut failed = 0;
    for path in &d.images {
        let line = match std::fs::read(path) {
            Err(e) => serde_json::json!({"image": path, "error": e.to_string()}),
            Ok(bytes) => {
                let sha256 = crate::diagnosis::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
                match crate::imaging::decode::decode(&bytes, config.image_limits)
                    .map_err(|e| e.to_string())
                    .and_then(|img| {
                        let modality = img.dicom.as_ref().map(|d| d.modality.as_str());
                        model.manifest.suits(img.kind, modality)?;
                        registry.infer(model, &img.image, &facts).map_err(|e| e.to_string())
                    }) {
                    Ok(outcome) => serde_json::json!({
                        "image": path, "model": model.manifest.name, "version": model.manifest.version,
                        "sha256": sha256, "engine": registry.engine(), "predictions": outcome.predictions,
                        "defaulted": outcome.defaulted,
                    }),
                    Err(e) => serde_json::json!({"image": path, "sha256": sha256, "error": e}),
                }
            }
        };
        if line.get("error").is_some() {
            failed += 1;
        }
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    if failed > 0 {
        anyhow::bail!("{failed} of {} image(s) could not be analysed", d.images.len());
    }
    Ok(())
}
