"""Both edges of the statistics, as one router for the app: the page and the open-data API."""

from fastapi import APIRouter

from ceir.stats import api, pages

router = APIRouter()
router.include_router(pages.router)
router.include_router(api.router)
