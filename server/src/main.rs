//! `consilium`: parses the command line, sets up logging and hands over to [`consilium::cli`].

use clap::Parser;
use consilium::cli::{Cli, run};
use consilium::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env()?;
    let filter =
        EnvFilter::try_from_env("CONSILIUM_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
    let stdin = std::io::stdin();
    run(cli, config, &mut stdin.lock(), &mut std::io::stdout()).await
}
