"""`python -m app`: serve Interleave (settings from the environment: app/config.py).

The entry module stays light: child processes started with spawn or forkserver
re-import `__main__`, and the imports below only run in the real main.
"""

if __name__ == "__main__":
    from app.config import get_settings
    from app.server import serve

    serve(get_settings())
