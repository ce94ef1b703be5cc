"""Print the API's OpenAPI document as JSON, without starting a server (input of `make api-types`).

The output depends only on the code: settings come from their defaults (no .env, no environment) with a
throw-away DATA_DIR, and the JSON is written the same way every time.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def openapi_document() -> dict:
    from burntbeats.api.app import create_app
    from burntbeats.settings import Settings

    for name in Settings.model_fields:  # the environment must not change the document
        for key in [k for k in os.environ if k.upper() == name.upper()]:
            del os.environ[key]
    with tempfile.TemporaryDirectory(prefix="burntbeats-openapi-") as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "data", models_dir=Path(tmp) / "models",
                            secret_key="openapi")
        return create_app(settings).openapi()


def main() -> None:
    sys.stdout.write(json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
