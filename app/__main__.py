"""`python -m app`: serve Interleave with uvicorn.

The entry module stays light: child processes started with spawn or forkserver
re-import `__main__`, and the heavy imports below only run in the real main.
"""

if __name__ == "__main__":
    import os

    import uvicorn

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=os.environ.get("INTERLEAVE_HOST", "127.0.0.1"),
        port=int(os.environ.get("INTERLEAVE_PORT", "8000")),
        log_level=os.environ.get("INTERLEAVE_LOG_LEVEL", "info"),
        # Open event streams would otherwise hold a shutdown until their runs end.
        timeout_graceful_shutdown=5,
    )
