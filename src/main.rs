use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = devtui::cli::Cli::parse();
    let code = devtui::cli::run(cli);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
