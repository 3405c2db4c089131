"""Run the chat over the configured notes (default: seeds/) on http://127.0.0.1:7860.

    python app.py                       # BOT_HOST, BOT_PORT, BOT_ROOT_PATH, BOT_NOTES_DIR, ...
    bash scripts/run.sh                 # sets up .venv first, then this

The same as `bot serve`. The app factory is `bot.web.app.create_app`.
"""

import sys

from bot.web.server import main

if __name__ == "__main__":
    sys.exit(main())
