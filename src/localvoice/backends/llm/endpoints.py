"""Where an HTTP LLM server lives: one reading of ``llm.host`` for every HTTP backend."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from localvoice.config import normalize_ollama_host


def ollama_base_url(host: str) -> str:
    """A full URL is kept as given; the short OLLAMA_HOST forms (``:11434``, ``host``) are completed."""
    host = host.strip()
    return host.rstrip("/") if "://" in host else normalize_ollama_host(host)


def is_loopback(url: str) -> bool:
    """True for this machine's own addresses: a proxy from the environment never serves them."""
    hostname = urlsplit(url).hostname or ""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False
