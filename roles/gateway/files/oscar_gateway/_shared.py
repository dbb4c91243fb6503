"""Load the collection's shared models: the access-policy validator, the OSCAR path rules and the configuration
schema the role's controller check runs too.

On a host, the gateway role copies ``plugins/module_utils/_access_policy/`` (the model and the decision, not the
Cloudflare translation), ``_oscar_paths.py``, ``_gateway_config.py``, ``_expiry.py`` and ``_problems.py`` into this
package, so ``oscar_gateway._access_policy`` imports directly. In the repository (tests), the same files are loaded
from the collection's ``plugins/module_utils``, so the gateway always validates policies and normalizes paths with
exactly the code nginx and the inventory use. Nothing here is copied or re-implemented.
"""

import functools
import importlib
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_COLLECTION_MODULE_UTILS = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "..", "plugins", "module_utils"))
_COLLECTION_PACKAGE = "ansible_collections.oscar_emr.remote_access.plugins.module_utils"


@functools.lru_cache(maxsize=None)
def _load(name):
    """Return the shared module ``name`` (``_access_policy``, ``_gateway_config``, ...), or None. Looked up once:
    the decision asks for ``_expiry`` on every request (an import_module call each time cost 5% of a decision)."""
    try:
        return importlib.import_module("oscar_gateway." + name)
    except ImportError as exc:
        if exc.name not in ("oscar_gateway." + name,):
            raise
    try:
        return importlib.import_module(_COLLECTION_PACKAGE + "." + name)
    except ImportError:
        pass
    where = os.path.join(_COLLECTION_MODULE_UTILS, name)
    if not (os.path.isfile(where + ".py") or os.path.isfile(os.path.join(where, "__init__.py"))):
        return None
    # In the repository without the collection on sys.path: the package also looks in plugins/module_utils, the
    # layout the role makes on the host by copying the files (so their relative imports resolve the same way).
    package = sys.modules["oscar_gateway"]
    if _COLLECTION_MODULE_UTILS not in package.__path__:
        package.__path__.append(_COLLECTION_MODULE_UTILS)
    return importlib.import_module("oscar_gateway." + name)


def access_policy_module():
    return _load("_access_policy")


def oscar_paths_module():
    return _load("_oscar_paths")


def gateway_config_module():
    return _load("_gateway_config")


def expiry_module():
    return _load("_expiry")
