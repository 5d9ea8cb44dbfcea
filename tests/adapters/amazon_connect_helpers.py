"""Shared by the Amazon Connect adapter tests: the secret, the unknown caller's answer, fixtures."""

from __future__ import annotations

from telephony_adapters.amazon_connect import AmazonConnectAdapter
from telephony_adapters.base import AdapterConfig
from tests.support import vendor_fixtures

SECRET = "connect-secret-of-acme"
CONFIG = AdapterConfig(secret=SECRET)
CONTACT = "4a573372-1f28-4e26-b97b-0242ac120002"
UNKNOWN = {
    "callerName": "",
    "callerLanguage": "",
    "hasOpenCallback": "false",
    "recognised": "false",
}

adapter = AmazonConnectAdapter()


def fixture(name: str) -> bytes:
    return vendor_fixtures.load("amazon_connect", name).body
