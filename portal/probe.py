import socket


def tcp_reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether a server answers on host:port: how tests and benchmarks decide to use
    PostgreSQL or Redis when they run, and to fall back when they do not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
