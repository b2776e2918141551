use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A Tab in a shell with devtui's completions: answered here, and the process exits.
    devtui::cli::complete::answer_if_asked();
    let cli = devtui::cli::Cli::parse();
    let code = devtui::cli::run(cli);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
