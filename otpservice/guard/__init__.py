"""The fraud guard: conversion per number prefix and per country decides blocks.

The decisions are made in Redis by Lua (storage/lua/guard.lua, folded into the send's
shared step); this package holds the settings, the approval counter and the admin reads."""

from otpservice.guard.settings import GuardMode, GuardSettings

__all__ = ["GuardMode", "GuardSettings"]
