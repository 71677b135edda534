//! Keeping the worker from outliving its server.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use crate::error::WorkerError;
use crate::logline;

/// Asks the kernel to SIGKILL this process when its parent dies. The parent may already have
/// died before the request took effect: then we have been re-parented, and we stop at once.
///
/// Note: the signal fires when the parent *thread* that spawned us exits, so the server must
/// spawn workers from a thread that lives as long as it does.
pub(crate) fn die_with_parent() -> Result<(), WorkerError> {
    let parent = std::os::unix::process::parent_id();
    set_parent_death_signal()?;
    if std::os::unix::process::parent_id() != parent {
        return Err(WorkerError::ParentGone);
    }
    Ok(())
}

#[allow(unsafe_code)]
fn set_parent_death_signal() -> std::io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG, sig) takes a signal number by value and touches no memory.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Starts a thread that ends the process as soon as the server closes its end of the socket,
/// even while a handler is busy (or hung) inside Python and the main loop cannot look.
pub(crate) fn exit_on_hangup(stream: &UnixStream) -> std::io::Result<()> {
    let stream = stream.try_clone()?;
    std::thread::Builder::new()
        .name("hangup-watch".into())
        .spawn(move || {
            loop {
                match wait_for_hangup(&stream) {
                    Ok(true) => break,
                    Ok(false) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            logline::emit("INFO", "the server closed the socket; worker exiting");
            std::process::exit(0);
        })?;
    Ok(())
}

/// Blocks until the peer has shut down or the socket failed. Only POLLRDHUP is asked for, so
/// pending request data does not wake this thread: the main loop consumes it.
#[allow(unsafe_code)]
fn wait_for_hangup(stream: &UnixStream) -> std::io::Result<bool> {
    let mut fds = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd, owned by this frame, for the duration of the call; the fd is
    // kept open by `stream`.
    let rc = unsafe { libc::poll(&mut fds, 1, -1) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fds.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0)
}
