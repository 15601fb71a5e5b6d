"""``python -m service``: serve with uvicorn on the configured host and port."""

import logging

import uvicorn

from service.app import create_app
from service.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    # uvicorn configures only its own loggers; this makes version loads and errors visible too.
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level
    )
