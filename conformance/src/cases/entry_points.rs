//! Contract §1.4 and §2.3: how the handler string resolves, initialisation, and load failures.
use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};

use super::common::*;
use crate::client::Resp;
use crate::ensure;
use crate::harness::{CheckSpec, Failure, Group::EntryPoints as G, Session, must, should};

pub const CHECKS: &[CheckSpec] = &[
    must(
        "ENT-1.4-01",
        G,
        "A function entry point mod:fn is called once with data=None at load, before any predict",
    ),
    must(
        "ENT-1.4-02",
        G,
        "The function named in the handler string wins over a module-level handle",
    ),
    must(
        "ENT-1.4-03",
        G,
        "The register handler parameter overrides the manifest's handler",
    ),
    must(
        "ENT-1.4-04",
        G,
        "A class entry point: initialize(ctx) runs once per worker, before handle",
    ),
    must(
        "ENT-1.4-05",
        G,
        "Classes imported into the handler module do not count against the one-class rule",
    ),
    must(
        "ENT-1.4-06",
        G,
        "A handler string ending in .py resolves to the module",
    ),
    must(
        "ENT-1.4-07",
        G,
        "The load-time call fn(None, ctx) gets a context already holding the model name",
    ),
    must(
        "ENT-1.4-08",
        G,
        "A module defining two classes and no function fails to load: 500 \"Failed to start workers ...\"",
    ),
    must(
        "ENT-1.4-09",
        G,
        "A class without a handle method fails to load: 500 \"Failed to start workers ...\"",
    ),
    must(
        "ENT-2.3-01",
        G,
        "A handler whose import fails makes a synchronous register answer 500 \"Failed to start workers ...\"",
    ),
    must(
        "ENT-2.3-02",
        G,
        "After such a failed synchronous register the model is gone",
    ),
    must(
        "ENT-2.3-03",
        G,
        "A handler whose initialize raises fails to load: 500 \"Failed to start workers ...\"",
    ),
    should(
        "ENT-2.3-04",
        G,
        "A failed load leaves the server healthy for other models",
    ),
];

const FN: &str = "ent_fn";
const FN_HANDLE: &str = "ent_fn_handle";
const CLASS: &str = "ent_class";
const DOTPY: &str = "ent_dotpy";

pub fn run(s: &Session) -> LocalBoxFuture<'_, anyhow::Result<()>> {
    Box::pin(body(s))
}

async fn answer(s: &Session, model: &str) -> Result<(Resp, Value), Failure> {
    let resp = infer_json(s, model, &json!(1)).await?;
    let v = ok_json(&resp)?;
    Ok((resp, v))
}

fn failed_to_start(model: &str) -> String {
    format!("Failed to start workers for model {model} version: 1.0")
}

async fn try_load(s: &Session, fixture: &str, model: &str) -> Result<Resp, Failure> {
    let url = s
        .fixture_url(fixture, &Default::default(), &format!("{model}.mar"))
        .map_err(Failure::from)?;
    register(
        s,
        &url,
        &[
            ("model_name", model),
            ("initial_workers", "1"),
            ("synchronous", "true"),
        ],
    )
    .await
}

async fn body(s: &Session) -> anyhow::Result<()> {
    // Its own file: a target that downloads URLs refuses the same URL twice (500 "Model
    // file already exists").
    let fn_url = s.fixture_url("fn_entry", &Default::default(), "ent_fn_handle.mar")?;
    let (a, b, c, d) = tokio::join!(
        setup_model(s, "fn_entry", FN, 1, &[]),
        register_ok(
            s,
            &fn_url,
            &[
                ("model_name", FN_HANDLE),
                ("handler", "fn_entry:handle"),
                ("initial_workers", "1"),
                ("synchronous", "true")
            ]
        ),
        setup_model(s, "init_counter", CLASS, 1, &[]),
        setup_model(s, "echo", DOTPY, 1, &[]),
    );
    a?;
    b?;
    c?;
    d?;

    let fn_answer = answer(s, FN).await;
    s.check("ENT-1.4-01", async {
        let (r, v) = fn_answer.clone()?;
        ensure!(
            v["init_calls"] == 1,
            r,
            "predict(None, ctx) should have run exactly once, saw {}",
            v["init_calls"]
        );
        let rec = &v["init_records"][0];
        ensure!(
            rec["data_is_none"] == true && rec["request_ids_unset"] == true,
            r,
            "the init call should get data=None and no request ids: {rec}"
        );
        Ok(())
    })
    .await;
    s.check("ENT-1.4-02", async {
        let (r, v) = fn_answer.clone()?;
        ensure!(
            v["entry"] == "predict",
            r,
            "fn_entry:predict should be the entry point, got {}",
            v["entry"]
        );
        Ok(())
    })
    .await;
    s.check("ENT-1.4-07", async {
        let (r, v) = fn_answer.clone()?;
        ensure!(
            v["init_records"][0]["context_model_name"] == FN,
            r,
            "the init call's context should carry model_name {FN}"
        );
        ensure!(
            v["init_records"][0]["batch_size"] == 1,
            r,
            "the init call's context should carry batch_size 1"
        );
        Ok(())
    })
    .await;
    s.check("ENT-1.4-03", async {
        let (r, v) = answer(s, FN_HANDLE).await?;
        ensure!(
            v["entry"] == "handle",
            r,
            "handler=fn_entry:handle should select handle, got {}",
            v["entry"]
        );
        Ok(())
    })
    .await;
    let class_answer = answer(s, CLASS).await;
    s.check("ENT-1.4-04", async {
        let (r, v) = class_answer.clone()?;
        ensure!(
            v["init_calls"] == 1
                && v["initialized_before_handle"] == true
                && v["handle_calls"] == 1,
            r,
            "initialize should run once, before the first handle"
        );
        Ok(())
    })
    .await;
    s.check("ENT-1.4-05", async {
        let (r, _) = class_answer.clone()?;
        r.expect_status(200)
    })
    .await;
    s.check("ENT-1.4-06", async {
        let (r, v) = answer(s, DOTPY).await?;
        ensure!(
            v["manifest"]["model"]["handler"] == "echo.py" && v["init_calls"] == 1,
            r,
            "echo.py should have loaded as module echo"
        );
        Ok(())
    })
    .await;

    let (two, nohandle, import, init) = tokio::join!(
        try_load(s, "two_classes", "ent_two_classes"),
        try_load(s, "no_handle", "ent_no_handle"),
        try_load(s, "import_error", "ent_import_error"),
        try_load(s, "init_error", "ent_init_error"),
    );
    let ise = "InternalServerException";
    s.check("ENT-1.4-08", async {
        two?.expect_error(500, ise, &failed_to_start("ent_two_classes"))
    })
    .await;
    s.check("ENT-1.4-09", async {
        nohandle?.expect_error(500, ise, &failed_to_start("ent_no_handle"))
    })
    .await;
    s.check("ENT-2.3-01", async {
        import
            .clone()?
            .expect_error(500, ise, &failed_to_start("ent_import_error"))
    })
    .await;
    s.check("ENT-2.3-02", async {
        let resp = s.management.get("/models/ent_import_error").send().await?;
        resp.expect_error(
            404,
            "ModelNotFoundException",
            "Model not found: ent_import_error",
        )
    })
    .await;
    s.check("ENT-2.3-03", async {
        init?.expect_error(500, ise, &failed_to_start("ent_init_error"))
    })
    .await;
    s.check("ENT-2.3-04", async {
        s.inference
            .get("/ping")
            .send()
            .await?
            .expect_status_message(200, "Healthy")?;
        let (r, v) = answer(s, CLASS).await?;
        ensure!(
            v["init_calls"] == 1,
            r,
            "the other model should still answer"
        );
        Ok(())
    })
    .await;
    Ok(())
}
