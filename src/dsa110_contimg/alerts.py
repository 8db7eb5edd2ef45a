"""Operator alerts: a webhook POST and/or an e-mail when something needs a person.

Kinds sent by the pipeline:

* ``ese_candidate``: a new ESE candidate (the worker, after the normalization of an image);
* ``worker_degraded``: a worker cannot store results (database or disk full, unreachable);
* ``stream_stalled``: the oldest unfinished stream group is older than
  ``alerts.stream_stall_seconds`` (checked by the stream at each pass);
* ``calibration_refused``: the stream refused a calibration solution (its policy path,
  ``CalibrationStep.register_solution`` in ``conversion.streaming.calibration``).

Delivery never raises: a failed delivery is logged and the pipeline goes on.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from email.message import EmailMessage
from typing import Any

from .config import Settings, resolve_settings

__all__ = ["KINDS", "check_stream_stall", "send_alert"]

log = logging.getLogger(__name__)

KINDS = ("ese_candidate", "worker_degraded", "stream_stalled", "calibration_refused")


def send_alert(
    kind: str,
    message: str,
    details: dict[str, Any] | None = None,
    *,
    settings: Settings | None = None,
) -> int:
    """Send one alert to the configured webhook and/or e-mail recipients.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    message : str
        One line for a person.
    details : dict, optional
        Machine-readable details (JSON-serializable).
    settings : Settings, optional
        ``settings.alerts`` says where to send.

    Returns
    -------
    int
        How many deliveries succeeded (0 when nothing is configured or all failed).
    """
    cfg = resolve_settings(settings).alerts
    payload = {"kind": kind, "message": message, "text": f"[contimg] {message}",
               "details": details or {}, "time": time.time()}  # fmt: skip
    ok = 0
    if cfg.webhook_url:
        try:
            req = urllib.request.Request(
                cfg.webhook_url,
                data=json.dumps(payload, default=str).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(req, timeout=cfg.timeout_s) as resp:  # noqa: S310
                if 200 <= resp.status < 300:
                    ok += 1
        except Exception as exc:  # noqa: BLE001 - an alert must never stop the pipeline
            log.warning("alert %s not delivered to the webhook: %s", kind, exc)
    if cfg.smtp_host and cfg.smtp_to:
        import smtplib

        mail = EmailMessage()
        mail["Subject"] = f"[contimg] {kind}: {message}"[:200]
        mail["From"] = cfg.smtp_from
        mail["To"] = ", ".join(cfg.smtp_to)
        mail.set_content(f"{message}\n\n{json.dumps(details or {}, indent=1, default=str)}\n")
        try:
            with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s) as smtp:
                smtp.send_message(mail)
            ok += 1
        except Exception as exc:  # noqa: BLE001
            log.warning("alert %s not delivered by e-mail: %s", kind, exc)
    if ok == 0 and (cfg.webhook_url or cfg.smtp_host):
        log.error("ALERT %s (undelivered): %s", kind, message)
    return ok


def check_stream_stall(
    status: dict[str, Any], *, state: dict[str, bool], settings: Settings | None = None
) -> bool:
    """Alert once when the stream's lag passes ``alerts.stream_stall_seconds``.

    Parameters
    ----------
    status : dict
        :func:`~dsa110_contimg.conversion.streaming.stream_status` (its ``lag_seconds``).
    state : dict
        The caller's memory (``{"stalled": bool}``), so one stall gives one alert.

    Returns
    -------
    bool
        Whether the stream is stalled now.
    """
    settings = resolve_settings(settings)
    lag = float(status.get("lag_seconds") or 0.0)
    stalled = lag > settings.alerts.stream_stall_seconds
    if stalled and not state.get("stalled"):
        send_alert("stream_stalled",
                   f"stream stalled: oldest unfinished group waiting {lag:.0f} s",
                   {"lag_seconds": lag, "counts": status.get("counts")},
                   settings=settings)  # fmt: skip
    state["stalled"] = stalled
    return stalled
