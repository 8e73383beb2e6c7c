use clap::Parser;
use tracing_subscriber::EnvFilter;

// glibc's malloc and free were a fifth of a WS-Man Get's instructions in
// callgrind profiles (many small, short-lived strings); mimalloc serves
// them faster. amtemu-load uses it too, so baselines compare like for like.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("AMTEMU_LOG").unwrap_or_else(|_| EnvFilter::new("amtemu=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match amtemu::cli::run(amtemu::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("amtemu: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
