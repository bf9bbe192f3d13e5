"""Turkey SMS API v3 provider: client, wire format and typed errors."""

from .client import DEFAULT_BASE_URL, ProviderTimeouts, TurkeySmsClient
from .errors import *  # noqa: F403 - the error module's __all__ is the public list
from .errors import __all__ as _error_names
from .redaction import Redactor, install_log_redaction, mask_msisdn

__all__ = [
    "DEFAULT_BASE_URL",
    "ProviderTimeouts",
    "Redactor",
    "TurkeySmsClient",
    "install_log_redaction",
    "mask_msisdn",
    *_error_names,
]
