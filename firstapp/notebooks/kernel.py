"""The kernel that runs notebooks for ``make tutorial``, ``make notebooks`` and the tests.

Jupyter kernels talk over TCP on 127.0.0.1 by default, unencrypted, and ipykernel 7
warns about it at every start. Unix domain sockets (the ``ipc`` transport) keep the
traffic inside files only this user can open, and the warning goes away.

``extra_env`` gives the kernel variables on top of this process's environment, so that
notebooks can run at the same time, each against its own store, without changing
``os.environ`` (pass ``km=IPCKernelManager(kernel_name=..., extra_env=...)`` to papermill).
"""

from __future__ import annotations

import os
import uuid

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import Dict, default


class IPCKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernels listen on Unix domain sockets."""

    extra_env = Dict(help="variables the kernel gets on top of this process's environment")

    async def start_kernel(self, **kw):
        """Start the kernel (``jupyter_client``'s ``start_kernel``) with ``extra_env`` set."""
        if self.extra_env:
            kw["env"] = {**kw.get("env", os.environ), **self.extra_env}
        return await super().start_kernel(**kw)

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("ip")
    def _default_ip(self) -> str:
        # The sockets' path prefix. jupyter_client's default is relative, and the kernel may
        # run in another directory than its client: use the per-user runtime directory.
        runtime = jupyter_runtime_dir()
        os.makedirs(runtime, mode=0o700, exist_ok=True)
        return os.path.join(runtime, f"kernel-{uuid.uuid4()}-ipc")
