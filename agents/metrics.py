"""The worker's Prometheus endpoint: /metrics on worker.metrics_host:metrics_port."""

from __future__ import annotations

from typing import Any

import faust

from pipeline.app import Runtime


def register(app: faust.App, rt: Runtime) -> Any:
    if rt.settings.worker.metrics_port <= 0:
        return None

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        writer = rt.writer
        rt.metrics.set("bulk_requests_total", writer.requests)
        rt.metrics.set("bulk_failures_total", writer.failures)
        rt.metrics.set("bulk_seconds_total", round(writer.seconds, 6))
        rt.metrics.set("bulk_backpressure_waits_total", writer.backpressure_waits)
        if rt.decisions is not None:
            rt.metrics.set("decisions_live", len(rt.decisions.view))
        return web.text(rt.metrics.render("restguard_worker"), content_type="text/plain")

    return metrics
