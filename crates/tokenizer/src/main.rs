//! `lunasec-tokenizer`: parse the configuration (exit 2 listing every problem), set up logging,
//! start, and run until SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Parser as _;
use lunasec_tokenizer::config::{LogFormat, log_filter};
use lunasec_tokenizer::{Args, Config};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Logs to stderr, filtered by `TOKENIZER_LOG`, else `RUST_LOG` (the first that parses), else
/// `info`; other crates than ours are capped at `info` (see [`log_filter`]).
fn init_logging(format: LogFormat) {
    let spec = ["TOKENIZER_LOG", "RUST_LOG"]
        .into_iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|spec| EnvFilter::try_new(spec).is_ok());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let registry = tracing_subscriber::registry();
    match format {
        LogFormat::Json => registry
            .with(layer.json().with_current_span(true).with_span_list(false).with_filter(log_filter(spec.as_deref())))
            .init(),
        LogFormat::Compact => registry.with(layer.compact().with_filter(log_filter(spec.as_deref()))).init(),
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
