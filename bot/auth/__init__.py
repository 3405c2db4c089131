"""Who may use a shared deployment: users, passwords, API tokens and browser sessions.

Owns: the users file (`accounts`: read on demand, written atomically), password hashing
(`passwords`: scrypt), and signed session cookies (`sessions`).

May import: the shared leaves only. The web layer's sign-in gate (`bot.web.auth`) and the
CLI's `bot users` / `bot tokens` use it.
"""
