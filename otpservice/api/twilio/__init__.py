"""A Twilio Verify v2-compatible surface (SMS) that the official Twilio SDKs use unchanged."""

from otpservice.api.twilio.routes import twilio_router

__all__ = ["twilio_router"]
