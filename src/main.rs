//! The `switchboard` binary: see [`switchboard::cli`].

fn main() -> std::process::ExitCode {
    switchboard::cli::main()
}
