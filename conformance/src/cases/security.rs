//! Contract §0: the two default-on gates. Run against a target started with TorchServe's
//! defaults (token authorisation on, model API off), with its key file.
use futures_util::future::LocalBoxFuture;

use super::common::*;
use crate::ensure;
use crate::harness::{CheckSpec, Failure, Group::Security as G, Need, Session, must, should};
use crate::target::Keys;

const TOKEN: &[Need] = &[Need::TokenAuth];
const GATE: &[Need] = &[Need::ModelApiOff];

pub const CHECKS: &[CheckSpec] = &[
    must("SEC-0-01", G, "Without an Authorization header /ping answers 400 InvalidKeyException with the exact text").needs(TOKEN),
    must("SEC-0-02", G, "A wrong bearer key answers 400 InvalidKeyException").needs(TOKEN),
    must("SEC-0-03", G, "The inference key opens the inference API (/ping answers Healthy)").needs(TOKEN),
    must("SEC-0-04", G, "The management API answers 400 without a key and 200 with the management key").needs(TOKEN),
    must("SEC-0-05", G, "The inference key does not open the management API, nor the management key the inference API").needs(TOKEN),
    must("SEC-0-06", G, "Predictions need the key too (400 without, 404 for an unknown model with it)").needs(TOKEN),
    should("SEC-0-07", G, "The metrics API is not behind token authorisation").needs(TOKEN),
    should("SEC-0-08", G, "GET /token?type=inference with the API key issues a new inference key; the old one stops working")
        .needs(TOKEN)
        .note("needs --key-file; skipped at run time without the file's API key"),
    must("SEC-0-09", G, "With the model API off, POST /models answers 405 MethodNotAllowedException").needs(GATE),
    must("SEC-0-10", G, "With the model API off, DELETE /models/<m> answers 405 MethodNotAllowedException").needs(GATE),
    must("SEC-0-11", G, "With the model API off, scaling is not gated (PUT on an unknown model answers 404)").needs(GATE),
    must("SEC-0-12", G, "With the model API off, GET /models still answers 200").needs(GATE),
];

const INVALID_KEY: &str =
    "Token Authorization failed. Token either incorrect, expired, or not provided correctly";

pub fn run(s: &Session) -> LocalBoxFuture<'_, anyhow::Result<()>> {
    Box::pin(body(s))
}

fn keys(s: &Session) -> Result<&Keys, Failure> {
    s.target
        .keys
        .as_ref()
        .ok_or_else(|| Failure::new("token auth is on but no keys were given (--key-file)"))
}

async fn body(s: &Session) -> anyhow::Result<()> {
    let inf = &s.inference;
    let mgmt = &s.management;
    tokio::join!(
        s.check("SEC-0-01", async {
            inf.get("/ping").no_auth().send().await?.expect_error(
                400,
                "InvalidKeyException",
                INVALID_KEY,
            )
        }),
        s.check("SEC-0-02", async {
            inf.get("/ping")
                .bearer("tsconform-wrong-key")
                .send()
                .await?
                .expect_error(400, "InvalidKeyException", INVALID_KEY)?;
            mgmt.get("/models")
                .bearer("tsconform-wrong-key")
                .send()
                .await?
                .expect_error(400, "InvalidKeyException", INVALID_KEY)
        }),
        s.check("SEC-0-03", async {
            let k = keys(s)?;
            inf.get("/ping")
                .bearer(&k.inference)
                .send()
                .await?
                .expect_status_message(200, "Healthy")
        }),
        s.check("SEC-0-04", async {
            let k = keys(s)?;
            mgmt.get("/models").no_auth().send().await?.expect_error(
                400,
                "InvalidKeyException",
                INVALID_KEY,
            )?;
            mgmt.get("/models")
                .bearer(&k.management)
                .send()
                .await?
                .expect_status(200)
        }),
        s.check("SEC-0-05", async {
            let k = keys(s)?;
            mgmt.get("/models")
                .bearer(&k.inference)
                .send()
                .await?
                .expect_error(400, "InvalidKeyException", INVALID_KEY)?;
            inf.get("/ping")
                .bearer(&k.management)
                .send()
                .await?
                .expect_error(400, "InvalidKeyException", INVALID_KEY)
        }),
        s.check("SEC-0-06", async {
            let k = keys(s)?;
            inf.post("/predictions/tsc_nope")
                .no_auth()
                .send()
                .await?
                .expect_error(400, "InvalidKeyException", INVALID_KEY)?;
            inf.post("/predictions/tsc_nope")
                .bearer(&k.inference)
                .send()
                .await?
                .expect_error(404, "ModelNotFoundException", "Model not found: tsc_nope")
        }),
        s.check("SEC-0-07", async {
            s.metrics
                .get("/metrics")
                .no_auth()
                .send()
                .await?
                .expect_status(200)
        }),
        s.check("SEC-0-09", async {
            mgmt.post("/models?url=tsc_nope.mar")
                .send()
                .await?
                .expect_error(405, "MethodNotAllowedException", NOT_ALLOWED_MSG)
        }),
        s.check("SEC-0-10", async {
            mgmt.delete("/models/tsc_nope").send().await?.expect_error(
                405,
                "MethodNotAllowedException",
                NOT_ALLOWED_MSG,
            )
        }),
        s.check("SEC-0-11", async {
            mgmt.put("/models/tsc_nope?min_worker=1")
                .send()
                .await?
                .expect_error(404, "ModelNotFoundException", "Model not found: tsc_nope")
        }),
        s.check("SEC-0-12", async {
            mgmt.get("/models").send().await?.expect_status(200)
        }),
    );
    // Last: it replaces the inference key.
    s.check("SEC-0-08", async {
        let k = keys(s)?;
        let (Some(api), Some(path)) = (k.api.as_deref(), s.target.key_file.as_deref()) else {
            return Err(Failure::skip("no key file with an API key was given"));
        };
        let resp = mgmt.get("/token?type=inference").bearer(api).send().await?;
        resp.expect_status(200)?;
        let fresh = Keys::from_key_file(path)?;
        ensure!(
            fresh.inference != k.inference,
            resp,
            "the key file still holds the old inference key"
        );
        inf.get("/ping")
            .bearer(&fresh.inference)
            .send()
            .await?
            .expect_status_message(200, "Healthy")?;
        inf.get("/ping")
            .bearer(&k.inference)
            .send()
            .await?
            .expect_error(400, "InvalidKeyException", INVALID_KEY)
    })
    .await;
    Ok(())
}
