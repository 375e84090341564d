"""OpenAI-compatible routes (work in progress)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from localvoice.server.security import check_token_http

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], dependencies=[Depends(check_token_http)])


@router.get("/models", summary="The models this server answers with")
async def list_models(request: Request) -> dict[str, Any]:
    state = request.app.state.localvoice
    return {
        "object": "list",
        "data": [{"id": state.llm.description, "object": "model", "owned_by": "localvoice"}],
    }
