"""Tools beside the product: `bot eval` (`evaluate`), `bot adapt` (`adapt`), the settings table (`docs`).

May import: `bot.service` and everything below it. Nothing imports them but the CLI.
"""
