//! Helpers shared by the integration tests: hand-made zip bytes (for archives no honest tool
//! writes), the seed example's inputs, and the TorchServe venv lookup.
#![allow(dead_code)] // each test binary uses a different part

use std::io::Write;
use std::path::{Path, PathBuf};

use mar::create::{ArchiveFormat, CreateOptions};

/// The `mar` binary built for these tests.
pub fn mar_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mar"))
}

/// `$TORCHSERVE_VENV`, else `$HOME/.cache/torchserve-0.12/venv`, when it holds
/// torch-model-archiver; otherwise prints a SKIP line naming the test and returns None.
pub fn venv_or_skip(test: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("TORCHSERVE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/torchserve-0.12/venv")
        });
    if venv.join("bin/torch-model-archiver").is_file() {
        Some(venv)
    } else {
        eprintln!(
            "SKIP {test}: no TorchServe 0.12 venv at {} (set TORCHSERVE_VENV or run /work/shared/torchserve/install.sh)",
            venv.display()
        );
        None
    }
}

pub fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

/// The seed example's inputs in `dir`: m.py, m.pt, index_to_name.json, model_handler.py.
pub fn seed_inputs(dir: &Path) {
    write(
        &dir.join("m.py"),
        "import torch\n\nclass M(torch.nn.Module):\n    pass\n",
    );
    write(
        &dir.join("m.pt"),
        (0..4096u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    );
    write(
        &dir.join("index_to_name.json"),
        "{\"0\": \"cat\", \"1\": \"dog\"}\n",
    );
    write(
        &dir.join("model_handler.py"),
        "import json\n\n\ndef handle(data, context):\n    if data is None:\n        return None\n    return [{\"ok\": True, \"n\": len(data)} for _ in data]\n",
    );
}

/// `mar create` options for the seed example line, inputs in `dir`, output to `out`.
pub fn seed_options(dir: &Path, out: &Path, name: &str, format: ArchiveFormat) -> CreateOptions {
    CreateOptions {
        model_name: name.to_string(),
        version: "1.0".to_string(),
        serialized_file: Some(dir.join("m.pt")),
        model_file: Some(dir.join("m.py")),
        handler: dir.join("model_handler").display().to_string() + ":handle",
        extra_files: vec![dir.join("index_to_name.json").display().to_string()],
        runtime: "python3".to_string(),
        export_path: out.to_path_buf(),
        archive_format: format,
        force: false,
        requirements_file: None,
        config_file: None,
    }
}

/// One entry of a hand-made zip.
#[derive(Clone)]
pub struct RawEntry {
    pub name: String,
    /// The bytes as stored (already deflated when `method` is 8).
    pub data: Vec<u8>,
    pub method: u16,
    pub crc: u32,
    /// The uncompressed size the headers declare.
    pub size: u32,
    /// Unix mode in the upper half of the external attributes (0 = none).
    pub mode: u32,
    /// Point the central directory at entry `i`'s local header instead of writing one.
    pub share_data_of: Option<usize>,
}

impl RawEntry {
    pub fn stored(name: &str, bytes: &[u8]) -> RawEntry {
        RawEntry {
            name: name.to_string(),
            data: bytes.to_vec(),
            method: 0,
            crc: crc32fast::hash(bytes),
            size: bytes.len() as u32,
            mode: 0o100644,
            share_data_of: None,
        }
    }

    pub fn deflated(name: &str, bytes: &[u8]) -> RawEntry {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(bytes).unwrap();
        RawEntry {
            data: enc.finish().unwrap(),
            method: 8,
            ..RawEntry::stored(name, bytes)
        }
    }

    pub fn symlink(name: &str, target: &str) -> RawEntry {
        RawEntry {
            mode: 0o120777,
            ..RawEntry::stored(name, target.as_bytes())
        }
    }
}

/// Serialises entries as a zip (no zip64), honouring whatever lies they carry.
pub fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for e in entries {
        if e.share_data_of.is_some() {
            offsets.push(0);
            continue;
        }
        offsets.push(out.len() as u32);
        out.extend_from_slice(&0x04034b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&e.method.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // dos time + date
        out.extend_from_slice(&e.crc.to_le_bytes());
        out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&e.size.to_le_bytes());
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra length
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(&e.data);
    }
    let cd_start = out.len() as u32;
    for (i, e) in entries.iter().enumerate() {
        let (offset, data_len) = match e.share_data_of {
            Some(j) => (offsets[j], entries[j].data.len() as u32),
            None => (offsets[i], e.data.len() as u32),
        };
        out.extend_from_slice(&0x02014b50u32.to_le_bytes());
        out.extend_from_slice(&0x031Eu16.to_le_bytes()); // made by: unix, 3.0
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&e.method.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&e.crc.to_le_bytes());
        out.extend_from_slice(&data_len.to_le_bytes());
        out.extend_from_slice(&e.size.to_le_bytes());
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra
        out.extend_from_slice(&0u16.to_le_bytes()); // comment
        out.extend_from_slice(&0u16.to_le_bytes()); // disk
        out.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
        out.extend_from_slice(&(e.mode << 16).to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(e.name.as_bytes());
    }
    let cd_len = out.len() as u32 - cd_start;
    out.extend_from_slice(&0x06054b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A well-formed manifest for hand-made archives.
pub fn manifest_json(name: &str, handler: &str) -> String {
    format!(
        "{{\n  \"createdOn\": \"01/01/2026 00:00:00\",\n  \"runtime\": \"python\",\n  \"model\": {{\n    \"modelName\": \"{name}\",\n    \"handler\": \"{handler}\",\n    \"modelVersion\": \"1.0\"\n  }},\n  \"archiverVersion\": \"0.12.0\"\n}}"
    )
}

/// The classic overlapping-entries bomb: one deflated kernel of zeros that `count` central
/// directory entries all point at.
pub fn overlapping_bomb(count: usize, kernel_bytes: usize) -> Vec<u8> {
    let kernel = RawEntry::deflated("kernel", &vec![0u8; kernel_bytes]);
    let mut entries = vec![kernel.clone()];
    for i in 1..count {
        entries.push(RawEntry {
            name: format!("bomb_{i:05}"),
            share_data_of: Some(0),
            ..kernel.clone()
        });
    }
    raw_zip(&entries)
}

/// Every path under `dir` (relative, sorted), to prove nothing was written elsewhere.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(root, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}
