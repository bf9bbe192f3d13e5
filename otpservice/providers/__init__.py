"""SMS provider adapters implementing ``otpservice.domain.ports.SmsGateway``."""
