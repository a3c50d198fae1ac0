"""Signing in to the object store for backup and restore, with openstacksdk's config loading.

The settings come from where the ``openstack`` command finds them: the clouds.yaml entry
that OS_CLOUD names, else the OS_* variables (an openrc file for Keystone v3, with or
without OS_AUTH_TYPE, or Swift's own auth with OS_AUTH_TYPE=v1password, as `firstapp cloud
env` prints). keystoneauth signs in and finds the object store's URL in the catalog;
swiftclient connections share that session. A mistake is one :class:`FirstappError` line
naming the setting to fix.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from keystoneauth1 import exceptions as ksa
from keystoneauth1 import identity, plugin
from keystoneauth1 import session as ksa_session
from openstack import exceptions as sdk_exceptions
from openstack.config import OpenStackConfig
from openstack.config.cloud_region import CloudRegion
from swiftclient import client as swift

from firstapp.cloud.client import not_reachable
from firstapp.errors import FirstappError

ENV_HINT = 'run `eval "$(firstapp cloud env)"` first'
#: Seconds to wait for a TCP connection to the store (or the whole timeout, if shorter).
CONNECT_TIMEOUT = 5.0
#: The OS_* variable of each setting in openstacksdk's config.
VARIABLES = {
    "auth_url": "OS_AUTH_URL", "auth_type": "OS_AUTH_TYPE", "username": "OS_USERNAME",
    "user_id": "OS_USER_ID", "password": "OS_PASSWORD",
    "user_domain_name": "OS_USER_DOMAIN_NAME", "user_domain_id": "OS_USER_DOMAIN_ID",
    "project_name": "OS_PROJECT_NAME", "project_id": "OS_PROJECT_ID",
    "project_domain_name": "OS_PROJECT_DOMAIN_NAME",
    "project_domain_id": "OS_PROJECT_DOMAIN_ID", "region_name": "OS_REGION_NAME",
    "interface": "OS_INTERFACE",
}
PASSWORD_AUTH = ("password", "v3password", "v1password")

# keystoneauth warns on stderr when it guesses the identity version from the URL
logging.getLogger("keystoneauth").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Signed:
    """A signed-in object store: the keystoneauth ``session``, the ``storage_url`` from
    its catalog and a ``token``; ``cloud`` names the clouds.yaml entry the settings came
    from (empty: the OS_* variables)."""

    session: ksa_session.Session
    storage_url: str
    token: str = field(repr=False)
    region_name: str
    interface: str
    cloud: str
    auth: Mapping[str, Any] = field(repr=False)

    @property
    def keystone(self) -> bool:
        return not is_v1(self.auth)


def is_v1(auth: Mapping[str, Any]) -> bool:
    """Whether these settings use Swift's own auth (v1password) rather than Keystone."""
    return auth.get("auth_type") == "v1password"


def keystone_url(env: Mapping[str, str]) -> bool:
    """Whether variables without OS_AUTH_TYPE mean Keystone v3 (a .../v3 OS_AUTH_URL, or
    OS_IDENTITY_API_VERSION=3, as in an openrc file from Horizon) rather than Swift's own
    auth; the samples' step 1 decides the same way."""
    return (env.get("OS_AUTH_URL", "").rstrip("/").endswith("/v3")
            or env.get("OS_IDENTITY_API_VERSION") == "3")


def names(keys: list[str], cloud: str) -> str:
    """How a learner sets these settings: OS_* variables, or keys of a clouds.yaml entry."""
    if cloud:
        return f"{', '.join(keys)} in the clouds.yaml entry {cloud!r} (OS_CLOUD)"
    return ", ".join(VARIABLES.get(key, key) for key in keys)


def _check_variables(env: Mapping[str, str]) -> None:
    """Without OS_CLOUD, the variables a password sign-in cannot do without."""
    if env.get("OS_AUTH_TYPE") == "":
        raise FirstappError("OS_AUTH_TYPE is set but empty: unset it (an /v3 OS_AUTH_URL "
                            "means Keystone's password sign-in) or set it to password or "
                            "v1password")
    if env.get("OS_AUTH_TYPE", "password") not in PASSWORD_AUTH:
        return  # another keystoneauth plugin (a token, an application credential)
    wanted = ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD")
    missing = [name for name in wanted if not env.get(name)
               and not (name == "OS_USERNAME" and env.get("OS_USER_ID"))]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise FirstappError(
            f"{', '.join(missing)} {verb} not set, so there are no object store credentials; "
            f"{ENV_HINT} (or export {', '.join(wanted)} for your cloud: source its openrc "
            "file, or set OS_CLOUD to an entry of your clouds.yaml)"
        )


def load(timeout: float) -> CloudRegion:
    """openstacksdk's settings for the cloud OS_CLOUD names, else the OS_* variables, with
    ``timeout`` seconds for each answer from Keystone."""
    cloud = os.environ.get("OS_CLOUD", "")
    settings: dict[str, Any] = {"api_timeout": timeout}
    if not cloud:
        _check_variables(os.environ)
        if not os.environ.get("OS_AUTH_TYPE") and not keystone_url(os.environ):
            settings["auth_type"] = "v1password"  # as the samples' step 1 decides
    try:
        config = OpenStackConfig()
        try:
            region = config.get_one(**settings)
        except sdk_exceptions.ConfigException as exc:
            if cloud and cloud not in config.get_cloud_names():
                found = config.config_filename
                where = (f"{found} has {', '.join(sorted(config.get_cloud_names()))}"
                         if found else "no clouds.yaml was found (OS_CLIENT_CONFIG_FILE, "
                         "./clouds.yaml, ~/.config/openstack/clouds.yaml)")
                raise FirstappError(
                    f"OS_CLOUD={cloud}: there is no cloud of that name ({where}): check "
                    "OS_CLOUD and OS_CLIENT_CONFIG_FILE, or unset OS_CLOUD to use the OS_* "
                    "variables") from None
            raise FirstappError(f"cannot use the cloud settings: {exc}") from None
    except ksa.MissingRequiredOptions as exc:
        missing = [opt.dest for opt in exc.options]
        raise FirstappError(f"{names(missing, cloud)} not set: the sign-in needs them"
                            + ("" if cloud else f"; {ENV_HINT}")) from None
    except ksa.NoMatchingPlugin as exc:
        raise FirstappError(f"{names(['auth_type'], cloud)} names no sign-in method "
                            f"keystoneauth knows ({exc}): use password (Keystone) or "
                            "v1password (Swift's own auth)") from None
    auth = {**region.config.get("auth", {}), "auth_type": region.config.get("auth_type")}
    if auth["auth_type"] in PASSWORD_AUTH and not auth.get("password"):
        raise FirstappError(f"{names(['password'], cloud)} is not set: the sign-in needs it")
    return region


def sign_in(region: CloudRegion, timeout: float, cloud: str = "") -> Signed:
    """Sign in with ``region``'s settings (from the clouds.yaml entry ``cloud``, when not
    empty) and find the object store in the catalog; raise a FirstappError naming the
    setting to fix."""
    auth = {**region.config.get("auth", {}), "auth_type": region.config.get("auth_type")}
    interface = region.get_interface("object-store") or "public"
    region_name = region.get_region_name("object-store") or ""
    auth_url = str(auth.get("auth_url", ""))
    session = region.get_session()
    try:
        token = session.get_token()
        storage_url = session.get_endpoint(service_type="object-store", interface=interface,
                                           region_name=region_name or None)
    except ksa.Unauthorized:
        raise _refused(auth, cloud, timeout) from None
    except (ksa.EndpointNotFound, ksa.EmptyCatalog):
        raise _no_endpoint(session, auth, cloud, region_name, interface) from None
    except ksa.ConnectionError as exc:
        raise _keystone_unreachable(auth, cloud, timeout, exc) from None
    except ksa.DiscoveryFailure as exc:
        raise FirstappError(f"{auth_url} is not a Keystone identity endpoint ({exc}): check "
                            f"{names(['auth_url'], cloud)} (it usually ends in /v3)") from None
    except ksa.HttpError as exc:
        raise FirstappError(f"the sign-in at {auth_url} answered {exc.http_status} "
                            f"{exc.message}: check {names(['auth_url'], cloud)}") from None
    if not storage_url:
        raise _no_endpoint(session, auth, cloud, region_name, interface)
    return Signed(session, storage_url, token, region_name, interface, cloud, auth)


def _keystone_unreachable(auth: Mapping[str, Any], cloud: str, timeout: float,
                          exc: Exception) -> FirstappError:
    url = str(auth.get("auth_url", ""))
    if isinstance(exc, ksa.ConnectTimeout):
        return FirstappError(f"the sign-in at {url} did not answer within {timeout:g} s (is it "
                             f"overloaded, or stopped?): check {names(['auth_url'], cloud)}, "
                             "and try again")
    if is_v1(auth):
        return not_reachable(url)
    return FirstappError(f"nothing answers at {url}: check {names(['auth_url'], cloud)}, and "
                         "that Keystone (the identity service) there is running")


def _refused(auth: Mapping[str, Any], cloud: str, timeout: float) -> FirstappError:
    """Why Keystone (or Swift's own auth) refused: the user and password, or the project."""
    url, user = auth.get("auth_url", ""), auth.get("username") or auth.get("user_id")
    if is_v1(auth):
        return FirstappError(
            f"authentication failed (401 Unauthorized) for user {user!r} at {url}: check "
            f"{names(['username', 'password'], cloud)} (`firstapp cloud env` prints the "
            "local cloud's)")
    # Keystone answers 401 to a wrong password and to a project the user has no role on
    # alike: sign in again without a project to tell which it is.
    keys = ("auth_url", "username", "user_id", "password", "user_domain_name", "user_domain_id")
    unscoped = identity.Password(**{key: auth[key] for key in keys if auth.get(key)})
    session = ksa_session.Session(auth=unscoped, timeout=timeout)
    try:
        projects = session.get("/auth/projects", endpoint_filter={
            "interface": plugin.AUTH_INTERFACE, "version": (3, 0)}).json()["projects"]
    except ksa.Unauthorized:
        domain = auth.get("user_domain_name") or auth.get("user_domain_id") or "Default"
        return FirstappError(
            f"authentication failed (401 Unauthorized): Keystone at {url} knows no user "
            f"{user!r} in domain {domain!r} with this password: check "
            f"{names(['username', 'password', 'user_domain_name'], cloud)}")
    except (ksa.ClientException, ValueError, KeyError, TypeError):
        projects = None
    project = (auth.get("project_id") or auth.get("project_name") or "(none set)")
    domain = auth.get("project_domain_id") or auth.get("project_domain_name") or "Default"
    if projects is None:
        usable = ""
    elif not projects:
        usable = "; this user has a role on no project"
    else:
        usable = "; projects this user has a role on: " + ", ".join(
            f"{p.get('name')} (id {p.get('id')}, domain id {p.get('domain_id')})"
            for p in projects[:5]) + (", ..." if len(projects) > 5 else "")
    return FirstappError(
        f"Keystone at {url} accepted user {user!r} and the password, but not for project "
        f"{project!r} in domain {domain!r}: it does not exist there or the user has no role "
        f"on it; check {names(['project_name', 'project_id', 'project_domain_name', 'project_domain_id'], cloud)}{usable}")  # noqa: E501


def _no_endpoint(session: ksa_session.Session, auth: Mapping[str, Any], cloud: str,
                 region_name: str, interface: str) -> FirstappError:
    """The catalog has no object store for this region and interface: say where it has one."""
    try:
        catalog = session.auth.get_access(session).service_catalog
        endpoints = catalog.get_endpoints_data(service_type="object-store").get(
            "object-store", [])
        found = sorted({(e.region_name or "", e.interface or "") for e in endpoints})
    except ksa.ClientException:
        found = []
    where = f"region {region_name!r}" if region_name else "any region"
    if found:
        there = ", ".join(f"region {r!r} ({i})" for r, i in found)
        hint = f"the catalog has one in {there}"
    else:
        hint = "the catalog has no object store at all (ask your cloud's admin)"
    return FirstappError(
        f"Keystone at {auth.get('auth_url', '')} lists no {interface} object-store endpoint "
        f"in {where}: {hint}; check {names(['region_name', 'interface'], cloud)}")


def check_account(signed: Signed, conn: swift.Connection) -> None:
    """One cheap request to the store (HEAD of the account), so that a store that does not
    answer, or that refuses this project, shows here in one line."""
    url, where = signed.storage_url, names(["region_name", "interface"], signed.cloud)
    source = "from the sign-in" if not signed.keystone else "from Keystone's catalog"
    try:
        conn.head_account()
    except swift.ClientException as exc:
        if exc.http_status == 403:
            project = signed.auth.get("project_name") or signed.auth.get("project_id")
            raise FirstappError(
                f"the object store at {url} refused project {project!r} (403 Forbidden): "
                f"user {signed.auth.get('username')!r} has a role on it, but not one the "
                "object store accepts (usually 'member'): ask your cloud's admin for it, "
                f"or choose another project ({names(['project_name'], signed.cloud)})"
            ) from None
        if exc.http_status == 401:
            raise FirstappError(
                f"the object store at {url} (the URL {source}) did not accept the token "
                f"(401 Unauthorized): it trusts another identity service; check "
                f"{names(['auth_url'], signed.cloud)} and {where}") from None
        if exc.http_status is not None:
            raise FirstappError(f"the object store at {url} answered {exc.http_status} "
                                f"{exc.http_reason} to a HEAD of the account") from None
        raise _store_unreachable(signed, source, where) from None
    except requests.Timeout:
        raise FirstappError(f"the object store at {url} (the URL {source}) did not answer in "
                            "time (is it overloaded, or stopped?); try again") from None
    except (requests.ConnectionError, ConnectionError):
        raise _store_unreachable(signed, source, where) from None


def _store_unreachable(signed: Signed, source: str, where: str) -> FirstappError:
    if not signed.keystone:
        return not_reachable(signed.storage_url)
    return FirstappError(f"nothing answers at {signed.storage_url}, the object store's URL "
                         f"{source}: is the object store running? (check {where})")


def connector(signed: Signed, timeout: float) -> Callable[[], swift.Connection]:
    """Connections that share the signed-in session, each with a connect and a read
    timeout of ``timeout`` seconds and no retries of their own. Behind Keystone, the
    first one checks the account (:func:`check_account`)."""
    limits = (min(CONNECT_TIMEOUT, timeout), timeout)
    options = {"region_name": signed.region_name or None, "endpoint_type": signed.interface}

    def make() -> swift.Connection:
        return swift.Connection(session=signed.session, preauthurl=signed.storage_url,
                                preauthtoken=signed.token, os_options=dict(options),
                                retries=0, timeout=limits)

    if signed.keystone:  # Swift's own auth was an answer from the store itself
        first = make()
        try:
            check_account(signed, first)
        finally:
            first.close()
    return make


def from_env(timeout: float) -> Callable[[], swift.Connection]:
    """:func:`connector` for the cloud of OS_CLOUD or the OS_* variables."""
    cloud = os.environ.get("OS_CLOUD", "")
    return connector(sign_in(load(timeout), timeout, cloud), timeout)


def from_values(timeout: float, **settings: Any) -> Callable[[], swift.Connection]:
    """:func:`connector` for explicit openstacksdk settings (``auth_type``, ``auth``,
    ``region_name``...), ignoring OS_* variables and clouds.yaml files."""
    config = OpenStackConfig(load_yaml_config=False, load_envvars=False)
    region = config.get_one(api_timeout=timeout, **settings)
    return connector(sign_in(region, timeout), timeout)
