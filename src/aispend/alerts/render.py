"""One :class:`~.model.Message`, four wire formats: Slack Block Kit, a Teams Adaptive Card, a
generic JSON webhook body, and an email (plain text + HTML).

Pure functions: no I/O, no secrets. Vendor limits are respected (Slack: header 150 characters,
section text 3,000, 10 fields).
"""

from __future__ import annotations

import html
from email.message import EmailMessage
from typing import Any

from .model import Message

_EMOJI = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}
_TEAMS_COLOR = {"critical": "Attention", "warning": "Warning", "info": "Accent"}
_HTML_COLOR = {"critical": "#b42318", "warning": "#b54708", "info": "#175cd3"}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack(msg: Message) -> dict[str, Any]:
    """An incoming-webhook body: ``text`` (notifications, fallback) plus Block Kit ``blocks``."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(msg.title, 150), "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": _cut(f"{_EMOJI.get(msg.severity, '')} {_slack_escape(msg.summary)}", 3000)}},
    ]
    if msg.facts:
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": _cut(f"*{_slack_escape(k)}*\n{_slack_escape(v)}", 2000)} for k, v in msg.facts[:10]
        ]})
    if msg.contributors:
        lines = [f"*Top by {_slack_escape(by)}:* " + ", ".join(f"{_slack_escape(v)} {c}" for v, c in values)
                 for by, values in msg.contributors]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut("\n".join(lines), 3000)}})
    if msg.owners:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": _cut("Owners: " + ", ".join(_slack_escape(o) for o in msg.owners), 3000)}]})
    if msg.link:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open in aispend"}, "url": msg.link}]})
    return {"text": _cut(f"{msg.title}: {msg.summary}", 3000), "blocks": blocks}


def teams(msg: Message) -> dict[str, Any]:
    """A Teams webhook (Workflows) body: one Adaptive Card 1.4 attachment."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": msg.title, "weight": "Bolder", "size": "Medium", "wrap": True,
         "color": _TEAMS_COLOR.get(msg.severity, "Default")},
        {"type": "TextBlock", "text": msg.summary, "wrap": True},
    ]
    if msg.facts:
        body.append({"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in msg.facts]})
    for by, values in msg.contributors:
        body.append({"type": "TextBlock", "wrap": True, "spacing": "Small",
                     "text": f"**Top by {by}:** " + ", ".join(f"{v} {c}" for v, c in values)})
    if msg.owners:
        body.append({"type": "TextBlock", "text": "Owners: " + ", ".join(msg.owners), "isSubtle": True, "wrap": True})
    card: dict[str, Any] = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                            "version": "1.4", "body": body}
    if msg.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in aispend", "url": msg.link}]
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


def webhook(msg: Message, *, delivery_id: str, kind: str, rule: str, scope: str, period: str, level: int,
            level_label: str, timestamp: int) -> dict[str, Any]:
    """The generic webhook body; ``timestamp`` equals the X-Aispend-Timestamp header (and is signed)."""
    return {"id": delivery_id, "timestamp": timestamp, "kind": kind, "rule": rule, "scope": scope, "period": period,
            "level": level, "level_label": level_label, "severity": msg.severity, "title": msg.title,
            "summary": msg.summary, "facts": [{"name": k, "value": v} for k, v in msg.facts],
            "contributors": [{"by": by, "top": [{"value": v, "cost": c} for v, c in values]}
                             for by, values in msg.contributors],
            "link": msg.link, "owners": msg.owners, "data": msg.data}


def email(msg: Message, *, sender: str, to: list[str], message_id: str) -> EmailMessage:
    """A multipart/alternative email: plain text first, then HTML."""
    text = [msg.summary, ""] + [f"{k}: {v}" for k, v in msg.facts]
    for by, values in msg.contributors:
        text.append(f"Top by {by}: " + ", ".join(f"{v} {c}" for v, c in values))
    if msg.owners:
        text.append("Owners: " + ", ".join(msg.owners))
    if msg.link:
        text += ["", f"Open in aispend: {msg.link}"]
    e = html.escape
    rows = "".join(f"<tr><th align='left' style='padding-right:12px'>{e(k)}</th><td>{e(v)}</td></tr>"
                   for k, v in msg.facts)
    tops = "".join(f"<li><b>Top by {e(by)}:</b> " + ", ".join(f"{e(v)} {e(c)}" for v, c in values) + "</li>"
                   for by, values in msg.contributors)
    page = (f"<html><body style='font-family:sans-serif'>"
            f"<h2 style='color:{_HTML_COLOR.get(msg.severity, '#101828')}'>{e(msg.title)}</h2>"
            f"<p>{e(msg.summary)}</p><table>{rows}</table>" + (f"<ul>{tops}</ul>" if tops else "")
            + (f"<p>Owners: {e(', '.join(msg.owners))}</p>" if msg.owners else "")
            + (f"<p><a href='{e(msg.link, quote=True)}'>Open in aispend</a></p>" if msg.link else "")
            + "</body></html>")
    m = EmailMessage()
    m["Subject"] = f"[aispend] {msg.title}"
    m["From"] = sender
    m["To"] = ", ".join(to)
    m["Message-ID"] = message_id
    m.set_content("\n".join(text) + "\n")
    m.add_alternative(page, subtype="html")
    return m
