"""otpservice: self-hosted SMS one-time-passcode verification."""

__version__ = "0.1.0"
