"""Settings of operator alerts (TOML table ``[alerts]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AlertSettings(BaseModel):
    """Alert settings: where to send them, and when the stream counts as stalled.

    Parameters
    ----------
    webhook_url : str, optional
        URL that receives each alert as a JSON ``POST`` (``{"kind", "message", "details",
        "time"}``; Slack/Mattermost-style incoming webhooks accept it as is: ``text`` is the
        message). Unset: no webhook.
    smtp_host : str, optional
        SMTP server for e-mail alerts (plain SMTP, port ``smtp_port``). Unset: no e-mail.
    smtp_port : int
        SMTP port.
    smtp_from : str
        Sender address of alert e-mails.
    smtp_to : list of str
        Recipients of alert e-mails.
    timeout_s : float
        Network timeout of one delivery; a failed delivery is logged, never fatal.
    stream_stall_seconds : float
        The stream is stalled when its oldest unfinished group is older than this (an alert
        once per stall).
    """

    model_config = ConfigDict(extra="forbid")

    webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "contimg@localhost"
    smtp_to: list[str] = []
    timeout_s: float = Field(10.0, gt=0, le=600)
    stream_stall_seconds: float = Field(3600.0, gt=0, le=30 * 86400)
