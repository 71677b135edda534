//! pyo3 links libpython but writes no rpath, so at run time the loader would pick the system's
//! libpython (another version, another stdlib). Pin the one we were built against, for the
//! binary and the test binaries alike.

fn main() {
    if let Some(dir) = pyo3_build_config::get().lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    // the embedded `ts` package and worker runtime are include_str!'d; cargo tracks those files
}
