//! The face benchmark without the server: `cargo run --release -p monban-face --example face_bench [PHOTOS_DIR] [TEMPLATES]`.

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let photos = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| monban_face::model::default_cache_dir().join("photos"));
    let n = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let paths = monban_face::model::ModelPaths::locate(None);
    match monban_face::bench::run(&paths, &photos, n, 20, &mut |l| println!("{l}")) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
