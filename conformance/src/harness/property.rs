//! Property tests inside checks: proptest strategies and shrinking, driven from async code
//! (each case talks to the server, so the runner cannot be proptest's synchronous one).
use std::fmt::Debug;
use std::future::Future;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};

use super::outcome::{CheckResult, Failure};

/// Extra server round trips spent looking for a smaller failing input.
const MAX_SHRINK_RUNS: u32 = 12;

/// Runs `body` on `cases` inputs drawn from `strategy`. On a failure, shrinks the input the
/// way proptest does (simplify while failing, complicate when passing) and reports the
/// smallest failing input with its failure.
pub async fn for_all<S, F, Fut>(cases: u32, strategy: S, mut body: F) -> CheckResult
where
    S: Strategy,
    S::Value: Debug + Clone,
    F: FnMut(S::Value) -> Fut,
    Fut: Future<Output = CheckResult>,
{
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    for case in 1..=cases {
        let mut tree = strategy
            .new_tree(&mut runner)
            .map_err(|e| Failure::new(format!("generating an input: {e}")))?;
        let input = tree.current();
        let Err(failure) = body(input.clone()).await else {
            continue;
        };
        let mut smallest = (input, failure);
        let mut runs = 0;
        let mut more = tree.simplify();
        while more && runs < MAX_SHRINK_RUNS {
            runs += 1;
            let candidate = tree.current();
            match body(candidate.clone()).await {
                Err(f) => {
                    smallest = (candidate, f);
                    more = tree.simplify();
                }
                Ok(()) => more = tree.complicate(),
            }
        }
        let (input, failure) = smallest;
        return Err(Failure {
            message: format!(
                "property fails for input {input:?} (case {case} of {cases}, {runs} shrink runs): {}",
                failure.message
            ),
            ..failure
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_when_the_property_holds() {
        let r = for_all(20, 0u32..100, |n| async move {
            if n < 100 {
                Ok(())
            } else {
                Err(Failure::new("too big"))
            }
        })
        .await;
        assert!(r.is_ok());
    }

    #[tokio::test]
    async fn shrinks_toward_the_smallest_failure() {
        let err = for_all(50, 0u32..1000, |n| async move {
            if n < 10 {
                Ok(())
            } else {
                Err(Failure::new(format!("{n} too big")))
            }
        })
        .await
        .expect_err("most inputs fail");
        assert!(
            err.message.starts_with("property fails for input "),
            "{}",
            err.message
        );
        let shown: u32 = err.message["property fails for input ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(shown >= 10, "the reported input must fail: {shown}");
    }
}
