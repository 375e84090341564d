"""Ollama-compatible routes (work in progress)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from localvoice import __version__
from localvoice.server.security import check_token_http

router = APIRouter(prefix="/api", tags=["Ollama-compatible"], dependencies=[Depends(check_token_http)])


@router.get("/version", summary="The server's version")
async def version() -> dict[str, str]:
    return {"version": __version__}
