"""SMS texts for locally generated codes, with the optional autofill lines."""

from __future__ import annotations


def compose(
    template: str,
    code: str,
    *,
    minutes: int,
    webotp_domain: str | None = None,
    app_hash: str | None = None,
) -> str:
    """The message a person receives.

    Android's SMS Retriever finds the app hash anywhere in the text; WebOTP needs
    '@domain #code' as the last line, so that line always comes last.
    """
    text = template.replace("{code}", code).replace("{minutes}", str(minutes))
    if app_hash:
        text += f"\n\n{app_hash}"
    if webotp_domain:
        text += f"\n\n@{webotp_domain} #{code}"
    return text
