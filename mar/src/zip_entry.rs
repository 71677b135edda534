//! Streaming, verifying reads of one zip entry: raw bytes -> inflate (when deflated) -> CRC-32
//! and size checked against the central directory. Nothing is buffered beyond a fixed window,
//! so a 1 GB entry costs the same memory as a 1 KB one.

use std::fs::File;
use std::io::{self, BufReader, Read};

use zip::CompressionMethod;
use zip::read::ZipFile;

/// Read buffer for the raw (compressed) stream.
const RAW_BUFFER: usize = 1 << 20;

/// What went wrong inside an entry, carried inside an `io::Error` so it crosses `Read`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryProblem {
    Checksum {
        expected: u32,
        actual: u32,
    },
    /// More bytes came out than the central directory declares: a zip-bomb trick.
    LongerThanDeclared {
        declared: u64,
    },
    ShorterThanDeclared {
        declared: u64,
        actual: u64,
    },
    Unsupported(String),
}

impl std::fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryProblem::Checksum { expected, actual } => {
                write!(
                    f,
                    "CRC-32 mismatch: stored {expected:08x}, computed {actual:08x}"
                )
            }
            EntryProblem::LongerThanDeclared { declared } => {
                write!(f, "inflates beyond its declared size of {declared} bytes")
            }
            EntryProblem::ShorterThanDeclared { declared, actual } => {
                write!(f, "holds {actual} bytes, {declared} declared")
            }
            EntryProblem::Unsupported(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for EntryProblem {}

/// Finds an [`EntryProblem`] inside an io error, if that is what it carries.
pub fn problem_of(e: &io::Error) -> Option<&EntryProblem> {
    e.get_ref()?.downcast_ref::<EntryProblem>()
}

fn fail(p: EntryProblem) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, p)
}

enum Decoder<'a> {
    Stored(BufReader<ZipFile<'a, File>>),
    Deflated(flate2::bufread::DeflateDecoder<BufReader<ZipFile<'a, File>>>),
}

/// Decompressed bytes of an entry opened with `by_index_raw`, verified as they stream.
pub struct VerifyingReader<'a> {
    decoder: Decoder<'a>,
    hasher: crc32fast::Hasher,
    expected_crc: u32,
    declared: u64,
    seen: u64,
    done: bool,
}

impl<'a> VerifyingReader<'a> {
    /// `raw` must come from `ZipArchive::by_index_raw` (undecoded bytes).
    pub fn new(raw: ZipFile<'a, File>) -> io::Result<Self> {
        if raw.encrypted() {
            return Err(fail(EntryProblem::Unsupported("encrypted entry".into())));
        }
        let expected_crc = raw.crc32();
        let declared = raw.size();
        let method = raw.compression();
        let buffered = BufReader::with_capacity(RAW_BUFFER, raw);
        let decoder = match method {
            CompressionMethod::Stored => Decoder::Stored(buffered),
            CompressionMethod::Deflated => {
                Decoder::Deflated(flate2::bufread::DeflateDecoder::new(buffered))
            }
            other => {
                return Err(fail(EntryProblem::Unsupported(format!(
                    "compression method {other:?} is not supported (TorchServe reads stored and deflated entries)"
                ))));
            }
        };
        Ok(VerifyingReader {
            decoder,
            hasher: crc32fast::Hasher::new(),
            expected_crc,
            declared,
            seen: 0,
            done: false,
        })
    }

    fn finish(&mut self) -> io::Result<()> {
        self.done = true;
        if self.seen != self.declared {
            return Err(fail(EntryProblem::ShorterThanDeclared {
                declared: self.declared,
                actual: self.seen,
            }));
        }
        let actual = self.hasher.clone().finalize();
        if actual != self.expected_crc {
            return Err(fail(EntryProblem::Checksum {
                expected: self.expected_crc,
                actual,
            }));
        }
        Ok(())
    }
}

impl Read for VerifyingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let n = match &mut self.decoder {
            Decoder::Stored(r) => r.read(buf)?,
            Decoder::Deflated(r) => r.read(buf)?,
        };
        if n == 0 {
            self.finish()?;
            return Ok(0);
        }
        self.seen += n as u64;
        if self.seen > self.declared {
            self.done = true;
            return Err(fail(EntryProblem::LongerThanDeclared {
                declared: self.declared,
            }));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads the whole entry through a fixed buffer, verifying it; returns the byte count.
pub fn verify(reader: &mut VerifyingReader<'_>) -> io::Result<u64> {
    // As large as the raw buffer, so stored data bypasses the BufReader copy.
    let mut buf = vec![0u8; RAW_BUFFER];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
