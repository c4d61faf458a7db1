//! `lunasec-tokenizer`: parse the configuration (exit 2 listing every problem), set up logging,
//! start, and run until SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Parser as _;
use lunasec_tokenizer::config::LogFormat;
use lunasec_tokenizer::{Args, Config};
use tracing_subscriber::EnvFilter;

fn init_logging(format: LogFormat) {
    let filter = std::env::var("TOKENIZER_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
        LogFormat::Compact => builder.compact().init(),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(problems) => {
            for p in problems {
                eprintln!("lunasec-tokenizer: configuration error: {p}");
            }
            eprintln!("lunasec-tokenizer: see --help");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lunasec-tokenizer: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        match lunasec_tokenizer::start(config).await {
            Ok(t) => match t.run_until_signal().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "server error");
                    ExitCode::from(1)
                }
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                eprintln!("lunasec-tokenizer: cannot start: {e}");
                ExitCode::from(1)
            }
        }
    })
}
