//! Async framed I/O on a worker's Unix socket (frame format: `worker_protocol`).

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use worker_protocol::{Frame, ProtocolError, body_len};

pub struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    max_frame: u32,
    buf: Vec<u8>,
}

impl Connection {
    pub fn new(stream: UnixStream, max_frame: u32) -> Connection {
        let (r, w) = stream.into_split();
        Connection {
            reader: BufReader::with_capacity(64 * 1024, r),
            writer: w,
            max_frame,
            buf: Vec::new(),
        }
    }

    /// Writes one frame (one `write_all`, so a frame is never interleaved).
    pub async fn send(&mut self, frame: &Frame) -> Result<(), ProtocolError> {
        self.buf.clear();
        frame.encode(&mut self.buf);
        self.writer.write_all(&self.buf).await?;
        Ok(())
    }

    /// Reads one frame; a closed socket is `Io("...eof...")`.
    pub async fn recv(&mut self) -> Result<Frame, ProtocolError> {
        let mut prefix = [0u8; 4];
        self.reader.read_exact(&mut prefix).await?;
        let len = body_len(prefix, self.max_frame)?;
        let mut body = vec![0u8; len];
        self.reader.read_exact(&mut body).await?;
        Frame::decode(&body)
    }
}
