"""``python -m service``: serve with uvicorn on the configured host and port."""

import copy

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from service.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    # uvicorn configures only its own loggers, in every worker; add ours so version loads and
    # errors show up too.
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["service"] = {"handlers": ["default"], "level": "INFO"}
    uvicorn.run(
        "service.app:app",  # an import string, so that several workers can each import it
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=log_config,
    )
