"""`python -m app`: serve Interleave with uvicorn.

The entry module stays light: child processes started with spawn or forkserver
re-import `__main__`, and the heavy imports below only run in the real main.
"""

if __name__ == "__main__":
    import os
    from types import FrameType

    import uvicorn

    from app.runner import stop_all_runs

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # uvicorn drains open connections before the app's shutdown runs; event
            # streams only end with their runs, so stop the runs first.
            stop_all_runs()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        "app.main:create_app",
        factory=True,
        host=os.environ.get("INTERLEAVE_HOST", "127.0.0.1"),
        port=int(os.environ.get("INTERLEAVE_PORT", "8000")),
        log_level=os.environ.get("INTERLEAVE_LOG_LEVEL", "info"),
        # A stream that still does not end (a stuck client) cannot hold shutdown up.
        timeout_graceful_shutdown=5,
    )
    Server(config).run()
