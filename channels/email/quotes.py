"""Where the quoted history of a reply starts, as mail clients write it in the languages they
write it in.

Why a module of its own: operators read the new part of a reply, and every client marks the
history differently. Gmail and Apple Mail write an attribution line ("On … wrote:") and quote
with ``>``; Outlook (desktop, OWA, the new Outlook) writes no ``>`` at all but a header block
(From/Sent/To/Subject, in the user's language), under a line of underscores or
"-----Original Message-----". The full text is always kept; this only decides what is shown.
"""

# ruff: noqa: RUF001 (the patterns are in the languages mail clients write, Cyrillic too)
from __future__ import annotations

import re

# "On Mon, 1 Jan 2026 at 10:00, Ada <ada@x> wrote:" (Gmail, Apple Mail, Thunderbird) and their
# translations; Gmail wraps a long one over two lines, so lines are also tried in pairs.
_ATTRIBUTION = re.compile(
    r"^\s*(On\s.{0,300}\swrote\s?:"
    r"|Am\s.{0,300}\sschrieb\s.{0,200}:"
    r"|Le\s.{0,300}\sa\s[ée]crit\s?:"
    r"|El\s.{0,300}\sescribi[óo]\s?:"
    r"|Il\s.{0,300}\sha\sscritto\s?:"
    r"|Em\s.{0,300}\sescreveu\s?:"
    r"|Op\s.{0,300}\sschreef\s.{0,200}:"
    r"|.{0,300}\sпишет\s?:"
    r"|.{0,300}<[^<>\s]+@[^<>\s]+>\s?(wrote|schrieb|a\s[ée]crit|escribi[óo]|ha\sscritto"
    r"|escreveu|schreef|пишет|написала?)?\s?:"
    r")\s*$",
    re.IGNORECASE,
)

# Outlook in plain-text mode: "-----Original Message-----" and its translations.
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(Original\sMessage|Message\sd'origine|Urspr[üu]ngliche\sNachricht"
    r"|Mensaje\soriginal|Исходное\sсообщение|Messaggio\soriginale|Mensagem\soriginal"
    r"|Oorspronkelijk\sbericht|Forwarded\smessage|Message\stransf[ée]r[ée]"
    r"|Weitergeleitete\sNachricht|Mensaje\sreenviado|Пересылаемое\sсообщение)\s*-{2,}\s*$",
    re.IGNORECASE,
)

# Outlook's header block, in the languages Outlook writes it (bold markers from HTML allowed).
_FROM = r"(From|De|Von|Da|Van|От|Från|Fra|Od|差出人|发件人|寄件者)"
_SENT = (
    r"(Sent|Date|Envoy[ée]|Date\sd'envoi|Gesendet|Datum|Enviado(\sel)?|Enviada\sem|Fecha"
    r"|Отправлено|Дата|Inviato|Data|Verzonden|Skickat|Sendt|Wysłano|送信日時|发送时间|寄件日期)"
)
_TO_OR_SUBJECT = (
    r"(To|À|A|An|Para|Кому|Aan|Till|Til|Do|Subject|Objet|Betreff|Asunto|Тема|Oggetto"
    r"|Assunto|Onderwerp|Ämne|Emne|Temat|Cc|Копия|宛先|件名|收件人|主题|收件者|主旨)"
)


def _field(names: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*\*?{names}\s*:\*?(\s|$)", re.IGNORECASE)


_FROM_LINE, _SENT_LINE, _TO_LINE = _field(_FROM), _field(_SENT), _field(_TO_OR_SUBJECT)
_SEPARATOR = re.compile(r"^\s*_{10,}\s*$")


def _outlook_block(lines: list[str], at: int) -> bool:
    """Does an Outlook header block (From, then Sent/Date and To/Subject) start at ``at``?"""
    if not _FROM_LINE.match(lines[at]):
        return False
    following = [line for line in lines[at + 1 : at + 6] if line.strip()][:4]
    return any(_SENT_LINE.match(x) for x in following) and any(_TO_LINE.match(x) for x in following)


def quote_start(lines: list[str]) -> int | None:
    """The index of the first line of quoted history, if there is any."""
    for n, line in enumerate(lines):
        if _ORIGINAL_MESSAGE.match(line):
            return n
        if _SEPARATOR.match(line):
            after = next((m for m in range(n + 1, len(lines)) if lines[m].strip()), None)
            if after is not None and _outlook_block(lines, after):
                return n
        if _outlook_block(lines, n):
            return n
        if _ATTRIBUTION.match(line):
            return n
        pair = f"{line} {lines[n + 1]}" if n + 1 < len(lines) else ""
        if pair and not lines[n + 1].startswith(">") and _ATTRIBUTION.match(pair):
            return n
    return None


def strip_quoted(text: str) -> str:
    """The new part of a reply: everything above the quoted history, ``>`` lines left out."""
    lines = text.splitlines()
    start = quote_start(lines)
    kept = [line for line in lines[:start] if not line.startswith(">")]
    new = "\n".join(kept).strip()
    return new or text.strip()
