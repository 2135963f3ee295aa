"""The dashboard: server-rendered pages (Jinja2) for growth teams and operators, served by the
same app under ``/dashboard``.

It reads through ``recovery.reports`` and writes through the public functions of
``recovery.engine`` and ``recovery.accounts`` (the same ones the JSON API calls); it never
queries tables itself. Sign-in is an account's API token, kept as a signed session cookie. Its
assets (CSS, the page script, plotly.js from the installed ``plotly`` package) are served by the
app itself: nothing is loaded from the internet. It must not import the sandbox: the app passes
the live sandbox's state in as a function.
"""
