//! Writing the planned files and the manifest in each of the archiver's formats. Zip and tar.gz
//! are written to a temporary name beside the target and renamed, so a failure leaves no half
//! archive under the real name.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

use super::LocalTime;
use super::plan::Plan;
use crate::ArchiveError;
use crate::manifest::MANIFEST_PATH;

/// zlib's default level, which Python's zipfile uses.
const DEFLATE_LEVEL: i64 = 6;

pub(super) fn zip(
    out: &Path,
    plan: &Plan,
    manifest: &str,
    deflate: bool,
) -> Result<(), ArchiveError> {
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let level = deflate.then_some(DEFLATE_LEVEL);
    with_temp(out, |file| {
        let mut zip = zip::ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
        let zerr = |e: zip::result::ZipError| io::Error::other(e);
        for (name, source) in &plan.files {
            let meta = fs::metadata(source).map_err(|e| with_path(source, e))?;
            let mtime = meta
                .modified()
                .map(LocalTime::at)
                .unwrap_or_else(|_| LocalTime::now());
            let options = SimpleFileOptions::default()
                .compression_method(method)
                .compression_level(level)
                .unix_permissions(meta.permissions().mode() & 0o7777)
                .last_modified_time(mtime.zip_time())
                .large_file(meta.len() >= u64::from(u32::MAX));
            zip.start_file(name.as_str(), options).map_err(zerr)?;
            let mut input = File::open(source).map_err(|e| with_path(source, e))?;
            io::copy(&mut input, &mut zip).map_err(|e| with_path(source, e))?;
        }
        // Python's `ZipFile.writestr` gives a string entry mode 0600 and the current time.
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .compression_level(level)
            .unix_permissions(0o600)
            .last_modified_time(LocalTime::now().zip_time());
        zip.start_file(MANIFEST_PATH, options).map_err(zerr)?;
        zip.write_all(manifest.as_bytes())?;
        zip.finish().map_err(zerr)?.flush()
    })
}

pub(super) fn tgz(
    out: &Path,
    model_name: &str,
    plan: &Plan,
    manifest: &str,
) -> Result<(), ArchiveError> {
    with_temp(out, |file| {
        let gz = flate2::write::GzEncoder::new(
            BufWriter::with_capacity(1 << 20, file),
            flate2::Compression::new(DEFLATE_LEVEL as u32),
        );
        let mut tar = tar::Builder::new(gz);
        tar.mode(tar::HeaderMode::Complete);
        for (name, source) in &plan.files {
            let mut input = File::open(source).map_err(|e| with_path(source, e))?;
            tar.append_file(format!("{model_name}/{name}"), &mut input)
                .map_err(|e| with_path(source, e))?;
        }
        // The archiver's TarInfo for the manifest: mode 0644, mtime 0, owner root.
        let mut header = tar::Header::new_gnu();
        header.set_size(manifest.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(
            &mut header,
            format!("{model_name}/{MANIFEST_PATH}"),
            manifest.as_bytes(),
        )?;
        tar.into_inner()?.finish()?.flush()
    })
}

/// `no-archive`: files are copied into `<export>/<name>/`; like the archiver, an existing folder
/// is written into, not emptied first.
pub(super) fn folder(out: &Path, plan: &Plan, manifest: &str) -> Result<(), ArchiveError> {
    for (name, source) in &plan.files {
        let dest = out.join(name);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(|e| ArchiveError::io(parent, e))?;
        }
        fs::copy(source, &dest).map_err(|e| ArchiveError::io(source, e))?;
    }
    let manifest_path = out.join(MANIFEST_PATH);
    if let Some(parent) = manifest_path.parent() {
        fs::create_dir_all(parent).map_err(|e| ArchiveError::io(parent, e))?;
    }
    fs::write(&manifest_path, manifest).map_err(|e| ArchiveError::io(&manifest_path, e))
}

fn with_temp(out: &Path, body: impl FnOnce(File) -> io::Result<()>) -> Result<(), ArchiveError> {
    let tmp = temp_name(out);
    let file = File::create(&tmp).map_err(|e| ArchiveError::io(&tmp, e))?;
    if let Err(e) = body(file) {
        let _ = fs::remove_file(&tmp);
        return Err(ArchiveError::io(out, e));
    }
    fs::rename(&tmp, out).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        ArchiveError::io(out, e)
    })
}

fn temp_name(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    out.with_file_name(name)
}

/// Names the input file in an io error that happened while reading it.
fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
