//! What running a check gives: pass, fail (with the exchange that broke it), skipped, disabled.
use serde::Serialize;

/// One HTTP request and the response to it, as text, for failure reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    pub request: String,
    pub response: String,
}

/// Why a check did not pass. Built by the assertion helpers; `?` turns any `anyhow` error
/// into one without an exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<Exchange>,
    /// Set when the check found at run time that the target cannot exercise it
    /// (e.g. torch with CUDA absent): reported as skipped, not failed.
    #[serde(skip)]
    pub skip: bool,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            exchange: None,
            skip: false,
        }
    }

    pub fn with_exchange(message: impl Into<String>, exchange: Exchange) -> Self {
        Self {
            message: message.into(),
            exchange: Some(exchange),
            skip: false,
        }
    }

    /// The check cannot run on this target; the reason is reported.
    pub fn skip(reason: impl Into<String>) -> Self {
        Self {
            message: reason.into(),
            exchange: None,
            skip: true,
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::new(format!("{e:#}"))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(x) = &self.exchange {
            write!(
                f,
                "\n--- request\n{}\n--- response\n{}",
                x.request, x.response
            )?;
        }
        Ok(())
    }
}

pub type CheckResult = Result<(), Failure>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail { failure: Failure },
    Skipped { reason: String },
    Disabled,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail { .. } => "fail",
            Outcome::Skipped { .. } => "skipped",
            Outcome::Disabled => "disabled",
        }
    }

    pub fn is_fail(&self) -> bool {
        matches!(self, Outcome::Fail { .. })
    }
}

/// `ensure!(cond, exchange_source, "message {}", args)`: fail the check with the exchange of
/// a response when `cond` is false. The second argument is anything with `.exchange()`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $resp:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::harness::Failure::with_exchange(format!($($fmt)+), $resp.exchange()));
        }
    };
}

/// `fail!("message {}", args)`: fail the check without an exchange.
#[macro_export]
macro_rules! fail {
    ($($fmt:tt)+) => {
        return Err($crate::harness::Failure::new(format!($($fmt)+)))
    };
}

impl std::error::Error for Failure {}
