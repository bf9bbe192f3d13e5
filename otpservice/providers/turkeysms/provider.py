"""One Turkey SMS account as a routed provider: its client and where its codes come from."""

from __future__ import annotations

from typing import Final

import httpx

from otpservice.domain.ports import Balance, CodeMessage, Delivery, SentSms
from otpservice.provider_config import ProviderSpec

from .client import ProviderTimeouts, TurkeySmsClient


class TurkeySmsProvider:
    """``code_source`` provider: the OTP endpoint makes and sends the code; local: our text."""

    kind: Final = "turkeysms"

    def __init__(self, spec: ProviderSpec, transport: httpx.AsyncBaseTransport | None = None):
        self.name = spec.name
        self.low_balance_sms = spec.low_balance_sms
        self.makes_codes = spec.code_source == "provider"
        self.operation = "send_otp" if self.makes_codes else "send_sms"
        self.client = TurkeySmsClient(
            api_key=spec.api_key,
            base_url=spec.base_url,
            sender_id=spec.sender_id,
            timeouts=ProviderTimeouts(
                connect=spec.connect_timeout_seconds,
                read=spec.timeout_seconds,
                total=spec.timeout_seconds,
            ),
            transport=transport,
            use_get_for_sms=spec.use_get,
        )

    def __repr__(self) -> str:
        return f"TurkeySmsProvider({self.name!r})"

    async def send(self, msisdn: str, message: CodeMessage) -> SentSms:
        if self.makes_codes:
            return await self.client.send_otp(msisdn, digits=message.digits, lang=message.lang)
        sent = await self.client.send_sms(msisdn, message.text, lang=message.lang)
        return SentSms(sms_id=sent.sms_id, parts=sent.parts, otp_code=message.local_code)

    async def delivery(self, sms_id: str) -> Delivery:
        return await self.client.delivery(sms_id)

    async def balance(self) -> Balance | None:
        return await self.client.balance()

    async def aclose(self) -> None:
        await self.client.aclose()
