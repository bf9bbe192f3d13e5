"""A stand-alone simulator of the Turkey SMS API v3 with a dev inbox.

It imports nothing from the service on purpose: it is the provider's picture,
built from its documentation and NOTES.md, so contract tests compare two
independent readings rather than the client with itself.
"""

from .app import create_simulator
from .faults import SimulatedReset
from .inbox import render_inbox
from .state import Account, Faults, InboxMessage, SimulatorState, sms_parts
from .wire import print_r

__all__ = [
    "Account",
    "Faults",
    "InboxMessage",
    "SimulatedReset",
    "SimulatorState",
    "create_simulator",
    "print_r",
    "render_inbox",
    "sms_parts",
]
