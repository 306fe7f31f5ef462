"""For operators: liveness, readiness, and swapping in a newly ingested index generation."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from medcite.web.deps import HolderDep
from medcite.web.schemas import ErrorOut, ReloadOut
from medcite.web.security import StaffOnly, user_message

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (even when the index is not ready)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorOut}})
async def readyz(holder: HolderDep) -> JSONResponse:
    """200 when an index is loaded and answers can be served, else 503 with the reason."""
    error = holder.error
    if error is not None:
        return JSONResponse({"status": "not ready", "error": user_message(error)}, status_code=503)
    index = holder.current()
    return JSONResponse(
        {
            "status": "ready",
            "generation": index.generation,
            "documents": index.manifest.documents,
            "passages": index.manifest.passages,
            "model": index.manifest.model,
        }
    )


@router.post("/api/admin/reload", responses={401: {"model": ErrorOut}, 503: {"model": ErrorOut}})
async def reload_index(holder: HolderDep, _: StaffOnly) -> ReloadOut:
    """Open the generation CURRENT points at and serve it from now on. Requests in flight
    finish on the index they started with; if the new one cannot be opened, nothing changes."""
    new, old = await run_in_threadpool(holder.reload)
    return ReloadOut(
        generation=new.generation,
        previous_generation=None if old is None else old.generation,
        documents=new.manifest.documents,
        passages=new.manifest.passages,
    )
