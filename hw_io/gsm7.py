"""GSM 03.38 (GSM-7) text rules: what fits in one SMS, and how to make any text fit.

An SMS carries 160 septets. Characters of the basic table cost one septet, those of the extension
table (``^{}\\[~]|€`` and form feed) cost two, because they are sent as ESC + code. Anything else
would force the whole message into UCS-2 (70 characters), so we transliterate it instead.
"""

from __future__ import annotations

import unicodedata

SMS_SEPTETS = 160

# The basic table without ESC (0x1B), which is not a character but the escape into the extension table.
BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = frozenset("\f^{}\\[~]|€")

# Look-alikes for characters that NFKD does not reduce to GSM-7 on its own.
_LOOKALIKE = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'", "´": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "«": '"', "»": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\t": " ",
    "•": "*", "×": "x", "÷": "/", "°": "o",
}
_ELLIPSIS = "..."


def _cost(ch: str) -> int:
    return 2 if ch in EXTENSION else 1


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 basic or extension table."""
    return all(ch in BASIC or ch in EXTENSION for ch in text)


def septets(text: str) -> int:
    """Septets the text needs in a GSM-7 SMS. Raises ValueError for characters outside GSM-7."""
    total = 0
    for ch in text:
        if ch in BASIC:
            total += 1
        elif ch in EXTENSION:
            total += 2
        else:
            raise ValueError(f"character {ch!r} is not in the GSM-7 alphabet")
    return total


def _transliterate(ch: str) -> str:
    if ch in BASIC or ch in EXTENSION:
        return ch
    if ch in _LOOKALIKE:
        return _LOOKALIKE[ch]
    stripped = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if stripped and is_gsm7(stripped):
        return stripped
    return "?"


def fit_sms(text: str, limit: int = SMS_SEPTETS) -> str:
    """Return `text` as GSM-7 that fits one SMS of `limit` septets.

    Characters outside GSM-7 become a close look-alike (accents stripped, smart quotes to plain quotes,
    dashes to '-') or '?'. Control characters such as Ctrl-Z and ESC also become '?', so a text can
    never end or abort the modem's text entry early.

    Longer texts are truncated and end with "...", never split into a multipart SMS: a multipart SMS
    can arrive partly or out of order, and a guard's phone may show only the first part. So callers
    put what matters first (site, severity, event, evidence id); the tail is what truncation drops.
    """
    if limit < len(_ELLIPSIS):
        raise ValueError(f"limit must be at least {len(_ELLIPSIS)} septets, got {limit}")
    fitted = "".join(_transliterate(ch) for ch in text)
    if septets(fitted) <= limit:
        return fitted
    budget = limit - len(_ELLIPSIS)
    out, used = [], 0
    for ch in fitted:
        if used + _cost(ch) > budget:
            break
        out.append(ch)
        used += _cost(ch)
    return "".join(out) + _ELLIPSIS


# In text mode the modem is driven with the IRA (ASCII) character set: in GSM charset the bytes for
# '@' (0x00) and 'Ξ' (0x1A = Ctrl-Z) and the extension escape (0x1B = ESC) would clash with the
# control bytes that end or abort text entry. The modem itself maps ASCII onto GSM-7 (extension
# characters included), so only the non-ASCII GSM characters need a stand-in.
def to_ira(text: str) -> str:
    """ASCII stand-in for GSM-7 text, one character for one, so the septet count never grows."""
    out = []
    for ch in text:
        if ch == "\n" or ch == "\r" or " " <= ch <= "~":
            out.append(ch)
            continue
        stripped = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(stripped if len(stripped) == 1 and " " <= stripped <= "~" else "?")
    return "".join(out)
