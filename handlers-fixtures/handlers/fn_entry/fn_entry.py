"""Function entry point named by the handler string `fn_entry:predict`.

The worker must call predict(None, ctx) once at load time and then predict(data, ctx)
for each batch. `handle` exists to prove the named function wins; registering with
handler=fn_entry:handle selects it instead (it answers entry "handle").
"""
import os

INIT_RECORDS = []


def predict(data, context):
    if data is None:
        INIT_RECORDS.append(
            {
                "data_is_none": True,
                "context_model_name": context.model_name,
                "request_ids_unset": not context.request_ids,
                "batch_size": context.system_properties.get("batch_size"),
            }
        )
        return None
    return [
        {
            "entry": "predict",
            "pid": os.getpid(),
            "init_calls": len(INIT_RECORDS),
            "init_records": INIT_RECORDS,
        }
        for _ in data
    ]


def handle(data, context):
    if data is None:
        return None
    return [{"entry": "handle", "pid": os.getpid()} for _ in data]
