"""``python -m service``: serve with uvicorn on the configured host and port."""

import uvicorn

from service.app import create_app
from service.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level
    )
