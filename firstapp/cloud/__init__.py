"""A real OpenStack Swift object store on 127.0.0.1: proxy, account, container and
object servers in one background process, 3 replicas on 3 device directories.

Kept import-free: ``firstapp.cloud.server`` must monkey-patch before anything else loads.
Use :mod:`firstapp.cloud.control` to start, stop and inspect a cloud.
"""
