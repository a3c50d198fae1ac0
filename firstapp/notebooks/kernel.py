"""The kernel that runs notebooks for ``make tutorial``, ``make notebooks`` and the tests.

Jupyter kernels talk over TCP on 127.0.0.1 by default, unencrypted, and ipykernel 7
warns about it at every start. Unix domain sockets (the ``ipc`` transport) keep the
traffic inside files only this user can open, and the warning goes away.
"""

from __future__ import annotations

from jupyter_client.manager import AsyncKernelManager
from traitlets import default


class IPCKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernels listen on Unix domain sockets."""

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"
