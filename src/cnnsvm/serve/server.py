"""Running the application with uvicorn."""

from __future__ import annotations

import ipaddress

from cnnsvm.serve.app import create_app

LOOPBACK_NAMES = ("localhost",)


def run_server(model_path, host="127.0.0.1", port=8000, **app_kwargs):
    """Serve a model's drawing page and API until interrupted.

    Parameters
    ----------
    model_path : str or Path
        A model file exported by :func:`cnnsvm.persistence.save`.
    host : str, default="127.0.0.1"
        Address to listen on. The default is reachable from this machine only;
        ``0.0.0.0`` exposes the server to the network (it has no authentication).
    port : int, default=8000
    **app_kwargs
        ``max_upload_bytes``, ``max_pixels``, ``reject_threshold``, ``top_k``,
        ``allowed_hosts``, ``max_in_flight``, ``max_queue``, ``model_sha256``,
        ``allow_teach``, ``teach_limits``, ``teach_views``:
        see :func:`cnnsvm.serve.create_app`. A specific ``host`` address is
        added to the allowed host names.

    Raises
    ------
    cnnsvm.exceptions.ModelFileError
        If the model cannot be loaded (raised before the server starts listening).
    """
    import uvicorn

    allowed = list(app_kwargs.pop("allowed_hosts", None) or [])
    if host not in ("", "0.0.0.0", "::"):
        allowed.append(host)
    app = create_app(model_path, allowed_hosts=allowed, **app_kwargs)
    print(f"cnnsvm: serving {model_path} at {page_url(host, port)}  (Ctrl+C to stop)", flush=True)
    if not is_loopback(host):
        print(
            f"cnnsvm: warning: listening on {host} makes the page reachable from other machines; "
            "it has no authentication. It answers only requests for the host names "
            f"{', '.join(sorted(app.state.allowed_hosts))} (add more with --allowed-host)",
            flush=True,
        )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def page_url(host, port):
    """The URL a browser on this machine opens for a server on ``host``:``port``."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def is_loopback(host):
    """Tell whether ``host`` is a loopback address (or ``localhost``)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
